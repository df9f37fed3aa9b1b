//! Cursor replies (`find`, `aggregate`, `listCollections`, `getMore`): a batch, the cursor id,
//! the namespace to continue in.

use std::collections::VecDeque;

use bson::{Bson, Document};

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
    pub(crate) first_batch: VecDeque<Document>,
    /// `batchSize` for each `getMore`.
    pub(crate) batch_size: Option<u32>,
    /// Documents to return at most (a `find` limit).
    pub(crate) limit: Option<u64>,
}

/// One batch of a cursor reply.
#[derive(Debug, PartialEq)]
pub(crate) struct CursorBatch {
    pub(crate) id: i64,
    pub(crate) batch: VecDeque<Document>,
    /// `cursor.ns`, empty when absent.
    pub(crate) ns: String,
}

/// Reads `cursor.{id, ns, <key>}` where `key` is `firstBatch` or `nextBatch`.
pub(crate) fn parse_batch(reply: &Document, key: &str) -> Result<CursorBatch> {
    let cursor = reply
        .get_document("cursor")
        .map_err(|_| Error::invalid_response("the reply has no cursor document"))?;
    let id = match cursor.get("id") {
        Some(Bson::Int64(i)) => *i,
        Some(Bson::Int32(i)) => i64::from(*i),
        _ => return Err(Error::invalid_response("the reply's cursor has no id")),
    };
    let Some(Bson::Array(docs)) = cursor.get(key) else {
        return Err(Error::invalid_response(format!(
            "the reply's cursor has no {key} array"
        )));
    };
    let batch = docs
        .iter()
        .map(|b| match b {
            Bson::Document(d) => Ok(d.clone()),
            _ => Err(Error::invalid_response(format!(
                "the reply's cursor.{key} holds a non-document"
            ))),
        })
        .collect::<Result<VecDeque<_>>>()?;
    let ns = cursor.get_str("ns").unwrap_or_default().to_owned();
    Ok(CursorBatch { id, batch, ns })
}

impl CursorSpec {
    /// The spec for a `firstBatch` reply from `address`.
    pub(crate) fn from_reply(
        reply: &Document,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{is_invalid_response, server};
    use bson::doc;

    #[test]
    fn a_first_batch_is_read_with_its_namespace() {
        let reply = doc! { "ok": 1, "cursor": {
        "id": 42_i64, "ns": "db.c.with.dots", "firstBatch": [ { "a": 1 } ] } };
        let spec = CursorSpec::from_reply(&reply, &server(), Some(5), None).unwrap();
        assert_eq!(
            (spec.db.as_str(), spec.coll.as_str()),
            ("db", "c.with.dots")
        );
        assert_eq!(spec.id, 42);
        assert_eq!(spec.first_batch.len(), 1);
        assert_eq!(spec.batch_size, Some(5));
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
            let err = CursorSpec::from_reply(&reply, &server(), None, None).unwrap_err();
            assert!(is_invalid_response(&err), "{reply}: {err}");
        }
    }
}
