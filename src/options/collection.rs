//! The typed parts of a collection's options ([`CreateCollectionOptions`]).
//!
//! [`CreateCollectionOptions`]: crate::options::CreateCollectionOptions

use bson::Document;
use serde::{Deserialize, Serialize};

/// Which documents a collection's validator checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ValidationLevel {
    /// No validation.
    Off,
    /// Every insert and update (the default).
    Strict,
    /// Inserts, and updates of documents that were valid.
    Moderate,
}

/// What a document that fails validation gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ValidationAction {
    /// The write is refused (the default).
    Error,
    /// The write is accepted and a warning logged.
    Warn,
}

/// How close together a time-series collection's measurements usually are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TimeseriesGranularity {
    /// Seconds apart (the default).
    Seconds,
    /// Minutes apart.
    Minutes,
    /// Hours apart.
    Hours,
}

/// A time-series collection's layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, typed_builder::TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TimeseriesOptions {
    /// The field holding each measurement's date.
    #[builder(!default, setter(!strip_option))]
    pub time_field: String,
    /// The field holding what identifies a series (a sensor, a host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_field: Option<String>,
    /// How close together measurements usually are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<TimeseriesGranularity>,
    /// The longest time span of one bucket, in seconds (with `bucket_rounding_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_max_span_seconds: Option<i64>,
    /// Bucket start times are rounded down to a multiple of this, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_rounding_seconds: Option<i64>,
}

/// A clustered collection's index: documents are stored in `_id` order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, typed_builder::TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct ClusteredIndex {
    /// The key: `{_id: 1}`.
    #[builder(default = bson::doc! { "_id": 1 }, setter(!strip_option))]
    pub key: Document,
    /// Must be `true`.
    #[builder(default = true, setter(!strip_option))]
    pub unique: bool,
    /// The index's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The index version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<i32>,
}

impl Default for ClusteredIndex {
    fn default() -> Self {
        ClusteredIndex::builder().build()
    }
}

/// Whether a collection records the document before and after each change, for change
/// streams' `fullDocumentBeforeChange` and `fullDocument: "required"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeStreamPreAndPostImages {
    /// Record them.
    pub enabled: bool,
}

impl ChangeStreamPreAndPostImages {
    /// Pre- and post-images on (`true`) or off.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }
}
