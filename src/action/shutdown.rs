//! [`Client::shutdown`].

use crate::Client;

impl Client {
    /// Shuts the client down: ends the pooled server sessions on the server (`endSessions`,
    /// for at most two seconds), stops the monitors and closes every pooled connection.
    /// Operations started afterwards, on this client or any of its clones, fail with
    /// [`ErrorKind::Shutdown`](crate::error::ErrorKind::Shutdown); connections in use are
    /// closed when their operation ends. Returns a [`Shutdown`] action.
    ///
    /// Sessions and cursors still alive are not waited for: drop them first so that their
    /// server sessions are ended too.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) {
    /// client.shutdown().await;
    /// # }
    /// ```
    pub fn shutdown(self) -> Shutdown {
        Shutdown { client: self }
    }
}

/// Shuts a client down: [`Client::shutdown`].
#[must_use = "an action does nothing until it is awaited"]
pub struct Shutdown {
    client: Client,
}

impl Shutdown {
    async fn execute(self) -> crate::error::Result<()> {
        self.client.end_sessions().await;
        self.client.stop_topology();
        Ok(())
    }
}

impl super::private::Sealed for Shutdown {}
impl super::Action for Shutdown {}

impl std::future::IntoFuture for Shutdown {
    type Output = ();
    type IntoFuture = futures_core::future::BoxFuture<'static, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            // Shutting down cannot fail: what is not reachable is simply closed.
            let _ = self.execute().await;
        })
    }
}
