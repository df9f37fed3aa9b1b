//! [`Collection`]: CRUD on one collection.
//!
//! Each operation returns an action: set options on it with chained calls (or
//! `with_options`), then `.await` it, as in the official driver:
//!
//! ```no_run
//! # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
//! use futures_util::TryStreamExt;
//! use mongo_x509::bson::doc;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Item { name: String, qty: i32 }
//!
//! let items = client.database("shop").collection::<Item>("items");
//! items.insert_one(Item { name: "pen".into(), qty: 10 }).await?;
//! items.update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 5 } }).upsert(true).await?;
//! let low: Vec<Item> = items.find(doc! { "qty": { "$lt": 20 } }).sort(doc! { "qty": 1 }).await?.try_collect().await?;
//! let n = items.count_documents(doc! {}).await?;
//! items.delete_many(doc! { "qty": 0 }).await?;
//! # let _ = (low, n); Ok(()) }
//! ```

#[macro_use]
mod macros;
pub(crate) mod action;
mod cursor_action;
mod find_and_modify;
pub(crate) mod options;

use std::borrow::Borrow;
use std::marker::PhantomData;

use bson::Document;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::operation::DropCollection;
use crate::Client;

pub use action::{
    Aggregate, CountDocuments, Delete, Distinct, Find, FindOne, InsertMany, InsertOne, ReplaceOne,
    Update,
};
pub use find_and_modify::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate};

/// A handle to a collection whose documents are `T`, from
/// [`Database::collection`](crate::Database::collection). Cheap to clone; `Send + Sync`
/// whatever `T` is.
///
/// Writes need `T: Serialize`, reads `T: DeserializeOwned`; use [`Document`] for untyped access.
pub struct Collection<T> {
    client: Client,
    db: String,
    name: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            db: self.db.clone(),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("namespace", &format_args!("{}.{}", self.db, self.name))
            .finish()
    }
}

impl<T: Send + Sync> Collection<T> {
    pub(crate) fn new(client: Client, db: &str, name: &str) -> Self {
        Self {
            client,
            db: db.to_owned(),
            name: name.to_owned(),
            _type: PhantomData,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `database.collection`.
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// The client this handle belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same collection with another document type.
    pub fn clone_with_type<U: Send + Sync>(&self) -> Collection<U> {
        Collection::new(self.client.clone(), &self.db, &self.name)
    }

    /// Updates the first document matching `filter` with the update operators in `update`
    /// (e.g. `{$set: {...}}`) or an aggregation pipeline. Returns an [`Update`] action.
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(
            &self.client,
            &self.db,
            &self.name,
            filter,
            update.into(),
            false,
        )
    }

    /// Updates every document matching `filter`. Returns an [`Update`] action.
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_> {
        Update::new(
            &self.client,
            &self.db,
            &self.name,
            filter,
            update.into(),
            true,
        )
    }

    /// Deletes the first document matching `filter`. Returns a [`Delete`] action.
    pub fn delete_one(&self, filter: Document) -> Delete<'_> {
        Delete::new(&self.client, &self.db, &self.name, filter, false)
    }

    /// Deletes every document matching `filter`. Returns a [`Delete`] action.
    pub fn delete_many(&self, filter: Document) -> Delete<'_> {
        Delete::new(&self.client, &self.db, &self.name, filter, true)
    }

    /// Counts the documents matching `filter` exactly (an aggregation with `$match` and
    /// `$group`, as the CRUD specification says). Returns a [`CountDocuments`] action.
    pub fn count_documents(&self, filter: Document) -> CountDocuments<'_> {
        CountDocuments::new(&self.client, &self.db, &self.name, filter)
    }

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
        Distinct::new(
            &self.client,
            &self.db,
            &self.name,
            field_name.as_ref().to_owned(),
            filter,
        )
    }

    /// Runs an aggregation pipeline on the collection. Returns an [`Aggregate`] action whose
    /// output is a `Cursor<Document>` (use `Cursor::with_type` for another type).
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate::new(
            &self.client,
            self.db.clone(),
            Some(self.name.clone()),
            pipeline.into_iter().collect(),
        )
    }

    /// Drops the collection. Dropping a collection that does not exist succeeds.
    pub async fn drop(&self) -> Result<()> {
        let wc = self.client.write_concern_or_default(None);
        self.client
            .execute(DropCollection::new(&self.db, &self.name, wc))
            .await
    }
}

impl<T: Serialize + Send + Sync> Collection<T> {
    /// Inserts a document; an `_id` (ObjectId) is added when it has none. Returns an
    /// [`InsertOne`] action whose output is an
    /// [`InsertOneResult`](crate::results::InsertOneResult).
    pub fn insert_one(&self, document: impl Borrow<T>) -> InsertOne<'_> {
        InsertOne::new(
            &self.client,
            &self.db,
            &self.name,
            to_bytes(document.borrow()),
        )
    }

    /// Inserts documents, in batches of at most the server's `maxWriteBatchSize` (and message
    /// size). Returns an [`InsertMany`] action whose output is an
    /// [`InsertManyResult`](crate::results::InsertManyResult).
    pub fn insert_many(
        &self,
        documents: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_> {
        let docs = documents
            .into_iter()
            .map(|d| to_bytes(d.borrow()))
            .collect();
        InsertMany::new(&self.client, &self.db, &self.name, docs)
    }

    /// Replaces the first document matching `filter` with `replacement` (which must not contain
    /// update operators). Returns a [`ReplaceOne`] action.
    pub fn replace_one(&self, filter: Document, replacement: impl Borrow<T>) -> ReplaceOne<'_> {
        ReplaceOne::new(
            &self.client,
            &self.db,
            &self.name,
            filter,
            to_document(replacement.borrow()),
        )
    }
}

impl<T: DeserializeOwned + Send + Sync> Collection<T> {
    /// Finds the documents matching `filter`. Returns a [`Find`] action whose output is a
    /// [`Cursor<T>`](crate::Cursor).
    pub fn find(&self, filter: Document) -> Find<'_, T> {
        Find::new(&self.client, &self.db, &self.name, filter)
    }

    /// Finds the first document matching `filter`, or `None`. Returns a [`FindOne`] action.
    pub fn find_one(&self, filter: Document) -> FindOne<'_, T> {
        FindOne::new(&self.client, &self.db, &self.name, filter)
    }

    /// Atomically finds the first document matching `filter` (in `sort` order), deletes it and
    /// returns it, or `None` when nothing matched (`findAndModify`). Returns a
    /// [`FindOneAndDelete`] action.
    ///
    /// ```no_run
    /// # async fn f(jobs: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// // Take the oldest queued job.
    /// let job = jobs.find_one_and_delete(doc! { "state": "queued" }).sort(doc! { "at": 1 }).await?;
    /// # let _ = job; Ok(()) }
    /// ```
    pub fn find_one_and_delete(&self, filter: Document) -> FindOneAndDelete<'_, T> {
        FindOneAndDelete::new(&self.client, &self.db, &self.name, filter)
    }

    /// Atomically finds the first document matching `filter` (in `sort` order), applies the
    /// update operators or pipeline in `update`, and returns the document as it was before
    /// (the default) or after ([`ReturnDocument::After`](crate::options::ReturnDocument)), or
    /// `None` when nothing matched. Returns a [`FindOneAndUpdate`] action.
    ///
    /// ```no_run
    /// # async fn f(counters: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::ReturnDocument;
    /// // A sequence number: increment and read in one step.
    /// let next = counters
    ///     .find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } })
    ///     .upsert(true)
    ///     .return_document(ReturnDocument::After)
    ///     .await?;
    /// # let _ = next; Ok(()) }
    /// ```
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate::new(&self.client, &self.db, &self.name, filter, update.into())
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Atomically finds the first document matching `filter` (in `sort` order), replaces it
    /// with `replacement` (which must not contain update operators), and returns the document
    /// as it was before (the default) or after, or `None` when nothing matched. Returns a
    /// [`FindOneAndReplace`] action.
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let old = items
    ///     .find_one_and_replace(doc! { "name": "pen" }, doc! { "name": "pen", "qty": 0 })
    ///     .await?;
    /// # let _ = old; Ok(()) }
    /// ```
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
    ) -> FindOneAndReplace<'_, T> {
        FindOneAndReplace::new(
            &self.client,
            &self.db,
            &self.name,
            filter,
            to_document(replacement.borrow()),
        )
    }
}

/// What an update applies: update operators or an aggregation pipeline.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum UpdateModifications {
    /// Update operators, e.g. `{$set: {a: 1}}`.
    Document(Document),
    /// An aggregation pipeline (`$set`, `$unset`, `$replaceWith` stages …).
    Pipeline(Vec<Document>),
}

impl From<Document> for UpdateModifications {
    fn from(d: Document) -> Self {
        UpdateModifications::Document(d)
    }
}

impl From<Vec<Document>> for UpdateModifications {
    fn from(p: Vec<Document>) -> Self {
        UpdateModifications::Pipeline(p)
    }
}

fn to_document<T: Serialize>(value: &T) -> Result<Document> {
    bson::to_document(value).map_err(not_a_document)
}

/// Serializes a document to store straight to BSON bytes (no [`Document`] in between).
fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let bytes = bson::to_vec(value).map_err(not_a_document)?;
    // The serializer writes any top-level value; only a document can be stored.
    if bytes.len() < 5 || bytes.last() != Some(&0) {
        return Err(not_a_document("not a BSON document"));
    }
    Ok(bytes)
}

fn not_a_document(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::BsonSerialization {
        message: format!(
            "{e} (a document to store must serialize to a BSON document, such as a struct or a map)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_document_values_cannot_be_stored() {
        let err = to_document(&"just a string").unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::BsonSerialization { .. }));
        for err in [
            to_bytes(&"just a string").unwrap_err(),
            to_bytes(&42).unwrap_err(),
            to_bytes(&vec![1, 2]).unwrap_err(),
        ] {
            assert!(
                matches!(*err.kind, ErrorKind::BsonSerialization { .. }),
                "{err}"
            );
        }
        let bytes = to_bytes(&bson::doc! { "a": 1 }).unwrap();
        assert_eq!(
            Document::from_reader(&bytes[..]).unwrap(),
            bson::doc! { "a": 1 }
        );
    }
}
