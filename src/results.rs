//! What write operations return, named as in the official `mongodb` crate.

use std::collections::HashMap;

use bson::Bson;

/// The result of [`Collection::insert_one`](crate::Collection::insert_one).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InsertOneResult {
    /// The `_id` of the inserted document (generated when the document had none).
    pub inserted_id: Bson,
}

/// The result of [`Collection::insert_many`](crate::Collection::insert_many).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InsertManyResult {
    /// The `_id` of each inserted document, by its index in the input.
    pub inserted_ids: HashMap<usize, Bson>,
}

/// The result of an update or replace.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UpdateResult {
    /// Documents that matched the filter.
    pub matched_count: u64,
    /// Documents actually changed.
    pub modified_count: u64,
    /// The `_id` of the document inserted by an upsert.
    pub upserted_id: Option<Bson>,
}

/// The result of a delete.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DeleteResult {
    /// Documents deleted.
    pub deleted_count: u64,
}

/// The result of [`Collection::create_index`](crate::Collection::create_index).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CreateIndexResult {
    /// The index's name.
    pub index_name: String,
}

/// The result of [`Collection::create_indexes`](crate::Collection::create_indexes).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CreateIndexesResult {
    /// The indexes' names, in the order given.
    pub index_names: Vec<String>,
}

/// A database, as [`Client::list_databases`](crate::Client::list_databases) lists it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DatabaseSpecification {
    /// Its name.
    pub name: String,
    /// Its size on disk, in bytes.
    #[serde(default, deserialize_with = "count")]
    pub size_on_disk: u64,
    /// Whether it holds no data.
    #[serde(default)]
    pub empty: bool,
    /// On a sharded cluster: each shard's part of the size.
    #[serde(default)]
    pub shards: Option<bson::Document>,
}

/// What kind of collection a [`CollectionSpecification`] describes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CollectionType {
    /// A collection.
    Collection,
    /// A view.
    View,
    /// A time-series collection.
    Timeseries,
    /// Another kind the server knows.
    #[serde(other)]
    Other,
}

/// A collection, as [`Database::list_collections`](crate::Database::list_collections) lists
/// it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CollectionSpecification {
    /// Its name.
    pub name: String,
    /// Collection, view or time series.
    #[serde(rename = "type")]
    pub collection_type: CollectionType,
    /// The options it was created with (`capped`, `validator`, `viewOn`, …), as the server
    /// lists them.
    #[serde(default)]
    pub options: bson::Document,
    /// Its `readOnly` flag and `uuid`.
    #[serde(default)]
    pub info: bson::Document,
    /// The `_id` index (collections only).
    #[serde(default)]
    pub id_index: Option<crate::options::IndexModel>,
}

/// A non-negative count from any numeric type (servers send sizes as doubles or integers).
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::Deserialize;
    match bson::Bson::deserialize(d)? {
        bson::Bson::Int32(n) => Ok(u64::try_from(n).unwrap_or(0)),
        bson::Bson::Int64(n) => Ok(u64::try_from(n).unwrap_or(0)),
        bson::Bson::Double(n) if n >= 0.0 && n.is_finite() => Ok(n as u64),
        other => Err(serde::de::Error::custom(format!("not a size: {other}"))),
    }
}

/// The counts of a [`Client::bulk_write`](crate::Client::bulk_write), over all its writes.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SummaryBulkWriteResult {
    /// Documents inserted.
    pub inserted_count: i64,
    /// Documents matched by updates and replacements.
    pub matched_count: i64,
    /// Documents changed by updates and replacements.
    pub modified_count: i64,
    /// Documents inserted by upserts.
    pub upserted_count: i64,
    /// Documents deleted.
    pub deleted_count: i64,
}

/// The counts of a [`Client::bulk_write`](crate::Client::bulk_write) with
/// [`verbose_results`](crate::action::BulkWrite::verbose_results), and the result of each
/// write that succeeded, by its index in the list of models.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct VerboseBulkWriteResult {
    /// The counts.
    pub summary: SummaryBulkWriteResult,
    /// Each insert that succeeded.
    pub insert_results: HashMap<usize, InsertOneResult>,
    /// Each update or replacement that succeeded.
    pub update_results: HashMap<usize, UpdateResult>,
    /// Each delete that succeeded.
    pub delete_results: HashMap<usize, DeleteResult>,
}

/// What [`Client::bulk_write`](crate::Client::bulk_write) returns:
/// [`SummaryBulkWriteResult`], or [`VerboseBulkWriteResult`] once
/// [`verbose_results`](crate::action::BulkWrite::verbose_results) is asked for (sealed).
pub trait ClientBulkWriteResult: crate::action::private::Sealed + Send + Sized + 'static {
    /// Whether the server is asked for each write's result (`errorsOnly: false`).
    #[doc(hidden)]
    const VERBOSE: bool;
    /// This kind of result from the verbose one the client gathers.
    #[doc(hidden)]
    fn from_verbose(verbose: VerboseBulkWriteResult) -> Self;
    /// As the partial result of a failed bulk write.
    #[doc(hidden)]
    fn into_partial(self) -> crate::error::PartialBulkWriteResult;
}

impl crate::action::private::Sealed for SummaryBulkWriteResult {}
impl crate::action::private::Sealed for VerboseBulkWriteResult {}

impl ClientBulkWriteResult for SummaryBulkWriteResult {
    const VERBOSE: bool = false;

    fn from_verbose(verbose: VerboseBulkWriteResult) -> Self {
        verbose.summary
    }

    fn into_partial(self) -> crate::error::PartialBulkWriteResult {
        crate::error::PartialBulkWriteResult::Summary(self)
    }
}

impl ClientBulkWriteResult for VerboseBulkWriteResult {
    const VERBOSE: bool = true;

    fn from_verbose(verbose: VerboseBulkWriteResult) -> Self {
        verbose
    }

    fn into_partial(self) -> crate::error::PartialBulkWriteResult {
        crate::error::PartialBulkWriteResult::Verbose(self)
    }
}

/// The result of [`Collection::bulk_write`](crate::Collection::bulk_write): the counts over
/// all its writes and the ids of what it inserted and upserted, by index in the list of models.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BulkWriteResult {
    /// Documents inserted by the insert models.
    pub inserted_count: u64,
    /// Documents matched by updates and replacements.
    pub matched_count: u64,
    /// Documents changed by updates and replacements.
    pub modified_count: u64,
    /// Documents deleted.
    pub deleted_count: u64,
    /// Documents inserted by upserts.
    pub upserted_count: u64,
    /// The `_id` of each document inserted by an insert model.
    pub inserted_ids: HashMap<usize, Bson>,
    /// The `_id` of each document inserted by an upsert.
    pub upserted_ids: HashMap<usize, Bson>,
}
