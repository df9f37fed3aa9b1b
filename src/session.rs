//! Sessions (Driver Sessions, Causal Consistency, Snapshot Reads and Transactions
//! specifications): the server-session pool, cluster-time gossip, the retry decision, the
//! transaction state machine ([`transaction`]), and [`ClientSession`].
//!
//! The executor is the only user of the internals: it takes an implicit session from the pool
//! for each acknowledged operation when the deployment supports sessions, and calls
//! [`stamp`] to add `lsid`, `txnNumber`, `$clusterTime` and `afterClusterTime` (and a
//! transaction's or a snapshot session's fields) to a command.

pub(crate) mod cluster_time;
mod detached;
pub(crate) mod pool;
pub(crate) mod transaction;

use std::time::Duration;

use bson::raw::RawBsonRef;
use bson::{Document, RawDocument, Timestamp};

pub(crate) use cluster_time::ClusterClock;
pub use cluster_time::ClusterTime;
pub(crate) use detached::DetachedSession;
pub(crate) use pool::{ServerSession, ServerSessionPool};
pub use transaction::TransactionState;
pub(crate) use transaction::{Pin, Transaction};

use crate::options::SessionOptions;
use crate::Client;

/// A logical session: operations given it with `.session(&mut s)` share its server session
/// (`lsid`) and, by default, are causally consistent: a read sees the session's earlier
/// writes even on a secondary.
///
/// A session runs multi-document transactions: see
/// [`start_transaction`](Self::start_transaction). Dropping the session returns its server
/// session to the client's pool (aborting a transaction still in progress, in the background),
/// unless one of its commands failed on the network, timed out or was cancelled in flight (an
/// operation future dropped): the server may still hold state for that `lsid`, so it is
/// discarded. A session belongs to the client that started it and is used by one task at a
/// time (`&mut`).
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
    pub(crate) transaction: Transaction,
    /// A snapshot session's read time: from its options, else its first read's reply.
    snapshot_time: Option<Timestamp>,
    /// The `timeoutMS` deadline of the convenient transaction running in the session (CSOT
    /// specification, "Convenient Transactions API"): the callback's operations run under it.
    pub(crate) convenient_deadline: Option<crate::csot::Deadline>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("id", &self.id())
            .field("cluster_time", &self.cluster_time)
            .field("operation_time", &self.operation_time)
            .field("options", &self.options)
            .field("transaction", &self.transaction.state())
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
        let snapshot_time = options
            .snapshot_time
            .filter(|_| options.snapshot == Some(true));
        Self {
            client,
            server_session: Some(server_session),
            cluster_time: None,
            operation_time: None,
            options,
            implicit,
            timeout,
            transaction: Transaction::default(),
            snapshot_time,
            convenient_deadline: None,
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
            .is_none_or(|t| cluster_time::ts_key(t) < cluster_time::ts_key(ts))
        {
            self.operation_time = Some(ts);
        }
    }

    /// Where the session's transaction stands.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::TransactionState;
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// assert_eq!(session.transaction_state(), TransactionState::Starting);
    /// # Ok(()) }
    /// ```
    pub fn transaction_state(&self) -> TransactionState {
        self.transaction.state()
    }

    /// True while the session's transaction is pinned: to the mongos that ran its first command
    /// (sharded cluster), or to the connection (load-balanced mode). It stays pinned after a
    /// commit, which may be retried, until the next transaction or operation.
    pub fn is_pinned(&self) -> bool {
        self.transaction.pin().is_some()
    }

    /// A snapshot session's read time ([`SessionOptions::snapshot`]): the one it was started
    /// with, else the one of its first read, once that has run. `None` for other sessions.
    pub fn snapshot_time(&self) -> Option<Timestamp> {
        self.snapshot_time
    }

    pub(crate) fn is_snapshot(&self) -> bool {
        self.options.snapshot == Some(true)
    }

    /// Causally consistent: an explicit session, unless turned off or a snapshot session.
    fn causal(&self) -> bool {
        !self.implicit && !self.is_snapshot() && self.options.causal_consistency != Some(false)
    }

    /// The current `txnNumber` (the transaction's, once one started).
    pub(crate) fn txn_number(&self) -> Option<i64> {
        self.server_session.as_ref().map(|s| s.txn_number)
    }

    /// Records the snapshot time of a snapshot session's first read: `cursor.atClusterTime`
    /// (find, aggregate) or `atClusterTime` (distinct).
    pub(crate) fn observe_snapshot_time(&mut self, reply: &RawDocument) {
        if !self.is_snapshot() || self.snapshot_time.is_some() {
            return;
        }
        let ts = |d: &RawDocument| match d.get("atClusterTime").ok().flatten() {
            Some(RawBsonRef::Timestamp(t)) => Some(t),
            _ => None,
        };
        let in_cursor = match reply.get("cursor").ok().flatten() {
            Some(RawBsonRef::Document(c)) => ts(c),
            _ => None,
        };
        self.snapshot_time = in_cursor.or_else(|| ts(reply));
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

    /// A command of this session is about to be written. Until [`command_ended`] the session
    /// counts as dirty: if the operation is cancelled meanwhile (its future dropped), the server
    /// session is discarded, not reused (Driver Sessions specification: a session involved in a
    /// network error, and an interrupted command is one, is never reused). A command left in
    /// flight by an earlier cancelled operation makes it dirty for good.
    ///
    /// [`command_ended`]: Self::command_ended
    pub(crate) fn command_started(&mut self) {
        if let Some(s) = &mut self.server_session {
            if s.in_flight {
                s.dirty = true;
            }
            s.in_flight = true;
        }
    }

    /// The command's reply was read, or it failed; `broken`: it failed on the network (an I/O
    /// error, a timeout of any kind, a malformed reply), which makes the session dirty for good.
    pub(crate) fn command_ended(&mut self, broken: bool) {
        if let Some(s) = &mut self.server_session {
            s.in_flight = false;
            s.dirty |= broken;
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

    /// True when the server session will not be reused once this session ends: one of its
    /// commands failed on the network, timed out or was cancelled in flight (Driver Sessions
    /// specification, "dirty" sessions). A command in flight counts until its reply is read.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// let session = client.start_session().await?;
    /// assert!(!session.is_dirty());
    /// # Ok(()) }
    /// ```
    pub fn is_dirty(&self) -> bool {
        self.server_session
            .as_ref()
            .is_some_and(|s| s.dirty || s.in_flight)
    }
}

/// Whether commands to `server` may carry an `lsid` (Driver Sessions specification: the server
/// reports `logicalSessionTimeoutMinutes`; Load Balancer specification: always in load-balanced
/// mode). A standalone `mongod` supports sessions, though not retryable writes
/// ([`crate::client::retry::supports_retryable_writes`]).
pub(crate) fn supports_sessions(
    server: &crate::sdam::ServerDescription,
    load_balanced: bool,
) -> bool {
    load_balanced || server.logical_session_timeout.is_some()
}

impl Drop for ClientSession {
    fn drop(&mut self) {
        // A transaction in progress holds locks on the server until it times out: abort it
        // (best effort, errors ignored as the Transactions specification says).
        if self.server_session.is_some() && self.transaction.state() == TransactionState::InProgress
        {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let copy = DetachedSession::of(self);
                runtime.spawn(crate::action::abort_in_background(copy));
            }
        }
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
    /// A retryable write's `txnNumber` (not in a transaction, whose number the session has).
    pub(crate) txn_number: Option<i64>,
    /// The client's highest cluster time.
    pub(crate) client_time: Option<ClusterTime>,
    /// The command reads (takes `readConcern`).
    pub(crate) is_read: bool,
    /// `commitTransaction` or `abortTransaction`.
    pub(crate) ends_transaction: bool,
}

/// Adds `lsid`; in a transaction its fields ([`Transaction::fields`]); otherwise the retryable
/// write's `txnNumber`, and for a read in a causally consistent session
/// `readConcern.afterClusterTime`, or in a snapshot session (every command) `readConcern`
/// `snapshot` with the session's `atClusterTime`. Returns the `$clusterTime` to send (the
/// higher of the client's and the session's), which the connection appends as the bytes the
/// server signed.
pub(crate) fn stamp(cmd: &mut Document, s: Stamp<'_>) -> Option<ClusterTime> {
    if let Some(session) = s.session {
        cmd.insert("lsid", session.id().clone());
        let after = session.operation_time.filter(|_| session.causal());
        let in_transaction = session
            .txn_number()
            .and_then(|n| session.transaction.fields(n, s.ends_transaction, after));
        if let Some(fields) = in_transaction {
            fields.stamp(cmd);
        } else {
            if let Some(n) = s.txn_number {
                cmd.insert("txnNumber", n);
            }
            if session.is_snapshot() {
                let mut rc = bson::doc! { "level": "snapshot" };
                if let Some(t) = session.snapshot_time {
                    rc.insert("atClusterTime", t);
                }
                cmd.insert("readConcern", rc);
            } else if s.is_read || writes_after_cluster_time(cmd) {
                if let Some(t) = after {
                    let mut rc = cmd.get_document("readConcern").cloned().unwrap_or_default();
                    rc.insert("afterClusterTime", t);
                    cmd.insert("readConcern", rc);
                }
            }
        }
    }
    let mut time = s.client_time;
    if let Some(c) = s.session.and_then(|s| s.cluster_time.as_ref()) {
        cluster_time::advance(&mut time, c);
    }
    time
}

/// The writes that wait for the session's `operationTime` in a causally consistent session
/// (as reads do), so that a write after a committed transaction, or after a read, sees it.
fn writes_after_cluster_time(cmd: &Document) -> bool {
    matches!(
        cmd.keys().next().map(String::as_str),
        Some(
            "insert"
                | "update"
                | "delete"
                | "findAndModify"
                | "bulkWrite"
                | "create"
                | "createIndexes"
                | "drop"
                | "dropDatabase"
                | "dropIndexes"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{cluster_time as time, offline_client as client};
    use crate::options::ServerAddress;
    use bson::doc;

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
                ends_transaction: false,
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

    fn stamped_cmd(
        session: &ClientSession,
        cmd: Document,
        retryable: Option<i64>,
        ends: bool,
    ) -> Document {
        let mut cmd = cmd;
        let is_read = cmd.contains_key("find");
        stamp(
            &mut cmd,
            Stamp {
                session: Some(session),
                txn_number: retryable,
                client_time: None,
                is_read,
                ends_transaction: ends,
            },
        );
        cmd
    }

    #[test]
    fn transaction_commands_share_a_number_and_only_the_first_starts_it() {
        use crate::options::{ReadConcern, TransactionOptions};
        let c = client();
        let mut s = ClientSession::new(c, SessionOptions::default(), false, None);
        let t = Timestamp {
            time: 42,
            increment: 1,
        };
        s.observe(None, Some(t));
        assert_eq!(s.next_txn_number(), Some(1), "a retryable write before");
        s.transaction
            .start(
                TransactionOptions::builder()
                    .read_concern(ReadConcern::snapshot())
                    .build(),
            )
            .unwrap();
        assert_eq!(s.next_txn_number(), Some(2));
        // The first command, a write: the transaction's read concern and, the session being
        // causally consistent, afterClusterTime. A retryable write's number is not used.
        let first = stamped_cmd(&s, doc! { "insert": "c" }, Some(99), false);
        assert_eq!(
            first,
            doc! {
                "insert": "c",
                "lsid": s.id().clone(),
                "txnNumber": 2_i64,
                "startTransaction": true,
                "autocommit": false,
                "readConcern": { "level": "snapshot", "afterClusterTime": t },
            }
        );
        s.transaction.first_command_sent();
        let read = stamped_cmd(&s, doc! { "find": "c" }, None, false);
        assert_eq!(
            read,
            doc! { "find": "c", "lsid": s.id().clone(), "txnNumber": 2_i64, "autocommit": false }
        );
        s.transaction.commit().unwrap();
        let commit = stamped_cmd(&s, doc! { "commitTransaction": 1 }, Some(2), true);
        assert_eq!(
            commit,
            doc! {
                "commitTransaction": 1,
                "lsid": s.id().clone(),
                "txnNumber": 2_i64,
                "autocommit": false,
            }
        );
        // After the commit, an operation runs outside the transaction again.
        s.transaction.before_operation();
        let after = stamped_cmd(&s, doc! { "find": "c" }, None, false);
        assert_eq!(
            after,
            doc! { "find": "c", "lsid": s.id().clone(), "readConcern": { "afterClusterTime": t } }
        );
    }

    #[test]
    fn snapshot_sessions_read_at_the_first_reads_time_on_every_command() {
        use crate::operation::test_util::raw;
        let c = client();
        let options = SessionOptions::builder().snapshot(true).build();
        let mut s = ClientSession::new(c.clone(), options, false, None);
        assert!(!s.causal(), "snapshot sessions are not causally consistent");
        s.observe(
            None,
            Some(Timestamp {
                time: 1,
                increment: 1,
            }),
        );
        let first = stamped_cmd(&s, doc! { "find": "c" }, None, false);
        assert_eq!(
            first.get_document("readConcern").unwrap(),
            &doc! { "level": "snapshot" }
        );
        let at = Timestamp {
            time: 50,
            increment: 3,
        };
        s.observe_snapshot_time(&raw(
            &doc! { "ok": 1, "cursor": { "id": 0_i64, "atClusterTime": at } },
        ));
        assert_eq!(s.snapshot_time(), Some(at));
        // Kept: a later reply's time does not replace it.
        s.observe_snapshot_time(&raw(
            &doc! { "ok": 1, "atClusterTime": Timestamp { time: 99, increment: 1 } },
        ));
        assert_eq!(s.snapshot_time(), Some(at));
        // Every command, writes included (the server refuses those).
        for cmd in [doc! { "find": "c" }, doc! { "insert": "c" }] {
            let cmd = stamped_cmd(&s, cmd, None, false);
            assert_eq!(
                cmd.get_document("readConcern").unwrap(),
                &doc! { "level": "snapshot", "atClusterTime": at }
            );
        }
        // distinct's top-level atClusterTime; a time given in the options.
        let mut d = ClientSession::new(
            c.clone(),
            SessionOptions::builder().snapshot(true).build(),
            false,
            None,
        );
        d.observe_snapshot_time(&raw(&doc! { "ok": 1, "values": [], "atClusterTime": at }));
        assert_eq!(d.snapshot_time(), Some(at));
        let given = SessionOptions::builder()
            .snapshot(true)
            .snapshot_time(at)
            .build();
        assert_eq!(
            ClientSession::new(c.clone(), given, false, None).snapshot_time(),
            Some(at)
        );
        // Not a snapshot session: nothing recorded, no snapshot read concern.
        let mut plain = ClientSession::new(c, SessionOptions::default(), false, None);
        plain.observe_snapshot_time(&raw(&doc! { "ok": 1, "atClusterTime": at }));
        assert_eq!(plain.snapshot_time(), None);
        assert!(
            !stamped_cmd(&plain, doc! { "insert": "c" }, None, false).contains_key("readConcern")
        );
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
        s.command_started();
        s.command_ended(true);
        drop(s);
        assert_eq!(c.sessions().len(), 0);
    }

    #[test]
    fn a_session_dropped_with_a_command_in_flight_is_not_reused() {
        let c = client();
        // Cancelled mid-command: started, never ended.
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), true, None);
        s.command_started();
        assert!(s.is_dirty());
        drop(s);
        assert_eq!(c.sessions().len(), 0);

        // A command that ended well leaves it clean; one that broke leaves it dirty for good.
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), true, None);
        s.command_started();
        s.command_ended(false);
        assert!(!s.is_dirty());
        s.command_started();
        s.command_ended(true);
        s.command_started();
        s.command_ended(false);
        assert!(s.is_dirty(), "dirty for the rest of its life");
        drop(s);
        assert_eq!(c.sessions().len(), 0);

        // An explicit session whose operation was cancelled, then used again successfully.
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        s.command_started();
        s.command_started();
        s.command_ended(false);
        assert!(s.is_dirty());
        drop(s);
        assert_eq!(c.sessions().len(), 0);

        let s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        drop(s);
        assert_eq!(c.sessions().len(), 1, "a clean session goes back");
    }

    #[test]
    fn sessions_need_logical_session_timeout_except_behind_a_load_balancer() {
        use crate::sdam::{ServerDescription, ServerType};
        let mut d = ServerDescription::unknown(ServerAddress::Tcp {
            host: "a".into(),
            port: Some(1),
        });
        d.server_type = ServerType::Standalone;
        assert!(!supports_sessions(&d, false));
        assert!(supports_sessions(&d, true));
        d.logical_session_timeout = Some(Duration::from_secs(1800));
        assert!(
            supports_sessions(&d, false),
            "a standalone supports sessions"
        );
    }
}
