//! `count` with a filter: the CRUD specification's deprecated `count` helper. It counts from
//! the collection's metadata where it can, so it may be wrong after an unclean shutdown or on a
//! sharded cluster with orphaned documents; `countDocuments` is exact.

use bson::{doc, Document, RawDocument};

use super::{append_options, to_i64, Command, Operation, Reads, StreamDescription};
use crate::error::Result;
use crate::options::{CountOptions, ServerAddress};

pub(crate) struct Count {
    db: String,
    coll: String,
    filter: Document,
    options: CountOptions,
    reads: Reads,
}

impl Count {
    pub(crate) fn new(
        db: &str,
        coll: &str,
        filter: Document,
        options: CountOptions,
        reads: Reads,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            options,
            reads,
        }
    }
}

operation_output!(Count => u64, "count");

impl Operation for Count {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! { "count": self.coll.as_str() };
        if !self.filter.is_empty() {
            cmd.insert("query", self.filter.clone());
        }
        if let Some(s) = o.skip {
            cmd.insert("skip", to_i64(s));
        }
        if let Some(l) = o.limit {
            cmd.insert("limit", to_i64(l));
        }
        append_options(&mut cmd, o)?;
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<u64> {
        super::estimated_count::count_of(reply)
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, raw, reads, server};

    #[test]
    fn count_sends_the_filter_skip_and_limit() {
        let o = CountOptions::builder().skip(1_u64).limit(3_u64).build();
        let mut op = Count::new("db", "c", doc! { "a": 1 }, o, reads());
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "count": "c", "query": { "a": 1 }, "skip": 1_i64, "limit": 3_i64,
            "readConcern": { "level": "majority" } }
        );
        let mut all = Count::new("db", "c", doc! {}, CountOptions::default(), reads());
        let body = all.build(&description()).unwrap().body;
        assert!(!body.contains_key("query"), "{body}");
        let n = op.handle_response(&raw(&doc! { "ok": 1, "n": 2 }), &server());
        assert_eq!(n.unwrap(), 2);
        assert!(op
            .handle_response(&raw(&doc! { "ok": 1 }), &server())
            .is_err());
    }
}
