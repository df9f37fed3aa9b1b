//! [`Collection::replace_one`].

use std::borrow::Borrow;

use bson::Document;
use serde::Serialize;

use super::SessionMode;
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
}

impl<'a, S: SessionMode<'a>> ReplaceOne<'a, S> {
    async fn execute(self) -> Result<UpdateResult> {
        let t = self.target;
        let (db, coll, options) = (t.db(), t.coll(), t.writes(self.options));
        let op = operation::Update::replace(db, coll, self.filter, self.replacement?, options)?;
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> ReplaceOne<'a, S> => UpdateResult where S: SessionMode<'a>);
