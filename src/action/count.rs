//! [`Collection::count_documents`].

use bson::Document;

use crate::coll::Collection;
use crate::operation;
use crate::options::{CountOptions, EstimatedDocumentCountOptions};

impl<T: Send + Sync> Collection<T> {
    /// The number of documents in the collection, from its metadata (the `count` command
    /// without a filter): fast, but an estimate after an unclean shutdown or with orphaned
    /// documents on a sharded cluster. Returns an [`EstimatedDocumentCount`] action.
    pub fn estimated_document_count(&self) -> EstimatedDocumentCount<'_> {
        EstimatedDocumentCount::new(self.target())
    }

    /// Counts the documents matching `filter` exactly (an aggregation with `$match` and
    /// `$group`, as the CRUD specification says). Returns a [`CountDocuments`] action.
    pub fn count_documents(&self, filter: Document) -> CountDocuments<'_> {
        CountDocuments::new(self.target(), filter)
    }
}

action! {
    /// Counts documents: [`Collection::count_documents`].
    pub struct CountDocuments<'a> {
        filter: Document,
    }
    options: CountOptions, count_setters;
    runs: |t, this| -> u64 {
        let (o, reads) = t.reading(this.options);
        operation::CountDocuments::new(t.db(), t.coll(), this.filter, o, reads)
    }
}

action! {
    /// Estimates the document count: [`Collection::estimated_document_count`].
    pub struct EstimatedDocumentCount<'a> {}
    options: EstimatedDocumentCountOptions, estimated_document_count_setters;
    runs: |t, this| -> u64 {
        let (o, reads) = t.reading(this.options);
        operation::EstimatedCount::new(t.db(), t.coll(), o, reads)
    }
}
