//! `estimated_document_count`: the `count` command without a filter, from the collection's
//! metadata (the CRUD specification's choice since MongoDB 5.0).

use bson::{doc, RawDocument};

use super::{append_options, raw_u64, Command, Operation, Reads, StreamDescription};
use crate::error::{Error, Result};
use crate::options::{EstimatedDocumentCountOptions, ServerAddress};

operation_input! {
    EstimatedCount { db: String, coll: String, options: EstimatedDocumentCountOptions, reads: Reads }
    => u64, "count"
}

impl Operation for EstimatedCount {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "count": self.coll.as_str() };
        append_options(&mut cmd, &self.options)?;
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<u64> {
        count_of(reply)
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}

/// The `n` of a `count` reply (this operation's and [`super::count_command::Count`]'s).
pub(super) fn count_of(reply: &RawDocument) -> Result<u64> {
    reply
        .get("n")
        .ok()
        .flatten()
        .and_then(raw_u64)
        .ok_or_else(|| Error::invalid_response("count reply has no count n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, raw, reads, server};
    use std::time::Duration;

    #[test]
    fn count_without_a_filter() {
        let o = EstimatedDocumentCountOptions::builder()
            .max_time(Duration::from_millis(9))
            .build();
        let mut op = EstimatedCount::new("db", "c", o, reads());
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "count": "c", "maxTimeMS": 9_i64, "readConcern": { "level": "majority" } }
        );
        let n = op.handle_response(&raw(&doc! { "ok": 1, "n": 12 }), &server());
        assert_eq!(n.unwrap(), 12);
        assert!(op
            .handle_response(&raw(&doc! { "ok": 1 }), &server())
            .is_err());
    }
}
