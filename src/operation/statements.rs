//! What the write commands share, written once: the statement of each write model (the
//! classic `update`/`delete` statements and the `bulkWrite` ops carry the same options), and
//! the cutting of statements into one command's document sequence.

use bson::{doc, Document, RawDocument};
use serde::Serialize;

use super::write_reply::{self, WriteReply};
use super::{Command, StreamDescription};
use crate::error::{Error, Result, WriteError};
use crate::options::{
    Collation, CollectionBulkWriteOptions, Hint, InsertManyOptions, UpdateModifications,
    WriteConcern, WriteModel,
};
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

/// The options a batched write reads: `ordered` and the write concern.
pub(crate) trait BatchOptions {
    fn ordered(&self) -> Option<bool>;
    fn write_concern(&self) -> Option<&WriteConcern>;
}

macro_rules! batch_options {
    ($($name:ty),*) => {$(
        impl BatchOptions for $name {
            fn ordered(&self) -> Option<bool> {
                self.ordered
            }

            fn write_concern(&self) -> Option<&WriteConcern> {
                self.write_concern.as_ref()
            }
        }
    )*};
}
batch_options!(InsertManyOptions, CollectionBulkWriteOptions);

/// One command of a write sent in batches (`insert_many`'s `insert`s, a collection bulk
/// write's commands): the namespace, the options, the first statement it sends (`offset`)
/// and how many it took.
pub(crate) struct Batch<'a, O> {
    pub(crate) db: &'a str,
    pub(crate) coll: &'a str,
    pub(crate) offset: usize,
    pub(crate) options: &'a O,
    /// How many statements the last `build` put in the batch (then, what the connection
    /// sent).
    pub(crate) taken: usize,
}

impl<'a, O: BatchOptions> Batch<'a, O> {
    /// `options.write_concern` must already hold the default when none was set.
    pub(crate) fn new(db: &'a str, coll: &'a str, offset: usize, options: &'a O) -> Self {
        Self {
            db,
            coll,
            offset,
            options,
            taken: 0,
        }
    }

    /// Ordered unless the options say otherwise.
    pub(crate) fn ordered(&self) -> bool {
        self.options.ordered().unwrap_or(true)
    }

    pub(crate) fn is_acknowledged(&self) -> bool {
        super::acknowledged(self.options.write_concern())
    }

    /// [`cut_batch`] from the offset, remembering how many statements it took.
    pub(crate) fn cut<'s>(
        &mut self,
        what: &str,
        identifier: &str,
        statements: impl IntoIterator<Item = &'s Vec<u8>>,
        server: &StreamDescription,
        too_large: impl Fn(usize, usize) -> Option<Error>,
    ) -> Result<DocumentSequence> {
        let batch = cut_batch(what, identifier, statements, self.offset, server, too_large)?;
        self.taken = batch.len();
        Ok(batch)
    }

    /// The command's leading fields, `{<name>: <coll>, ordered}`, then its options.
    pub(crate) fn body(&self, name: &str) -> Result<Document>
    where
        O: Serialize,
    {
        let mut cmd = doc! { name: self.coll, "ordered": self.ordered() };
        super::append_options(&mut cmd, self.options)?;
        Ok(cmd)
    }

    /// The command: `body`, with the batch as its document sequence.
    pub(crate) fn command(&self, body: Document, batch: DocumentSequence) -> Command {
        Command {
            db: self.db.to_owned(),
            body,
            sequences: vec![batch],
        }
    }

    /// The reply, its statement indexes counted from the offset.
    pub(crate) fn parse(&self, reply: &RawDocument) -> Result<WriteReply> {
        write_reply::parse(reply, self.taken, self.offset)
    }

    /// The indexes of the statements the server applied.
    pub(crate) fn applied<'e>(
        &self,
        write_errors: &'e [WriteError],
    ) -> impl Iterator<Item = usize> + 'e {
        write_reply::applied(self.offset, self.taken, write_errors, self.ordered())
    }
}
