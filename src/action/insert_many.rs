//! [`Collection::insert_many`]: documents inserted in as few `insert` commands as the server's
//! limits allow.

use std::borrow::Borrow;
use std::collections::HashMap;

use bson::{oid::ObjectId, Bson};
use serde::Serialize;

use super::{SessionMode, Target};
use crate::client::Run;
use crate::coll::{to_bytes, Collection};
use crate::error::{Error, ErrorKind, Result};
use crate::operation::{self, write_result};
use crate::options::InsertManyOptions;
use crate::results::InsertManyResult;
use crate::ClientSession;

impl<T: Serialize + Send + Sync> Collection<T> {
    /// Inserts documents, in batches of at most the server's `maxWriteBatchSize` (and message
    /// size); an `_id` (ObjectId) is added to each document that has none. Returns an
    /// [`InsertMany`] action whose output is an [`InsertManyResult`].
    ///
    /// ```no_run
    /// # async fn f(items: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let result = items.insert_many([doc! { "n": 1 }, doc! { "n": 2 }]).ordered(false).await?;
    /// assert_eq!(result.inserted_ids.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn insert_many(
        &self,
        documents: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_> {
        let docs = documents
            .into_iter()
            .map(|d| to_bytes(d.borrow()))
            .collect();
        InsertMany::new(self.target(), docs)
    }
}

action! {
    /// Inserts documents: [`Collection::insert_many`].
    pub struct InsertMany<'a> {
        docs: Vec<Result<Vec<u8>>>,
    }
    options: InsertManyOptions, insert_many_setters;
}

impl<'a, S: SessionMode<'a>> InsertMany<'a, S> {
    async fn execute(self) -> Result<InsertManyResult> {
        insert(
            self.target,
            self.docs,
            self.options,
            self.session.into_session(),
        )
        .await
    }
}
into_future!(impl<'a, S> InsertMany<'a, S> => InsertManyResult where S: SessionMode<'a>);

/// Inserts serialized documents (`insert_many`, and `insert_one` with one document).
pub(super) async fn insert(
    target: Target<'_>,
    docs: Vec<Result<Vec<u8>>>,
    options: InsertManyOptions,
    mut session: Option<&mut ClientSession>,
) -> Result<InsertManyResult> {
    if docs.is_empty() {
        return Err(Error::invalid_argument(
            "insert_many: no documents to insert; pass at least one",
        ));
    }
    let total = docs.len();
    let (mut bytes, mut ids) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for d in docs {
        let (d, id) = with_id(d?)?;
        bytes.push(d);
        ids.push(id);
    }
    let options = target.writes(options);
    let ordered = options.ordered.unwrap_or(true);

    let mut inserted_ids = HashMap::new();
    let mut write_errors = Vec::new();
    let mut wc_error = None;
    let mut offset = 0;
    // timeoutMS covers all the batches together (CSOT spec, "Batching").
    let deadline = target.deadline_in(session.as_deref())?;
    // Every batch is one operation in command events.
    let operation_id = crate::event::command::next_operation_id();
    // One operation per batch; each batch is cut to the limits of the server it goes to.
    while offset < total {
        let op = operation::Insert::new(target.db(), target.coll(), &bytes, offset, &options);
        let run = Run {
            session: session.as_deref_mut(),
            deadline,
            operation_id: Some(operation_id),
            ..Run::default()
        };
        let r = target.client().run(op, run).await.0?;
        if r.taken == 0 {
            return Err(Error::internal("insert: a batch sent no documents"));
        }
        for i in r.inserted {
            if let Some(id) = ids.get(i) {
                inserted_ids.insert(i, id.clone());
            }
        }
        let stop = ordered && !r.write_errors.is_empty();
        write_errors.extend(r.write_errors);
        if r.write_concern_error.is_some() {
            wc_error = r.write_concern_error;
        }
        offset += r.taken;
        if stop {
            break;
        }
    }
    if let Err(mut e) = write_result(write_errors, wc_error, total) {
        // The partial result: what was inserted despite the errors.
        if let ErrorKind::Write {
            inserted_ids: ids, ..
        } = &mut *e.kind
        {
            *ids = inserted_ids;
        }
        // A write concern error `MaxTimeMSExpired` under timeoutMS is its timeout.
        return Err(crate::csot::on_error(deadline.as_ref(), e));
    }
    Ok(InsertManyResult { inserted_ids })
}

/// A serialized document to insert with its `_id`: the one it has, or a new ObjectId put
/// first. Works on the bytes, so a document is serialized once, never rebuilt. (The bson crate
/// can only append an element; `_id` goes first as the server would put it, hence the splice,
/// written by hand.)
fn with_id(bytes: Vec<u8>) -> Result<(Vec<u8>, Bson)> {
    let invalid = |e: bson::raw::Error| Error::invalid_argument(format!("invalid document: {e}"));
    let doc = bson::RawDocument::from_bytes(&bytes).map_err(invalid)?;
    if let Some(id) = doc.get("_id").map_err(invalid)? {
        let id = Bson::try_from(id).map_err(invalid)?;
        return Ok((bytes, id));
    }
    let oid = ObjectId::new();
    // Type byte, "_id\0", 12 bytes of ObjectId.
    const ELEMENT: usize = 1 + 4 + 12;
    let len = i32::try_from(bytes.len() + ELEMENT)
        .map_err(|_| Error::invalid_argument("document too large"))?;
    let mut out = Vec::with_capacity(bytes.len() + ELEMENT);
    out.extend_from_slice(&len.to_le_bytes());
    out.push(0x07);
    out.extend_from_slice(b"_id\0");
    out.extend_from_slice(&oid.bytes());
    out.extend_from_slice(&bytes[4..]);
    Ok((out, Bson::ObjectId(oid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Document;

    #[test]
    fn generated_id_goes_first_and_given_id_is_kept() {
        let bytes = |d: Document| bson::to_vec(&d).unwrap();
        let doc = |b: Vec<u8>| Document::from_reader(&b[..]).unwrap();
        let (d, id) = with_id(bytes(bson::doc! { "a": 1, "b": { "c": "x" } })).unwrap();
        let d = doc(d);
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert_eq!(d.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));
        assert_eq!(d.get_document("b").unwrap(), &bson::doc! { "c": "x" });
        assert_eq!(d.len(), 3);
        let (d, id) = with_id(bytes(bson::doc! { "a": 1, "_id": 7 })).unwrap();
        assert_eq!(id, Bson::Int32(7));
        assert_eq!(doc(d), bson::doc! { "a": 1, "_id": 7 });
        // An empty document gets just the id.
        let (d, _) = with_id(bytes(bson::doc! {})).unwrap();
        assert_eq!(doc(d).len(), 1);
    }
}
