//! `distinct`: the distinct values of a field among the documents matching a filter.

use bson::{doc, Bson, Document, RawDocument};

use super::{
    append_opt, append_read_concern, millis, to_document, Command, Operation, ResponseContext,
    Retryability, Selection, StreamDescription,
};
use crate::coll::options::{DistinctOptions, Hint};
use crate::error::{Error, Result};
use crate::options::ReadConcern;
use crate::sdam::SelectionCriteria;

pub(crate) struct Distinct {
    db: String,
    coll: String,
    key: String,
    filter: Document,
    options: DistinctOptions,
    read_concern: Option<ReadConcern>,
    criteria: SelectionCriteria,
}

impl Distinct {
    pub(crate) fn new(
        db: &str,
        coll: &str,
        key: &str,
        filter: Document,
        options: DistinctOptions,
        read_concern: Option<ReadConcern>,
        criteria: SelectionCriteria,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            key: key.to_owned(),
            filter,
            options,
            read_concern,
            criteria,
        }
    }
}

impl Operation for Distinct {
    type Output = Vec<Bson>;
    const NAME: &'static str = "distinct";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! {
            "distinct": self.coll.as_str(), "key": self.key.as_str(), "query": self.filter.clone(),
        };
        append_opt(&mut cmd, "maxTimeMS", o.max_time.map(millis));
        append_opt(&mut cmd, "hint", o.hint.as_ref().map(Hint::to_bson));
        append_opt(&mut cmd, "comment", o.comment.clone());
        append_read_concern(&mut cmd, self.read_concern.as_ref());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ResponseContext<'_>) -> Result<Vec<Bson>> {
        match to_document(reply)?.remove("values") {
            Some(Bson::Array(values)) => Ok(values),
            _ => Err(Error::invalid_response(
                "distinct reply has no values array",
            )),
        }
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
            None,
            SelectionCriteria::Read(Default::default()),
        );
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "distinct": "c", "key": "a.b", "query": { "x": 1 }, "maxTimeMS": 5_i64, "comment": "c" }
        );
        assert_eq!(op.retryability(), Retryability::Read);
        let a = server();
        let values = op
            .handle_response(&raw(&doc! { "ok": 1, "values": [1, "two"] }), &ctx(&a))
            .unwrap();
        assert_eq!(values, vec![Bson::Int32(1), Bson::from("two")]);
        for bad in [doc! { "ok": 1 }, doc! { "ok": 1, "values": 1 }] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &ctx(&a)).unwrap_err()
            ));
        }
    }
}
