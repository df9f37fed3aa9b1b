//! [`Collection::delete_one`] and [`Collection::delete_many`].

use bson::Document;

use crate::coll::Collection;
use crate::operation;
use crate::options::DeleteOptions;
use crate::results::DeleteResult;

impl<T: Send + Sync> Collection<T> {
    /// Deletes the first document matching `filter`. Returns a [`Delete`] action.
    pub fn delete_one(&self, filter: Document) -> Delete<'_> {
        Delete::new(self.target(), filter, false)
    }

    /// Deletes every document matching `filter`. Returns a [`Delete`] action.
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let gone = items.delete_many(doc! { "qty": 0 }).await?.deleted_count;
    /// # let _ = gone; Ok(()) }
    /// ```
    pub fn delete_many(&self, filter: Document) -> Delete<'_> {
        Delete::new(self.target(), filter, true)
    }
}

action! {
    /// Deletes documents: [`Collection::delete_one`] and [`Collection::delete_many`].
    pub struct Delete<'a> {
        filter: Document,
        many: bool,
    }
    options: DeleteOptions, delete_setters;
    runs: |t, this| -> DeleteResult {
        let (db, coll, options) = (t.db(), t.coll(), t.writes(this.options));
        operation::Delete::new(db, coll, this.filter, this.many, options)
    }
}
