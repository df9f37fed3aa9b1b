//! The one executor: every operation is selected, built, sent, read and retried here.
//!
//! Touch points with the topology (kept to these so the topology can change underneath):
//! [`Client::select`] / [`Client::connection_to`] to check out a connection,
//! [`stream_description`] for the server's limits, and on the handle `apply_read_preference`
//! and `command_with_sequences` (which reports errors to the topology by itself).
//!
//! Sessions: each acknowledged operation on a deployment that supports sessions runs in a
//! session: the caller's explicit one, or an implicit one from the client's pool.
//! [`session::stamp`] adds `lsid`, `txnNumber`, `$clusterTime` and `afterClusterTime`. A
//! `txnNumber` goes only to servers that take one ([`retry::supports_retryable_writes`]: not a
//! standalone), and a write is retried only where it can carry the same `txnNumber` again.
//!
//! Transactions: [`TxnRole`] says what the session's transaction makes of an operation (its
//! read preference, its pin to a mongos or a load-balanced connection, no retries inside it,
//! the labels of its errors); the decisions themselves are pure, in `session::transaction`.

use super::backpressure;
use super::retry::{self, Reached};
use super::{Client, ConnectionHandle};
use crate::csot::{self, Deadline};
use crate::cursor::KILL_CURSORS_TIMEOUT;
use crate::error::{Error, ErrorKind, Result};
use crate::event::command::next_operation_id;
use crate::operation::RunCommand;
use crate::operation::{Operation, OperationOutput, Retryability, Selection, StreamDescription};
use crate::options::ServerAddress;
use crate::options::SessionOptions;
use crate::pool::PinnedTo;
use crate::sdam::{SelectionCriteria, ServerType};
use crate::session::transaction::{self, PinnedConnection};
use crate::session::{self, ClientSession, Pin};

/// The limits of the server a connection is to, from its handshake: the only place operations
/// get them.
pub(crate) fn stream_description(conn: &ConnectionHandle) -> StreamDescription {
    let limits = conn.description().size_limits();
    StreamDescription {
        address: conn.address().clone(),
        max_bson_object_size: limits.max_bson_object_size,
        max_write_batch_size: limits.max_write_batch_size,
        max_message_size: limits.max_message_size,
        max_wire_version: conn.description().max_wire_version,
    }
}

/// How many retries an operation may make: under `timeoutMS`, as many as the deadline allows
/// (CSOT specification, "Retryability": an expired deadline makes the attempt's error a
/// timeout, which is not retried); else one, or after an overload error the backpressure
/// limit (which also holds under `timeoutMS`).
fn retry_limit(overloaded: bool, max_adaptive: u32, deadline: Option<&Deadline>) -> u32 {
    match deadline {
        Some(_) if !overloaded => u32::MAX,
        _ => backpressure::retry_limit(overloaded, max_adaptive),
    }
}

/// How an operation runs besides the operation itself.
#[derive(Default)]
pub(crate) struct Run<'a> {
    /// The caller's explicit session.
    pub(crate) session: Option<&'a mut ClientSession>,
    /// The connection a load-balanced cursor is pinned to: used instead of selecting.
    pub(crate) pinned: Option<&'a mut ConnectionHandle>,
    /// Hand the connection back (a cursor that may pin it).
    pub(crate) keep_connection: bool,
    /// Keep the implicit session (a cursor's getMores must use the same `lsid`).
    pub(crate) keep_session: bool,
    /// A `timeoutMS` deadline shared with other operations (the batches of an `insert_many`);
    /// `None`: the operation starts its own when `timeoutMS` is set.
    pub(crate) deadline: Option<Deadline>,
    /// The user operation this is part of (the batches of an `insert_many` or a bulk write
    /// share one), named in command events; `None`: a new one.
    pub(crate) operation_id: Option<i64>,
}

/// What an operation left behind for a cursor: its implicit session and connection.
#[derive(Default)]
pub(crate) struct Leftovers {
    pub(crate) session: Option<ClientSession>,
    pub(crate) connection: Option<ConnectionHandle>,
    /// Load-balanced mode: the connection of the transaction the cursor was opened in, which
    /// the cursor shares (its `killCursors` goes there too).
    pub(crate) txn_connection: Option<PinnedConnection>,
}

impl Client {
    /// Runs an operation in an implicit session (when the deployment supports them).
    pub(crate) async fn execute<Op: Operation>(&self, op: Op) -> Result<Op::Output> {
        self.run(op, Run::default()).await.0
    }

    /// Runs an operation in `session` (or an implicit one), under `deadline` (an action's
    /// `timeoutMS`), else the client's `timeoutMS`.
    pub(crate) async fn execute_in<Op: Operation>(
        &self,
        op: Op,
        session: Option<&mut ClientSession>,
        deadline: Option<Deadline>,
    ) -> Result<Op::Output> {
        let run = Run {
            session,
            deadline,
            ..Run::default()
        };
        self.run(op, run).await.0
    }

    /// Runs an operation: checks out a connection where the operation may run, builds the
    /// command against that server, adds the session fields, sends it and reads the reply. A
    /// retryable read or write that fails with a retryable error is tried once more, after
    /// selecting a server again (a write with the same `txnNumber`, never without it). Inside
    /// a transaction nothing is retried but its commit and abort, and the transaction's pin,
    /// read preference and labels apply ([`TxnRole`]).
    pub(crate) async fn run<Op: Operation>(
        &self,
        mut op: Op,
        mut run: Run<'_>,
    ) -> (Result<Op::Output>, Leftovers) {
        // The caller's deadline (the operation's or its handle's timeoutMS), else the client's.
        let deadline = run
            .deadline
            .take()
            .or_else(|| Deadline::start(self.options().timeout));
        let deadline = deadline.as_ref();
        let operation_id = run.operation_id.unwrap_or_else(next_operation_id);
        let load_balanced = self.is_load_balanced();
        let retry_writes = self.options().retry_writes != Some(false);
        let max_adaptive_retries = self
            .options()
            .max_adaptive_retries
            .unwrap_or(backpressure::DEFAULT_MAX_ADAPTIVE_RETRIES);
        let role = TxnRole::of(&op, run.session.as_deref_mut());
        let mut implicit: Option<ClientSession> = None;
        // Once a retry is under way, the error to return if the next attempt writes nothing
        // ([`retry::kept_error`]).
        let mut first_error: Option<Error> = None;
        // Retries made, and whether an attempt was shed for overload (more retries, backoff).
        let mut retries: u32 = 0;
        let mut overloaded = false;
        let mut txn_number: Option<i64> = None;
        let mut deprioritized: Vec<ServerAddress> = Vec::new();
        loop {
            let mut owned = None;
            let pinned = run.pinned.is_some();
            let selection = match role.selection(&op, run.session.as_deref()) {
                Ok(s) => s,
                Err(e) => return (Err(e), Leftovers::default()),
            };
            // A load-balanced transaction's connection, shared with the session's copies and its
            // cursors. Held elsewhere only by the background `killCursors` of a dropped cursor
            // (bounded by KILL_CURSORS_TIMEOUT), or by a cursor's getMore left in flight by a
            // dropped `next` (the session is `&mut`), which nothing polls: the wait is bounded.
            let mut txn_conn = match role.pinned_connection(run.session.as_deref()) {
                Some(c) if !pinned => match c.clone().try_lock_owned() {
                    Ok(guard) => Some(guard),
                    Err(_) => {
                        match tokio::time::timeout(KILL_CURSORS_TIMEOUT, c.lock_owned()).await {
                            Ok(guard) => Some(guard),
                            Err(_) => {
                                return (Err(transaction::connection_busy()), Leftovers::default())
                            }
                        }
                    }
                },
                _ => None,
            };
            if !pinned && txn_conn.is_none() {
                match self
                    .check_out::<Op>(&selection, &deprioritized, deadline)
                    .await
                {
                    Ok(conn) => owned = Some(conn),
                    Err(e) => {
                        let mut e = retry::final_error(first_error, e, Reached::Client);
                        role.on_error(run.session.as_deref_mut(), &mut e, 0);
                        return (op.handle_error(e), Leftovers::default());
                    }
                }
            }
            let Some(conn) = run
                .pinned
                .as_deref_mut()
                .or(txn_conn.as_deref_mut())
                .or(owned.as_mut())
            else {
                return (
                    Err(Error::internal("no connection to run the operation on")),
                    Leftovers::default(),
                );
            };
            let takes_txn_number =
                retry::supports_retryable_writes(conn.description(), load_balanced);
            let mut session =
                match self.session_for(&op, conn, run.session.as_deref_mut(), &mut implicit) {
                    Ok(s) => s,
                    Err(e) => {
                        let e = retry::final_error(first_error, e, Reached::Client);
                        return (op.handle_error(e), Leftovers::default());
                    }
                };
            // A write retried without its txnNumber (a server without retryable writes) would
            // be applied as a new write, an `$inc` twice: the first error stands.
            let cannot_retry = txn_number.is_some() && !(takes_txn_number && session.is_some());
            match first_error {
                Some(first) if cannot_retry => {
                    tracing::debug!(
                        operation = Op::NAME,
                        server = %conn.address(),
                        "not retrying: the server selected for the retry does not support \
                         retryable writes"
                    );
                    return (op.handle_error(first), Leftovers::default());
                }
                Some(_) => {}
                // Commit and abort: retried with the transaction's number.
                None if role == TxnRole::Ends => {
                    txn_number = session.as_deref().and_then(ClientSession::txn_number);
                }
                None => {
                    if op.retryability() == Retryability::Write
                        && retry_writes
                        && takes_txn_number
                        && role == TxnRole::None
                    {
                        txn_number = session
                            .as_deref_mut()
                            .and_then(ClientSession::next_txn_number);
                    }
                }
            }
            let sent = self
                .attempt(
                    &mut op,
                    &selection,
                    conn,
                    session.as_deref_mut(),
                    txn_number,
                    deadline,
                    role,
                    operation_id,
                )
                .await;
            let reached = sent.as_ref().err().map_or(Reached::Server, |(_, r)| *r);
            // Whether this attempt was the transaction's first command: one shed for overload
            // started nothing, and its retry starts the transaction again.
            let starting = session
                .as_deref()
                .is_some_and(|s| s.transaction.is_starting());
            let pin = match session.as_deref_mut() {
                Some(s) if reached == Reached::Server => role.first_command_sent(s, conn),
                _ => None,
            };
            if let Err((e, reached)) = sent {
                let max_wire_version = conn.description().max_wire_version;
                let attempt = retry::Attempt {
                    retry_reads: self.options().retry_reads != Some(false),
                    // Commit and abort are retried whatever retryWrites says.
                    retry_writes: retry_writes || role == TxnRole::Ends,
                    had_txn_number: txn_number.is_some(),
                    max_wire_version,
                };
                // A pinned connection cannot be swapped for another, nor can an operation
                // inside a transaction be retried, unless the server shed it for overload and
                // says it is safe to send again (Client Backpressure specification).
                let shed = backpressure::is_overload_retryable(&e);
                overloaded |= e.contains_label(backpressure::SYSTEM_OVERLOADED_ERROR);
                let retryable = !pinned
                    && (shed
                        || role != TxnRole::Inside
                            && retry::should_retry(&e, op.retryability(), &attempt));
                let limit = retry_limit(overloaded, max_adaptive_retries, deadline);
                if retryable && retries < limit {
                    // After an overload error, a backoff first (only after one: Client
                    // Backpressure spec); none that outlasts timeoutMS.
                    let wait = if e.contains_label(backpressure::SYSTEM_OVERLOADED_ERROR) {
                        backpressure::backoff(retries + 1, backpressure::jitter())
                    } else {
                        std::time::Duration::ZERO
                    };
                    // (timeoutMS=0: no limit.)
                    let in_time = deadline.is_none_or(|d| {
                        d.remaining(tokio::time::Instant::now())
                            .is_none_or(|left| left > wait)
                    });
                    if in_time {
                        retries += 1;
                        tracing::debug!(
                            operation = Op::NAME,
                            error = %e,
                            retry = retries,
                            backoff_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        if let Some(s) = session {
                            // The retry of a commit or abort selects a server afresh.
                            s.transaction.unpin();
                            if shed && starting {
                                s.transaction.restart();
                            }
                        }
                        if shed {
                            op.before_overload_retry();
                        }
                        deprioritized.push(conn.address().clone());
                        first_error = Some(retry::kept_error(first_error, e, reached));
                        drop(owned);
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        continue;
                    }
                }
                if let (Some(s), Some(pin)) = (session.as_deref_mut(), pin) {
                    pin.apply(s, &mut owned);
                }
                let e = if txn_number.is_some() {
                    retry::explain_refused_txn_number(e)
                } else {
                    e
                };
                let mut e = retry::final_error(first_error, e, reached);
                role.on_error(session, &mut e, max_wire_version);
                return (op.handle_error(e), Leftovers::default());
            }
            // A retryable write answered `ok: 1` with a writeConcernError that the server
            // labelled RetryableWriteError is retried as an error would be (Retryable Writes
            // specification); the retry's answer is read as usual.
            if (retries == 0 || deadline.is_some())
                && !pinned
                && role == TxnRole::None
                && txn_number.is_some()
            {
                if let Some(e) = transaction::write_concern_error(conn.reply())
                    .filter(|e| e.contains_label(retry::RETRYABLE_WRITE_ERROR))
                {
                    tracing::debug!(operation = Op::NAME, error = %e, "retrying");
                    retries += 1;
                    deprioritized.push(conn.address().clone());
                    first_error = Some(e);
                    continue;
                }
            }
            // A reply that does not parse is the server's answer, not a network failure: not
            // retried. It is read where the connection received it; the labels of an `ok: 1`
            // reply (a write concern error's) go with the error made of it.
            let out = op
                .handle_response(conn.reply(), conn.address())
                .map_err(|e| retry::with_reply_labels(e, conn.reply()))
                // A write concern error `MaxTimeMSExpired` under timeoutMS is its timeout.
                .map_err(|e| csot::on_error(deadline, e))
                .or_else(|e| op.handle_error(e));
            if let (Some(s), Some(pin)) = (session, pin) {
                pin.apply(s, &mut owned);
            }
            let mut connection = owned.filter(|_| run.keep_connection);
            if let Some(c) = connection.as_mut() {
                c.pin_to(PinnedTo::Cursor);
            }
            let leftovers = Leftovers {
                session: implicit.filter(|_| run.keep_session),
                connection,
                txn_connection: run
                    .keep_connection
                    .then(|| role.pinned_connection(run.session.as_deref()))
                    .flatten(),
            };
            return (out, leftovers);
        }
    }

    /// The session an attempt runs in: the explicit one (an error if the deployment does not
    /// support sessions or the write is unacknowledged), or an implicit one when the
    /// deployment supports sessions and the operation is acknowledged.
    fn session_for<'s, Op: Operation>(
        &self,
        op: &Op,
        conn: &ConnectionHandle,
        explicit: Option<&'s mut ClientSession>,
        implicit: &'s mut Option<ClientSession>,
    ) -> Result<Option<&'s mut ClientSession>> {
        let load_balanced = self.is_load_balanced();
        let supported = session::supports_sessions(conn.description(), load_balanced);
        // Load-balanced mode ignores logicalSessionTimeoutMinutes: sessions are not pruned.
        let timeout = conn
            .description()
            .logical_session_timeout
            .filter(|_| !load_balanced);
        if let Some(s) = explicit {
            if !s.belongs_to(self) {
                return Err(Error::invalid_argument(
                    "the session was started by another client; start one with this client's \
                     start_session()",
                ));
            }
            if !supported {
                return Err(Error::new(ErrorKind::NotSupported {
                    message: format!(
                        "{} does not support sessions (its hello has no \
                         logicalSessionTimeoutMinutes); run the operation without .session()",
                        conn.address()
                    ),
                }));
            }
            if s.transaction.is_active() && !op.is_acknowledged() {
                return Err(Error::new(ErrorKind::Transaction {
                    message: "Cannot set write concern after starting a transaction: an \
                              unacknowledged write cannot be part of a transaction; remove the \
                              operation's write concern"
                        .into(),
                }));
            }
            if s.is_snapshot() && conn.description().max_wire_version < SNAPSHOT_WIRE_VERSION {
                return Err(Error::new(ErrorKind::NotSupported {
                    message: format!(
                        "Snapshot reads require MongoDB 5.0 or later ({} is older); start the \
                         session without snapshot(true)",
                        conn.address()
                    ),
                }));
            }
            if !op.is_acknowledged() {
                return Err(Error::invalid_argument(
                    "an unacknowledged write (w: 0) cannot run in an explicit session; remove \
                     .session() or use an acknowledged write concern",
                ));
            }
            s.set_timeout(timeout);
            return Ok(Some(s));
        }
        if !supported || !op.takes_implicit_session() {
            return Ok(None);
        }
        if implicit.is_none() {
            *implicit = Some(ClientSession::new(
                self.clone(),
                SessionOptions::default(),
                true,
                timeout,
            ));
        }
        Ok(implicit.as_mut())
    }

    /// Advances the client's and the session's clocks from the reply `conn` last read: its
    /// `$clusterTime` (copied out only when it moves a clock) and `operationTime`.
    fn observe_times(&self, conn: &ConnectionHandle, session: Option<&mut ClientSession>) {
        let (cluster, op_time) = session::cluster_time::times_of(conn.reply());
        let cluster = cluster
            .filter(|c| {
                c.is_newer(self.cluster_clock().get().as_ref())
                    || session
                        .as_ref()
                        .is_some_and(|s| c.is_newer(s.cluster_time()))
            })
            .and_then(|c| c.to_cluster_time());
        if let Some(c) = &cluster {
            self.cluster_clock().advance(c);
        }
        if let Some(s) = session {
            s.observe(cluster.as_ref(), op_time);
        }
    }

    /// One attempt: build, stamp, send, and gossip the reply's times. The reply stays in the
    /// connection ([`ConnectionHandle::reply`]). An error comes with how far the attempt got.
    ///
    /// While the command is in flight its session counts as dirty, so that a cancelled
    /// operation (its future dropped between writing and reading) never hands the server
    /// session to another operation; a network error or a timeout makes it dirty for good.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<Op: Operation>(
        &self,
        op: &mut Op,
        selection: &Selection,
        conn: &mut ConnectionHandle,
        mut session: Option<&mut ClientSession>,
        txn_number: Option<i64>,
        deadline: Option<&Deadline>,
        role: TxnRole,
        operation_id: i64,
    ) -> std::result::Result<(), (Error, Reached)> {
        let before_sending = |e: Error| (e, Reached::Client);
        let server = stream_description(conn);
        let mut cmd = op.build(&server).map_err(before_sending)?;
        // CRUD spec: the internal `rawData` option is never sent to servers before 8.2 (a
        // command the application wrote is sent as written).
        if server.max_wire_version < WIRE_VERSION_8_2 && Op::NAME != RunCommand::NAME {
            cmd.body.remove("rawData");
        }
        if role == TxnRole::Inside {
            transaction::check_command(&cmd.body, Op::NAME == RunCommand::NAME)
                .map_err(before_sending)?;
        }
        // Stable API: on every command (getMore and transaction commands too).
        if let Some(api) = &self.options().server_api {
            api.append_to(&mut cmd.body);
        }
        if let Selection::Criteria(criteria) = selection {
            conn.apply_read_preference(&mut cmd.body, criteria);
        }
        let cluster_time = session::stamp(
            &mut cmd.body,
            session::Stamp {
                session: session.as_deref(),
                txn_number,
                client_time: self.cluster_clock().get(),
                is_read: op.retryability() == Retryability::Read,
                ends_transaction: role == TxnRole::Ends,
            },
        );
        // timeoutMS: maxTimeMS from the time left; the deadline bounds the write and read.
        conn.apply_deadline(deadline, &mut cmd.body)
            .map_err(before_sending)?;
        if let Some(s) = session.as_deref_mut() {
            s.command_started();
        }
        let sent = conn
            .command_with_sequences(
                &cmd.db,
                cmd.body,
                &cmd.sequences,
                cluster_time.as_ref().map(|t| t.as_raw()),
                operation_id,
            )
            .await;
        if let Some(s) = session.as_deref_mut() {
            s.command_ended(sent.as_ref().is_err_and(breaks_session));
        }
        // An error reply moves the clocks too (Driver Sessions spec: the `operationTime` of
        // every reply, e.g. a failed abortTransaction's, which the next transaction waits for).
        if sent.as_ref().is_err_and(|e| e.server_response().is_some()) {
            self.observe_times(conn, session.as_deref_mut());
        }
        let sent = sent.map_err(|mut e| {
            if e.is_network_error() && txn_number.is_some() {
                e.add_label(retry::RETRYABLE_WRITE_ERROR);
            }
            // Only now may a timeout become timeoutMS's typed error.
            (csot::on_error(deadline, e), Reached::Server)
        })?;
        if !cmd.sequences.is_empty() {
            op.sequence_sent(sent);
        }
        self.observe_times(conn, session.as_deref_mut());
        if let Some(s) = session {
            s.observe_snapshot_time(conn.reply());
            if role != TxnRole::None {
                if let Some(token) = transaction::recovery_token(conn.reply()) {
                    s.transaction.observe_recovery_token(token);
                }
            }
        }
        // `ok: 1` with a writeConcernError: the commit or abort failed.
        if role == TxnRole::Ends {
            if let Some(e) = transaction::write_concern_error(conn.reply()) {
                return Err((e, Reached::Server));
            }
        }
        Ok(())
    }

    /// A connection for `Op`: selected by its criteria, or to its server. The selection is
    /// logged (under `Op`'s name) when someone listens; that path is boxed, so that the
    /// future of an operation nobody watches stays as small as it was.
    async fn check_out<Op: Operation>(
        &self,
        selection: &Selection,
        deprioritized: &[ServerAddress],
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        match selection {
            Selection::Criteria(criteria) if crate::topology::selection_logged() => {
                let topology = &self.inner.topology;
                Box::pin(topology.select_logged(criteria, deprioritized, deadline, Op::NAME)).await
            }
            Selection::Criteria(criteria) => {
                self.select_with(criteria, deprioritized, deadline).await
            }
            Selection::Server(address) => self.connection_to(address, deadline).await,
        }
    }
}

/// `maxWireVersion` of MongoDB 5.0, the first with snapshot reads outside transactions.
const SNAPSHOT_WIRE_VERSION: i32 = 13;

/// MongoDB 8.2's wire version: the first that takes `rawData`.
const WIRE_VERSION_8_2: i32 = 27;

/// What the session's transaction makes of an operation (Transactions specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnRole {
    /// No transaction: a session's finished transaction is forgotten first.
    None,
    /// A command of the transaction: never retried, concerns refused, reads from the
    /// transaction's read preference, pinned after the first.
    Inside,
    /// `commitTransaction` or `abortTransaction`: retried, to the pinned server first.
    Ends,
}

/// Where the first command of a transaction pins it, once it reached a server.
enum NewPin {
    Mongos(ServerAddress),
    /// Load-balanced mode: the connection it ran on.
    Connection,
}

impl NewPin {
    /// Pins the session; a connection moves from the operation into the session.
    fn apply(self, session: &mut ClientSession, owned: &mut Option<ConnectionHandle>) {
        match self {
            NewPin::Mongos(address) => session.transaction.set_pin(Pin::Mongos(address)),
            NewPin::Connection => {
                if let Some(mut conn) = owned.take() {
                    conn.pin_to(PinnedTo::Transaction);
                    let conn: PinnedConnection = std::sync::Arc::new(conn.into());
                    session.transaction.set_pin(Pin::Connection(conn));
                }
            }
        }
    }
}

impl TxnRole {
    /// Decided once per operation. An operation that does not end a transaction first
    /// forgets a committed or aborted one ([`Transaction::before_operation`]).
    ///
    /// [`Transaction::before_operation`]: session::Transaction::before_operation
    fn of<Op: Operation>(op: &Op, session: Option<&mut ClientSession>) -> TxnRole {
        let Some(s) = session else {
            return TxnRole::None;
        };
        if op.ends_transaction() {
            return TxnRole::Ends;
        }
        s.transaction.before_operation();
        if s.transaction.is_active() {
            TxnRole::Inside
        } else {
            TxnRole::None
        }
    }

    /// Where the operation runs: a read inside a transaction with the transaction's read
    /// preference (refused unless primary), and a pinned transaction on its mongos.
    fn selection<Op: Operation>(
        self,
        op: &Op,
        session: Option<&ClientSession>,
    ) -> Result<Selection> {
        let mut selection = op.selection();
        let Some(s) = session.filter(|_| self != TxnRole::None) else {
            return Ok(selection);
        };
        if self == TxnRole::Inside {
            let txn = s.transaction.options().read_preference.clone();
            if let Some(rp) = op.transaction_read_preference(&txn.unwrap_or_default()) {
                transaction::check_read_preference(rp.mode)?;
                if matches!(selection, Selection::Criteria(_)) {
                    selection = Selection::Criteria(SelectionCriteria::Read(rp));
                }
            }
        }
        if let (Some(Pin::Mongos(address)), Selection::Criteria(_)) =
            (s.transaction.pin(), &selection)
        {
            selection = Selection::Server(address.clone());
        }
        Ok(selection)
    }

    /// The connection a load-balanced transaction is pinned to.
    fn pinned_connection(self, session: Option<&ClientSession>) -> Option<PinnedConnection> {
        match session?.transaction.pin() {
            Some(Pin::Connection(c)) if self != TxnRole::None => Some(c.clone()),
            _ => None,
        }
    }

    /// The transaction's first command reached a server: the transaction is in progress, and
    /// on a sharded cluster (or behind a load balancer) pinned where it ran.
    fn first_command_sent(
        self,
        session: &mut ClientSession,
        conn: &ConnectionHandle,
    ) -> Option<NewPin> {
        if self != TxnRole::Inside || !session.transaction.is_starting() {
            return None;
        }
        session.transaction.first_command_sent();
        if session.client().is_load_balanced() {
            Some(NewPin::Connection)
        } else if conn.description().server_type == ServerType::Mongos {
            Some(NewPin::Mongos(conn.address().clone()))
        } else {
            None
        }
    }

    /// The labels an error gets in a transaction; a transient error, or an unknown commit
    /// result, unpins the session (its mongos may be gone; a commit retried elsewhere sends
    /// the recovery token).
    fn on_error(self, session: Option<&mut ClientSession>, e: &mut Error, max_wire_version: i32) {
        let Some(s) = session else {
            return;
        };
        match self {
            TxnRole::None => return,
            TxnRole::Inside => transaction::label_error_in_transaction(e),
            TxnRole::Ends => {
                if s.transaction.state() == session::TransactionState::Committed {
                    let retryable = retry::is_retryable_write_error(e, max_wire_version);
                    transaction::label_commit_error(e, retryable);
                }
            }
        }
        if e.contains_label(crate::error::TRANSIENT_TRANSACTION_ERROR)
            || e.contains_label(crate::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
        {
            s.transaction.unpin();
        }
    }
}

/// Errors after which the server may still hold state for the command's session that the
/// client does not know of (Driver Sessions specification): network errors and timeouts of any
/// kind, `timeoutMS` included.
fn breaks_session(e: &Error) -> bool {
    e.is_network_error() || matches!(&*e.kind, ErrorKind::OperationTimeout { .. })
}
