//! `find`: opens a cursor.

use bson::{doc, Document, RawDocument};

use super::{append_options, Command, CursorSpec, Operation, Reads, StreamDescription};
use crate::error::Result;
use crate::options::ServerAddress;
use crate::options::{CursorType, FindOptions};

operation_input! {
    Find { db: String, coll: String, filter: Document, options: FindOptions, reads: Reads }
    => CursorSpec, "find"
}

impl Find {
    /// The documents to return at most: `|limit|`, none for 0.
    fn limit(&self) -> Option<u64> {
        self.options.limit.map(i64::unsigned_abs).filter(|l| *l > 0)
    }
}

impl Operation for Find {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! { "find": self.coll.as_str(), "filter": self.filter.clone() };
        append_options(&mut cmd, o)?;
        match o.limit {
            // Negative: at most |limit| documents, in one batch (the cursor is closed after).
            Some(l) if l < 0 => {
                cmd.insert("limit", l.saturating_abs());
                cmd.insert("singleBatch", true);
            }
            Some(l) if l > 0 => {
                cmd.insert("limit", l);
            }
            _ => {}
        }
        // limit = batchSize would leave an open cursor after the last batch (CRUD spec).
        if let (Some(b), Some(l)) = (o.batch_size, o.limit) {
            if l > 0 && i64::from(b) == l {
                cmd.insert("batchSize", l.saturating_add(1));
            }
        }
        match o.cursor_type {
            Some(CursorType::Tailable) => {
                cmd.insert("tailable", true);
            }
            Some(CursorType::TailableAwait) => {
                cmd.insert("tailable", true);
                cmd.insert("awaitData", true);
            }
            _ => {}
        }
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<CursorSpec> {
        let o = &self.options;
        // Only a tailable-await cursor's getMore may carry maxTimeMS.
        let tailable_await = o.cursor_type == Some(CursorType::TailableAwait);
        let max_await_time = o.max_await_time.filter(|_| tailable_await);
        let spec = CursorSpec::from_reply(reply, at, o.batch_size, self.limit())?;
        Ok(spec.with_get_more(max_await_time, o.comment.as_ref()))
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, is_invalid_response, raw, reads, server};
    use crate::operation::Retryability;
    use std::time::Duration;

    fn op(options: FindOptions) -> Find {
        Find::new("db", "c", doc! { "a": 1 }, options, reads())
    }

    #[test]
    fn options_become_command_fields() {
        let mut find = op(FindOptions::builder()
            .sort(doc! { "a": -1 })
            .projection(doc! { "_id": 0 })
            .skip(2_u64)
            .limit(-3_i64)
            .batch_size(10_u32)
            .max_time(Duration::from_millis(250))
            .hint(crate::options::Hint::Name("a_1".into()))
            .allow_disk_use(true)
            .build());
        let cmd = find.build(&description()).unwrap();
        assert_eq!(cmd.db, "db");
        assert_eq!(
            cmd.body,
            doc! {
                "find": "c", "filter": { "a": 1 }, "sort": { "a": -1 }, "projection": { "_id": 0 },
                "skip": 2_i64, "limit": 3_i64, "singleBatch": true, "batchSize": 10_i64,
                "maxTimeMS": 250_i64, "hint": "a_1", "allowDiskUse": true,
                "readConcern": { "level": "majority" },
            }
        );
        assert!(cmd.sequences.is_empty());
        assert_eq!(find.retryability(), Retryability::Read);
    }

    #[test]
    fn a_batch_size_equal_to_the_limit_is_raised_by_one() {
        let mut find = op(FindOptions::builder()
            .limit(4_i64)
            .batch_size(4_u32)
            .build());
        let body = find.build(&description()).unwrap().body;
        assert_eq!(body.get_i64("batchSize").unwrap(), 5);
        assert_eq!(body.get_i64("limit").unwrap(), 4);
        let mut find = op(FindOptions::builder()
            .limit(4_i64)
            .batch_size(0_u32)
            .build());
        let body = find.build(&description()).unwrap().body;
        assert_eq!(body.get_i64("batchSize").unwrap(), 0, "0 is sent as is");
    }

    #[test]
    fn max_await_time_reaches_the_get_mores_of_a_tailable_await_cursor_only() {
        let reply =
            raw(&doc! { "ok": 1, "cursor": { "id": 9_i64, "ns": "db.c", "firstBatch": [] } });
        let wait = Duration::from_millis(40);
        for (cursor_type, sent) in [
            (CursorType::TailableAwait, Some(wait)),
            (CursorType::Tailable, None),
            (CursorType::NonTailable, None),
        ] {
            let mut find = op(FindOptions::builder()
                .cursor_type(cursor_type)
                .max_await_time(wait)
                .comment(bson::Bson::from("c"))
                .build());
            let body = find.build(&description()).unwrap().body;
            assert!(!body.contains_key("maxAwaitTimeMS") && !body.contains_key("maxTimeMS"));
            let spec = find.handle_response(&reply, &server()).unwrap();
            assert_eq!(spec.get_more.max_await_time, sent, "{cursor_type:?}");
            assert_eq!(spec.get_more.comment, Some(bson::Bson::from("c")));
        }
    }

    #[test]
    fn the_reply_becomes_a_cursor_on_the_answering_server() {
        let find = op(FindOptions::builder()
            .limit(5_i64)
            .batch_size(2_u32)
            .build());
        let reply =
            doc! { "ok": 1, "cursor": { "id": 9_i64, "ns": "db.c", "firstBatch": [ { "a": 1 } ] } };
        let spec = find.handle_response(&raw(&reply), &server()).unwrap();
        assert_eq!(spec.address, server());
        assert_eq!(
            (spec.id, spec.limit, spec.batch_size),
            (9, Some(5), Some(2))
        );
        let err = find
            .handle_response(&raw(&doc! { "ok": 1 }), &server())
            .unwrap_err();
        assert!(is_invalid_response(&err));
    }
}
