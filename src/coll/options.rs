//! Options of the collection operations, named as in the official `mongodb` crate. They are
//! re-exported from [`crate::options`].

use std::time::Duration;

use bson::{Bson, Document};
use typed_builder::TypedBuilder;

use crate::options::WriteConcern;

/// An index hint: the index's key pattern or its name.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Hint {
    /// The index's key pattern, e.g. `{a: 1}`.
    Keys(Document),
    /// The index's name, e.g. `"a_1"`.
    Name(String),
}

impl Hint {
    pub(crate) fn to_bson(&self) -> Bson {
        match self {
            Hint::Keys(d) => Bson::Document(d.clone()),
            Hint::Name(n) => Bson::String(n.clone()),
        }
    }
}

/// Options for [`Collection::find`](crate::Collection::find).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct FindOptions {
    /// Order of the results, e.g. `{qty: -1}`.
    pub sort: Option<Document>,
    /// Which fields to return, e.g. `{name: 1, _id: 0}`.
    pub projection: Option<Document>,
    /// At most this many documents. A negative value also asks for a single batch (the cursor
    /// is closed after it), as in the official driver.
    pub limit: Option<i64>,
    /// Skip this many documents first.
    pub skip: Option<u64>,
    /// Documents per batch (first batch and each `getMore`).
    pub batch_size: Option<u32>,
    /// `maxTimeMS`: the server's time limit for the query.
    pub max_time: Option<Duration>,
    /// A comment, shown in the server's logs and profiler.
    pub comment: Option<Bson>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// Let the server use temporary files for large sorts.
    pub allow_disk_use: Option<bool>,
}

/// Options for [`Collection::find_one`](crate::Collection::find_one).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct FindOneOptions {
    /// Which document comes first, e.g. `{createdAt: -1}`.
    pub sort: Option<Document>,
    /// Which fields to return.
    pub projection: Option<Document>,
    /// Skip this many documents first.
    pub skip: Option<u64>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// A comment.
    pub comment: Option<Bson>,
    /// The index to use.
    pub hint: Option<Hint>,
}

/// Options for [`Collection::insert_one`](crate::Collection::insert_one).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct InsertOneOptions {
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::insert_many`](crate::Collection::insert_many).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct InsertManyOptions {
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// Stop at the first error (the default, `true`) or insert all the others.
    pub ordered: Option<bool>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::update_one`](crate::Collection::update_one) and
/// [`Collection::update_many`](crate::Collection::update_many).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct UpdateOptions {
    /// Insert a document when none matches.
    pub upsert: Option<bool>,
    /// Filters for positional `$[identifier]` updates of arrays.
    pub array_filters: Option<Vec<Document>>,
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Variables for the update (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::replace_one`](crate::Collection::replace_one).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct ReplaceOptions {
    /// Insert the replacement when no document matches.
    pub upsert: Option<bool>,
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Variables (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::delete_one`](crate::Collection::delete_one) and
/// [`Collection::delete_many`](crate::Collection::delete_many).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct DeleteOptions {
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Variables (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::count_documents`](crate::Collection::count_documents).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct CountOptions {
    /// Count at most this many documents.
    pub limit: Option<u64>,
    /// Skip this many matching documents first.
    pub skip: Option<u64>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::distinct`](crate::Collection::distinct).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct DistinctOptions {
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::aggregate`](crate::Collection::aggregate).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct AggregateOptions {
    /// Let the server use temporary files.
    pub allow_disk_use: Option<bool>,
    /// Documents per batch.
    pub batch_size: Option<u32>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// A comment.
    pub comment: Option<Bson>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// Variables for the pipeline (`let`).
    pub let_vars: Option<Document>,
    /// The write concern for `$out`/`$merge` (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Skip the collection's schema validation (`$out`/`$merge`).
    pub bypass_document_validation: Option<bool>,
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

/// Options for [`Collection::find_one_and_delete`](crate::Collection::find_one_and_delete).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct FindOneAndDeleteOptions {
    /// Which document is deleted when several match, e.g. `{createdAt: 1}`.
    pub sort: Option<Document>,
    /// Which fields of the deleted document to return.
    pub projection: Option<Document>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Variables (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::find_one_and_update`](crate::Collection::find_one_and_update).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct FindOneAndUpdateOptions {
    /// Which document is updated when several match.
    pub sort: Option<Document>,
    /// Which fields of the returned document to return.
    pub projection: Option<Document>,
    /// Insert a document when none matches.
    pub upsert: Option<bool>,
    /// Return the document before (the default) or after the update.
    pub return_document: Option<ReturnDocument>,
    /// Filters for positional `$[identifier]` updates of arrays.
    pub array_filters: Option<Vec<Document>>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// Variables (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
}

/// Options for [`Collection::find_one_and_replace`](crate::Collection::find_one_and_replace).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct FindOneAndReplaceOptions {
    /// Which document is replaced when several match.
    pub sort: Option<Document>,
    /// Which fields of the returned document to return.
    pub projection: Option<Document>,
    /// Insert the replacement when no document matches.
    pub upsert: Option<bool>,
    /// Return the document before (the default) or after the replacement.
    pub return_document: Option<ReturnDocument>,
    /// The index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Skip the collection's schema validation.
    pub bypass_document_validation: Option<bool>,
    /// `maxTimeMS`.
    pub max_time: Option<Duration>,
    /// Variables (`let`).
    pub let_vars: Option<Document>,
    /// A comment.
    pub comment: Option<Bson>,
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
