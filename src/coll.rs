//! [`Collection`]: a handle to one collection. Its operations are in [`crate::action`], one
//! file each.
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

use std::marker::PhantomData;
use std::sync::Arc;

use bson::Document;
use serde::Serialize;

use crate::action::Target;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Inherited;
use crate::Client;

/// A handle to a collection whose documents are `T`, from
/// [`Database::collection`](crate::Database::collection). Cheap to clone (one reference
/// count); `Send + Sync` whatever `T` is.
///
/// Writes need `T: Serialize`, reads `T: DeserializeOwned`; use [`Document`] for untyped access.
/// Every operation returns an action from [`crate::action`]: set its options, then `.await` it.
pub struct Collection<T> {
    inner: Arc<CollectionInner>,
    _type: PhantomData<fn() -> T>,
}

struct CollectionInner {
    client: Client,
    db: String,
    name: String,
    /// Read preference, read and write concern, from the database handle.
    inherited: Inherited,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field(
                "namespace",
                &format_args!("{}.{}", self.inner.db, self.inner.name),
            )
            .finish()
    }
}

impl<T> Collection<T> {
    pub(crate) fn new(client: Client, db: &str, name: &str, inherited: Inherited) -> Self {
        Self {
            inner: Arc::new(CollectionInner {
                client,
                db: db.to_owned(),
                name: name.to_owned(),
                inherited,
            }),
            _type: PhantomData,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The collection's namespace (`database.collection` when displayed).
    pub fn namespace(&self) -> Namespace {
        Namespace::new(&self.inner.db, &self.inner.name)
    }

    /// The client this handle belongs to.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The same collection with another document type.
    pub fn clone_with_type<U>(&self) -> Collection<U> {
        Collection {
            inner: self.inner.clone(),
            _type: PhantomData,
        }
    }

    /// What this collection's actions run against.
    pub(crate) fn target(&self) -> Target<'_> {
        let i = &*self.inner;
        Target::new(&i.client, &i.db, &i.name, &i.inherited)
    }
}

/// A collection's full name: its database and its name, `db.coll` when displayed or parsed.
///
/// ```
/// use mongo_x509::Namespace;
/// let ns: Namespace = "shop.items.archive".parse().unwrap();
/// assert_eq!((ns.db.as_str(), ns.coll.as_str()), ("shop", "items.archive"));
/// assert_eq!(ns.to_string(), "shop.items.archive");
/// assert!("shop".parse::<Namespace>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// The database's name.
    pub db: String,
    /// The collection's name (it may contain dots).
    pub coll: String,
}

impl Namespace {
    /// The namespace of collection `coll` in database `db`.
    pub fn new(db: impl Into<String>, coll: impl Into<String>) -> Self {
        Self {
            db: db.into(),
            coll: coll.into(),
        }
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.db, self.coll)
    }
}

impl std::str::FromStr for Namespace {
    type Err = Error;

    /// `db.coll`: the database is what comes before the first dot.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok(Self::new(db, coll)),
            _ => Err(Error::invalid_argument(format!(
                "{s:?} is not a namespace: write it as database.collection"
            ))),
        }
    }
}

/// A document to store as a [`Document`] (replacements).
pub(crate) fn to_document<T: Serialize>(value: &T) -> Result<Document> {
    bson::to_document(value).map_err(not_a_document)
}

/// Serializes a document to store straight to BSON bytes (no [`Document`] in between).
pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
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
