//! `Database::run_command`: any command, on the primary, sent once.

use bson::{Document, RawDocument};

use super::{to_document, Command, Operation, Retryability, Selection, StreamDescription};
use crate::error::Result;
use crate::options::ReadPreference;
use crate::options::ServerAddress;
use crate::sdam::SelectionCriteria;

/// A user's command, returned as the server's reply.
pub(crate) struct RunCommand {
    db: String,
    command: Document,
    /// `endSessions` must not itself run in a session.
    sessionless: bool,
    /// Where it runs: the primary when `None`.
    read_preference: Option<ReadPreference>,
}

impl RunCommand {
    pub(crate) fn new(db: impl Into<String>, command: Document) -> Self {
        Self {
            db: db.into(),
            command,
            sessionless: false,
            read_preference: None,
        }
    }

    /// Runs it where `read_preference` says (the primary when `None`).
    pub(crate) fn with_read_preference(mut self, read_preference: Option<ReadPreference>) -> Self {
        self.read_preference = read_preference;
        self
    }

    /// Sent without `lsid`.
    pub(crate) fn without_session(mut self) -> Self {
        self.sessionless = true;
        self
    }
}

operation_output!(RunCommand => Document, "runCommand");

impl Operation for RunCommand {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        Ok(Command::new(self.db.clone(), self.command.clone()))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<Document> {
        to_document(reply)
    }

    fn selection(&self) -> Selection {
        match &self.read_preference {
            Some(rp) => Selection::Criteria(SelectionCriteria::Read(rp.clone())),
            None => Selection::Criteria(SelectionCriteria::Write),
        }
    }

    /// What the command does is unknown: never retried.
    fn retryability(&self) -> Retryability {
        Retryability::None
    }

    fn takes_implicit_session(&self) -> bool {
        !self.sessionless
    }

    /// A read for the Transactions specification: its own read preference, else the
    /// transaction's.
    fn transaction_read_preference(&self, txn: &ReadPreference) -> Option<ReadPreference> {
        Some(self.read_preference.clone().unwrap_or_else(|| txn.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{description, selects_a_writable_server, server};
    use bson::doc;

    #[test]
    fn the_command_is_sent_as_given_and_the_reply_returned_whole() {
        let mut op = RunCommand::new("admin", doc! { "ping": 1 });
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd, Command::new("admin", doc! { "ping": 1 }));
        let reply = doc! { "ok": 1.0, "extra": "x" };
        assert_eq!(
            op.handle_response(&raw(&reply.clone()), &server()).unwrap(),
            reply
        );
        assert_eq!(op.retryability(), Retryability::None);
        assert!(selects_a_writable_server(&op));
    }
}
