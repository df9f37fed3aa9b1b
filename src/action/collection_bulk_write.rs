//! [`Collection::bulk_write`]: inserts, updates, replacements and deletes on one collection,
//! through the `insert`, `update` and `delete` commands (any server version).

use super::bulk_write::prepare;
use super::SessionMode;
use crate::client::Run;
use crate::coll::Collection;
use crate::error::{Error, Result};
use crate::operation::{CollectionOutcome, WriteBatch, WriteKind, WriteRun};
use crate::options::{CollectionBulkWriteOptions, WriteModel};
use crate::results::BulkWriteResult;

impl<T: Send + Sync> Collection<T> {
    /// Runs inserts, updates, replacements and deletes on this collection as few `insert`,
    /// `update` and `delete` commands as the server's limits allow, as PyMongo's
    /// `bulk_write` does: in order (the default) consecutive writes of one kind go in one
    /// command and the first failed write stops the rest; unordered
    /// ([`ordered(false)`](CollectionBulkWrite::ordered)) all inserts, then all updates and
    /// replacements, then all deletes, and every write is attempted. Returns a
    /// [`CollectionBulkWrite`] action whose output is a [`BulkWriteResult`].
    ///
    /// Each model must name this collection ([`Collection::namespace`]; the
    /// [`insert_one_model`](Collection::insert_one_model) and
    /// [`replace_one_model`](Collection::replace_one_model) helpers do); for several
    /// collections use [`Client::bulk_write`](crate::Client::bulk_write) (MongoDB 8.0+). An
    /// `_id` is added to each inserted document that has none. A command is a retryable write
    /// unless one of its statements may change several documents.
    ///
    /// When some write fails the error is an
    /// [`ErrorKind::BulkWrite`](crate::error::ErrorKind::BulkWrite): the failed writes by
    /// model index, the write concern errors, and
    /// [`PartialBulkWriteResult::Collection`](crate::error::PartialBulkWriteResult::Collection)
    /// with what succeeded.
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::{DeleteManyModel, UpdateOneModel, WriteModel};
    /// let models: Vec<WriteModel> = vec![
    ///     items.insert_one_model(doc! { "name": "pen", "qty": 5 })?.into(),
    ///     UpdateOneModel::builder()
    ///         .namespace(items.namespace())
    ///         .filter(doc! { "name": "ink" })
    ///         .update(doc! { "$inc": { "qty": 1 } })
    ///         .upsert(true)
    ///         .build()
    ///         .into(),
    ///     DeleteManyModel::builder().namespace(items.namespace()).filter(doc! { "qty": 0 }).build().into(),
    /// ];
    /// let result = items.bulk_write(models).ordered(false).await?;
    /// println!("{} inserted, {} upserted, {} deleted", result.inserted_count, result.upserted_count, result.deleted_count);
    /// # Ok(()) }
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = impl Into<WriteModel>>,
    ) -> CollectionBulkWrite<'_> {
        CollectionBulkWrite::new(self.target(), models.into_iter().map(Into::into).collect())
    }
}

action! {
    /// Runs a bulk write on a collection: [`Collection::bulk_write`].
    pub struct CollectionBulkWrite<'a> {
        models: Vec<WriteModel>,
    }
    options: CollectionBulkWriteOptions, collection_bulk_write_setters;
}

/// The runs to send: ordered, each stretch of consecutive writes of one kind; unordered, the
/// inserts, the updates, the deletes (each non-empty).
fn runs(models: &[WriteModel], ordered: bool) -> Result<Vec<(WriteKind, WriteRun)>> {
    let mut runs: Vec<(WriteKind, WriteRun)> = Vec::new();
    if ordered {
        for (i, m) in models.iter().enumerate() {
            let kind = WriteKind::of(m);
            if runs.last().map(|(k, _)| *k) != Some(kind) {
                runs.push((kind, WriteRun::default()));
            }
            if let Some((_, run)) = runs.last_mut() {
                run.push(i, m)?;
            }
        }
    } else {
        for kind in [WriteKind::Insert, WriteKind::Update, WriteKind::Delete] {
            let mut run = WriteRun::default();
            for (i, m) in models.iter().enumerate() {
                if WriteKind::of(m) == kind {
                    run.push(i, m)?;
                }
            }
            if !run.statements.is_empty() {
                runs.push((kind, run));
            }
        }
    }
    Ok(runs)
}

impl<'a, S: SessionMode<'a>> CollectionBulkWrite<'a, S> {
    async fn execute(self) -> Result<BulkWriteResult> {
        let t = self.target;
        let options = t.writes(self.options);
        let ordered = options.ordered.unwrap_or(true);
        let mut models = self.models;
        for (i, m) in models.iter().enumerate() {
            let ns = m.namespace();
            if ns.db != t.db() || ns.coll != t.coll() {
                return Err(Error::invalid_argument(format!(
                    "Collection::bulk_write on {}.{}: the write at index {i} is for {ns}; use \
                     Client::bulk_write to write to several collections",
                    t.db(),
                    t.coll()
                )));
            }
        }
        let inserted_ids = prepare(&mut models)?;
        let runs = runs(&models, ordered)?;
        // timeoutMS covers every command (CSOT spec, "Batching").
        // Every batch is one operation in command events.
        let operation_id = crate::event::command::next_operation_id();
        let mut session = self.session.into_session();
        let deadline = t.deadline_in(session.as_deref())?;
        let mut outcome = CollectionOutcome::default();
        for (kind, run) in &runs {
            let mut offset = 0;
            while offset < run.statements.len() {
                let op = WriteBatch::new(t.db(), t.coll(), *kind, run, offset, &options);
                let attempt = Run {
                    session: session.as_deref_mut(),
                    deadline,
                    operation_id: Some(operation_id),
                    ..Run::default()
                };
                let r = match t.client().run(op, attempt).await.0 {
                    Ok(r) => r,
                    Err(e) => return Err(outcome.stopped_by(e)),
                };
                if r.taken == 0 {
                    return Err(Error::internal("bulk_write: a command sent no writes"));
                }
                let taken = r.taken;
                outcome.add(*kind, run.models[offset], r, &inserted_ids, ordered);
                offset += taken;
                if ordered && outcome.has_write_errors() {
                    return outcome.finish();
                }
            }
        }
        outcome.finish()
    }
}
into_future!(impl<'a, S> CollectionBulkWrite<'a, S> => BulkWriteResult where S: SessionMode<'a>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{DeleteOneModel, InsertOneModel, UpdateOneModel};
    use crate::Namespace;
    use bson::doc;

    fn models() -> Vec<WriteModel> {
        let ns = Namespace::new("db", "c");
        let insert = |i: i32| -> WriteModel {
            InsertOneModel::builder()
                .namespace(ns.clone())
                .document(doc! { "_id": i })
                .build()
                .into()
        };
        let update: WriteModel = UpdateOneModel::builder()
            .namespace(ns.clone())
            .filter(doc! {})
            .update(doc! { "$set": { "a": 1 } })
            .build()
            .into();
        let delete: WriteModel = DeleteOneModel::builder()
            .namespace(ns.clone())
            .filter(doc! {})
            .build()
            .into();
        vec![
            insert(0),
            insert(1),
            update.clone(),
            delete,
            insert(4),
            update,
        ]
    }

    #[test]
    fn ordered_runs_are_consecutive_stretches_unordered_ones_one_per_kind() {
        let kinds = |runs: Vec<(WriteKind, WriteRun)>| -> Vec<(WriteKind, Vec<usize>)> {
            runs.into_iter().map(|(k, r)| (k, r.models)).collect()
        };
        use WriteKind::*;
        assert_eq!(
            kinds(runs(&models(), true).unwrap()),
            vec![
                (Insert, vec![0, 1]),
                (Update, vec![2]),
                (Delete, vec![3]),
                (Insert, vec![4]),
                (Update, vec![5])
            ]
        );
        assert_eq!(
            kinds(runs(&models(), false).unwrap()),
            vec![
                (Insert, vec![0, 1, 4]),
                (Update, vec![2, 5]),
                (Delete, vec![3])
            ]
        );
    }
}
