//! One `insert`, `update` or `delete` command of a collection bulk write: a run of statements
//! of one kind from an offset, cut to the server's limits when built, with the reply's indexes
//! mapped back to the models they came from.

use std::collections::HashMap;

use bson::{Bson, RawDocument};

use super::bulk_failures::Failures;
use super::statements::{Batch, DeleteStatement, ModelStatement, UpdateStatement};
use super::write_reply::WriteReply;
use super::{append_opt, Command, Operation, Retryability, StreamDescription};
use crate::error::{Error, PartialBulkWriteResult, Result};
use crate::options::{CollectionBulkWriteOptions, ServerAddress, WriteModel};
use crate::results::BulkWriteResult;

/// The classic write command a model goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum WriteKind {
    Insert,
    Update,
    Delete,
}

impl WriteKind {
    pub(crate) fn of(model: &WriteModel) -> Self {
        match model {
            WriteModel::InsertOne(_) => WriteKind::Insert,
            WriteModel::UpdateOne(_) | WriteModel::UpdateMany(_) | WriteModel::ReplaceOne(_) => {
                WriteKind::Update
            }
            WriteModel::DeleteOne(_) | WriteModel::DeleteMany(_) => WriteKind::Delete,
        }
    }

    fn command(self) -> &'static str {
        match self {
            WriteKind::Insert => "insert",
            WriteKind::Update => "update",
            WriteKind::Delete => "delete",
        }
    }

    fn sequence(self) -> &'static str {
        match self {
            WriteKind::Insert => "documents",
            WriteKind::Update => "updates",
            WriteKind::Delete => "deletes",
        }
    }
}

/// Statements of one kind, serialized once, with the index of the model each came from and
/// whether it may change several documents.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) statements: Vec<Vec<u8>>,
    pub(crate) models: Vec<usize>,
    pub(crate) multi: Vec<bool>,
    /// Whether each statement has a hint.
    pub(crate) hinted: Vec<bool>,
}

impl Run {
    /// Adds model `index` as its statement (`insert`: the document; `update`: `{q, u, multi,
    /// …}`; `delete`: `{q, limit, …}`).
    pub(crate) fn push(&mut self, index: usize, model: &WriteModel) -> Result<()> {
        let statement = ModelStatement::of(model);
        let hinted = statement.has_hint();
        let bytes = match statement {
            ModelStatement::Insert(d) => bson::to_vec(d)?,
            ModelStatement::Update {
                filter,
                mods,
                fields,
            } => bson::to_vec(&UpdateStatement {
                q: filter,
                u: mods,
                fields,
            })?,
            ModelStatement::Delete {
                filter,
                many,
                fields,
            } => bson::to_vec(&DeleteStatement::new(filter, many, fields))?,
        };
        self.statements.push(bytes);
        self.models.push(index);
        self.multi.push(model.is_multi());
        self.hinted.push(hinted);
        Ok(())
    }
}

/// One command of a run: `run.statements[offset..]` cut to the server's limits.
pub(crate) struct WriteBatch<'a> {
    batch: Batch<'a, CollectionBulkWriteOptions>,
    kind: WriteKind,
    run: &'a Run,
}

/// What one command did, with model indexes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct BatchResult {
    /// Statements sent (from the offset).
    pub(crate) taken: usize,
    /// The model indexes of the statements that were applied (inserts).
    pub(crate) applied: Vec<usize>,
    /// The reply, each upsert and write error with the model's index.
    pub(crate) reply: WriteReply,
}

impl<'a> WriteBatch<'a> {
    /// `options.write_concern` must already hold the collection's default.
    pub(crate) fn new(
        db: &'a str,
        coll: &'a str,
        kind: WriteKind,
        run: &'a Run,
        offset: usize,
        options: &'a CollectionBulkWriteOptions,
    ) -> Self {
        let batch = Batch::new(db, coll, offset, options);
        Self { batch, kind, run }
    }
}

operation_output!(WriteBatch<'_> => BatchResult, "bulkWrite (collection)");

impl Operation for WriteBatch<'_> {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let (kind, models) = (self.kind, &self.run.models);
        let too_large = |i: usize, size: usize| {
            (kind == WriteKind::Insert && size > server.max_bson_object_size).then(|| {
                Error::invalid_argument(format!(
                    "bulk_write: the document of the write at index {} is {size} bytes, more \
                     than the server's maxBsonObjectSize ({} bytes)",
                    models[i], server.max_bson_object_size
                ))
            })
        };
        let b = &mut self.batch;
        let batch = b.cut(
            "bulk_write",
            kind.sequence(),
            &self.run.statements,
            server,
            too_large,
        )?;
        if kind != WriteKind::Insert {
            let hinted = (b.offset..b.offset + batch.len()).any(|i| self.run.hinted[i]);
            let acknowledged = b.is_acknowledged();
            super::check_unacknowledged_hint(hinted, acknowledged, server, "bulk_write")?;
        }
        let o = b.options;
        let mut cmd = b.body(kind.command())?;
        if kind != WriteKind::Delete {
            append_opt(
                &mut cmd,
                "bypassDocumentValidation",
                o.bypass_document_validation,
            );
        }
        if kind != WriteKind::Insert {
            append_opt(&mut cmd, "let", o.let_vars.clone());
        }
        Ok(b.command(cmd, batch))
    }

    fn sequence_sent(&mut self, documents: usize) {
        self.batch.taken = documents;
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<BatchResult> {
        let mut reply = self.batch.parse(reply)?;
        let model = |i: usize| self.run.models[i];
        let applied = self.batch.applied(&reply.write_errors).map(model).collect();
        for (i, _) in &mut reply.upserted {
            *i = model(*i);
        }
        for e in &mut reply.write_errors {
            e.index = model(e.index);
        }
        Ok(BatchResult {
            taken: self.batch.taken,
            applied,
            reply,
        })
    }

    /// A retryable write unless a statement may change several documents.
    fn retryability(&self) -> Retryability {
        Retryability::write_unless_multi(self.run.multi[self.batch.offset..].iter().any(|m| *m))
    }

    fn is_acknowledged(&self) -> bool {
        self.batch.is_acknowledged()
    }
}

/// What a collection bulk write has gathered over its commands. Pure.
#[derive(Debug, Default)]
pub(crate) struct CollectionOutcome {
    result: BulkWriteResult,
    failures: Failures,
}

impl CollectionOutcome {
    /// Takes one command's result. `first_model`: the model index of its first statement;
    /// `inserted_ids`: the `_id` of each insert model.
    pub(crate) fn add(
        &mut self,
        kind: WriteKind,
        first_model: usize,
        r: BatchResult,
        inserted_ids: &HashMap<usize, Bson>,
        ordered: bool,
    ) {
        let (res, reply) = (&mut self.result, r.reply);
        match kind {
            WriteKind::Insert => {
                res.inserted_count += reply.n;
                for i in &r.applied {
                    if let Some(id) = inserted_ids.get(i) {
                        res.inserted_ids.insert(*i, id.clone());
                    }
                }
            }
            WriteKind::Update => {
                let upserts = u64::try_from(reply.upserted.len()).unwrap_or(u64::MAX);
                res.upserted_count += upserts;
                res.matched_count += reply.n.saturating_sub(upserts);
                res.modified_count += reply.n_modified;
                res.upserted_ids.extend(reply.upserted);
            }
            WriteKind::Delete => res.deleted_count += reply.n,
        }
        let first_error = reply.write_errors.iter().map(|e| e.index).min();
        let f = &mut self.failures;
        f.succeeded |= if ordered {
            !matches!(first_error, Some(f) if f <= first_model)
        } else {
            reply.write_errors.len() < r.taken
        };
        for e in reply.write_errors {
            f.write_errors.insert(e.index, e);
        }
        f.write_concern_errors
            .extend(reply.write_concern_error_detail);
    }

    /// True once a write failed (an ordered bulk write stops there).
    pub(crate) fn has_write_errors(&self) -> bool {
        self.failures.has_write_errors()
    }

    /// The error of a bulk write that `error` stopped ([`Failures::stopped_by`]).
    pub(crate) fn stopped_by(self, error: Error) -> Error {
        let result = self.result;
        let partial = || PartialBulkWriteResult::Collection(result);
        self.failures.stopped_by(error, partial)
    }

    /// The result, or the bulk write error when a write or a write concern failed.
    pub(crate) fn finish(self) -> Result<BulkWriteResult> {
        self.failures
            .finish(self.result, PartialBulkWriteResult::Collection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, WriteError};
    use crate::operation::test_util::{description, raw, server};
    use crate::options::{
        DeleteManyModel, DeleteOneModel, InsertOneModel, ReplaceOneModel, UpdateOneModel,
    };
    use crate::Namespace;
    use bson::doc;

    fn ns() -> Namespace {
        Namespace::new("db", "c")
    }

    fn run(models: &[(usize, WriteModel)]) -> Run {
        let mut r = Run::default();
        for (i, m) in models {
            r.push(*i, m).unwrap();
        }
        r
    }

    #[test]
    fn each_kind_is_its_command_with_its_statements_and_options() {
        let updates = run(&[
            (
                1,
                UpdateOneModel::builder()
                    .namespace(ns())
                    .filter(doc! { "a": 1 })
                    .update(doc! { "$set": { "b": 1 } })
                    .upsert(true)
                    .sort(doc! { "a": 1 })
                    .build()
                    .into(),
            ),
            (
                4,
                ReplaceOneModel::builder()
                    .namespace(ns())
                    .filter(doc! { "a": 2 })
                    .replacement(doc! { "b": 2 })
                    .hint("a_1")
                    .build()
                    .into(),
            ),
        ]);
        let delete_one = DeleteOneModel::builder()
            .namespace(ns())
            .filter(doc! { "a": 1 });
        let delete_many = DeleteManyModel::builder().namespace(ns()).filter(doc! {});
        let deletes = run(&[
            (0, delete_one.build().into()),
            (2, delete_many.build().into()),
        ]);
        let insert = InsertOneModel::builder()
            .namespace(ns())
            .document(doc! { "_id": 1 });
        let inserts = run(&[(3, insert.build().into())]);
        let options = CollectionBulkWriteOptions::builder()
            .ordered(false)
            .bypass_document_validation(true)
            .let_vars(doc! { "v": 1 })
            .comment(Bson::from("c"))
            .build();
        for (kind, run, body, statements, retryability) in [
            (
                WriteKind::Update,
                &updates,
                doc! { "update": "c", "ordered": false, "comment": "c",
                "bypassDocumentValidation": true, "let": { "v": 1 } },
                vec![
                    doc! { "q": { "a": 1 }, "u": { "$set": { "b": 1 } }, "multi": false,
                    "upsert": true, "sort": { "a": 1 } },
                    doc! { "q": { "a": 2 }, "u": { "b": 2 }, "multi": false, "hint": "a_1" },
                ],
                Retryability::Write,
            ),
            (
                // No bypassDocumentValidation on a delete; a delete of many is not retried.
                WriteKind::Delete,
                &deletes,
                doc! { "delete": "c", "ordered": false, "comment": "c", "let": { "v": 1 } },
                vec![
                    doc! { "q": { "a": 1 }, "limit": 1 },
                    doc! { "q": {}, "limit": 0 },
                ],
                Retryability::None,
            ),
            (
                // No let on an insert.
                WriteKind::Insert,
                &inserts,
                doc! { "insert": "c", "ordered": false, "comment": "c",
                "bypassDocumentValidation": true },
                vec![doc! { "_id": 1 }],
                Retryability::Write,
            ),
        ] {
            let mut op = WriteBatch::new("db", "c", kind, run, 0, &options);
            let cmd = op.build(&description()).unwrap();
            assert_eq!(cmd.body, body, "{kind:?}");
            assert_eq!(cmd.sequences[0].identifier, kind.sequence());
            assert_eq!(cmd.sequences[0].documents(), statements, "{kind:?}");
            assert_eq!(op.retryability(), retryability, "{kind:?}");
        }
        assert_eq!(WriteKind::Update.sequence(), "updates");
    }

    #[test]
    fn replies_are_mapped_back_to_model_indexes() {
        let models: Vec<(usize, WriteModel)> = [3, 5, 8]
            .into_iter()
            .map(|i| {
                (
                    i,
                    InsertOneModel::builder()
                        .namespace(ns())
                        .document(doc! { "_id": i as i32 })
                        .build()
                        .into(),
                )
            })
            .collect();
        let inserts = run(&models);
        let mut server_limits = description();
        server_limits.max_write_batch_size = 2;
        for (ordered, applied) in [(true, vec![]), (false, vec![8])] {
            let options = CollectionBulkWriteOptions::builder()
                .ordered(ordered)
                .build();
            // The second batch of the run: statements 1 and 2 (models 5 and 8).
            let mut op = WriteBatch::new("db", "c", WriteKind::Insert, &inserts, 1, &options);
            let cmd = op.build(&server_limits).unwrap();
            assert_eq!(cmd.sequences[0].len(), 2);
            let reply = doc! { "ok": 1, "n": 1,
            "writeErrors": [ { "index": 0, "code": 11000, "errmsg": "dup" } ],
            "writeConcernError": { "code": 64, "errmsg": "slow" } };
            let r = op.handle_response(&raw(&reply), &server()).unwrap();
            assert_eq!(r.taken, 2);
            assert_eq!(r.reply.write_errors[0].index, 5, "the model's index");
            assert_eq!(r.applied, applied, "ordered={ordered}");
            assert_eq!(r.reply.write_concern_error_detail.map(|w| w.code), Some(64));
        }
        let updates = run(&[(
            7,
            UpdateOneModel::builder()
                .namespace(ns())
                .filter(doc! {})
                .update(doc! { "$set": { "a": 1 } })
                .upsert(true)
                .build()
                .into(),
        )]);
        let options = CollectionBulkWriteOptions::default();
        let mut op = WriteBatch::new("db", "c", WriteKind::Update, &updates, 0, &options);
        op.build(&description()).unwrap();
        let r = op
            .handle_response(
                &raw(&doc! { "ok": 1, "n": 1, "nModified": 0, "upserted": [ { "index": 0, "_id": "u" } ] }),
                &server(),
            )
            .unwrap();
        assert_eq!(r.reply.upserted, vec![(7, Bson::from("u"))]);
    }

    #[test]
    fn the_outcome_adds_counts_and_ids_and_reports_failures_with_what_succeeded() {
        let ids: HashMap<usize, Bson> = [(0, Bson::Int32(10)), (1, Bson::Int32(11))].into();
        let mut out = CollectionOutcome::default();
        // A command of `taken` statements, with its reply's counts and upserts.
        let counted = |taken, n, n_modified, upserted| BatchResult {
            taken,
            applied: vec![],
            reply: WriteReply {
                n,
                n_modified,
                upserted,
                ..WriteReply::default()
            },
        };
        let inserted = BatchResult {
            applied: vec![0, 1],
            ..counted(2, 2, 0, vec![])
        };
        out.add(WriteKind::Insert, 0, inserted, &ids, true);
        let updated = counted(2, 3, 2, vec![(3, Bson::from("u"))]);
        out.add(WriteKind::Update, 2, updated, &ids, true);
        out.add(WriteKind::Delete, 4, counted(1, 4, 0, vec![]), &ids, true);
        assert!(!out.has_write_errors());
        let r = out.finish().unwrap();
        assert_eq!(
            (
                r.inserted_count,
                r.matched_count,
                r.modified_count,
                r.upserted_count,
                r.deleted_count
            ),
            (2, 2, 2, 1, 4)
        );
        assert_eq!(r.inserted_ids[&1], Bson::Int32(11));
        assert_eq!(r.upserted_ids[&3], Bson::from("u"));

        // Ordered, the first statement failed: nothing succeeded, no partial result.
        let failed = |index: usize| BatchResult {
            taken: 2,
            reply: WriteReply {
                write_errors: vec![WriteError {
                    index,
                    code: 11000,
                    message: "dup".into(),
                    code_name: String::new(),
                    details: None,
                }],
                ..WriteReply::default()
            },
            ..BatchResult::default()
        };
        let mut out = CollectionOutcome::default();
        out.add(WriteKind::Insert, 0, failed(0), &ids, true);
        let err = out.finish().unwrap_err();
        let ErrorKind::BulkWrite(e) = &*err.kind else {
            panic!("{err:?}")
        };
        assert!(e.partial_result.is_none());
        assert_eq!(e.write_errors[&0].code, 11000);
        // Its second statement failed: the first succeeded.
        let mut out = CollectionOutcome::default();
        out.add(WriteKind::Insert, 0, failed(1), &ids, true);
        let err = out.finish().unwrap_err();
        let ErrorKind::BulkWrite(e) = &*err.kind else {
            panic!("{err:?}")
        };
        assert!(matches!(
            e.partial_result,
            Some(PartialBulkWriteResult::Collection(_))
        ));
        // An error before anything was reported is returned as it is.
        let bare = CollectionOutcome::default().stopped_by(Error::internal("x"));
        assert!(matches!(&*bare.kind, ErrorKind::Internal { .. }));
    }
}
