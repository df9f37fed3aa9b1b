//! [`Database::run_cursor_command`].

use bson::Document;

use super::SessionMode;
use crate::error::Result;
use crate::operation;
use crate::options::RunCursorCommandOptions;
use crate::Database;

impl Database {
    /// Runs a database command that opens a cursor (`find`, `aggregate`, `listCollections`,
    /// …) and returns the cursor over its results, followed with `getMore` on the server that
    /// ran it, in the same session. The command is sent as given and once (never retried), on
    /// the primary unless [`selection_criteria`](RunCursorCommand::selection_criteria) says
    /// otherwise; the other options shape the `getMore`s only. Returns a [`RunCursorCommand`]
    /// action whose output is a `Cursor<Document>` (a `SessionCursor` in an explicit session).
    ///
    /// A reply without a `cursor` is an
    /// [`ErrorKind::InvalidResponse`](crate::error::ErrorKind::InvalidResponse).
    ///
    /// ```no_run
    /// # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use mongo_x509::bson::{doc, Document};
    /// let docs: Vec<Document> = db
    ///     .run_cursor_command(doc! { "find": "events", "filter": {}, "batchSize": 100 })
    ///     .batch_size(100)
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = docs; Ok(()) }
    /// ```
    pub fn run_cursor_command(&self, command: Document) -> RunCursorCommand<'_> {
        RunCursorCommand::new(self.target(), command)
    }
}

action! {
    /// Runs a cursor-opening command: [`Database::run_cursor_command`].
    pub struct RunCursorCommand<'a> {
        command: Document,
    }
    options: RunCursorCommandOptions, run_cursor_command_setters;
}

impl<'a, S: SessionMode<'a>> RunCursorCommand<'a, S> {
    async fn execute(self) -> Result<S::Cursor<Document>> {
        let t = self.target;
        let kind = self.options.cursor_type.unwrap_or_default();
        let cursor = super::CursorTimeout {
            mode: self.options.timeout_mode,
            tailable: kind != crate::options::CursorType::NonTailable,
            await_data: kind == crate::options::CursorType::TailableAwait,
            writes: false,
        };
        let op = operation::RunCursorCommand::new(t.db(), self.command, self.options);
        t.cursor(op, self.session, cursor).await
    }
}
into_future!(impl<'a, S> RunCursorCommand<'a, S> => S::Cursor<Document> where S: SessionMode<'a>);
