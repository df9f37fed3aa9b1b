//! The options of the operations, named as in the official `mongodb` crate. Each type
//! serializes itself into its command (the set fields, camelCase); each option is documented
//! once, here, and the actions' setters carry the same text.

use std::time::Duration;

use bson::{Bson, Document};
use serde::{Deserialize, Serialize, Serializer};

use super::define::ser;
use super::{
    ChangeStreamPreAndPostImages, ClusteredIndex, TimeseriesOptions, ValidationAction,
    ValidationLevel,
};
use super::{ReadConcern, ReadPreference, TransactionOptions, WriteConcern};

/// An index hint: the index's key pattern or its name.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Hint {
    /// The index's key pattern, e.g. `{a: 1}`.
    Keys(Document),
    /// The index's name, e.g. `"a_1"`.
    Name(String),
}

impl From<Document> for Hint {
    fn from(d: Document) -> Self {
        Hint::Keys(d)
    }
}

impl From<&str> for Hint {
    fn from(s: &str) -> Self {
        Hint::Name(s.to_owned())
    }
}

impl From<String> for Hint {
    fn from(s: String) -> Self {
        Hint::Name(s)
    }
}

/// A collation: language-aware string comparison for a query, an index or an update.
///
/// ```
/// use mongo_x509::options::{Collation, CollationStrength};
/// let collation = Collation::builder().locale("fr").strength(CollationStrength::Secondary).build();
/// assert_eq!(collation.locale, "fr");
/// ```
#[derive(Clone, Debug, Default, PartialEq, typed_builder::TypedBuilder, Serialize, Deserialize)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Collation {
    /// The ICU locale, e.g. `"en_US"` (`"simple"` for binary comparison).
    #[builder(!default, setter(!strip_option))]
    pub locale: String,
    /// Upper or lower case first, or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_first: Option<String>,
    /// Whether case is compared at strength 1 or 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_level: Option<bool>,
    /// How much of a difference counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strength: Option<CollationStrength>,
    /// Compare numeric strings as numbers (`"10" > "9"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_ordering: Option<bool>,
    /// Whether white space and punctuation count (`"non-ignorable"` or `"shifted"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate: Option<String>,
    /// With `alternate: "shifted"`, which characters are ignorable (`"punct"` or `"space"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_variable: Option<String>,
    /// Check whether text needs normalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalization: Option<bool>,
    /// Sort secondary differences from the end of the string (French dictionaries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backwards: Option<bool>,
}

/// The strength of a [`Collation`]: how much of a difference between strings counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollationStrength {
    /// Base characters only (`a` = `á` = `A`).
    Primary,
    /// Also accents (`a` = `A`, `a` ≠ `á`).
    Secondary,
    /// Also case (the ICU default).
    Tertiary,
    /// Also punctuation, with `alternate: "shifted"`.
    Quaternary,
    /// Every code point.
    Identical,
}

impl<'de> Deserialize<'de> for CollationStrength {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            1 => Ok(CollationStrength::Primary),
            2 => Ok(CollationStrength::Secondary),
            3 => Ok(CollationStrength::Tertiary),
            4 => Ok(CollationStrength::Quaternary),
            5 => Ok(CollationStrength::Identical),
            n => Err(serde::de::Error::custom(format!(
                "collation strength {n} is not 1 to 5"
            ))),
        }
    }
}

impl Serialize for CollationStrength {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(match self {
            CollationStrength::Primary => 1,
            CollationStrength::Secondary => 2,
            CollationStrength::Tertiary => 3,
            CollationStrength::Quaternary => 4,
            CollationStrength::Identical => 5,
        })
    }
}

/// Which version of the document a `find_one_and_update` or `find_one_and_replace` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnDocument {
    /// The document as it was before the change (the default).
    #[default]
    Before,
    /// The document as it is after the change.
    After,
}

/// A `find` cursor's kind: a normal cursor, or a tailable one on a capped collection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CursorType {
    /// Closed when the results are exhausted (the default).
    #[default]
    NonTailable,
    /// Stays open at the end of a capped collection; `getMore` returns what was added since.
    Tailable,
    /// Tailable, and each `getMore` waits a while (the server's default, one second) for new
    /// documents.
    TailableAwait,
}

/// How `timeoutMS` applies to a cursor (Client Side Operations Timeout specification,
/// "Cursors"). Setting it without a `timeoutMS` is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutMode {
    /// The command and every `getMore` of the cursor share one deadline, `timeoutMS` from the
    /// start (the default of non-tailable cursors). Not for tailable cursors.
    CursorLifetime,
    /// The command, then each `next` that needs a `getMore`, get `timeoutMS` afresh; no
    /// `maxTimeMS` is sent with the command (the default, and the only mode, of tailable
    /// cursors). Not for an `aggregate` that writes (`$out`, `$merge`).
    Iteration,
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

options! {
    /// Options for [`Collection::find`](crate::Collection::find).
    pub struct FindOptions => find_setters {
        /// Order of the results, e.g. `{qty: -1}`.
        sort: Document,
        /// Which fields to return, e.g. `{name: 1, _id: 0}`.
        projection: Document,
        /// At most this many documents. A negative value also asks for a single batch (the
        /// cursor is closed after it), as in the official driver.
        #[serde(skip)]
        limit: i64,
        /// Skip this many documents first.
        #[serde(serialize_with = "ser::count")]
        skip: u64,
        /// Documents per batch (first batch and each `getMore`).
        batch_size: u32,
        /// `maxTimeMS`: the server's time limit for the query.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// A comment, shown in the server's logs and profiler (any BSON value).
        comment: Bson => into,
        /// The index to use.
        hint: Hint => into,
        /// Let the server use temporary files for large sorts.
        allow_disk_use: bool,
        /// The collation for string comparisons.
        collation: Collation,
        /// Variables the filter may use as `$$name` (`let`).
        #[serde(rename = "let")]
        let_vars: Document,
        /// A normal or a tailable cursor.
        #[serde(skip)]
        cursor_type: CursorType,
        /// How `timeoutMS` applies to the cursor: its whole lifetime or each iteration.
        #[serde(skip)]
        timeout_mode: TimeoutMode,
        /// How long each `getMore` of a `CursorType::TailableAwait` cursor waits for new
        /// documents (`maxAwaitTimeMS`, sent as the `getMore`'s `maxTimeMS`; the server's
        /// default is one second). Ignored for other cursor types.
        #[serde(skip)]
        max_await_time: Duration,
        /// Keep the server cursor alive while idle (the server's 10-minute timeout off).
        no_cursor_timeout: bool,
        ..index_range,
        ..read_tail,
    }

    /// Options for [`Collection::find_one`](crate::Collection::find_one).
    pub struct FindOneOptions => find_one_setters {
        /// Which document comes first, e.g. `{createdAt: -1}`.
        sort: Document,
        /// Let the server use temporary files for a large sort.
        allow_disk_use: bool,
        /// Which fields to return.
        projection: Document,
        /// Skip this many documents first.
        #[serde(serialize_with = "ser::count")]
        skip: u64,
        /// `maxTimeMS`: the server's time limit for the query.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// The index to use.
        hint: Hint => into,
        /// The collation for string comparisons.
        collation: Collation,
        /// Variables the filter may use as `$$name` (`let`).
        #[serde(rename = "let")]
        let_vars: Document,
        ..index_range,
        ..read_tail,
    }

    /// Options for [`Collection::insert_one`](crate::Collection::insert_one).
    pub struct InsertOneOptions => insert_one_setters {
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Collection::insert_many`](crate::Collection::insert_many).
    pub struct InsertManyOptions => insert_many_setters {
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// Stop at the first error (the default, `true`) or insert all the others.
        #[serde(skip)]
        ordered: bool,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Collection::update_one`](crate::Collection::update_one) and
    /// [`Collection::update_many`](crate::Collection::update_many).
    pub struct UpdateOptions => update_setters {
        /// Insert a document when none matches.
        #[serde(skip)]
        upsert: bool,
        /// Filters for positional `$[identifier]` updates of arrays.
        #[serde(skip)]
        array_filters: Vec<Document> => iter,
        ..update_common,
        ..write_tail,
    }

    /// Options for [`Collection::replace_one`](crate::Collection::replace_one).
    pub struct ReplaceOptions => replace_setters {
        /// Insert the replacement when no document matches.
        #[serde(skip)]
        upsert: bool,
        ..update_common,
        ..write_tail,
    }

    /// Options for [`Collection::delete_one`](crate::Collection::delete_one) and
    /// [`Collection::delete_many`](crate::Collection::delete_many).
    pub struct DeleteOptions => delete_setters {
        /// The index to use.
        #[serde(skip)]
        hint: Hint => into,
        /// The collation for string comparisons.
        #[serde(skip)]
        collation: Collation,
        ..write_tail,
    }

    /// Options for [`Collection::count_documents`](crate::Collection::count_documents).
    pub struct CountOptions => count_setters {
        /// Count at most this many documents.
        #[serde(skip)]
        limit: u64,
        /// Skip this many matching documents first.
        #[serde(skip)]
        skip: u64,
        ..count_tail,
    }

    /// Options for [`Collection::distinct`](crate::Collection::distinct).
    pub struct DistinctOptions => distinct_setters {
        ..count_tail,
    }

    /// Options for [`Collection::aggregate`](crate::Collection::aggregate) and
    /// [`Database::aggregate`](crate::Database::aggregate).
    pub struct AggregateOptions => aggregate_setters {
        /// Let the server use temporary files.
        allow_disk_use: bool,
        /// Documents per batch.
        #[serde(skip)]
        batch_size: u32,
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// How long each `getMore` waits for new results when the pipeline yields a
        /// tailable-await cursor (`maxAwaitTimeMS`, sent as the `getMore`'s `maxTimeMS`).
        #[serde(skip)]
        max_await_time: Duration,
        /// How `timeoutMS` applies to the cursor: its whole lifetime or each iteration.
        #[serde(skip)]
        timeout_mode: TimeoutMode,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// The index to use.
        hint: Hint => into,
        /// The collation for string comparisons.
        collation: Collation,
        /// Variables for the pipeline (`let`).
        #[serde(rename = "let")]
        let_vars: Document,
        /// The write concern for `$out`/`$merge` (default: the collection's).
        #[serde(skip)]
        write_concern: WriteConcern,
        /// Skip the collection's schema validation (`$out`/`$merge`).
        #[serde(skip)]
        bypass_document_validation: bool,
        ..read_tail,
    }

    /// Options for [`Collection::find_one_and_delete`](crate::Collection::find_one_and_delete).
    pub struct FindOneAndDeleteOptions => find_one_and_delete_setters {
        /// Which document is deleted when several match, e.g. `{createdAt: 1}`.
        sort: Document,
        /// Which fields of the deleted document to return.
        #[serde(rename = "fields")]
        projection: Document,
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// The index to use.
        hint: Hint => into,
        /// The collation for string comparisons.
        collation: Collation,
        ..write_tail,
    }

    /// Options for [`Collection::find_one_and_update`](crate::Collection::find_one_and_update).
    pub struct FindOneAndUpdateOptions => find_one_and_update_setters {
        ..find_and_modify_change,
        /// Filters for positional `$[identifier]` updates of arrays.
        array_filters: Vec<Document> => iter,
        ..find_and_modify_tail,
    }

    /// Options for
    /// [`Collection::find_one_and_replace`](crate::Collection::find_one_and_replace).
    pub struct FindOneAndReplaceOptions => find_one_and_replace_setters {
        ..find_and_modify_change,
        ..find_and_modify_tail,
    }

    /// Options for [`Database::drop`](crate::Database::drop) and
    /// [`Collection::drop`](crate::Collection::drop).
    pub struct DropOptions => drop_setters {
        /// The write concern (default: the database's or collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
    }

}

options! {
    /// Options for [`Database::run_command`](crate::Database::run_command).
    pub struct RunCommandOptions => run_command_setters {
        /// Where the command runs: the primary by default. Any other read preference is also
        /// sent to the server (`$readPreference`) so a mongos routes the command the same way.
        #[serde(skip)]
        read_preference: ReadPreference,
    }

    /// Options for [`Database::run_cursor_command`](crate::Database::run_cursor_command).
    /// Besides where the command runs, they shape the cursor's `getMore`s only: the command
    /// itself is sent as given.
    pub struct RunCursorCommandOptions => run_cursor_command_setters {
        /// Where the command runs (the primary by default); its `getMore`s go to the same
        /// server.
        #[serde(skip)]
        selection_criteria: ReadPreference => into,
        /// The kind of cursor the command opens, as the specification names it (this crate's
        /// cursors ask for more while the server keeps them open, whatever their type).
        #[serde(skip)]
        cursor_type: CursorType,
        /// How `timeoutMS` applies to the cursor: its whole lifetime or each iteration.
        #[serde(skip)]
        timeout_mode: TimeoutMode,
        /// Documents per `getMore`.
        #[serde(skip)]
        batch_size: u32,
        /// `maxTimeMS` of each `getMore` (how long a tailable-await cursor waits).
        #[serde(skip)]
        max_time: Duration,
        /// The comment of each `getMore` (any BSON value).
        #[serde(skip)]
        comment: Bson => into,
    }

    /// Options of an explicit session ([`Client::start_session`](crate::Client::start_session)).
    pub struct SessionOptions => session_setters {
        /// Causally consistent reads: each read in the session sees the session's earlier
        /// writes and reads (`afterClusterTime`). Default `true`.
        #[serde(skip)]
        causal_consistency: bool,
        /// The options of the session's transactions, where
        /// [`start_transaction`](crate::ClientSession::start_transaction) sets none.
        #[serde(skip)]
        default_transaction_options: TransactionOptions,
        /// Snapshot reads (MongoDB 5.0+): every read in the session sees the same
        /// majority-committed snapshot, the one of its first read (or
        /// [`snapshot_time`](Self::snapshot_time)). Not with causal consistency set to `true`,
        /// not with transactions; the server refuses writes in such a session.
        #[serde(skip)]
        snapshot: bool,
        /// With `snapshot`: the time of the snapshot to read, instead of the first read's.
        #[serde(skip)]
        snapshot_time: bson::Timestamp,
        /// `defaultTimeoutMS`: the `timeoutMS` of the session's
        /// [`commit_transaction`](crate::ClientSession::commit_transaction),
        /// [`abort_transaction`](crate::ClientSession::abort_transaction) and convenient
        /// transactions ([`and_run`](crate::action::StartTransaction::and_run)), where they set
        /// none; unset: the client's.
        #[serde(skip)]
        default_timeout: Duration,
    }
}

options! {
    /// Options for [`Collection::create_index`](crate::Collection::create_index) and
    /// [`Collection::create_indexes`](crate::Collection::create_indexes).
    pub struct CreateIndexOptions => create_index_setters {
        /// How many data-bearing members must finish building the index before it is ready
        /// (`commitQuorum`): a number, `"majority"`, `"votingMembers"` or a tag set name.
        commit_quorum: Bson => into,
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Collection::drop_index`](crate::Collection::drop_index) and
    /// [`Collection::drop_indexes`](crate::Collection::drop_indexes).
    pub struct DropIndexOptions => drop_index_setters {
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Collection::list_indexes`](crate::Collection::list_indexes) and
    /// [`Collection::list_index_names`](crate::Collection::list_index_names).
    pub struct ListIndexesOptions => list_indexes_setters {
        /// Indexes per batch.
        #[serde(skip)]
        batch_size: u32,
        /// How `timeoutMS` applies to the cursor: its whole lifetime or each iteration.
        #[serde(skip)]
        timeout_mode: TimeoutMode,
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for
    /// [`Collection::estimated_document_count`](crate::Collection::estimated_document_count).
    pub struct EstimatedDocumentCountOptions => estimated_document_count_setters {
        /// `maxTimeMS`: the server's time limit.
        #[serde(rename = "maxTimeMS", serialize_with = "ser::millis")]
        max_time: Duration,
        /// A comment (any BSON value).
        comment: Bson => into,
        ..read_tail,
    }

    /// Options for [`Database::create_collection`](crate::Database::create_collection).
    pub struct CreateCollectionOptions => create_collection_setters {
        /// A capped collection: fixed size, insertion order, oldest documents overwritten.
        capped: bool,
        /// A capped collection's size in bytes.
        size: u64,
        /// A capped collection's document count limit.
        max: u64,
        /// The storage engine's options for the collection.
        storage_engine: Document,
        /// A schema that documents must match (e.g. `{$jsonSchema: {...}}`).
        validator: Document,
        /// Which documents the validator checks.
        validation_level: ValidationLevel,
        /// What a document that fails validation gets: an error or a warning in the log.
        validation_action: ValidationAction,
        /// A view: the collection or view it reads from.
        view_on: String,
        /// A view: the pipeline it applies.
        pipeline: Vec<Document> => iter,
        /// The default collation of the collection.
        collation: Collation,
        /// The write concern (default: the database's).
        write_concern: WriteConcern,
        /// The default options of the collection's indexes.
        index_option_defaults: Document,
        /// A time-series collection: its time and meta fields and granularity.
        timeseries: TimeseriesOptions,
        /// Time-series and clustered collections: documents expire this long after their time.
        #[serde(rename = "expireAfterSeconds", serialize_with = "ser::seconds")]
        expire_after_seconds: Duration,
        /// Record the document before and after each change for change streams.
        change_stream_pre_and_post_images: ChangeStreamPreAndPostImages,
        /// A clustered collection: documents stored in the order of this index.
        clustered_index: ClusteredIndex,
        /// A comment (any BSON value).
        comment: Bson => into,
    }

    /// Options for [`Database::list_collections`](crate::Database::list_collections) and
    /// [`Database::list_collection_names`](crate::Database::list_collection_names).
    pub struct ListCollectionsOptions => list_collections_setters {
        /// Only collections matching this filter (on `name`, `type`, `options`, `info`).
        filter: Document,
        /// Documents per batch.
        #[serde(skip)]
        batch_size: u32,
        /// How `timeoutMS` applies to the cursor: its whole lifetime or each iteration.
        #[serde(skip)]
        timeout_mode: TimeoutMode,
        /// Only the collections the user may read (with `nameOnly`, for restricted users).
        authorized_collections: bool,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Client::list_databases`](crate::Client::list_databases) and
    /// [`Client::list_database_names`](crate::Client::list_database_names).
    pub struct ListDatabasesOptions => list_databases_setters {
        /// Only databases matching this filter (on `name`, `sizeOnDisk`, `empty`, `shards`).
        filter: Document,
        /// Only the databases the user may read.
        authorized_databases: bool,
        /// A comment (any BSON value).
        comment: Bson => into,
    }

    /// Options for [`Collection::rename`](crate::Collection::rename).
    pub struct RenameCollectionOptions => rename_setters {
        /// Drop a collection that already has the new name (otherwise the rename fails).
        drop_target: bool,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// A comment (any BSON value).
        comment: Bson => into,
    }
}

impl Serialize for super::WriteConcern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use super::Acknowledgment;
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        match &self.w {
            Some(Acknowledgment::Nodes(n)) => map.serialize_entry("w", &i64::from(*n))?,
            Some(Acknowledgment::Majority) => map.serialize_entry("w", "majority")?,
            Some(Acknowledgment::Custom(tag)) => map.serialize_entry("w", tag)?,
            None => {}
        }
        if let Some(t) = self.w_timeout {
            map.serialize_entry(
                "wtimeout",
                &i64::try_from(t.as_millis()).unwrap_or(i64::MAX),
            )?;
        }
        if let Some(j) = self.journal {
            map.serialize_entry("j", &j)?;
        }
        map.end()
    }
}

impl Serialize for super::ReadConcern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("level", &self.level)?;
        map.end()
    }
}

impl super::WriteConcern {
    /// True when nothing is set: the server's default applies, and no `writeConcern` is sent.
    pub fn is_empty(&self) -> bool {
        self.w.is_none() && self.w_timeout.is_none() && self.journal.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn fields(o: &impl Serialize) -> Document {
        bson::to_document(o).unwrap()
    }

    #[test]
    fn unset_options_add_nothing() {
        assert_eq!(fields(&FindOptions::default()), doc! {});
        assert_eq!(fields(&UpdateOptions::default()), doc! {});
        assert_eq!(fields(&FindOneAndUpdateOptions::default()), doc! {});
    }

    #[test]
    fn set_options_become_command_keys() {
        let o = FindOptions::builder()
            .sort(doc! { "a": -1 })
            .skip(2_u64)
            .limit(-3_i64)
            .batch_size(10_u32)
            .max_time(Duration::from_millis(250))
            .hint(Hint::Name("a_1".into()))
            .comment(Bson::from("why"))
            .let_vars(doc! { "x": 1 })
            .collation(
                Collation::builder()
                    .locale("fr")
                    .strength(CollationStrength::Primary)
                    .build(),
            )
            .no_cursor_timeout(true)
            .build();
        assert_eq!(
            fields(&o),
            doc! {
                "sort": { "a": -1 }, "skip": 2_i64, "batchSize": 10_i64, "maxTimeMS": 250_i64,
                "comment": "why", "hint": "a_1", "collation": { "locale": "fr", "strength": 1 },
                "let": { "x": 1 }, "noCursorTimeout": true,
            }
        );
        let o = FindOneAndDeleteOptions::builder()
            .projection(doc! { "_id": 0 })
            .write_concern(WriteConcern::builder().journal(true).build())
            .hint(Hint::Keys(doc! { "a": 1 }))
            .build();
        assert_eq!(
            fields(&o),
            doc! { "fields": { "_id": 0 }, "hint": { "a": 1 }, "writeConcern": { "j": true } }
        );
    }

    #[test]
    fn write_concern_document() {
        use crate::options::Acknowledgment;
        let wc = WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .w_timeout(Duration::from_millis(1500))
            .journal(true)
            .build();
        assert_eq!(
            fields(&wc),
            doc! { "w": "majority", "wtimeout": 1500_i64, "j": true }
        );
        assert!(WriteConcern::default().is_empty());
        assert!(!wc.is_empty());
        let wc = WriteConcern::builder().w(Acknowledgment::Nodes(0)).build();
        assert_eq!(fields(&wc), doc! { "w": 0_i64 });
    }
}
