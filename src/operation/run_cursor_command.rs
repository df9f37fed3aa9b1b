//! `Database::run_cursor_command`: any command that opens a cursor, sent once as given.

use bson::{Document, RawDocument};

use super::{Command, CursorSpec, Operation, Retryability, Selection, StreamDescription};
use crate::error::Result;
use crate::options::{RunCursorCommandOptions, ServerAddress};
use crate::sdam::SelectionCriteria;

operation_input! {
    /// A user's cursor-opening command.
    RunCursorCommand { db: String, command: Document, options: RunCursorCommandOptions }
    => CursorSpec, "runCursorCommand"
}

impl Operation for RunCursorCommand {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        Ok(Command::new(self.db.clone(), self.command.clone()))
    }

    /// The reply must hold a cursor: anything else is an invalid reply.
    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<CursorSpec> {
        let o = &self.options;
        let spec = CursorSpec::from_reply(reply, at, o.batch_size, None)?;
        Ok(spec.with_get_more(o.max_time, o.comment.as_ref()))
    }

    fn selection(&self) -> Selection {
        match &self.options.selection_criteria {
            Some(rp) => Selection::Criteria(SelectionCriteria::Read(rp.clone())),
            None => Selection::Criteria(SelectionCriteria::Write),
        }
    }

    /// What the command does is unknown: never retried.
    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{
        description, is_invalid_response, raw, selects_a_writable_server, server,
    };
    use crate::options::{ReadPreference, ReadPreferenceMode};
    use bson::{doc, Bson};
    use std::time::Duration;

    #[test]
    fn the_command_goes_as_given_and_the_options_shape_the_get_mores() {
        let options = RunCursorCommandOptions::builder()
            .batch_size(3_u32)
            .max_time(Duration::from_millis(50))
            .comment(Bson::from("c"))
            .selection_criteria(ReadPreference::from(ReadPreferenceMode::Nearest))
            .build();
        let command = doc! { "find": "c", "batchSize": 1 };
        let mut op = RunCursorCommand::new("db", command.clone(), options);
        let cmd = op.build(&description()).unwrap();
        assert_eq!((cmd.db.as_str(), &cmd.body), ("db", &command));
        assert_eq!(
            op.selection(),
            Selection::Criteria(SelectionCriteria::Read(ReadPreferenceMode::Nearest.into()))
        );
        assert_eq!(op.retryability(), Retryability::None);
        let reply = doc! { "ok": 1, "cursor": { "id": 4_i64, "ns": "db.c", "firstBatch": [ {} ] } };
        let spec = op.handle_response(&raw(&reply), &server()).unwrap();
        assert_eq!((spec.id, spec.batch_size), (4, Some(3)));
        assert_eq!(
            spec.get_more.max_await_time,
            Some(Duration::from_millis(50))
        );
        assert_eq!(spec.get_more.comment, Some(Bson::from("c")));
        let err = op
            .handle_response(&raw(&doc! { "ok": 1 }), &server())
            .unwrap_err();
        assert!(is_invalid_response(&err), "no cursor: {err}");
        let primary = RunCursorCommand::new("db", command, RunCursorCommandOptions::default());
        assert!(selects_a_writable_server(&primary));
    }
}
