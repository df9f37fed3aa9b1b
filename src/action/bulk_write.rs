//! [`Client::bulk_write`]: writes to any namespaces in as few `bulkWrite` commands as the
//! server's limits allow (MongoDB 8.0+).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::marker::PhantomData;

use bson::{oid::ObjectId, Bson, Document, RawDocument, RawDocumentBuf};
use serde::Serialize;

use super::SessionMode;
use crate::client::{Leftovers, Run};
use crate::coll::{to_document, Collection};
use crate::cursor::{Cursor, SessionCursor};
use crate::error::{Error, Result};
use crate::operation::{
    self, acknowledged, check_replacement, update_bson, BulkWriteReply, CursorSpec, Outcome,
};
use crate::options::{BulkWriteOptions, InsertOneModel, ReplaceOneModel, WriteModel};
use crate::results::{ClientBulkWriteResult, SummaryBulkWriteResult, VerboseBulkWriteResult};
use crate::{Client, ClientSession};

impl Client {
    /// Runs inserts, updates, replacements and deletes on any collections of any databases,
    /// in order (the default: it stops at the first failed write) or not
    /// ([`ordered(false)`](BulkWrite::ordered): every write is attempted), with the `bulkWrite`
    /// command of MongoDB 8.0+. Returns a [`BulkWrite`] action whose output is a
    /// [`SummaryBulkWriteResult`], or a [`VerboseBulkWriteResult`] with each write's result
    /// after [`verbose_results`](BulkWrite::verbose_results).
    ///
    /// The writes are sent in as few commands as the server's `maxWriteBatchSize` and
    /// `maxMessageSizeBytes` allow, each naming only the namespaces it uses; an `_id` is added
    /// to each inserted document that has none. It is a retryable write unless a model may
    /// change several documents (`UpdateMany`, `DeleteMany`).
    ///
    /// When some write fails, or a write concern cannot be satisfied, the error is an
    /// [`ErrorKind::BulkWrite`](crate::error::ErrorKind::BulkWrite) with the failed writes by
    /// index, the write concern errors, and the result of what succeeded; an error that stops
    /// the bulk write after writes were reported (a network error, a failed `getMore`) is
    /// inside it, in [`BulkWriteError::error`](crate::error::BulkWriteError::error).
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::{DeleteManyModel, InsertOneModel, UpdateOneModel, WriteModel};
    /// use mongo_x509::Namespace;
    /// let orders = Namespace::new("shop", "orders");
    /// let audit = Namespace::new("logs", "audit");
    /// let models: Vec<WriteModel> = vec![
    ///     InsertOneModel::builder().namespace(orders.clone()).document(doc! { "item": "pen" }).build().into(),
    ///     UpdateOneModel::builder()
    ///         .namespace(orders.clone())
    ///         .filter(doc! { "item": "ink" })
    ///         .update(doc! { "$inc": { "qty": 1 } })
    ///         .upsert(true)
    ///         .build()
    ///         .into(),
    ///     InsertOneModel::builder().namespace(audit).document(doc! { "event": "restock" }).build().into(),
    ///     DeleteManyModel::builder().namespace(orders).filter(doc! { "qty": 0 }).build().into(),
    /// ];
    /// let result = client.bulk_write(models).verbose_results().await?;
    /// println!("{} inserted, first id {:?}", result.summary.inserted_count, result.insert_results[&0].inserted_id);
    /// # Ok(()) }
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = impl Into<WriteModel>>,
    ) -> BulkWrite<'_, SummaryBulkWriteResult> {
        BulkWrite::new(self.target(), models.into_iter().map(Into::into).collect())
    }
}

impl<T: Serialize + Send + Sync> Collection<T> {
    /// An [`InsertOneModel`] of `document` into this collection, for a bulk write.
    pub fn insert_one_model(&self, document: impl Borrow<T>) -> Result<InsertOneModel> {
        Ok(InsertOneModel::builder()
            .namespace(self.namespace())
            .document(to_document(document.borrow())?)
            .build())
    }

    /// A [`ReplaceOneModel`] of the document matching `filter` by `replacement` in this
    /// collection, for a bulk write.
    pub fn replace_one_model(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
    ) -> Result<ReplaceOneModel> {
        Ok(ReplaceOneModel::builder()
            .namespace(self.namespace())
            .filter(filter)
            .replacement(to_document(replacement.borrow())?)
            .build())
    }
}

action! {
    /// Runs a client bulk write: [`Client::bulk_write`]. `R` is the result kind:
    /// [`SummaryBulkWriteResult`] or [`VerboseBulkWriteResult`].
    pub struct BulkWrite<'a, R> {
        models: Vec<WriteModel>,
    }
    options: BulkWriteOptions, bulk_write_setters;
}

impl<'a, S> BulkWrite<'a, SummaryBulkWriteResult, S> {
    /// Ask for each write's result ([`VerboseBulkWriteResult`]): the `_id` of each insert, the
    /// counts and upserted `_id` of each update, the count of each delete.
    pub fn verbose_results(self) -> BulkWrite<'a, VerboseBulkWriteResult, S> {
        BulkWrite {
            target: self.target,
            options: self.options,
            session: self.session,
            models: self.models,
            _type: PhantomData,
        }
    }
}

impl<'a, R: ClientBulkWriteResult, S: SessionMode<'a>> BulkWrite<'a, R, S> {
    async fn execute(self) -> Result<R> {
        let t = self.target;
        let options = t.writes(self.options);
        let ordered = options.ordered.unwrap_or(true);
        let unacknowledged = !acknowledged(options.write_concern.as_ref());
        if unacknowledged {
            if R::VERBOSE {
                return Err(Error::invalid_argument(
                    "Cannot request unacknowledged write concern and verbose results",
                ));
            }
            if ordered {
                return Err(Error::invalid_argument(
                    "Cannot request unacknowledged write concern and ordered writes",
                ));
            }
        }
        let mut models = self.models;
        let inserted_ids = prepare(&mut models)?;
        // Every batch is one operation in command events.
        let operation_id = crate::event::command::next_operation_id();
        let mut session = self.session.into_session();
        let deadline = t.deadline_in(session.as_deref())?;
        let mut outcome = Outcome::default();
        let mut offset = 0;
        while offset < models.len() {
            let op = operation::BulkWrite::new(&models, offset, &options, R::VERBOSE);
            let run = Run {
                session: session.as_deref_mut(),
                // The results cursor's getMores use the bulkWrite's session and, behind a
                // load balancer, its connection.
                keep_connection: t.client().is_load_balanced(),
                keep_session: true,
                deadline,
                operation_id: Some(operation_id),
                ..Run::default()
            };
            let (reply, leftovers) = t.client().run(op, run).await;
            let reply = match reply {
                Ok(r) => r,
                Err(e) => return Err(outcome.stopped_by::<R>(e)),
            };
            if unacknowledged {
                // Nothing is known of an unacknowledged write (CRUD specification): whatever
                // the server answered, the counts stay zero and no results are read.
                if reply.taken == 0 {
                    return Err(Error::internal("bulkWrite: a batch sent no writes"));
                }
                offset += reply.taken;
                continue;
            }
            outcome.start_batch(offset, &reply);
            let BulkWriteReply {
                mut cursor,
                n_errors,
                taken,
                ..
            } = reply;
            cursor.get_more.timeout = t.timeout();
            let read = read_results(t.client(), cursor, leftovers, session.as_deref_mut(), |d| {
                outcome.add_response(d, &models, &inserted_ids, R::VERBOSE)
            })
            .await;
            outcome.end_batch(n_errors, ordered);
            if let Err(e) = read {
                return Err(outcome.stopped_by::<R>(e));
            }
            if taken == 0 {
                return Err(Error::internal("bulkWrite: a batch sent no writes"));
            }
            offset += taken;
            if ordered && outcome.has_write_errors() {
                break;
            }
        }
        outcome.finish()
    }
}
into_future!(impl<'a, R, S> BulkWrite<'a, R, S> => R
    where R: ClientBulkWriteResult, S: SessionMode<'a>);

/// Checks every model before anything is sent (an update needs operators, a replacement
/// must have none, the list must not be empty) and gives each inserted document without an
/// `_id` a new ObjectId, first. Returns the `_id` of each insert by model index.
pub(super) fn prepare(models: &mut [WriteModel]) -> Result<HashMap<usize, Bson>> {
    if models.is_empty() {
        return Err(Error::invalid_argument(
            "bulk_write: no write models given; pass at least one",
        ));
    }
    let mut ids = HashMap::new();
    for (i, model) in models.iter_mut().enumerate() {
        let what = format!("bulk_write: the write at index {i}");
        match model {
            WriteModel::InsertOne(m) => {
                let id = match m.document.get("_id") {
                    Some(id) => id.clone(),
                    None => {
                        let id = Bson::ObjectId(ObjectId::new());
                        let mut d = Document::new();
                        d.insert("_id", id.clone());
                        d.extend(std::mem::take(&mut m.document));
                        m.document = d;
                        id
                    }
                };
                ids.insert(i, id);
            }
            WriteModel::UpdateOne(m) => {
                update_bson(m.update.clone(), &what)?;
            }
            WriteModel::UpdateMany(m) => {
                update_bson(m.update.clone(), &what)?;
            }
            WriteModel::ReplaceOne(m) => check_replacement(&m.replacement, &what)?,
            WriteModel::DeleteOne(_) | WriteModel::DeleteMany(_) => {}
        }
    }
    Ok(ids)
}

/// Reads a results cursor to the end, giving each document to `take`, in the bulk write's
/// session (explicit, or the implicit one the cursor kept).
async fn read_results(
    client: &Client,
    spec: CursorSpec,
    leftovers: Leftovers,
    session: Option<&mut ClientSession>,
    mut take: impl FnMut(&RawDocument) -> Result<()>,
) -> Result<()> {
    match session {
        Some(s) => {
            let mut cursor =
                SessionCursor::<RawDocumentBuf>::new(client.clone(), spec, leftovers, s);
            while let Some(d) = cursor.next(s).await.transpose()? {
                take(&d)?;
            }
        }
        None => {
            let mut cursor = Cursor::<RawDocumentBuf>::new(client.clone(), spec, leftovers);
            while let Some(d) = cursor.next_item().await.transpose()? {
                take(&d)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{ReplaceOneModel, UpdateManyModel, UpdateOneModel};
    use crate::Namespace;
    use bson::doc;

    fn ns() -> Namespace {
        Namespace::new("db", "c")
    }

    #[test]
    fn inserts_get_an_id_first_and_bad_updates_are_refused_before_sending() {
        let mut models: Vec<WriteModel> = vec![
            InsertOneModel::builder()
                .namespace(ns())
                .document(doc! { "a": 1 })
                .build()
                .into(),
            InsertOneModel::builder()
                .namespace(ns())
                .document(doc! { "a": 2, "_id": 7 })
                .build()
                .into(),
        ];
        let ids = prepare(&mut models).unwrap();
        let WriteModel::InsertOne(first) = &models[0] else {
            panic!()
        };
        assert_eq!(
            first.document.keys().next().map(String::as_str),
            Some("_id")
        );
        assert_eq!(first.document.get("_id"), ids.get(&0));
        assert_eq!(ids[&1], Bson::Int32(7));

        let bad: Vec<WriteModel> = vec![
            UpdateOneModel::builder()
                .namespace(ns())
                .filter(doc! {})
                .update(doc! { "x": 1 })
                .build()
                .into(),
            UpdateManyModel::builder()
                .namespace(ns())
                .filter(doc! {})
                .update(doc! {})
                .build()
                .into(),
            ReplaceOneModel::builder()
                .namespace(ns())
                .filter(doc! {})
                .replacement(doc! { "$set": { "x": 1 } })
                .build()
                .into(),
        ];
        for model in bad {
            let err = prepare(&mut [model.clone()]).unwrap_err();
            assert!(
                matches!(&*err.kind, crate::error::ErrorKind::InvalidArgument { message } if message.contains("index 0")),
                "{model:?}: {err}"
            );
        }
        assert!(prepare(&mut []).is_err(), "an empty list is refused");
        let pipeline = UpdateOneModel::builder()
            .namespace(ns())
            .filter(doc! {})
            .update(vec![doc! { "$set": { "x": 1 } }])
            .build();
        assert!(prepare(&mut [pipeline.into()]).is_ok());
    }
}
