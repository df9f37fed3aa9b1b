//! Sessions (Driver Sessions and Causal Consistency specifications): the server-session pool,
//! cluster-time gossip, the retry decision, and [`ClientSession`].
//!
//! The executor is the only user of the internals: it takes an implicit session from the pool
//! for each acknowledged operation when the deployment supports sessions, and calls
//! [`stamp`] to add `lsid`, `txnNumber`, `$clusterTime` and `afterClusterTime` to a command.

pub(crate) mod cluster_time;
pub(crate) mod pool;
pub(crate) mod retry;

use std::time::Duration;

use bson::{Document, Timestamp};
use typed_builder::TypedBuilder;

pub(crate) use cluster_time::ClusterClock;
pub use cluster_time::ClusterTime;
pub(crate) use pool::{ServerSession, ServerSessionPool};

use crate::Client;

/// Options of an explicit session ([`Client::start_session`]).
#[derive(Clone, Debug, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct SessionOptions {
    /// Causally consistent reads: each read in the session sees the session's earlier writes
    /// and reads (`afterClusterTime`). Default `true`.
    pub causal_consistency: Option<bool>,
}

/// A logical session: operations given it with `.session(&mut s)` share its server session
/// (`lsid`) and, by default, are causally consistent: a read sees the session's earlier
/// writes even on a secondary.
///
/// Transactions are not supported. Dropping the session returns its server session to the
/// client's pool. A session belongs to the client that started it and is used by one task at
/// a time (`&mut`).
///
/// ```no_run
/// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
/// use mongo_x509::bson::{doc, Document};
/// let mut session = client.start_session().await?;
/// let coll = client.database("shop").collection::<Document>("orders");
/// coll.insert_one(doc! { "_id": 1 }).session(&mut session).await?;
/// // Sees the insert, wherever the read preference sends it.
/// let order = coll.find_one(doc! { "_id": 1 }).session(&mut session).await?;
/// # Ok(()) }
/// ```
pub struct ClientSession {
    client: Client,
    server_session: Option<ServerSession>,
    cluster_time: Option<ClusterTime>,
    operation_time: Option<Timestamp>,
    options: SessionOptions,
    /// Taken by the executor for one operation; never returned to the user.
    implicit: bool,
    /// `logicalSessionTimeoutMinutes` of the server it was last used with.
    timeout: Option<Duration>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("id", &self.id())
            .field("cluster_time", &self.cluster_time)
            .field("operation_time", &self.operation_time)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    pub(crate) fn new(
        client: Client,
        options: SessionOptions,
        implicit: bool,
        timeout: Option<Duration>,
    ) -> Self {
        let server_session = client
            .sessions()
            .check_out(timeout, tokio::time::Instant::now());
        Self {
            client,
            server_session: Some(server_session),
            cluster_time: None,
            operation_time: None,
            options,
            implicit,
            timeout,
        }
    }

    /// The session id (`lsid`) sent with its commands: `{id: UUID}`.
    pub fn id(&self) -> &Document {
        static EMPTY: std::sync::OnceLock<Document> = std::sync::OnceLock::new();
        self.server_session
            .as_ref()
            .map_or_else(|| EMPTY.get_or_init(Document::new), |s| &s.id)
    }

    /// The client that started the session.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The options the session was started with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// The highest cluster time this session has seen.
    pub fn cluster_time(&self) -> Option<&ClusterTime> {
        self.cluster_time.as_ref()
    }

    /// The `operationTime` of the session's latest operation: its reads wait for this point.
    pub fn operation_time(&self) -> Option<Timestamp> {
        self.operation_time
    }

    /// Advances the session's cluster time (e.g. to one from another session, to read its
    /// writes). Lower times are ignored.
    pub fn advance_cluster_time(&mut self, to: &ClusterTime) {
        cluster_time::advance(&mut self.cluster_time, to);
    }

    /// Advances the session's operation time (e.g. to another session's
    /// [`operation_time`](Self::operation_time), to read its writes). Lower times are ignored.
    pub fn advance_operation_time(&mut self, ts: Timestamp) {
        if self
            .operation_time
            .map_or(true, |t| cluster_time::ts_key(t) < cluster_time::ts_key(ts))
        {
            self.operation_time = Some(ts);
        }
    }

    fn causal(&self) -> bool {
        !self.implicit && self.options.causal_consistency != Some(false)
    }

    /// True when the session was started by `client` (or a clone of it).
    pub(crate) fn belongs_to(&self, client: &Client) -> bool {
        self.client.is_same(client)
    }

    /// The next `txnNumber` (retryable writes): incremented once per write, kept for its retry.
    pub(crate) fn next_txn_number(&mut self) -> Option<i64> {
        let s = self.server_session.as_mut()?;
        s.txn_number += 1;
        Some(s.txn_number)
    }

    /// A network error on a command of this session: its server session is not reused.
    pub(crate) fn mark_dirty(&mut self) {
        if let Some(s) = &mut self.server_session {
            s.dirty = true;
        }
    }

    /// Records the times a reply carried.
    pub(crate) fn observe(&mut self, cluster: Option<&ClusterTime>, op_time: Option<Timestamp>) {
        if let Some(c) = cluster {
            self.advance_cluster_time(c);
        }
        if let Some(t) = op_time {
            self.advance_operation_time(t);
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }
}

impl Drop for ClientSession {
    fn drop(&mut self) {
        if let Some(s) = self.server_session.take() {
            self.client
                .sessions()
                .check_in(s, self.timeout, tokio::time::Instant::now());
        }
    }
}

/// What [`stamp`] adds to a command.
pub(crate) struct Stamp<'a> {
    pub(crate) session: Option<&'a ClientSession>,
    pub(crate) txn_number: Option<i64>,
    /// The client's highest cluster time.
    pub(crate) client_time: Option<ClusterTime>,
    /// The command reads (takes `readConcern`).
    pub(crate) is_read: bool,
}

/// Adds `lsid`, `txnNumber` and, for a read in a causally consistent session,
/// `readConcern.afterClusterTime`; returns the `$clusterTime` to send (the higher of the
/// client's and the session's), which the connection appends as the bytes the server signed.
pub(crate) fn stamp(cmd: &mut Document, s: Stamp<'_>) -> Option<ClusterTime> {
    if let Some(session) = s.session {
        cmd.insert("lsid", session.id().clone());
        if let Some(n) = s.txn_number {
            cmd.insert("txnNumber", n);
        }
        if s.is_read && session.causal() {
            if let Some(t) = session.operation_time {
                let mut rc = cmd.get_document("readConcern").cloned().unwrap_or_default();
                rc.insert("afterClusterTime", t);
                cmd.insert("readConcern", rc);
            }
        }
    }
    let mut time = s.client_time;
    if let Some(c) = s.session.and_then(|s| s.cluster_time.as_ref()) {
        cluster_time::advance(&mut time, c);
    }
    time
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{ClientOptions, ServerAddress};
    use bson::doc;

    fn client() -> Client {
        let options = ClientOptions::builder()
            .hosts(vec![ServerAddress::Tcp {
                host: "localhost".into(),
                port: Some(1),
            }])
            .build();
        Client::with_options(options).unwrap()
    }

    fn time(t: u32) -> ClusterTime {
        ClusterTime::from_document(
            doc! { "clusterTime": Timestamp { time: t, increment: 1 }, "signature": {} },
        )
        .unwrap()
    }

    fn stamped(
        session: Option<&ClientSession>,
        txn: Option<i64>,
        client_time: Option<ClusterTime>,
        is_read: bool,
    ) -> Document {
        let mut cmd = doc! { "find": "c", "readConcern": { "level": "majority" } };
        let time = stamp(
            &mut cmd,
            Stamp {
                session,
                txn_number: txn,
                client_time,
                is_read,
            },
        );
        if let Some(t) = time {
            cmd.insert("$clusterTime", t.as_document().clone());
        }
        cmd
    }

    #[test]
    fn a_command_gets_lsid_txn_number_and_the_highest_cluster_time() {
        let c = client();
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), true, None);
        assert_eq!(s.next_txn_number(), Some(1));
        s.advance_cluster_time(&time(9));
        let cmd = stamped(Some(&s), Some(1), Some(time(5)), false);
        assert_eq!(cmd.get_document("lsid").unwrap(), s.id());
        assert_eq!(cmd.get_i64("txnNumber"), Ok(1));
        // The session's time is higher than the client's: it wins.
        assert_eq!(
            cmd.get_document("$clusterTime").unwrap(),
            time(9).as_document()
        );
        let cmd = stamped(None, None, Some(time(5)), true);
        assert!(!cmd.contains_key("lsid"));
        assert_eq!(
            cmd.get_document("$clusterTime").unwrap(),
            time(5).as_document()
        );
        // Nothing seen yet: no $clusterTime at all.
        assert!(!stamped(None, None, None, true).contains_key("$clusterTime"));
    }

    #[test]
    fn causal_reads_wait_for_the_operation_time() {
        let c = client();
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        // No operation yet: nothing to wait for.
        assert!(!stamped(Some(&s), None, None, true)
            .get_document("readConcern")
            .unwrap()
            .contains_key("afterClusterTime"));
        let t = Timestamp {
            time: 7,
            increment: 2,
        };
        s.observe(None, Some(t));
        s.advance_operation_time(Timestamp {
            time: 6,
            increment: 9,
        });
        assert_eq!(s.operation_time(), Some(t), "lower times are ignored");
        let cmd = stamped(Some(&s), None, None, true);
        assert_eq!(
            cmd.get_document("readConcern").unwrap(),
            &doc! { "level": "majority", "afterClusterTime": t }
        );
        // Not on writes, not without causal consistency, not in implicit sessions.
        assert!(!stamped(Some(&s), None, None, false)
            .get_document("readConcern")
            .unwrap()
            .contains_key("afterClusterTime"));
        let mut off = ClientSession::new(
            c.clone(),
            SessionOptions::builder().causal_consistency(false).build(),
            false,
            None,
        );
        off.observe(None, Some(t));
        assert!(!stamped(Some(&off), None, None, true)
            .get_document("readConcern")
            .unwrap()
            .contains_key("afterClusterTime"));
        let mut implicit = ClientSession::new(c, SessionOptions::default(), true, None);
        implicit.observe(None, Some(t));
        assert!(!stamped(Some(&implicit), None, None, true)
            .get_document("readConcern")
            .unwrap()
            .contains_key("afterClusterTime"));
    }

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn sessions_and_cursors_can_move_between_tasks() {
        assert_send_sync::<ClientSession>();
        // Like before sessions: cursors are Send (a getMore future in flight is not Sync).
        assert_send::<crate::SessionCursor<Document>>();
        assert_send::<crate::Cursor<Document>>();
    }

    #[test]
    fn a_dropped_session_goes_back_to_the_pool_unless_dirty() {
        let c = client();
        let s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        let id = s.id().clone();
        drop(s);
        assert_eq!(c.sessions().len(), 1);
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        assert_eq!(s.id(), &id, "reused");
        s.mark_dirty();
        drop(s);
        assert_eq!(c.sessions().len(), 0);
    }
}
