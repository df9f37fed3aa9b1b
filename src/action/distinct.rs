//! [`Collection::distinct`].

use bson::{Bson, Document};

use super::SessionMode;
use crate::coll::Collection;
use crate::error::Result;
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
}

impl<'a, S: SessionMode<'a>> Distinct<'a, S> {
    async fn execute(self) -> Result<Vec<Bson>> {
        let (t, mut o) = (self.target, self.options);
        let reads = t.reads_of(&mut o);
        let op = operation::Distinct::new(t.db(), t.coll(), &self.field, self.filter, o, reads);
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> Distinct<'a, S> => Vec<Bson> where S: SessionMode<'a>);
