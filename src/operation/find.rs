//! `find`: opens a cursor.

use bson::{doc, Document, RawDocument};

use super::{
    append_opt, append_read_concern, millis, to_i64, Command, CursorSpec, Operation,
    ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::coll::options::FindOptions;
use crate::error::Result;
use crate::options::ReadConcern;
use crate::sdam::SelectionCriteria;

pub(crate) struct Find {
    db: String,
    coll: String,
    filter: Document,
    options: FindOptions,
    read_concern: Option<ReadConcern>,
    criteria: SelectionCriteria,
}

impl Find {
    pub(crate) fn new(
        db: &str,
        coll: &str,
        filter: Document,
        options: FindOptions,
        read_concern: Option<ReadConcern>,
        criteria: SelectionCriteria,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            options,
            read_concern,
            criteria,
        }
    }

    /// The documents to return at most: `|limit|`, none for 0.
    fn limit(&self) -> Option<u64> {
        self.options.limit.map(i64::unsigned_abs).filter(|l| *l > 0)
    }
}

impl Operation for Find {
    type Output = CursorSpec;
    const NAME: &'static str = "find";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! { "find": self.coll.as_str(), "filter": self.filter.clone() };
        append_opt(&mut cmd, "sort", o.sort.clone());
        append_opt(&mut cmd, "projection", o.projection.clone());
        append_opt(&mut cmd, "skip", o.skip.map(to_i64));
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
        append_opt(&mut cmd, "batchSize", o.batch_size.map(i64::from));
        append_opt(&mut cmd, "maxTimeMS", o.max_time.map(millis));
        append_opt(&mut cmd, "comment", o.comment.clone());
        append_opt(&mut cmd, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        append_opt(&mut cmd, "allowDiskUse", o.allow_disk_use);
        append_read_concern(&mut cmd, self.read_concern.as_ref());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        ctx: &ResponseContext<'_>,
    ) -> Result<CursorSpec> {
        CursorSpec::from_reply(reply, ctx.address, self.options.batch_size, self.limit())
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(self.criteria.clone())
    }

    fn retryability(&self) -> Retryability {
        Retryability::Read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{ctx, description, is_invalid_response, server};
    use std::time::Duration;

    fn op(options: FindOptions) -> Find {
        let rc = ReadConcern {
            level: "majority".into(),
        };
        Find::new(
            "db",
            "c",
            doc! { "a": 1 },
            options,
            Some(rc),
            SelectionCriteria::Read(Default::default()),
        )
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
            .hint(crate::coll::options::Hint::Name("a_1".into()))
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
    fn the_reply_becomes_a_cursor_on_the_answering_server() {
        let find = op(FindOptions::builder()
            .limit(5_i64)
            .batch_size(2_u32)
            .build());
        let reply =
            doc! { "ok": 1, "cursor": { "id": 9_i64, "ns": "db.c", "firstBatch": [ { "a": 1 } ] } };
        let spec = find.handle_response(&raw(&reply), &ctx(&server())).unwrap();
        assert_eq!(spec.address, server());
        assert_eq!(
            (spec.id, spec.limit, spec.batch_size),
            (9, Some(5), Some(2))
        );
        let err = find
            .handle_response(&raw(&doc! { "ok": 1 }), &ctx(&server()))
            .unwrap_err();
        assert!(is_invalid_response(&err));
    }
}
