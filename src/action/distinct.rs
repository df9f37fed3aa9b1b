//! [`Collection::distinct`].

use bson::{Bson, Document};

use crate::coll::Collection;
use crate::operation;
use crate::options::DistinctOptions;

impl<T: Send + Sync> Collection<T> {
    /// The distinct values of `field_name` (a dotted path such as `"address.city"`) among the
    /// documents matching `filter`. Returns a [`Distinct`] action whose output is a
    /// `Vec<Bson>`.
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let colours = items.distinct("colour", doc! { "qty": { "$gt": 0 } }).await?;
    /// # let _ = colours; Ok(()) }
    /// ```
    pub fn distinct(&self, field_name: impl AsRef<str>, filter: Document) -> Distinct<'_> {
        Distinct::new(self.target(), field_name.as_ref().to_owned(), filter)
    }
}

action! {
    /// Finds distinct values: [`Collection::distinct`].
    pub struct Distinct<'a> {
        field: String,
        filter: Document,
    }
    options: DistinctOptions, distinct_setters;
    runs: |t, this| -> Vec<Bson> {
        let (o, reads) = t.reading(this.options);
        operation::Distinct::new(t.db(), t.coll(), &this.field, this.filter, o, reads)
    }
}
