//! [`Collection::replace_one`].

use std::borrow::Borrow;

use bson::Document;
use serde::Serialize;

use crate::coll::{to_document, Collection};
use crate::error::Result;
use crate::operation;
use crate::options::ReplaceOptions;
use crate::results::UpdateResult;

impl<T: Serialize + Send + Sync> Collection<T> {
    /// Replaces the first document matching `filter` with `replacement` (which must not
    /// contain update operators). Returns a [`ReplaceOne`] action.
    pub fn replace_one(&self, filter: Document, replacement: impl Borrow<T>) -> ReplaceOne<'_> {
        ReplaceOne::new(self.target(), filter, to_document(replacement.borrow()))
    }
}

action! {
    /// Replaces a document: [`Collection::replace_one`].
    pub struct ReplaceOne<'a> {
        filter: Document,
        replacement: Result<Document>,
    }
    options: ReplaceOptions, replace_setters;
    runs: |t, this| -> UpdateResult {
        let (db, coll, options) = (t.db(), t.coll(), t.writes(this.options));
        operation::Update::replace(db, coll, this.filter, this.replacement?, options)?
    }
}
