//! `killCursors`: frees a server-side cursor that was not exhausted.

use bson::{doc, Document};

use super::{Command, Operation, ResponseContext, Retryability, Selection, StreamDescription};
use crate::error::Result;
use crate::options::ServerAddress;

pub(crate) struct KillCursors {
    address: ServerAddress,
    db: String,
    coll: String,
    id: i64,
}

impl KillCursors {
    pub(crate) fn new(address: ServerAddress, db: String, coll: String, id: i64) -> Self {
        Self {
            address,
            db,
            coll,
            id,
        }
    }
}

impl Operation for KillCursors {
    type Output = ();
    const NAME: &'static str = "killCursors";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let cmd = doc! { "killCursors": self.coll.as_str(), "cursors": [self.id] };
        Ok(Command::new(self.db.clone(), cmd))
    }

    /// Best effort: the server times cursors out anyway, so the reply's lists are not read.
    fn handle_response(&self, _: Document, _: &ResponseContext<'_>) -> Result<()> {
        Ok(())
    }

    fn selection(&self) -> Selection {
        Selection::Server(self.address.clone())
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{ctx, description, server};

    #[test]
    fn kill_cursors_names_the_cursor_on_its_server() {
        let mut op = KillCursors::new(server(), "db".into(), "c".into(), 5);
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd,
            Command::new("db", doc! { "killCursors": "c", "cursors": [5_i64] })
        );
        assert_eq!(op.selection(), Selection::Server(server()));
        op.handle_response(doc! { "ok": 1, "cursorsKilled": [5_i64] }, &ctx(&server()))
            .unwrap();
    }
}
