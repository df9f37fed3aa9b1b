//! [`Client::start_session`] and the session half of [`Client::shutdown`].

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::operation::RunCommand;
use crate::session::{pool::end_sessions_commands, ClientSession, SessionOptions};

/// How long shutdown spends on `endSessions` at most.
const END_SESSIONS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// [`Client::start_session`]: set options, then `.await`.
#[must_use = "an action does nothing until it is awaited"]
pub struct StartSession<'a> {
    client: &'a Client,
    options: SessionOptions,
}

impl StartSession<'_> {
    /// Causally consistent reads (default `true`).
    pub fn causal_consistency(mut self, value: bool) -> Self {
        self.options.causal_consistency = Some(value);
        self
    }

    /// Sets all the options at once, replacing those set before.
    pub fn with_options(mut self, options: impl Into<Option<SessionOptions>>) -> Self {
        self.options = options.into().unwrap_or_default();
        self
    }

    async fn execute(self) -> Result<ClientSession> {
        // Whether the deployment supports sessions is known once a server has answered.
        let conn = self
            .client
            .select(&self.client.read_criteria(), None)
            .await?;
        let timeout = conn.description().logical_session_timeout;
        let address = conn.address().clone();
        drop(conn);
        if timeout.is_none() {
            return Err(Error::new(ErrorKind::NotSupported {
                message: format!(
                    "{address} does not support sessions (no logicalSessionTimeoutMinutes in its \
                     hello); run operations without a session"
                ),
            }));
        }
        Ok(ClientSession::new(
            self.client.clone(),
            self.options,
            false,
            timeout,
        ))
    }
}
impl<'a> std::future::IntoFuture for StartSession<'a> {
    type Output = Result<ClientSession>;
    type IntoFuture = futures_core::future::BoxFuture<'a, Result<ClientSession>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

impl Client {
    /// Starts an explicit session, causally consistent by default. Fails with
    /// [`ErrorKind::NotSupported`] when the deployment does not support sessions. Pass it to
    /// operations with `.session(&mut session)`.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let mut session = client.start_session().causal_consistency(true).await?;
    /// let coll = client.database("app").collection::<Document>("events");
    /// coll.insert_one(doc! { "kind": "login" }).session(&mut session).await?;
    /// let n = coll.count_documents(doc! { "kind": "login" }).session(&mut session).await?;
    /// assert!(n >= 1);
    /// # Ok(()) }
    /// ```
    pub fn start_session(&self) -> StartSession<'_> {
        StartSession {
            client: self,
            options: SessionOptions::default(),
        }
    }

    /// Ends the pooled server sessions on the server (`endSessions`, 10,000 ids per command;
    /// best effort: errors are ignored, the server expires sessions anyway).
    pub(super) async fn end_sessions(&self) {
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
