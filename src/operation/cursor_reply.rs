//! Cursor replies (`find`, `aggregate`, `listCollections`, `getMore`): a batch, the cursor id,
//! the namespace to continue in, and a change stream's `postBatchResumeToken`.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Duration;

use bson::raw::{RawArray, RawBsonRef};
use bson::{Bson, RawDocument, RawDocumentBuf};

use crate::error::{Error, Result};
use crate::options::ServerAddress;

/// What a cursor needs from the command that opened it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CursorSpec {
    /// The server the cursor lives on.
    pub(crate) address: ServerAddress,
    pub(crate) db: String,
    pub(crate) coll: String,
    /// 0: the server has nothing more.
    pub(crate) id: i64,
    pub(crate) first_batch: RawBatch,
    /// `batchSize` for each `getMore`.
    pub(crate) batch_size: Option<u32>,
    /// Documents to return at most (a `find` limit).
    pub(crate) limit: Option<u64>,
    /// What each `getMore` carries besides the id and batch size.
    pub(crate) get_more: GetMoreOptions,
}

/// What every `getMore` of a cursor carries besides its id and batch size, from the command
/// that opened it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct GetMoreOptions {
    /// `maxTimeMS` of each `getMore`: how long a tailable-await cursor waits for new
    /// documents (`maxAwaitTimeMS`).
    pub(crate) max_await_time: Option<Duration>,
    /// The opening command's comment (CRUD spec: repeated on every `getMore`, 4.4+ servers).
    pub(crate) comment: Option<Bson>,
    /// The `timeoutMS` of each `getMore` (the operation's or its handle's); `None`: the
    /// client's.
    pub(crate) timeout: Option<Duration>,
    /// `timeoutMode: cursorLifetime`: the opening operation's deadline, which every `getMore`
    /// shares instead of a `timeoutMS` of its own.
    pub(crate) lifetime: Option<crate::csot::Deadline>,
}

/// A batch of documents as the server sent them: the batch's bytes, copied once out of the
/// connection's buffer, and where each document is. Nothing is decoded until the caller takes
/// a document, and then straight into the caller's type.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct RawBatch {
    bytes: Vec<u8>,
    docs: VecDeque<Range<usize>>,
    /// A change stream's `cursor.postBatchResumeToken`: where the server's scan of the oplog
    /// got to with this batch.
    post_batch_resume_token: Option<RawDocumentBuf>,
}

impl std::fmt::Debug for RawBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawBatch({} documents)", self.docs.len())
    }
}

impl RawBatch {
    /// The documents of a batch array (checked when the reply was read); anything else in it
    /// is an invalid reply.
    fn from_array(array: &RawArray, key: &str) -> Result<Self> {
        let bytes = array.as_bytes();
        let docs = crate::wire::scan::array_documents(bytes).ok_or_else(|| {
            Error::invalid_response(format!("the reply's cursor.{key} holds a non-document"))
        })?;
        Ok(Self {
            bytes: bytes.to_vec(),
            docs: docs.into(),
            post_batch_resume_token: None,
        })
    }

    /// The batch's `postBatchResumeToken`, if the reply had one (change streams).
    pub(crate) fn post_batch_resume_token(&self) -> Option<&RawDocument> {
        self.post_batch_resume_token.as_deref()
    }

    /// Documents left.
    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    /// The next document, without taking it.
    pub(crate) fn front(&self) -> Option<&RawDocument> {
        let r = self.docs.front()?.clone();
        RawDocument::from_bytes(&self.bytes[r]).ok()
    }

    /// Takes the next document.
    pub(crate) fn pop_front(&mut self) -> Option<&RawDocument> {
        let r = self.docs.pop_front()?;
        RawDocument::from_bytes(&self.bytes[r]).ok()
    }

    /// Keeps the first `n` documents.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.docs.truncate(n);
    }
}

/// One batch of a cursor reply.
#[derive(Debug, PartialEq)]
pub(crate) struct CursorBatch {
    pub(crate) id: i64,
    pub(crate) batch: RawBatch,
    /// `cursor.ns`, empty when absent.
    pub(crate) ns: String,
}

/// Reads `cursor.{id, ns, <key>}` where `key` is `firstBatch` or `nextBatch`.
pub(crate) fn parse_batch(reply: &RawDocument, key: &str) -> Result<CursorBatch> {
    let cursor = reply
        .get_document("cursor")
        .map_err(|_| Error::invalid_response("the reply has no cursor document"))?;
    let id = match cursor.get("id") {
        Ok(Some(RawBsonRef::Int64(i))) => i,
        Ok(Some(RawBsonRef::Int32(i))) => i64::from(i),
        _ => return Err(Error::invalid_response("the reply's cursor has no id")),
    };
    let Ok(Some(RawBsonRef::Array(docs))) = cursor.get(key) else {
        return Err(Error::invalid_response(format!(
            "the reply's cursor has no {key} array"
        )));
    };
    let mut batch = RawBatch::from_array(docs, key)?;
    batch.post_batch_resume_token = match cursor.get("postBatchResumeToken") {
        Ok(None) => None,
        Ok(Some(RawBsonRef::Document(t))) => Some(t.to_raw_document_buf()),
        _ => {
            return Err(Error::invalid_response(
                "the reply's cursor.postBatchResumeToken is not a document",
            ))
        }
    };
    let ns = cursor.get_str("ns").unwrap_or_default().to_owned();
    Ok(CursorBatch { id, batch, ns })
}

impl CursorSpec {
    /// The spec for a `firstBatch` reply from `address`.
    pub(crate) fn from_reply(
        reply: &RawDocument,
        address: &ServerAddress,
        batch_size: Option<u32>,
        limit: Option<u64>,
    ) -> Result<Self> {
        let CursorBatch { id, batch, ns } = parse_batch(reply, "firstBatch")?;
        let (db, coll) = match ns.split_once('.') {
            Some((d, c)) => (d.to_owned(), c.to_owned()),
            None => (ns, String::new()),
        };
        if id != 0 && (db.is_empty() || coll.is_empty()) {
            return Err(Error::invalid_response(
                "the reply's cursor has no namespace (ns) to continue with getMore",
            ));
        }
        Ok(Self {
            address: address.clone(),
            db,
            coll,
            id,
            first_batch: batch,
            batch_size,
            limit,
            get_more: GetMoreOptions::default(),
        })
    }

    /// The same with what each `getMore` carries from the opening command: its
    /// `maxAwaitTimeMS` and its comment.
    pub(crate) fn with_get_more(
        mut self,
        max_await_time: Option<Duration>,
        comment: Option<&Bson>,
    ) -> Self {
        self.get_more = GetMoreOptions {
            max_await_time,
            comment: comment.cloned(),
            timeout: None,
            lifetime: None,
        };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{is_invalid_response, raw, server};
    use bson::doc;

    #[test]
    fn a_first_batch_is_read_with_its_namespace() {
        let reply = doc! { "ok": 1, "cursor": {
        "id": 42_i64, "ns": "db.c.with.dots", "firstBatch": [ { "a": 1 } ] } };
        let spec = CursorSpec::from_reply(&raw(&reply), &server(), Some(5), None).unwrap();
        assert_eq!(
            (spec.db.as_str(), spec.coll.as_str()),
            ("db", "c.with.dots")
        );
        assert_eq!(spec.id, 42);
        assert_eq!(spec.first_batch.len(), 1);
        assert_eq!(spec.batch_size, Some(5));
    }

    #[test]
    fn a_batch_hands_out_each_document_as_sent() {
        let docs: Vec<_> = (0..5)
            .map(|i| doc! { "i": i, "s": "x".repeat(i as usize), "d": { "n": [i] } })
            .collect();
        let reply =
            doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": docs.clone() } };
        let mut spec = CursorSpec::from_reply(&raw(&reply), &server(), None, None).unwrap();
        assert_eq!(spec.first_batch.len(), 5);
        spec.first_batch.truncate(4);
        for d in &docs[..4] {
            let got = spec.first_batch.pop_front().unwrap();
            assert_eq!(&bson::Document::try_from(got).unwrap(), d);
        }
        assert!(spec.first_batch.pop_front().is_none());
    }

    #[test]
    fn a_post_batch_resume_token_is_kept_with_its_batch() {
        let token = doc! { "_data": "8263" };
        let reply = doc! { "ok": 1, "cursor": {
        "id": 9_i64, "ns": "db.c", "firstBatch": [], "postBatchResumeToken": token.clone() } };
        let spec = CursorSpec::from_reply(&raw(&reply), &server(), None, None).unwrap();
        let got = spec.first_batch.post_batch_resume_token().unwrap();
        assert_eq!(bson::Document::try_from(got).unwrap(), token);
        let b = parse_batch(
            &raw(&doc! { "ok": 1, "cursor": { "id": 9_i64, "nextBatch": [ {} ] } }),
            "nextBatch",
        )
        .unwrap();
        assert!(b.batch.post_batch_resume_token().is_none(), "absent: none");
        let bad = doc! { "ok": 1, "cursor": {
        "id": 9_i64, "ns": "db.c", "firstBatch": [], "postBatchResumeToken": "x" } };
        let err = CursorSpec::from_reply(&raw(&bad), &server(), None, None).unwrap_err();
        assert!(is_invalid_response(&err), "{err}");
    }

    #[test]
    fn malformed_cursor_replies_are_invalid_responses() {
        for reply in [
            doc! { "ok": 1 },
            doc! { "ok": 1, "cursor": { "firstBatch": [] } },
            doc! { "ok": 1, "cursor": { "id": "x", "firstBatch": [] } },
            doc! { "ok": 1, "cursor": { "id": 0_i64 } },
            doc! { "ok": 1, "cursor": { "id": 0_i64, "firstBatch": [1] } },
            // An open cursor without a namespace cannot be continued.
            doc! { "ok": 1, "cursor": { "id": 7_i64, "firstBatch": [] } },
            doc! { "ok": 1, "cursor": { "id": 7_i64, "ns": "nodot", "firstBatch": [] } },
        ] {
            let err = CursorSpec::from_reply(&raw(&reply), &server(), None, None).unwrap_err();
            assert!(is_invalid_response(&err), "{reply}: {err}");
        }
    }
}
