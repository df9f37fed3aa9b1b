//! `Database::run_command`: any command, on the primary, sent once.

use bson::{Document, RawDocument};

use super::{
    to_document, Command, Operation, ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::error::Result;
use crate::sdam::SelectionCriteria;

/// A user's command, returned as the server's reply.
pub(crate) struct RunCommand {
    db: String,
    command: Document,
    /// `endSessions` must not itself run in a session.
    sessionless: bool,
}

impl RunCommand {
    pub(crate) fn new(db: impl Into<String>, command: Document) -> Self {
        Self {
            db: db.into(),
            command,
            sessionless: false,
        }
    }

    /// Sent without `lsid`.
    pub(crate) fn without_session(mut self) -> Self {
        self.sessionless = true;
        self
    }
}

impl Operation for RunCommand {
    type Output = Document;
    const NAME: &'static str = "runCommand";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        Ok(Command::new(self.db.clone(), self.command.clone()))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ResponseContext<'_>) -> Result<Document> {
        to_document(reply)
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(SelectionCriteria::Write)
    }

    /// What the command does is unknown: never retried.
    fn retryability(&self) -> Retryability {
        Retryability::None
    }

    fn takes_implicit_session(&self) -> bool {
        !self.sessionless
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{ctx, description, server};
    use bson::doc;

    #[test]
    fn the_command_is_sent_as_given_and_the_reply_returned_whole() {
        let mut op = RunCommand::new("admin", doc! { "ping": 1 });
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd, Command::new("admin", doc! { "ping": 1 }));
        let reply = doc! { "ok": 1.0, "extra": "x" };
        assert_eq!(
            op.handle_response(&raw(&reply.clone()), &ctx(&server()))
                .unwrap(),
            reply
        );
        assert_eq!(op.retryability(), Retryability::None);
        assert_eq!(
            op.selection(),
            Selection::Criteria(SelectionCriteria::Write)
        );
    }
}
