//! What the write commands share, written once: the statement of each write model (the
//! classic `update`/`delete` statements and the `bulkWrite` ops carry the same options), and
//! the cutting of statements into one command's document sequence.

use bson::Document;
use serde::Serialize;

use super::StreamDescription;
use crate::error::{Error, Result};
use crate::options::{Collation, Hint, UpdateModifications, WriteModel};
use crate::wire::DocumentSequence;

/// Update operators or a pipeline (serialized as a document or an array), or a replacement.
#[derive(Clone, Copy, Serialize)]
#[serde(untagged)]
pub(crate) enum UpdateMods<'a> {
    Document(&'a Document),
    Pipeline(&'a [Document]),
}

impl<'a> From<&'a UpdateModifications> for UpdateMods<'a> {
    fn from(u: &'a UpdateModifications) -> Self {
        match u {
            UpdateModifications::Document(d) => UpdateMods::Document(d),
            UpdateModifications::Pipeline(p) => UpdateMods::Pipeline(p),
        }
    }
}

/// What an update statement carries besides its filter and its modifications.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateFields<'a> {
    pub(crate) multi: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upsert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) array_filters: Option<&'a Vec<Document>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<&'a Hint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) collation: Option<&'a Collation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sort: Option<&'a Document>,
}

/// What a delete statement carries besides its filter and how many it deletes.
#[derive(Serialize)]
pub(crate) struct DeleteFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<&'a Hint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) collation: Option<&'a Collation>,
}

/// One statement of an `update` command: `{q, u, multi, …}` (`u`: operators, a pipeline or a
/// replacement).
#[derive(Serialize)]
pub(crate) struct UpdateStatement<'a, U> {
    pub(crate) q: &'a Document,
    pub(crate) u: U,
    #[serde(flatten)]
    pub(crate) fields: UpdateFields<'a>,
}

/// One statement of a `delete` command: `{q, limit, …}` (limit 0: every match).
#[derive(Serialize)]
pub(crate) struct DeleteStatement<'a> {
    pub(crate) q: &'a Document,
    pub(crate) limit: i32,
    #[serde(flatten)]
    pub(crate) fields: DeleteFields<'a>,
}

impl<'a> DeleteStatement<'a> {
    pub(crate) fn new(q: &'a Document, many: bool, fields: DeleteFields<'a>) -> Self {
        let limit = if many { 0 } else { 1 };
        Self { q, limit, fields }
    }
}

/// A write model as the parts of its statement.
pub(crate) enum ModelStatement<'a> {
    Insert(&'a Document),
    Update {
        filter: &'a Document,
        mods: UpdateMods<'a>,
        fields: UpdateFields<'a>,
    },
    Delete {
        filter: &'a Document,
        many: bool,
        fields: DeleteFields<'a>,
    },
}

impl<'a> ModelStatement<'a> {
    pub(crate) fn of(model: &'a WriteModel) -> Self {
        let update = |filter, mods, fields| ModelStatement::Update {
            filter,
            mods,
            fields,
        };
        match model {
            WriteModel::InsertOne(m) => ModelStatement::Insert(&m.document),
            WriteModel::UpdateOne(m) => update(
                &m.filter,
                (&m.update).into(),
                UpdateFields {
                    multi: false,
                    upsert: m.upsert,
                    array_filters: m.array_filters.as_ref(),
                    hint: m.hint.as_ref(),
                    collation: m.collation.as_ref(),
                    sort: m.sort.as_ref(),
                },
            ),
            WriteModel::UpdateMany(m) => update(
                &m.filter,
                (&m.update).into(),
                UpdateFields {
                    multi: true,
                    upsert: m.upsert,
                    array_filters: m.array_filters.as_ref(),
                    hint: m.hint.as_ref(),
                    collation: m.collation.as_ref(),
                    sort: None,
                },
            ),
            WriteModel::ReplaceOne(m) => update(
                &m.filter,
                UpdateMods::Document(&m.replacement),
                UpdateFields {
                    multi: false,
                    upsert: m.upsert,
                    array_filters: None,
                    hint: m.hint.as_ref(),
                    collation: m.collation.as_ref(),
                    sort: m.sort.as_ref(),
                },
            ),
            WriteModel::DeleteOne(m) => ModelStatement::Delete {
                filter: &m.filter,
                many: false,
                fields: DeleteFields {
                    hint: m.hint.as_ref(),
                    collation: m.collation.as_ref(),
                },
            },
            WriteModel::DeleteMany(m) => ModelStatement::Delete {
                filter: &m.filter,
                many: true,
                fields: DeleteFields {
                    hint: m.hint.as_ref(),
                    collation: m.collation.as_ref(),
                },
            },
        }
    }

    /// Whether the statement names an index to use.
    pub(crate) fn has_hint(&self) -> bool {
        match self {
            ModelStatement::Insert(_) => false,
            ModelStatement::Update { fields, .. } => fields.hint.is_some(),
            ModelStatement::Delete { fields, .. } => fields.hint.is_some(),
        }
    }
}

/// Statements `statements[offset..]` (serialized) as the sequence `identifier` of one `what`
/// command: at most `maxWriteBatchSize` of them and `maxMessageSizeBytes` together, at least
/// one. `too_large` refuses a statement (its index and size) the server would refuse.
pub(crate) fn cut_batch<'s>(
    what: &str,
    identifier: &str,
    statements: impl IntoIterator<Item = &'s Vec<u8>>,
    offset: usize,
    server: &StreamDescription,
    too_large: impl Fn(usize, usize) -> Option<Error>,
) -> Result<DocumentSequence> {
    let max_count = server.max_write_batch_size.max(1);
    let mut batch = DocumentSequence::new(identifier);
    for (i, s) in statements.into_iter().enumerate().skip(offset) {
        if let Some(e) = too_large(i, s.len()) {
            return Err(e);
        }
        let full =
            batch.len() >= max_count || batch.bytes.len() + s.len() > server.max_message_size;
        if !batch.is_empty() && full {
            break;
        }
        batch.push(s);
    }
    if batch.is_empty() {
        return Err(Error::internal(format!(
            "{what}: no statements left to send"
        )));
    }
    Ok(batch)
}
