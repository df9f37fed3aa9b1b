//! A checked-out connection that reports its errors to the topology.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::time::Duration;

use bson::Document;
use tokio::time::Instant;

use super::{Establisher, Server, Shared};
use crate::conn::IoLimit;
use crate::csot::{self, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::options::ServerAddress;
use crate::pool::{PinnedTo, PooledConnection};
use crate::sdam::{
    read_preference_document, ApplicationError, ApplicationErrorKind, ErrorPhase,
    SelectionCriteria, ServerDescription, TopologyVersion,
};

/// A pooled connection to one server, checked out for one operation. Counts as an in-flight
/// operation of its server (selection prefers less busy servers) until dropped.
pub(crate) struct ConnectionHandle {
    server: Arc<Server>,
    conn: PooledConnection<Establisher>,
    topology: Arc<Shared>,
    /// The next command's I/O limit (`timeoutMS`), set by [`ConnectionHandle::apply_deadline`].
    limit: IoLimit,
}

impl ConnectionHandle {
    /// Checks out a connection of `server`. A failure to open one was reported to the topology
    /// by the pool's connector already.
    /// `until`: an operation's `timeoutMS` deadline, which then bounds the wait for a pooled
    /// connection instead of `waitQueueTimeoutMS`.
    pub(super) async fn check_out(
        topology: &Arc<Shared>,
        server: Arc<Server>,
        until: Option<Instant>,
    ) -> Result<ConnectionHandle> {
        server.operation_count.fetch_add(1, Ordering::SeqCst);
        // Counted from here, so that a slow connect also steers selection elsewhere.
        let mut guard = OperationCount {
            server: Arc::clone(&server),
            armed: true,
        };
        let conn = server.pool.check_out_until(until).await?;
        guard.armed = false;
        Ok(ConnectionHandle {
            server,
            conn,
            topology: Arc::clone(topology),
            limit: IoLimit::SocketTimeout,
        })
    }

    /// The server this connection is to.
    pub(crate) fn address(&self) -> &ServerAddress {
        &self.server.address
    }

    /// The server as this connection's handshake described it (limits, wire versions).
    pub(crate) fn description(&self) -> &ServerDescription {
        &self.conn.hello().description
    }

    /// Adds `$readPreference` where the Server Selection specification says to send it.
    pub(crate) fn apply_read_preference(&self, cmd: &mut Document, criteria: &SelectionCriteria) {
        let doc = {
            let st = self.topology.lock();
            let server_type = st
                .description
                .server(self.address())
                .map(|s| s.server_type)
                .unwrap_or_default();
            read_preference_document(st.description.topology_type, server_type, criteria)
        };
        if let Some(doc) = doc {
            cmd.insert("$readPreference", doc);
        }
    }

    /// Runs a command. A network error closes the connection; network errors and "not
    /// primary"/"recovering" errors are reported to the topology, which marks the server
    /// Unknown, clears its pool and checks it again as the SDAM specification says. The reply
    /// is read in place with [`ConnectionHandle::reply`]. `operation_id` names the user
    /// operation in the command's events.
    pub(crate) async fn command_with_sequences(
        &mut self,
        db: &str,
        cmd: Document,
        sequences: &[crate::wire::DocumentSequence],
        cluster_time: Option<&bson::RawDocument>,
        operation_id: i64,
    ) -> Result<usize> {
        self.conn.set_io_limit(self.limit);
        self.conn.set_operation_id(Some(operation_id));
        let result = self
            .conn
            .command_with_sequences(db, cmd, sequences, cluster_time)
            .await;
        // The deadline and the operation were this one's; the pool's next user starts afresh.
        self.conn.set_io_limit(IoLimit::SocketTimeout);
        self.conn.set_operation_id(None);
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Counts the connection as kept for a cursor or a transaction until it is checked in
    /// (load-balanced mode: the wait queue timeout error reports these).
    pub(crate) fn pin_to(&mut self, purpose: PinnedTo) {
        self.conn.pin_to(purpose);
    }

    /// The body of the last reply, in the connection's read buffer.
    pub(crate) fn reply(&self) -> &bson::RawDocument {
        self.conn.reply()
    }

    /// Under `timeoutMS` (a `deadline`), adds `maxTimeMS` from the time left minus the server's
    /// round trip (not to `getMore`/`killCursors`), and bounds the next command's write and read
    /// by the deadline instead of `socketTimeoutMS`. Fails with the typed timeout, without
    /// sending, when too little time is left. Without a deadline: nothing changes.
    pub(crate) fn apply_deadline(
        &mut self,
        deadline: Option<&Deadline>,
        cmd: &mut Document,
    ) -> Result<()> {
        let Some(deadline) = deadline else {
            self.limit = IoLimit::SocketTimeout;
            return Ok(());
        };
        let name = cmd.keys().next().map(String::as_str).unwrap_or_default();
        if csot::takes_max_time_ms(name) {
            if let Some(ms) = deadline.max_time_ms(Instant::now(), self.round_trip_time())? {
                cmd.insert("maxTimeMS", ms);
            }
        } else if deadline.is_expired(Instant::now()) {
            return Err(deadline.expired("before sending the command"));
        }
        self.limit = deadline
            .expires()
            .map_or(IoLimit::Unbounded, IoLimit::Until);
        Ok(())
    }

    /// The server's average round trip as the topology knows it (zero when not measured).
    fn round_trip_time(&self) -> Duration {
        let st = self.topology.lock();
        st.description
            .server(self.address())
            .and_then(|s| s.round_trip_time)
            .unwrap_or_default()
    }

    fn on_error(&mut self, e: &Error) {
        if e.is_network_error() || matches!(&*e.kind, ErrorKind::Timeout { .. }) {
            self.conn.discard();
        }
        if let Some(service) = self.conn.hello().description.service_id {
            // Load-balanced mode: nothing to mark Unknown; errors that would clear the pool
            // clear this service's connections only.
            if clears_service(e) {
                self.server
                    .pool
                    .clear_service(service, self.conn.service_generation());
            }
            return;
        }
        let max_wire_version = self.conn.hello().description.max_wire_version;
        self.topology.handle_application_error(
            &self.server.address,
            application_error(
                e,
                self.conn.generation(),
                ErrorPhase::AfterHandshake,
                max_wire_version,
            ),
        );
    }
}

/// Errors after which a load-balanced service's connections are closed: network errors (not
/// timeouts) and the server shutting down.
fn clears_service(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Timeout { .. } => false,
        ErrorKind::Command { code, .. } => matches!(code, 91 | 11600),
        _ => e.is_network_error(),
    }
}

/// What SDAM needs to know of an error (its kind, code, message and `topologyVersion`).
pub(super) fn application_error(
    e: &Error,
    generation: u32,
    phase: ErrorPhase,
    max_wire_version: i32,
) -> ApplicationError {
    let kind = match &*e.kind {
        ErrorKind::Timeout { message } => ApplicationErrorKind::NetworkTimeout(message.clone()),
        _ if e.is_network_error() => ApplicationErrorKind::Network(e.to_string()),
        ErrorKind::Command { code, message, .. } => ApplicationErrorKind::Command {
            // Code 0: the reply had none, so SDAM decides by the message.
            code: (*code != 0).then_some(*code),
            message: message.clone(),
            topology_version: e
                .topology_version()
                .and_then(|d| TopologyVersion::from_document(d).ok()),
        },
        // Authentication, TLS and the rest: SDAM treats a failed authentication like a network
        // error before the handshake completed, and ignores it after.
        _ => ApplicationErrorKind::Authentication(e.to_string()),
    };
    ApplicationError::new(generation, phase, kind, max_wire_version)
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        self.server.operation_count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Undoes the in-flight count if a check-out is abandoned or fails.
struct OperationCount {
    server: Arc<Server>,
    armed: bool,
}

impl Drop for OperationCount {
    fn drop(&mut self) {
        if self.armed {
            self.server.operation_count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
