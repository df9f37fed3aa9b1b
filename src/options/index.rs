//! Index specifications: what [`Collection::create_index`](crate::Collection::create_index)
//! creates and [`Collection::list_indexes`](crate::Collection::list_indexes) returns.

use std::time::Duration;

use bson::{Bson, Document};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Collation;

/// An index: its keys and options.
///
/// ```
/// use mongo_x509::bson::doc;
/// use mongo_x509::options::{IndexModel, IndexOptions};
/// let by_email = IndexModel::builder()
///     .keys(doc! { "email": 1 })
///     .options(IndexOptions::builder().unique(true).build())
///     .build();
/// assert_eq!(by_email.name(), "email_1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, typed_builder::TypedBuilder)]
#[builder(field_defaults(default, setter(into)))]
#[non_exhaustive]
pub struct IndexModel {
    /// The indexed fields and the index type of each, e.g. `{email: 1}`, `{loc: "2dsphere"}`.
    #[serde(rename = "key")]
    pub keys: Document,
    /// The index's options.
    #[serde(flatten)]
    #[builder(setter(strip_option))]
    pub options: Option<IndexOptions>,
}

impl IndexModel {
    /// The index's name: the one set in its options, or the server's default (`field_dir`
    /// pairs joined with `_`, e.g. `a_1_b_-1`).
    pub fn name(&self) -> String {
        if let Some(name) = self.options.as_ref().and_then(|o| o.name.clone()) {
            return name;
        }
        let part = |(k, v): (&String, &Bson)| match v {
            Bson::String(s) => format!("{k}_{s}"),
            Bson::Int32(n) => format!("{k}_{n}"),
            Bson::Int64(n) => format!("{k}_{n}"),
            Bson::Double(n) => format!("{k}_{n}"),
            other => format!("{k}_{other}"),
        };
        self.keys.iter().map(part).collect::<Vec<_>>().join("_")
    }

    /// The model as `createIndexes` sends it: with its name.
    pub(crate) fn with_name(mut self) -> Self {
        let name = self.name();
        self.options.get_or_insert_with(Default::default).name = Some(name);
        self
    }
}

/// The options of an index (`createIndexes`' index specification).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, typed_builder::TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IndexOptions {
    /// The index's name (default: made from its keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Refuse documents whose key is already in the index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// Only documents that have the indexed field are in the index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    /// A TTL index: documents are removed this long after the date in the indexed field.
    #[serde(
        rename = "expireAfterSeconds",
        skip_serializing_if = "Option::is_none",
        serialize_with = "seconds::serialize",
        deserialize_with = "seconds::deserialize",
        default
    )]
    pub expire_after: Option<Duration>,
    /// Only documents matching this filter are in the index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_filter_expression: Option<Document>,
    /// The collation of the index's string comparisons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collation: Option<Collation>,
    /// Hidden from the query planner (kept up to date, not used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Ignored by servers since 4.2; kept for old code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// The storage engine's options for this index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_engine: Option<Document>,
    /// The index version (`v`).
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Text indexes: the language of the stop words and stemming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
    /// Text indexes: the document field that names each document's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_override: Option<String>,
    /// Text indexes: the text index version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_index_version: Option<i32>,
    /// Text indexes: the weight of each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Document>,
    /// `2dsphere` indexes: the index version.
    #[serde(
        rename = "2dsphereIndexVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub sphere_2d_index_version: Option<i32>,
    /// `2d` indexes: the precision of the stored geohash (1 to 32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<i32>,
    /// `2d` indexes: the upper bound of coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `2d` indexes: the lower bound of coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Wildcard indexes: the paths included or excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard_projection: Option<Document>,
    /// Set on a clustered collection's index as listed (not accepted by `createIndexes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clustered: Option<bool>,
}

/// A duration as whole seconds (`expireAfterSeconds`), read from any numeric type.
mod seconds {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_i64(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let n = Option::<Bson>::deserialize(d)?;
        Ok(n.and_then(|n| match n {
            Bson::Int32(n) => u64::try_from(n).ok(),
            Bson::Int64(n) => u64::try_from(n).ok(),
            Bson::Double(n) if n >= 0.0 && n.is_finite() => Some(n as u64),
            _ => None,
        })
        .map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn names_are_made_from_the_keys_as_the_server_makes_them() {
        let m = |keys| IndexModel::builder().keys(keys).build();
        assert_eq!(m(doc! { "a": 1, "b": -1 }).name(), "a_1_b_-1");
        assert_eq!(m(doc! { "loc": "2dsphere" }).name(), "loc_2dsphere");
        let named = IndexModel::builder()
            .keys(doc! { "a": 1 })
            .options(IndexOptions::builder().name("mine").build())
            .build();
        assert_eq!(named.name(), "mine");
    }

    #[test]
    fn a_model_serializes_as_an_index_specification_and_reads_back() {
        let model = IndexModel::builder()
            .keys(doc! { "at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(3600))
                    .unique(true)
                    .build(),
            )
            .build()
            .with_name();
        let spec = bson::to_document(&model).unwrap();
        assert_eq!(
            spec,
            doc! { "key": { "at": 1 }, "name": "at_1", "unique": true, "expireAfterSeconds": 3600_i64 }
        );
        let listed = doc! { "v": 2, "key": { "at": 1 }, "name": "at_1", "unique": true, "expireAfterSeconds": 3600.0 };
        let back: IndexModel = bson::from_document(listed).unwrap();
        assert_eq!(back.options.as_ref().unwrap().version, Some(2));
        assert_eq!(
            back.options.unwrap().expire_after,
            Some(Duration::from_secs(3600))
        );
    }
}
