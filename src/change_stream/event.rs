//! What a change stream yields: [`ChangeStreamEvent`], and the [`ResumeToken`] that marks a
//! place in the stream.

use crate::options::define::server_names;
use bson::{Binary, DateTime, Document, RawBson, RawDocument, Timestamp};
use serde::{Deserialize, Serialize};

/// An opaque token marking a place in a change stream: an event's
/// [`id`](ChangeStreamEvent::id), or [`ChangeStream::resume_token`](super::ChangeStream::resume_token).
/// Give it to [`resume_after`](crate::action::Watch::resume_after) or
/// [`start_after`](crate::action::Watch::start_after) to continue from there.
///
/// It serializes as the server sent it, so it can be stored (`bson::to_bson(&token)`) and
/// read back (`bson::from_bson`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(pub(crate) RawBson);

impl ResumeToken {
    /// A token from a document of a reply (`_id`, `postBatchResumeToken`).
    pub(crate) fn from_raw(doc: &RawDocument) -> Self {
        ResumeToken(RawBson::Document(doc.to_raw_document_buf()))
    }

    /// A token from a document (tests).
    #[cfg(test)]
    pub(crate) fn from_document(doc: Document) -> Self {
        ResumeToken(RawBson::Document(
            bson::RawDocumentBuf::from_document(&doc).expect("a document"),
        ))
    }
}

/// One change: what happened (`operation_type`), where (`ns`), to which document
/// (`document_key`), and the document itself when the stream's options ask for it.
///
/// `T` is the collection's document type (what `full_document` decodes into); a pipeline that
/// reshapes the events needs another type: [`ChangeStream::with_type`](super::ChangeStream::with_type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChangeStreamEvent<T> {
    /// This event's resume token: resume after it with
    /// [`resume_after`](crate::action::Watch::resume_after).
    #[serde(rename = "_id")]
    pub id: ResumeToken,

    /// What happened.
    pub operation_type: OperationType,

    /// The database and collection it happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<ChangeNamespace>,

    /// For a `create` event (with `show_expanded_events`): what was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_type: Option<ChangeNamespaceType>,

    /// For a `rename` event: the new namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<ChangeNamespace>,

    /// The session of the transaction the change was part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsid: Option<Document>,

    /// With `lsid`, the transaction the change was part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_number: Option<i64>,

    /// For `insert`, `update`, `replace` and `delete`: the document's `_id` (and shard key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_key: Option<Document>,

    /// For `update`: the fields set and removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_description: Option<UpdateDescription>,

    /// The cluster time of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_time: Option<Timestamp>,

    /// The wall clock time of the change on the server (MongoDB 6.0+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time: Option<DateTime>,

    /// For `insert` and `replace`: the new document. For `update`: the document after the
    /// update when [`full_document`](crate::action::Watch::full_document) asked for it.
    /// `None` for a `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_document: Option<T>,

    /// The document before the change, when
    /// [`full_document_before_change`](crate::action::Watch::full_document_before_change)
    /// asked for it and it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_document_before_change: Option<T>,

    /// For the expanded events (with `show_expanded_events`): what the operation did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_description: Option<Document>,

    /// The UUID of the collection (with `show_expanded_events`).
    #[serde(
        default,
        rename = "collectionUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub collection_uuid: Option<Binary>,
}

/// What changed in an `update` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UpdateDescription {
    /// The fields set, by path, with their new values.
    pub updated_fields: Document,

    /// The fields removed.
    pub removed_fields: Vec<String>,

    /// Arrays shortened by the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_arrays: Option<Vec<TruncatedArray>>,

    /// For a path that could be read two ways (a field name with a dot, or a numeric field
    /// name), its components (with `show_expanded_events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disambiguated_paths: Option<Document>,
}

/// An array an update shortened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TruncatedArray {
    /// The array's path.
    pub field: String,
    /// Its new length.
    pub new_size: i32,
}

server_names! {
    /// What kind of change an event reports. New kinds the server adds arrive as
    /// [`Other`](OperationType::Other), never as an error.
    pub enum OperationType {
        /// Any other kind (`createIndexes`, `modify`, or one added in a later server).
        Other(String),
        /// A document was inserted.
        Insert = "insert",
        /// A document was updated.
        Update = "update",
        /// A document was replaced.
        Replace = "replace",
        /// A document was deleted.
        Delete = "delete",
        /// The collection was dropped.
        Drop = "drop",
        /// The collection was renamed.
        Rename = "rename",
        /// The database was dropped.
        DropDatabase = "dropDatabase",
        /// The stream can go no further (its collection or database is gone); resume with
        /// [`start_after`](crate::action::Watch::start_after).
        Invalidate = "invalidate",
    }
}

/// A namespace in an event: the database, and the collection when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeNamespace {
    /// The database.
    pub db: String,
    /// The collection (none for a database-wide event such as `dropDatabase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coll: Option<String>,
}

server_names! {
    /// What a `create` event created.
    pub enum ChangeNamespaceType {
        /// Another kind, from a later server.
        Other(String),
        /// A collection.
        Collection = "collection",
        /// A time-series collection.
        Timeseries = "timeseries",
        /// A view.
        View = "view",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn decode<T: serde::de::DeserializeOwned>(d: Document) -> T {
        let bytes = bson::RawDocumentBuf::from_document(&d).unwrap();
        crate::cursor::decode::decode_serde(&bytes).unwrap()
    }

    #[test]
    fn an_update_event_decodes_with_its_description() {
        let e: ChangeStreamEvent<Document> = decode(doc! {
            "_id": { "_data": "82AB" },
            "operationType": "update",
            "clusterTime": Timestamp { time: 5, increment: 1 },
            "wallTime": DateTime::from_millis(1_700_000_000_000),
            "ns": { "db": "app", "coll": "orders" },
            "documentKey": { "_id": 7 },
            "updateDescription": {
                "updatedFields": { "qty": 3 }, "removedFields": ["old"],
                "truncatedArrays": [ { "field": "tags", "newSize": 1 } ],
            },
            "fullDocument": { "_id": 7, "qty": 3 },
            "fullDocumentBeforeChange": null,
            "somethingNew": 1,
        });
        assert_eq!(e.operation_type, OperationType::Update);
        assert_eq!(e.id, ResumeToken::from_document(doc! { "_data": "82AB" }));
        assert_eq!(
            e.ns,
            Some(ChangeNamespace {
                db: "app".into(),
                coll: Some("orders".into())
            })
        );
        let u = e.update_description.unwrap();
        assert_eq!(u.updated_fields, doc! { "qty": 3 });
        assert_eq!(u.removed_fields, vec!["old".to_owned()]);
        assert_eq!(u.truncated_arrays.unwrap()[0].new_size, 1);
        assert_eq!(e.full_document, Some(doc! { "_id": 7, "qty": 3 }));
        assert_eq!(e.full_document_before_change, None, "null is none");
        assert_eq!(
            e.cluster_time,
            Some(Timestamp {
                time: 5,
                increment: 1
            })
        );
        assert!(e.wall_time.is_some());
    }

    #[test]
    fn unknown_kinds_and_namespaces_do_not_fail() {
        let e: ChangeStreamEvent<Document> = decode(doc! {
            "_id": { "_data": "1" },
            "operationType": "addedInFutureMongoDBVersion",
            "ns": { "db": "app", "viewOn": "app.v" },
            "nsType": "materialized",
        });
        assert_eq!(
            e.operation_type,
            OperationType::Other("addedInFutureMongoDBVersion".into())
        );
        assert_eq!(e.ns.unwrap().coll, None);
        assert_eq!(
            e.ns_type,
            Some(ChangeNamespaceType::Other("materialized".into()))
        );
        // And back: the server's spelling.
        let d = bson::to_document(&ChangeStreamEvent {
            id: ResumeToken::from_document(doc! { "_data": "1" }),
            operation_type: OperationType::DropDatabase,
            ns: None,
            ns_type: None,
            to: None,
            lsid: None,
            txn_number: None,
            document_key: None,
            update_description: None,
            cluster_time: None,
            wall_time: None,
            full_document: None::<Document>,
            full_document_before_change: None,
            operation_description: None,
            collection_uuid: None,
        })
        .unwrap();
        assert_eq!(
            d,
            doc! { "_id": { "_data": "1" }, "operationType": "dropDatabase" }
        );
    }
}
