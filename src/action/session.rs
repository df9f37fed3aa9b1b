//! [`Client::start_session`].

use crate::error::{Error, ErrorKind, Result};
use crate::options::{ReadPreference, ReadPreferenceMode, SessionOptions};
use crate::sdam::SelectionCriteria;
use crate::session::supports_sessions;
use crate::{Client, ClientSession};

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
}

/// Starts a session: [`Client::start_session`].
#[must_use = "an action does nothing until it is awaited"]
pub struct StartSession<'a> {
    client: &'a Client,
    options: SessionOptions,
}

impl StartSession<'_> {
    crate::options::session_setters::setters!();

    async fn execute(self) -> Result<ClientSession> {
        check_options(&self.options)?;
        // Load Balancer specification: sessions are always supported, and
        // logicalSessionTimeoutMinutes is ignored; no connection is checked out to ask.
        if self.client.is_load_balanced() {
            return Ok(ClientSession::new(
                self.client.clone(),
                self.options,
                false,
                None,
            ));
        }
        // Whether the deployment supports sessions is known once a server has answered: any
        // data-bearing one (Driver Sessions specification), not one the client's read
        // preference asks for, which the deployment may lack (a secondary).
        let any = SelectionCriteria::Read(ReadPreference::from(ReadPreferenceMode::Nearest));
        let conn = self.client.select(&any, None).await?;
        let timeout = conn.description().logical_session_timeout;
        let address = conn.address().clone();
        let supported = supports_sessions(conn.description(), self.client.is_load_balanced());
        drop(conn);
        if !supported {
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

/// Snapshot reads and causal consistency exclude each other (Snapshot Reads specification); a
/// snapshot time needs snapshot reads.
fn check_options(options: &SessionOptions) -> Result<()> {
    let snapshot = options.snapshot == Some(true);
    if snapshot && options.causal_consistency == Some(true) {
        return Err(Error::invalid_argument(
            "a session cannot have both snapshot(true) and causal_consistency(true); snapshot \
             reads see one point in time, choose one of the two",
        ));
    }
    if !snapshot && options.snapshot_time.is_some() {
        return Err(Error::invalid_argument(
            "snapshot_time needs snapshot(true) in the session options",
        ));
    }
    Ok(())
}

#[cfg(feature = "sync")]
impl crate::sync::ActionClient for StartSession<'_> {
    fn action_client(&self) -> Client {
        self.client.clone()
    }
}

impl super::private::Sealed for StartSession<'_> {}
impl super::Action for StartSession<'_> {}
into_future!(impl<'a> StartSession<'a> => ClientSession);

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Timestamp;

    #[test]
    fn snapshot_sessions_refuse_causal_consistency_and_a_time_needs_snapshot() {
        let both = SessionOptions::builder()
            .snapshot(true)
            .causal_consistency(true)
            .build();
        assert!(check_options(&both)
            .unwrap_err()
            .to_string()
            .contains("snapshot"));
        let time_only = SessionOptions::builder()
            .snapshot_time(Timestamp {
                time: 1,
                increment: 1,
            })
            .build();
        assert!(check_options(&time_only)
            .unwrap_err()
            .to_string()
            .contains("snapshot_time needs snapshot(true)"));
        for ok in [
            SessionOptions::default(),
            SessionOptions::builder().snapshot(true).build(),
            SessionOptions::builder()
                .snapshot(true)
                .causal_consistency(false)
                .build(),
            SessionOptions::builder()
                .snapshot(true)
                .snapshot_time(Timestamp {
                    time: 1,
                    increment: 1,
                })
                .build(),
        ] {
            check_options(&ok).unwrap();
        }
    }
}
