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
