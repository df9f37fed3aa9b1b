//! [`Collection::count`].

use bson::Document;

use crate::coll::Collection;
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
    runs: |t, this| -> u64 {
        let (o, reads) = t.reading(this.options);
        operation::Count::new(t.db(), t.coll(), this.filter, o, reads)
    }
}
