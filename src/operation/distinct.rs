//! `distinct`: the distinct values of a field among the documents matching a filter.

use bson::{doc, Bson, Document, RawDocument};

use super::{append_options, to_document, Command, Operation, Reads, StreamDescription};
use crate::error::{Error, Result};
use crate::options::DistinctOptions;
use crate::options::ServerAddress;

operation_input! {
    Distinct {
        db: String, coll: String, key: String, filter: Document, options: DistinctOptions,
        reads: Reads,
    }
    => Vec<Bson>, "distinct"
}

impl Operation for Distinct {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! {
            "distinct": self.coll.as_str(), "key": self.key.as_str(), "query": self.filter.clone(),
        };
        append_options(&mut cmd, o)?;
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<Vec<Bson>> {
        match to_document(reply)?.remove("values") {
            Some(Bson::Array(values)) => Ok(values),
            _ => Err(Error::invalid_response(
                "distinct reply has no values array",
            )),
        }
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

    #[test]
    fn distinct_sends_key_query_and_options_and_reads_values() {
        let options = DistinctOptions::builder()
            .max_time(Duration::from_millis(5))
            .comment(Bson::from("c"))
            .build();
        let mut op = Distinct::new(
            "db",
            "c",
            "a.b",
            doc! { "x": 1 },
            options,
            Reads {
                read_concern: None,
                ..reads()
            },
        );
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "distinct": "c", "key": "a.b", "query": { "x": 1 }, "maxTimeMS": 5_i64, "comment": "c" }
        );
        assert_eq!(op.retryability(), Retryability::Read);
        let a = server();
        let values = op
            .handle_response(&raw(&doc! { "ok": 1, "values": [1, "two"] }), &a)
            .unwrap();
        assert_eq!(values, vec![Bson::Int32(1), Bson::from("two")]);
        for bad in [doc! { "ok": 1 }, doc! { "ok": 1, "values": 1 }] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &a).unwrap_err()
            ));
        }
    }
}
