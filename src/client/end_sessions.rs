//! The session half of [`Client::shutdown`]: the pooled server sessions are ended on the server.

use super::Client;
use crate::operation::RunCommand;
use crate::session::pool::end_sessions_commands;

/// How long shutdown spends on `endSessions` at most.
const END_SESSIONS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Client {
    /// Ends the pooled server sessions on the server (`endSessions`, 10,000 ids per command;
    /// best effort: errors are ignored, the server expires sessions anyway).
    pub(crate) async fn end_sessions(&self) {
        let ids = self.sessions().drain();
        if ids.is_empty() {
            return;
        }
        // Bounded: a deployment without a reachable server must not hold up shutdown.
        let end = async {
            for cmd in end_sessions_commands(ids) {
                let _ = self
                    .execute(RunCommand::new("admin", cmd).without_session())
                    .await;
            }
        };
        let _ = tokio::time::timeout(END_SESSIONS_TIMEOUT, end).await;
    }
}
