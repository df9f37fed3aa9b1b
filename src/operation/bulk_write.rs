//! `bulkWrite` (MongoDB 8.0+): one batch of a client bulk write, the models from an offset cut
//! to the server's limits (`maxWriteBatchSize`; `maxMessageSizeBytes` less 1,000 bytes for
//! the fields added later, as the Bulk Write specification fixes), sent as the `nsInfo` and
//! `ops` document sequences; and the pure bookkeeping of the results cursor
//! ([`Outcome`]): counts, each write's result or error, write concern errors.

use std::collections::HashMap;

use bson::raw::RawBsonRef;
use bson::{doc, Bson, Document, RawDocument};
use serde::Serialize;

use super::bulk_failures::Failures;
use super::statements::{DeleteFields, ModelStatement, UpdateFields, UpdateMods};
use super::write_reply;
use super::{
    append_options, raw_u64, Command, CursorSpec, Operation, Retryability, StreamDescription,
    WIRE_VERSION_8_0,
};
use crate::error::{Error, ErrorKind, Result, WriteConcernError};
use crate::options::{BulkWriteOptions, ServerAddress, WriteModel};
use crate::results::{
    ClientBulkWriteResult, DeleteResult, InsertOneResult, SummaryBulkWriteResult, UpdateResult,
    VerboseBulkWriteResult,
};
use crate::wire::DocumentSequence;

/// Room left in a message for what is added after the batch is cut (session, cluster time,
/// API version, …): the Bulk Write specification's fixed allowance.
const MESSAGE_OVERHEAD_BYTES: usize = 1_000;

/// One `bulkWrite` command: `models[offset..]`, cut to the server's limits when built.
pub(crate) struct BulkWrite<'a> {
    models: &'a [WriteModel],
    offset: usize,
    /// The write concern already resolved (the client's default when none was set).
    options: &'a BulkWriteOptions,
    verbose: bool,
    /// How many models the last `build` (or the connection) put in the batch.
    taken: usize,
}

/// What the `bulkWrite` reply says; the results cursor is read by the caller.
#[derive(Debug)]
pub(crate) struct BulkWriteReply {
    pub(crate) summary: SummaryBulkWriteResult,
    pub(crate) n_errors: u64,
    pub(crate) write_concern_error: Option<WriteConcernError>,
    pub(crate) cursor: CursorSpec,
    /// Models sent in this batch (from the operation's offset).
    pub(crate) taken: usize,
}

impl<'a> BulkWrite<'a> {
    pub(crate) fn new(
        models: &'a [WriteModel],
        offset: usize,
        options: &'a BulkWriteOptions,
        verbose: bool,
    ) -> Self {
        Self {
            models,
            offset,
            options,
            verbose,
            taken: 0,
        }
    }
}

#[derive(Serialize)]
struct InsertOp<'a> {
    insert: i32,
    document: &'a Document,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateOp<'a> {
    update: i32,
    filter: &'a Document,
    update_mods: UpdateMods<'a>,
    #[serde(flatten)]
    fields: UpdateFields<'a>,
}

#[derive(Serialize)]
struct DeleteOp<'a> {
    delete: i32,
    filter: &'a Document,
    multi: bool,
    #[serde(flatten)]
    fields: DeleteFields<'a>,
}

/// The `ops` entry of a model whose namespace is `ns` in `nsInfo`, serialized.
fn ops_document(model: &WriteModel, ns: i32) -> Result<Vec<u8>> {
    let bytes = match ModelStatement::of(model) {
        ModelStatement::Insert(document) => bson::to_vec(&InsertOp {
            insert: ns,
            document,
        }),
        ModelStatement::Update {
            filter,
            mods,
            fields,
        } => bson::to_vec(&UpdateOp {
            update: ns,
            filter,
            update_mods: mods,
            fields,
        }),
        ModelStatement::Delete {
            filter,
            many,
            fields,
        } => bson::to_vec(&DeleteOp {
            delete: ns,
            filter,
            multi: many,
            fields,
        }),
    };
    Ok(bytes?)
}

operation_output!(BulkWrite<'_> => BulkWriteReply, "bulkWrite");

impl Operation for BulkWrite<'_> {
    /// At most `maxWriteBatchSize` models, and `ops` plus `nsInfo` within
    /// `maxMessageSizeBytes - 1000 - (the command's size)`; `nsInfo` names only the
    /// namespaces this batch's models use, each once.
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        if server.max_wire_version < WIRE_VERSION_8_0 {
            return Err(Error::new(ErrorKind::NotSupported {
                message: format!(
                    "Client::bulk_write needs MongoDB 8.0 or later (the bulkWrite command); {} \
                     reports wire version {}: use Collection::bulk_write, or the single-write \
                     operations",
                    server.address, server.max_wire_version
                ),
            }));
        }
        let mut cmd = doc! {
            "bulkWrite": 1,
            "errorsOnly": !self.verbose,
            "ordered": self.options.ordered.unwrap_or(true),
        };
        append_options(&mut cmd, self.options)?;
        let cmd_size = bson::to_vec(&cmd)?.len();
        let max_bytes = server
            .max_message_size
            .saturating_sub(MESSAGE_OVERHEAD_BYTES + cmd_size);
        let max_count = server.max_write_batch_size.max(1);
        let mut ns_info = DocumentSequence::new("nsInfo");
        let mut ops = DocumentSequence::new("ops");
        let mut ns_index: HashMap<String, i32> = HashMap::new();
        for (i, model) in self.models.iter().enumerate().skip(self.offset) {
            if ops.len() >= max_count {
                break;
            }
            let ns = model.namespace().to_string();
            let (index, new_ns) = match ns_index.get(&ns) {
                Some(i) => (*i, None),
                None => {
                    let index = i32::try_from(ns_index.len())
                        .map_err(|_| Error::internal("bulkWrite: too many namespaces"))?;
                    (index, Some(bson::to_vec(&doc! { "ns": ns.as_str() })?))
                }
            };
            let op = ops_document(model, index)?;
            let added = op.len() + new_ns.as_ref().map_or(0, Vec::len);
            if ops.bytes.len() + ns_info.bytes.len() + added > max_bytes {
                if ops.is_empty() {
                    return Err(Error::invalid_argument(format!(
                        "bulk_write: the write at index {i} is {added} bytes, more than fits in \
                         one message to {} (maxMessageSizeBytes {} less {MESSAGE_OVERHEAD_BYTES} \
                         bytes of overhead and the command); make the document smaller",
                        server.address, server.max_message_size
                    )));
                }
                break;
            }
            if let Some(ns_doc) = new_ns {
                ns_info.push(&ns_doc);
                ns_index.insert(ns, index);
            }
            ops.push(&op);
        }
        if ops.is_empty() {
            return Err(Error::internal("bulkWrite: no writes left to send"));
        }
        self.taken = ops.len();
        Ok(Command {
            db: "admin".to_owned(),
            body: cmd,
            // `ops` last: the connection cuts the last sequence if it must.
            sequences: vec![ns_info, ops],
        })
    }

    fn sequence_sent(&mut self, documents: usize) {
        self.taken = documents;
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<BulkWriteReply> {
        let count = |key: &str| -> Result<i64> {
            match reply.get(key).ok().flatten() {
                None => Ok(0),
                Some(b) => raw_u64(b)
                    .and_then(|n| i64::try_from(n).ok())
                    .ok_or_else(|| {
                        Error::invalid_response(format!(
                            "bulkWrite reply: {key} is not a non-negative integer"
                        ))
                    }),
            }
        };
        let summary = SummaryBulkWriteResult {
            inserted_count: count("nInserted")?,
            matched_count: count("nMatched")?,
            modified_count: count("nModified")?,
            upserted_count: count("nUpserted")?,
            deleted_count: count("nDeleted")?,
        };
        let n_errors = count("nErrors")?.unsigned_abs();
        let write_concern_error = match reply.get_document("writeConcernError") {
            Ok(wce) => {
                let wce = Document::try_from(wce).map_err(|e| {
                    Error::invalid_response(format!("bulkWrite reply: writeConcernError: {e}"))
                })?;
                write_reply::typed_write_concern_error(&doc! { "writeConcernError": wce })?
            }
            Err(_) => None,
        };
        // Unacknowledged (moreToCome): no reply came, so no results cursor either.
        let no_results;
        let with_cursor = if self.is_acknowledged() {
            reply
        } else {
            no_results = bson::rawdoc! {
                "cursor": { "id": 0_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [] },
            };
            &no_results
        };
        let cursor = CursorSpec::from_reply(with_cursor, at, None, None)?;
        Ok(BulkWriteReply {
            summary,
            n_errors,
            write_concern_error,
            cursor,
            taken: self.taken,
        })
    }

    /// Retryable unless a model may change several documents.
    fn retryability(&self) -> Retryability {
        Retryability::write_unless_multi(
            self.models[self.offset..].iter().any(WriteModel::is_multi),
        )
    }

    fn is_acknowledged(&self) -> bool {
        super::acknowledged(self.options.write_concern.as_ref())
    }
}

/// What a client bulk write has gathered so far, over its batches: counts, each write's result
/// (verbose) or error, write concern errors, and whether any write succeeded. Pure.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    result: VerboseBulkWriteResult,
    failures: Failures,
    /// Set by the batch under way: the first index and the size of its batch.
    batch: Option<(usize, usize)>,
}

impl Outcome {
    /// Takes a batch's reply (its counts and write concern error), before its cursor is read.
    pub(crate) fn start_batch(&mut self, offset: usize, reply: &BulkWriteReply) {
        let s = &mut self.result.summary;
        let r = &reply.summary;
        s.inserted_count += r.inserted_count;
        s.matched_count += r.matched_count;
        s.modified_count += r.modified_count;
        s.upserted_count += r.upserted_count;
        s.deleted_count += r.deleted_count;
        if let Some(wce) = &reply.write_concern_error {
            self.failures.write_concern_errors.push(wce.clone());
        }
        self.batch = Some((offset, reply.taken));
    }

    /// Takes one document of the results cursor: `{ok, idx, n, nModified, upserted}` or
    /// `{ok: 0, idx, code, errmsg, errInfo}`, `idx` counted within the batch. `inserted_ids`:
    /// the `_id` of each insert model, by index in the whole list.
    pub(crate) fn add_response(
        &mut self,
        doc: &RawDocument,
        models: &[WriteModel],
        inserted_ids: &HashMap<usize, Bson>,
        verbose: bool,
    ) -> Result<()> {
        let (offset, taken) = self
            .batch
            .ok_or_else(|| Error::internal("bulkWrite: a result before its batch"))?;
        let invalid = |what: &str| Error::invalid_response(format!("bulkWrite result: {what}"));
        let idx = doc
            .get("idx")
            .ok()
            .flatten()
            .and_then(raw_u64)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < taken)
            .ok_or_else(|| invalid("idx is not one of the writes of the batch"))?;
        let index = offset + idx;
        let ok = match doc.get("ok").ok().flatten() {
            Some(RawBsonRef::Double(v)) => v == 1.0,
            Some(RawBsonRef::Int32(v)) => v == 1,
            Some(RawBsonRef::Int64(v)) => v == 1,
            Some(RawBsonRef::Boolean(v)) => v,
            _ => return Err(invalid("no ok")),
        };
        let doc = Document::try_from(doc).map_err(|e| invalid(&e.to_string()))?;
        if !ok {
            self.failures
                .write_errors
                .insert(index, write_reply::write_error(&doc, index));
            return Ok(());
        }
        if !verbose {
            return Ok(());
        }
        let n = doc
            .get("n")
            .and_then(super::bson_u64)
            .ok_or_else(|| invalid("n is not a non-negative integer"))?;
        let model = models
            .get(index)
            .ok_or_else(|| invalid("idx beyond the list of writes"))?;
        let r = &mut self.result;
        match model {
            WriteModel::InsertOne(_) => {
                let inserted_id = inserted_ids
                    .get(&index)
                    .cloned()
                    .ok_or_else(|| Error::internal("bulkWrite: an insert without its _id"))?;
                r.insert_results
                    .insert(index, InsertOneResult { inserted_id });
            }
            WriteModel::UpdateOne(_) | WriteModel::UpdateMany(_) | WriteModel::ReplaceOne(_) => {
                let upserted_id = match doc.get("upserted") {
                    Some(Bson::Document(u)) => Some(
                        u.get("_id")
                            .cloned()
                            .ok_or_else(|| invalid("upserted without _id"))?,
                    ),
                    _ => None,
                };
                let modified_count = doc.get("nModified").and_then(super::bson_u64).unwrap_or(0);
                r.update_results.insert(
                    index,
                    UpdateResult {
                        matched_count: n,
                        modified_count,
                        upserted_id,
                    },
                );
            }
            WriteModel::DeleteOne(_) | WriteModel::DeleteMany(_) => {
                r.delete_results
                    .insert(index, DeleteResult { deleted_count: n });
            }
        }
        Ok(())
    }

    /// After a batch's cursor is read: whether a write of it succeeded (ordered: no error, or
    /// the first error after the batch's first write; unordered: fewer errors than writes).
    pub(crate) fn end_batch(&mut self, n_errors: u64, ordered: bool) {
        let Some((offset, taken)) = self.batch.take() else {
            return;
        };
        let succeeded = if ordered {
            let first_error = self
                .failures
                .write_errors
                .keys()
                .filter(|i| (offset..offset + taken).contains(*i))
                .min();
            n_errors == 0 || first_error.is_some_and(|i| *i > offset)
        } else {
            n_errors < u64::try_from(taken).unwrap_or(u64::MAX)
        };
        self.failures.succeeded |= succeeded;
    }

    /// True once a write failed (an ordered bulk write stops there).
    pub(crate) fn has_write_errors(&self) -> bool {
        self.failures.has_write_errors()
    }

    /// The error of a bulk write that `error` stopped ([`Failures::stopped_by`]). (A batch
    /// whose cursor failed is ended first, with its reply's `nErrors`.)
    pub(crate) fn stopped_by<R: ClientBulkWriteResult>(self, error: Error) -> Error {
        let result = self.result;
        let partial = || R::from_verbose(result).into_partial();
        self.failures.stopped_by(error, partial)
    }

    /// The result, or the bulk write error when a write or a write concern failed.
    pub(crate) fn finish<R: ClientBulkWriteResult>(self) -> Result<R> {
        let result = R::from_verbose(self.result);
        self.failures.finish(result, R::into_partial)
    }
}

#[cfg(test)]
mod tests;
