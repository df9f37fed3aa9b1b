//! Bulk writes: the write models ([`WriteModel`]) and the options of
//! [`Client::bulk_write`](crate::Client::bulk_write) (the `bulkWrite` command, across
//! namespaces) and [`Collection::bulk_write`](crate::Collection::bulk_write) (one collection,
//! through `insert`, `update` and `delete`).

use bson::{Bson, Document};
use typed_builder::TypedBuilder;

use super::{Collation, Hint, UpdateModifications, WriteConcern};
use crate::Namespace;

/// One write of a bulk write, on the namespace it names.
///
/// ```
/// use mongo_x509::bson::doc;
/// use mongo_x509::options::{DeleteOneModel, InsertOneModel, UpdateOneModel, WriteModel};
/// use mongo_x509::Namespace;
/// let items = Namespace::new("shop", "items");
/// let models: Vec<WriteModel> = vec![
///     InsertOneModel::builder().namespace(items.clone()).document(doc! { "name": "pen" }).build().into(),
///     UpdateOneModel::builder()
///         .namespace(items.clone())
///         .filter(doc! { "name": "ink" })
///         .update(doc! { "$inc": { "qty": 1 } })
///         .upsert(true)
///         .build()
///         .into(),
///     DeleteOneModel::builder().namespace(items).filter(doc! { "qty": 0 }).build().into(),
/// ];
/// assert_eq!(models.len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WriteModel {
    /// Inserts a document.
    InsertOne(InsertOneModel),
    /// Updates the first document matching a filter.
    UpdateOne(UpdateOneModel),
    /// Updates every document matching a filter.
    UpdateMany(UpdateManyModel),
    /// Replaces the first document matching a filter.
    ReplaceOne(ReplaceOneModel),
    /// Deletes the first document matching a filter.
    DeleteOne(DeleteOneModel),
    /// Deletes every document matching a filter.
    DeleteMany(DeleteManyModel),
}

impl WriteModel {
    /// The namespace the write goes to.
    pub fn namespace(&self) -> &Namespace {
        match self {
            WriteModel::InsertOne(m) => &m.namespace,
            WriteModel::UpdateOne(m) => &m.namespace,
            WriteModel::UpdateMany(m) => &m.namespace,
            WriteModel::ReplaceOne(m) => &m.namespace,
            WriteModel::DeleteOne(m) => &m.namespace,
            WriteModel::DeleteMany(m) => &m.namespace,
        }
    }

    /// True for the writes that may change several documents (not retryable writes).
    pub(crate) fn is_multi(&self) -> bool {
        matches!(self, WriteModel::UpdateMany(_) | WriteModel::DeleteMany(_))
    }
}

/// Declares the write models: each a struct with a builder, whose `namespace` and the fields
/// in the first braces are required and those in the second optional, and its variant of
/// [`WriteModel`].
macro_rules! write_models {
    ($(
        $(#[$meta:meta])*
        $name:ident => $variant:ident {
            $($(#[doc = $rdoc:expr])* $required:ident: $rty:ty,)*
        } {
            $($(#[doc = $odoc:expr])* $optional:ident: $oty:ty,)*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, TypedBuilder)]
        #[builder(field_defaults(default, setter(into, strip_option)))]
        #[non_exhaustive]
        pub struct $name {
            /// The namespace the write goes to.
            #[builder(!default, setter(!strip_option))]
            pub namespace: Namespace,
            $(
                $(#[doc = $rdoc])*
                #[builder(!default, setter(!strip_option))]
                pub $required: $rty,
            )*
            $(
                $(#[doc = $odoc])*
                pub $optional: Option<$oty>,
            )*
        }

        impl From<$name> for WriteModel {
            fn from(m: $name) -> Self {
                WriteModel::$variant(m)
            }
        }
    )*};
}

write_models! {
    /// Inserts `document` into `namespace` (an `_id` is added when it has none).
    InsertOneModel => InsertOne {
        /// The document.
        document: Document,
    } {}

    /// Updates the first document of `namespace` matching `filter`.
    UpdateOneModel => UpdateOne {
        /// Which document.
        filter: Document,
        /// Update operators (`{$set: …}`) or a pipeline.
        update: UpdateModifications,
    } {
        /// Filters for positional `$[identifier]` updates of arrays.
        array_filters: Vec<Document>,
        /// The collation for string comparisons.
        collation: Collation,
        /// The index to use.
        hint: Hint,
        /// Insert a document when none matches.
        upsert: bool,
        /// Which document is updated when several match (MongoDB 8.0+).
        sort: Document,
    }

    /// Updates every document of `namespace` matching `filter`.
    UpdateManyModel => UpdateMany {
        /// Which documents.
        filter: Document,
        /// Update operators (`{$set: …}`) or a pipeline.
        update: UpdateModifications,
    } {
        /// Filters for positional `$[identifier]` updates of arrays.
        array_filters: Vec<Document>,
        /// The collation for string comparisons.
        collation: Collation,
        /// The index to use.
        hint: Hint,
        /// Insert a document when none matches.
        upsert: bool,
    }

    /// Replaces the first document of `namespace` matching `filter` with `replacement`.
    ReplaceOneModel => ReplaceOne {
        /// Which document.
        filter: Document,
        /// The new document (no update operators).
        replacement: Document,
    } {
        /// The collation for string comparisons.
        collation: Collation,
        /// The index to use.
        hint: Hint,
        /// Insert the replacement when no document matches.
        upsert: bool,
        /// Which document is replaced when several match (MongoDB 8.0+).
        sort: Document,
    }

    /// Deletes the first document of `namespace` matching `filter`.
    DeleteOneModel => DeleteOne {
        /// Which document.
        filter: Document,
    } {
        /// The collation for string comparisons.
        collation: Collation,
        /// The index to use.
        hint: Hint,
    }

    /// Deletes every document of `namespace` matching `filter`.
    DeleteManyModel => DeleteMany {
        /// Which documents.
        filter: Document,
    } {
        /// The collation for string comparisons.
        collation: Collation,
        /// The index to use.
        hint: Hint,
    }
}

options! {
    /// Options for [`Client::bulk_write`](crate::Client::bulk_write).
    pub struct BulkWriteOptions => bulk_write_setters {
        /// Stop at the first failed write (the default, `true`), or attempt every write.
        #[serde(skip)]
        ordered: bool,
        /// Skip the collections' schema validation.
        bypass_document_validation: bool,
        /// A comment (any BSON value).
        comment: Bson => into,
        /// Variables the filters and updates may use as `$$name` (`let`).
        #[serde(rename = "let")]
        let_vars: Document,
        /// The write concern (default: the client's).
        write_concern: WriteConcern,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }

    /// Options for [`Collection::bulk_write`](crate::Collection::bulk_write).
    pub struct CollectionBulkWriteOptions => collection_bulk_write_setters {
        /// Stop at the first failed write (the default, `true`), or attempt every write.
        #[serde(skip)]
        ordered: bool,
        /// Skip the collection's schema validation (inserts, updates and replacements).
        #[serde(skip)]
        bypass_document_validation: bool,
        /// A comment (any BSON value), on each command sent.
        comment: Bson => into,
        /// Variables the filters and updates may use as `$$name` (`let`; updates and deletes).
        #[serde(skip)]
        let_vars: Document,
        /// The write concern (default: the collection's).
        write_concern: WriteConcern,
        /// Internal, for MongoDB's own tools (the CRUD specification's `rawData`): act on a
        /// time-series collection's underlying buckets. Not meant for applications; may go
        /// away in any release. Sent only to MongoDB 8.2 and later.
        raw_data: bool,
    }
}
