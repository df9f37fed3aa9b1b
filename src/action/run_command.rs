//! [`Database::run_command`].

use bson::Document;

use crate::operation;
use crate::options::RunCommandOptions;
use crate::Database;

impl Database {
    /// Runs a database command and returns the server's reply. It runs on the primary unless
    /// a read preference is given, is sent once (never retried), and in an explicit session
    /// (`.session(&mut s)`) carries the session's `lsid` and cluster time.
    ///
    /// A reply with `ok` other than 1 is an
    /// [`ErrorKind::Command`](crate::error::ErrorKind::Command) error carrying the server's
    /// code and message.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let status = client.database("admin").run_command(doc! { "connectionStatus": 1 }).await?;
    /// println!("{status}");
    /// let mut session = client.start_session().await?;
    /// client.database("app").run_command(doc! { "ping": 1 }).session(&mut session).await?;
    /// # Ok(()) }
    /// ```
    pub fn run_command(&self, command: Document) -> RunCommand<'_> {
        RunCommand::new(self.target(), command)
    }
}

action! {
    /// Runs a command: [`Database::run_command`].
    pub struct RunCommand<'a> {
        command: Document,
    }
    options: RunCommandOptions, run_command_setters;
    runs: |t, this| -> Document {
        operation::RunCommand::new(t.db(), this.command)
            .with_read_preference(this.options.read_preference)
    }
}
