//! `delete` with one statement: `delete_one` (limit 1) and `delete_many` (limit 0).

use bson::{doc, Document, RawDocument};

use super::statements::{DeleteFields, DeleteStatement};
use super::{append_options, write_reply, Command, Operation, Retryability, StreamDescription};
use crate::error::Result;
use crate::options::DeleteOptions;
use crate::options::ServerAddress;
use crate::results::DeleteResult;

operation_input! {
    /// `options.write_concern` must already hold the client's default when none was set.
    Delete { db: String, coll: String, filter: Document, many: bool, options: DeleteOptions }
    => DeleteResult, "delete"
}

impl Operation for Delete {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let acknowledged = self.is_acknowledged();
        super::check_unacknowledged_hint(o.hint.is_some(), acknowledged, server, "delete")?;
        let fields = DeleteFields {
            hint: o.hint.as_ref(),
            collation: o.collation.as_ref(),
        };
        let stmt = DeleteStatement::new(&self.filter, self.many, fields);
        let mut cmd = doc! {
            "delete": self.coll.as_str(), "deletes": [bson::to_bson(&stmt)?], "ordered": true,
        };
        append_options(&mut cmd, o)?;
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<DeleteResult> {
        let r = write_reply::parse_one(reply)?;
        Ok(DeleteResult { deleted_count: r.n })
    }

    fn retryability(&self) -> Retryability {
        Retryability::write_unless_multi(self.many)
    }

    fn is_acknowledged(&self) -> bool {
        super::acknowledged(self.options.write_concern.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{description, server};
    use crate::options::Hint;
    use bson::Bson;

    #[test]
    fn one_deletes_with_limit_1_and_many_with_limit_0() {
        for (many, limit) in [(false, 1), (true, 0)] {
            let options = DeleteOptions::builder()
                .hint(Hint::Name("a_1".into()))
                .comment(Bson::from("c"))
                .build();
            let mut op = Delete::new("db", "c", doc! { "a": 1 }, many, options);
            let cmd = op.build(&description()).unwrap();
            assert_eq!(
                cmd.body,
                doc! { "delete": "c", "deletes": [ { "q": { "a": 1 }, "limit": limit, "hint": "a_1" } ],
                "ordered": true, "comment": "c" }
            );
        }
    }

    #[test]
    fn the_reply_gives_the_count_or_the_error() {
        let op = Delete::new("db", "c", doc! {}, true, DeleteOptions::default());
        let a = server();
        let r = op
            .handle_response(&raw(&doc! { "ok": 1, "n": 3 }), &a)
            .unwrap();
        assert_eq!(r.deleted_count, 3);
        let err = op
            .handle_response(&raw(&doc! { "ok": 1, "n": 0, "writeErrors": [ { "index": 0, "code": 2, "errmsg": "bad" } ] }), &a)
            .unwrap_err();
        assert!(matches!(&*err.kind, ErrorKind::Write { .. }));
    }
}
