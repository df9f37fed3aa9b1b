//! [`Collection::update_one`] and [`Collection::update_many`].

use bson::Document;

use crate::coll::Collection;
use crate::operation;
use crate::options::{UpdateModifications, UpdateOptions};
use crate::results::UpdateResult;

impl<T: Send + Sync> Collection<T> {
    /// Updates the first document matching `filter` with the update operators in `update`
    /// (e.g. `{$set: {...}}`) or an aggregation pipeline. Returns an [`Update`] action.
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let r = items.update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 1 } }).upsert(true).await?;
    /// # let _ = r; Ok(()) }
    /// ```
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(self.target(), filter, update.into(), false)
    }

    /// Updates every document matching `filter`. Returns an [`Update`] action.
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(self.target(), filter, update.into(), true)
    }
}

action! {
    /// Updates documents: [`Collection::update_one`] and [`Collection::update_many`].
    pub struct Update<'a> {
        filter: Document,
        update: UpdateModifications,
        multi: bool,
    }
    options: UpdateOptions, update_setters;
    runs: |t, this| -> UpdateResult {
        let (db, coll, options) = (t.db(), t.coll(), t.writes(this.options));
        operation::Update::modify(db, coll, this.filter, this.update, this.multi, options)?
    }
}
