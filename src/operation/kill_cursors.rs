//! `killCursors`: frees a server-side cursor that was not exhausted.

use bson::{doc, Document, RawDocument};

use super::{Command, Operation, Retryability, Selection, StreamDescription};
use crate::error::Result;
use crate::options::ServerAddress;

pub(crate) struct KillCursors {
    address: ServerAddress,
    db: String,
    coll: String,
    id: i64,
    /// The explicit session's `lsid`, when the cursor was opened in one.
    lsid: Option<Document>,
}

impl KillCursors {
    pub(crate) fn new(address: ServerAddress, db: String, coll: String, id: i64) -> Self {
        Self {
            address,
            db,
            coll,
            id,
            lsid: None,
        }
    }

    /// Sends `lsid` (the explicit session the cursor was opened in) instead of an implicit
    /// session.
    pub(crate) fn with_lsid(mut self, lsid: Option<Document>) -> Self {
        self.lsid = lsid;
        self
    }
}

operation_output!(KillCursors => (), "killCursors");

impl Operation for KillCursors {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "killCursors": self.coll.as_str(), "cursors": [self.id] };
        if let Some(lsid) = &self.lsid {
            cmd.insert("lsid", lsid.clone());
        }
        Ok(Command::new(self.db.clone(), cmd))
    }

    /// Best effort: the server times cursors out anyway, so the reply's lists are not read.
    fn handle_response(&self, _: &RawDocument, _: &ServerAddress) -> Result<()> {
        Ok(())
    }

    fn selection(&self) -> Selection {
        Selection::Server(self.address.clone())
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }

    fn takes_implicit_session(&self) -> bool {
        self.lsid.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{description, server};

    #[test]
    fn kill_cursors_names_the_cursor_on_its_server() {
        let mut op = KillCursors::new(server(), "db".into(), "c".into(), 5);
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd,
            Command::new("db", doc! { "killCursors": "c", "cursors": [5_i64] })
        );
        assert_eq!(op.selection(), Selection::Server(server()));
        op.handle_response(&raw(&doc! { "ok": 1, "cursorsKilled": [5_i64] }), &server())
            .unwrap();
    }
}
