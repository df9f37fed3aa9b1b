//! Atlas Search and Vector Search index definitions and the (empty, reserved) options of the
//! search index helpers, named as in the official `mongodb` crate.

use bson::Document;
use serde::{Deserialize, Serialize};

/// A search index to create: its definition, name and type.
///
/// ```
/// use mongo_x509::bson::doc;
/// use mongo_x509::options::{SearchIndexModel, SearchIndexType};
/// let plots = SearchIndexModel::builder()
///     .definition(doc! { "mappings": { "dynamic": true } })
///     .name("plots".to_string())
///     .index_type(SearchIndexType::Search)
///     .build();
/// assert_eq!(plots.name.as_deref(), Some("plots"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, typed_builder::TypedBuilder)]
#[builder(field_defaults(default, setter(into)))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SearchIndexModel {
    /// The index definition; its syntax depends on the index type (see the server's
    /// `createSearchIndexes` documentation).
    pub definition: Document,
    /// The index's name (the server names it `default` when none is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[builder(setter(strip_option))]
    pub name: Option<String>,
    /// The index's type (the server creates a `search` index when none is given).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[builder(setter(strip_option))]
    pub index_type: Option<SearchIndexType>,
}

/// What kind of search index a [`SearchIndexModel`] creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SearchIndexType {
    /// A full-text (Atlas Search) index: `search`.
    Search,
    /// A vector index for `$vectorSearch`: `vectorSearch`.
    VectorSearch,
}

options! {
    /// Options for [`Collection::create_search_index`](crate::Collection::create_search_index)
    /// and [`Collection::create_search_indexes`](crate::Collection::create_search_indexes):
    /// none yet (the Index Management specification reserves the type).
    pub struct CreateSearchIndexOptions => create_search_index_setters {}

    /// Options for [`Collection::update_search_index`](crate::Collection::update_search_index):
    /// none yet (the Index Management specification reserves the type).
    pub struct UpdateSearchIndexOptions => update_search_index_setters {}

    /// Options for [`Collection::drop_search_index`](crate::Collection::drop_search_index):
    /// none yet (the Index Management specification reserves the type).
    pub struct DropSearchIndexOptions => drop_search_index_setters {}

    /// Options for [`Collection::list_search_indexes`](crate::Collection::list_search_indexes):
    /// none yet (the Index Management specification reserves the type); the aggregation's
    /// own options are set with
    /// [`ListSearchIndexes::aggregate_options`](crate::action::ListSearchIndexes::aggregate_options).
    pub struct ListSearchIndexOptions => list_search_index_setters {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn a_model_sends_only_what_is_set() {
        let bare = SearchIndexModel::builder()
            .definition(doc! { "mappings": { "dynamic": true } })
            .build();
        assert_eq!(
            bson::to_document(&bare).unwrap(),
            doc! { "definition": { "mappings": { "dynamic": true } } }
        );
        let vector = SearchIndexModel::builder()
            .definition(doc! {})
            .name("v".to_string())
            .index_type(SearchIndexType::VectorSearch)
            .build();
        assert_eq!(
            bson::to_document(&vector).unwrap(),
            doc! { "definition": {}, "name": "v", "type": "vectorSearch" }
        );
    }
}
