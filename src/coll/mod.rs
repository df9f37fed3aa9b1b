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

pub(crate) mod action;
pub(crate) mod options;

use std::borrow::Borrow;
use std::marker::PhantomData;

use bson::{doc, Bson, Document};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result, WriteError};
use crate::options::{Acknowledgment, WriteConcern};
use crate::Client;

pub use action::{
    Aggregate, CountDocuments, Delete, Find, FindOne, InsertMany, InsertOne, ReplaceOne, Update,
};

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
        let mut cmd = doc! { "drop": self.name.as_str() };
        if let Some(wc) = write_concern_doc(self.client.options().write_concern.as_ref()) {
            cmd.insert("writeConcern", wc);
        }
        match self.client.run_write(&self.db, cmd).await {
            Ok(_) => Ok(()),
            // NamespaceNotFound
            Err(e) if matches!(&*e.kind, ErrorKind::Command { code: 26, .. }) => Ok(()),
            Err(e) => Err(e),
        }
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
            to_document(document.borrow()),
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
            .map(|d| to_document(d.borrow()))
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
    bson::to_document(value).map_err(|e| {
        Error::new(ErrorKind::BsonSerialization {
            message: format!("{e} (a document to store must serialize to a BSON document, such as a struct or a map)"),
        })
    })
}

/// The `writeConcern` document for a command, when one is set.
pub(crate) fn write_concern_doc(wc: Option<&WriteConcern>) -> Option<Document> {
    let wc = wc?;
    let mut d = Document::new();
    match &wc.w {
        Some(Acknowledgment::Nodes(n)) => {
            d.insert("w", i64::from(*n));
        }
        Some(Acknowledgment::Majority) => {
            d.insert("w", "majority");
        }
        Some(Acknowledgment::Custom(s)) => {
            d.insert("w", s.as_str());
        }
        None => {}
    }
    if let Some(t) = wc.w_timeout {
        d.insert("wtimeout", i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    }
    if let Some(j) = wc.journal {
        d.insert("j", j);
    }
    (!d.is_empty()).then_some(d)
}

/// The counts and errors in a write command's reply.
#[derive(Debug, Default)]
pub(crate) struct WriteReply {
    pub(crate) n: u64,
    pub(crate) n_modified: u64,
    pub(crate) upserted: Vec<(usize, Bson)>,
    pub(crate) write_errors: Vec<WriteError>,
    pub(crate) write_concern_error: Option<String>,
}

fn as_u64(b: Option<&Bson>) -> u64 {
    match b {
        Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Double(v)) if *v >= 0.0 && v.is_finite() => *v as u64,
        _ => 0,
    }
}

/// Reads `n`, `nModified`, `upserted`, `writeErrors` and `writeConcernError`; indexes are
/// shifted by `offset` (the batch's position in the whole input).
pub(crate) fn parse_write_reply(reply: &Document, offset: usize) -> WriteReply {
    let mut r = WriteReply {
        n: as_u64(reply.get("n")),
        n_modified: as_u64(reply.get("nModified")),
        ..WriteReply::default()
    };
    if let Ok(ups) = reply.get_array("upserted") {
        for u in ups {
            if let Bson::Document(u) = u {
                let idx = usize::try_from(as_u64(u.get("index"))).unwrap_or(0);
                if let Some(id) = u.get("_id") {
                    r.upserted.push((idx + offset, id.clone()));
                }
            }
        }
    }
    if let Ok(errs) = reply.get_array("writeErrors") {
        for e in errs {
            if let Bson::Document(e) = e {
                let index = usize::try_from(as_u64(e.get("index"))).unwrap_or(0) + offset;
                let code = match e.get("code") {
                    Some(Bson::Int32(c)) => *c,
                    Some(Bson::Int64(c)) => i32::try_from(*c).unwrap_or(0),
                    _ => 0,
                };
                let message = e.get_str("errmsg").unwrap_or("no message").to_owned();
                r.write_errors.push(WriteError {
                    index,
                    code,
                    message,
                });
            }
        }
    }
    if let Ok(wce) = reply.get_document("writeConcernError") {
        let code = match wce.get("code") {
            Some(Bson::Int32(c)) => i64::from(*c),
            Some(Bson::Int64(c)) => *c,
            _ => 0,
        };
        let msg = wce.get_str("errmsg").unwrap_or("no message");
        r.write_concern_error = Some(format!("{msg} (code {code})"));
    }
    r
}

/// An [`ErrorKind::Write`] for the errors collected, or `Ok` when there are none.
pub(crate) fn write_result(
    write_errors: Vec<WriteError>,
    write_concern_error: Option<String>,
    total: usize,
) -> Result<()> {
    if write_errors.is_empty() && write_concern_error.is_none() {
        return Ok(());
    }
    let message = match (write_errors.first(), &write_concern_error) {
        (Some(first), _) => format!(
            "{} of {total} write(s) failed; first at index {}: {} (code {})",
            write_errors.len(),
            first.index,
            first.message,
            first.code
        ),
        (None, Some(wce)) => format!("write concern error: {wce}"),
        (None, None) => String::new(),
    };
    Err(Error::new(ErrorKind::Write {
        message,
        write_errors,
        write_concern_error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn write_reply_errors_are_reported_with_shifted_indexes() {
        let reply = doc! {
            "ok": 1, "n": 1,
            "writeErrors": [ { "index": 1, "code": 11000, "errmsg": "E11000 duplicate key" } ],
            "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" },
        };
        let r = parse_write_reply(&reply, 100);
        assert_eq!(r.n, 1);
        assert_eq!(r.write_errors[0].index, 101);
        let err = write_result(r.write_errors, r.write_concern_error, 2).unwrap_err();
        match &*err.kind {
            ErrorKind::Write {
                message,
                write_errors,
                write_concern_error,
            } => {
                assert!(message.contains("E11000"), "{message}");
                assert_eq!(write_errors.len(), 1);
                assert!(write_concern_error.as_deref().unwrap().contains("code 64"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upserted_ids_are_read() {
        let oid = bson::oid::ObjectId::new();
        let r = parse_write_reply(
            &doc! { "ok": 1, "n": 1, "nModified": 0, "upserted": [ { "index": 0, "_id": oid } ] },
            0,
        );
        assert_eq!(r.upserted, vec![(0, Bson::ObjectId(oid))]);
        assert!(write_result(r.write_errors, r.write_concern_error, 1).is_ok());
    }

    #[test]
    fn write_concern_document() {
        assert_eq!(write_concern_doc(None), None);
        let wc = WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .w_timeout(Duration::from_millis(1500))
            .journal(true)
            .build();
        assert_eq!(
            write_concern_doc(Some(&wc)),
            Some(doc! { "w": "majority", "wtimeout": 1500_i64, "j": true })
        );
    }

    #[test]
    fn non_document_values_cannot_be_stored() {
        let err = to_document(&"just a string").unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::BsonSerialization { .. }));
    }
}
