//! `delete` with one statement: `delete_one` (limit 1) and `delete_many` (limit 0).

use bson::{doc, Document, RawDocument};

use super::{
    append_opt, append_write_concern, write_reply, Command, Operation, ResponseContext,
    Retryability, Selection, StreamDescription,
};
use crate::coll::options::{DeleteOptions, Hint};
use crate::error::Result;
use crate::results::DeleteResult;
use crate::sdam::SelectionCriteria;

pub(crate) struct Delete {
    db: String,
    coll: String,
    filter: Document,
    many: bool,
    options: DeleteOptions,
}

impl Delete {
    /// `options.write_concern` must already hold the client's default when none was set.
    pub(crate) fn new(
        db: &str,
        coll: &str,
        filter: Document,
        many: bool,
        options: DeleteOptions,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            many,
            options,
        }
    }
}

impl Operation for Delete {
    type Output = DeleteResult;
    const NAME: &'static str = "delete";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut stmt = doc! { "q": self.filter.clone(), "limit": if self.many { 0 } else { 1 } };
        append_opt(&mut stmt, "hint", o.hint.as_ref().map(Hint::to_bson));
        let mut cmd = doc! { "delete": self.coll.as_str(), "deletes": [stmt], "ordered": true };
        append_write_concern(&mut cmd, o.write_concern.as_ref());
        append_opt(&mut cmd, "comment", o.comment.clone());
        append_opt(&mut cmd, "let", o.let_vars.clone());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        _: &ResponseContext<'_>,
    ) -> Result<DeleteResult> {
        let r = write_reply::parse(reply, 1, 0)?;
        write_reply::write_result(r.write_errors, r.write_concern_error, 1)?;
        Ok(DeleteResult { deleted_count: r.n })
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(SelectionCriteria::Write)
    }

    fn retryability(&self) -> Retryability {
        if self.many {
            Retryability::None
        } else {
            Retryability::Write
        }
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
    use crate::operation::test_util::{ctx, description, server};
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
            .handle_response(&raw(&doc! { "ok": 1, "n": 3 }), &ctx(&a))
            .unwrap();
        assert_eq!(r.deleted_count, 3);
        let err = op
            .handle_response(&raw(&doc! { "ok": 1, "n": 0, "writeErrors": [ { "index": 0, "code": 2, "errmsg": "bad" } ] }), &ctx(&a))
            .unwrap_err();
        assert!(matches!(&*err.kind, ErrorKind::Write { .. }));
    }
}
