//! [`Collection::count`].

use bson::Document;

use super::SessionMode;
use crate::coll::Collection;
use crate::error::Result;
use crate::operation;
use crate::options::CountOptions;

impl<T: Send + Sync> Collection<T> {
    /// Counts the documents matching `filter` with the `count` command (the CRUD
    /// specification's deprecated `count`). The server may answer from the collection's
    /// metadata, which can be wrong after an unclean shutdown or on a sharded cluster with
    /// orphaned documents, and the command is not allowed in a transaction: prefer
    /// [`count_documents`](Collection::count_documents) (exact) or
    /// [`estimated_document_count`](Collection::estimated_document_count). Returns a
    /// [`Count`] action.
    pub fn count(&self, filter: Document) -> Count<'_> {
        Count::new(self.target(), filter)
    }
}

action! {
    /// Counts with the `count` command: [`Collection::count`].
    pub struct Count<'a> {
        filter: Document,
    }
    options: CountOptions, count_setters;
}

impl<'a, S: SessionMode<'a>> Count<'a, S> {
    async fn execute(self) -> Result<u64> {
        let (t, mut o) = (self.target, self.options);
        let reads = t.reads_of(&mut o);
        let op = operation::Count::new(t.db(), t.coll(), self.filter, o, reads);
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> Count<'a, S> => u64 where S: SessionMode<'a>);
