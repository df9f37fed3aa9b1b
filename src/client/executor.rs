//! The one executor: every operation is selected, built, sent, read and retried here.
//!
//! Touch points with the topology (kept to these so the topology can change underneath):
//! [`Client::select`] / [`Client::connection_to`] to check out a connection,
//! [`stream_description`] for the server's limits, and on the handle `apply_read_preference`
//! and `command_with_sequences` (which reports errors to the topology by itself).
//!
//! Sessions: each acknowledged operation on a deployment that supports sessions runs in a
//! session: the caller's explicit one, or an implicit one from the client's pool.
//! [`session::stamp`] adds `lsid`, `txnNumber`, `$clusterTime` and `afterClusterTime`.

use super::{Client, ConnectionHandle};
use crate::csot::{self, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::operation::{Operation, ResponseContext, Retryability, Selection, StreamDescription};
use crate::options::ServerAddress;
use crate::sdam::{DEFAULT_MAX_BSON_OBJECT_SIZE, DEFAULT_MAX_WRITE_BATCH_SIZE};
use crate::session::{self, retry, ClientSession, SessionOptions};

/// The limits of the server a connection is to, from its handshake: the only place operations
/// get them.
pub(crate) fn stream_description(conn: &ConnectionHandle) -> StreamDescription {
    let hello = conn.description();
    let positive = |v: i64, default: i64| {
        usize::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .or_else(|| usize::try_from(default).ok())
            .unwrap_or(1)
    };
    StreamDescription {
        address: conn.address().clone(),
        max_bson_object_size: positive(hello.max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE),
        max_write_batch_size: positive(hello.max_write_batch_size, DEFAULT_MAX_WRITE_BATCH_SIZE),
        max_message_size: conn.max_message_size(),
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
}

/// What an operation left behind for a cursor: its implicit session and connection.
#[derive(Default)]
pub(crate) struct Leftovers {
    pub(crate) session: Option<ClientSession>,
    pub(crate) connection: Option<ConnectionHandle>,
}

impl Client {
    /// Runs an operation in an implicit session (when the deployment supports them).
    pub(crate) async fn execute<Op: Operation>(&self, op: Op) -> Result<Op::Output> {
        self.run(op, Run::default()).await.0
    }

    /// Runs an operation in the caller's session, or an implicit one when `None`.
    pub(crate) async fn execute_in<Op: Operation>(
        &self,
        op: Op,
        session: Option<&mut ClientSession>,
    ) -> Result<Op::Output> {
        let run = Run {
            session,
            ..Run::default()
        };
        self.run(op, run).await.0
    }

    /// Runs an operation: checks out a connection where the operation may run, builds the
    /// command against that server, adds the session fields, sends it and reads the reply. A
    /// retryable read or write that fails with a retryable error is tried once more, after
    /// selecting a server again (a write with the same `txnNumber`).
    pub(crate) async fn run<Op: Operation>(
        &self,
        mut op: Op,
        mut run: Run<'_>,
    ) -> (Result<Op::Output>, Leftovers) {
        let deadline = run
            .deadline
            .take()
            .or_else(|| Deadline::start(self.options().timeout));
        let deadline = deadline.as_ref();
        let mut implicit: Option<ClientSession> = None;
        let mut first_error: Option<Error> = None;
        let mut txn_number: Option<i64> = None;
        let mut deprioritized: Vec<ServerAddress> = Vec::new();
        loop {
            let mut owned = None;
            let pinned = run.pinned.is_some();
            let selection = op.selection();
            if !pinned {
                match self.check_out(&selection, &deprioritized, deadline).await {
                    Ok(conn) => owned = Some(conn),
                    // The retry found no server: the error that caused the retry says more
                    // (unless timeoutMS expired).
                    Err(e) => {
                        return (
                            op.handle_error(csot::final_error(first_error, e)),
                            Leftovers::default(),
                        )
                    }
                }
            }
            let Some(conn) = run.pinned.as_deref_mut().or(owned.as_mut()) else {
                return (
                    Err(Error::internal("no connection to run the operation on")),
                    Leftovers::default(),
                );
            };
            let mut session =
                match self.session_for(&op, conn, run.session.as_deref_mut(), &mut implicit) {
                    Ok(s) => s,
                    Err(e) => return (op.handle_error(e), Leftovers::default()),
                };
            let retry_writes = self.options().retry_writes != Some(false);
            if first_error.is_none() && op.retryability() == Retryability::Write && retry_writes {
                txn_number = session
                    .as_deref_mut()
                    .and_then(ClientSession::next_txn_number);
            }
            let sent = self
                .attempt(
                    &mut op,
                    &selection,
                    conn,
                    session.as_deref_mut(),
                    txn_number,
                    deadline,
                )
                .await;
            match sent {
                Ok(()) => {}
                Err(mut e) => {
                    if e.is_network_error() {
                        if let Some(s) = session {
                            s.mark_dirty();
                        }
                        if txn_number.is_some() {
                            e.add_label(retry::RETRYABLE_WRITE_ERROR);
                        }
                    }
                    let attempt = retry::Attempt {
                        retry_reads: self.options().retry_reads != Some(false),
                        retry_writes,
                        had_txn_number: txn_number.is_some(),
                        max_wire_version: conn.description().max_wire_version,
                    };
                    // A pinned connection cannot be swapped for another: no retry.
                    if first_error.is_none()
                        && !pinned
                        && retry::should_retry(&e, op.retryability(), &attempt)
                    {
                        tracing::debug!(operation = Op::NAME, error = %e, "retrying once");
                        deprioritized.push(conn.address().clone());
                        first_error = Some(e);
                        continue;
                    }
                    return (
                        op.handle_error(csot::final_error(first_error, e)),
                        Leftovers::default(),
                    );
                }
            };
            let ctx = ResponseContext {
                address: conn.address(),
            };
            // A reply that does not parse is the server's answer, not a network failure: not
            // retried. It is read where the connection received it.
            let out = op
                .handle_response(conn.reply(), &ctx)
                .or_else(|e| op.handle_error(e));
            let leftovers = Leftovers {
                session: implicit.filter(|_| run.keep_session),
                connection: owned.filter(|_| run.keep_connection),
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
        let timeout = conn.description().logical_session_timeout;
        if let Some(s) = explicit {
            if !s.belongs_to(self) {
                return Err(Error::invalid_argument(
                    "the session was started by another client; start one with this client's \
                     start_session()",
                ));
            }
            if timeout.is_none() {
                return Err(Error::new(ErrorKind::NotSupported {
                    message: format!(
                        "{} does not support sessions (its hello has no \
                         logicalSessionTimeoutMinutes); run the operation without .session()",
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
        if timeout.is_none() || !op.takes_implicit_session() {
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

    /// One attempt: build, stamp, send, and gossip the reply's times. The reply stays in the
    /// connection ([`ConnectionHandle::reply`]).
    async fn attempt<Op: Operation>(
        &self,
        op: &mut Op,
        selection: &Selection,
        conn: &mut ConnectionHandle,
        session: Option<&mut ClientSession>,
        txn_number: Option<i64>,
        deadline: Option<&Deadline>,
    ) -> Result<()> {
        let server = stream_description(conn);
        let mut cmd = op.build(&server)?;
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
            },
        );
        // timeoutMS: maxTimeMS from the time left; the deadline bounds the write and read.
        conn.apply_deadline(deadline, &mut cmd.body)?;
        let sent = conn
            .command_with_sequences(
                &cmd.db,
                cmd.body,
                &cmd.sequences,
                cluster_time.as_ref().map(|t| t.as_raw()),
            )
            .await
            .map_err(|e| csot::on_error(deadline, e))?;
        if !cmd.sequences.is_empty() {
            op.sequence_sent(sent);
        }
        let (cluster, op_time) = session::cluster_time::times_of(conn.reply());
        // Copied out of the reply only when it moves the client's or the session's clock.
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
        Ok(())
    }

    async fn check_out(
        &self,
        selection: &Selection,
        deprioritized: &[ServerAddress],
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        match selection {
            Selection::Criteria(criteria) => {
                self.select_with(criteria, deprioritized, deadline).await
            }
            Selection::Server(address) => self.connection_to(address, deadline).await,
        }
    }
}
