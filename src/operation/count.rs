//! `countDocuments`: an aggregation (`$match`, `$skip`, `$limit`, `$group`) whose single
//! result document is read from the first batch, as the CRUD specification says.

use bson::{doc, Document, RawDocument};

use super::{append_options, raw_u64, to_i64, Command, Operation, Reads, StreamDescription};
use crate::error::{Error, Result};
use crate::options::CountOptions;
use crate::options::ServerAddress;

use super::cursor_reply::parse_batch;

operation_input! {
    CountDocuments { db: String, coll: String, filter: Document, options: CountOptions, reads: Reads }
    => u64, "countDocuments"
}

impl Operation for CountDocuments {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut pipeline = vec![doc! { "$match": self.filter.clone() }];
        if let Some(s) = o.skip {
            pipeline.push(doc! { "$skip": to_i64(s) });
        }
        if let Some(l) = o.limit {
            pipeline.push(doc! { "$limit": to_i64(l) });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let mut cmd = doc! { "aggregate": self.coll.as_str(), "pipeline": pipeline, "cursor": {} };
        append_options(&mut cmd, o)?;
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    /// `$group` yields one document (none when nothing matched), so the first batch holds the
    /// answer and no cursor is left open.
    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<u64> {
        let batch = parse_batch(reply, "firstBatch")?;
        let Some(d) = batch.batch.front() else {
            return Ok(0);
        };
        d.get("n").ok().flatten().and_then(raw_u64).ok_or_else(|| {
            Error::invalid_response("count_documents: the $group result has no count n")
        })
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, is_invalid_response, raw, reads, server};

    fn op(options: CountOptions) -> CountDocuments {
        CountDocuments::new("db", "c", doc! { "a": 1 }, options, reads())
    }

    #[test]
    fn the_pipeline_matches_skips_limits_and_groups() {
        let cmd = op(CountOptions::builder().skip(1_u64).limit(10_u64).build())
            .build(&description())
            .unwrap();
        assert_eq!(
            cmd.body,
            doc! { "aggregate": "c", "pipeline": [
                { "$match": { "a": 1 } }, { "$skip": 1_i64 }, { "$limit": 10_i64 },
                { "$group": { "_id": 1, "n": { "$sum": 1 } } },
            ], "cursor": {}, "readConcern": { "level": "majority" } }
        );
    }

    #[test]
    fn the_count_is_read_from_the_first_batch() {
        let op = op(CountOptions::default());
        let a = server();
        let reply = |batch: Vec<Document>| doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": batch } };
        assert_eq!(op.handle_response(&raw(&reply(vec![])), &a).unwrap(), 0);
        assert_eq!(
            op.handle_response(&raw(&reply(vec![doc! { "_id": 1, "n": 7 }])), &a)
                .unwrap(),
            7
        );
        assert_eq!(
            op.handle_response(&raw(&reply(vec![doc! { "n": 7_i64 }])), &a)
                .unwrap(),
            7
        );
        for bad in [doc! { "n": -1 }, doc! { "n": "7" }, doc! { "_id": 1 }] {
            let err = op.handle_response(&raw(&reply(vec![bad])), &a).unwrap_err();
            assert!(is_invalid_response(&err), "{err}");
        }
        assert!(is_invalid_response(
            &op.handle_response(&raw(&doc! { "ok": 1 }), &a).unwrap_err()
        ));
    }
}
