//! [`Collection::insert_one`].

use std::borrow::Borrow;

use serde::Serialize;

use super::insert_many::insert;
use super::SessionMode;
use crate::coll::{to_bytes, Collection};
use crate::error::{Error, Result};
use crate::options::{InsertManyOptions, InsertOneOptions};
use crate::results::InsertOneResult;

impl<T: Serialize + Send + Sync> Collection<T> {
    /// Inserts a document; an `_id` (ObjectId) is added when it has none. Returns an
    /// [`InsertOne`] action whose output is an [`InsertOneResult`].
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let id = items.insert_one(doc! { "name": "pen" }).await?.inserted_id;
    /// # let _ = id; Ok(()) }
    /// ```
    pub fn insert_one(&self, document: impl Borrow<T>) -> InsertOne<'_> {
        InsertOne::new(self.target(), to_bytes(document.borrow()))
    }
}

action! {
    /// Inserts one document: [`Collection::insert_one`].
    pub struct InsertOne<'a> {
        doc: Result<Vec<u8>>,
    }
    options: InsertOneOptions, insert_one_setters;
}

impl<'a, S: SessionMode<'a>> InsertOne<'a, S> {
    async fn execute(self) -> Result<InsertOneResult> {
        let o = self.options;
        let options = InsertManyOptions {
            bypass_document_validation: o.bypass_document_validation,
            ordered: Some(true),
            write_concern: o.write_concern,
            comment: o.comment,
            raw_data: o.raw_data,
        };
        let session = self.session.into_session();
        let mut result = insert(self.target, vec![self.doc], options, session).await?;
        let inserted_id = result
            .inserted_ids
            .remove(&0)
            .ok_or_else(|| Error::internal("insert succeeded without an inserted id"))?;
        Ok(InsertOneResult { inserted_id })
    }
}
into_future!(impl<'a, S> InsertOne<'a, S> => InsertOneResult where S: SessionMode<'a>);
