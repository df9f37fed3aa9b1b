//! What an error on an application connection does to the topology (SDAM "error handling").

use std::cmp::Ordering;

use super::server::{ServerDescription, TopologyVersion};
use super::topology::{TopologyChange, TopologyDescription, TopologyType};
use crate::options::ServerAddress;

/// "Node is recovering" codes: InterruptedAtShutdown, InterruptedDueToReplStateChange,
/// NotPrimaryOrSecondary, PrimarySteppedDown, ShutdownInProgress.
const RECOVERING_CODES: [i32; 5] = [11600, 11602, 13436, 189, 91];
/// "Not writable primary" codes: NotWritablePrimary, NotPrimaryNoSecondaryOk, LegacyNotPrimary.
const NOT_WRITABLE_PRIMARY_CODES: [i32; 3] = [10107, 13435, 10058];
/// The server is shutting down: its connections are all going away.
const SHUTDOWN_CODES: [i32; 2] = [11600, 91];

/// When the error happened on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPhase {
    /// While establishing it: before the `hello` handshake and authentication completed (the
    /// connect, TLS or `hello` when told apart from [`ErrorPhase::Authentication`]).
    BeforeHandshake,
    /// While establishing it, in the authentication step after the `hello`.
    Authentication,
    /// While running an operation on an established connection.
    AfterHandshake,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ApplicationErrorKind {
    /// A network error (I/O error, connection closed, malformed reply), with its message.
    Network(String),
    /// A network timeout, with its message.
    NetworkTimeout(String),
    /// Authentication failed, with the message.
    Authentication(String),
    /// The server answered with an error (or a write concern error).
    Command {
        /// The error code, if the reply had one (the message decides only when it has not).
        code: Option<i32>,
        /// `errmsg`.
        message: String,
        /// The reply's `topologyVersion`, if any.
        topology_version: Option<TopologyVersion>,
    },
}

/// An error on an application connection, with what SDAM needs to judge it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ApplicationError {
    /// The pool generation of the connection it happened on.
    pub generation: u32,
    /// Whether the handshake had completed.
    pub phase: ErrorPhase,
    /// What went wrong.
    pub kind: ApplicationErrorKind,
    /// The `maxWireVersion` the connection's handshake reported.
    pub max_wire_version: i32,
}

impl ApplicationError {
    /// An error of `kind` on a connection of pool generation `generation`.
    pub fn new(
        generation: u32,
        phase: ErrorPhase,
        kind: ApplicationErrorKind,
        max_wire_version: i32,
    ) -> Self {
        Self {
            generation,
            phase,
            kind,
            max_wire_version,
        }
    }
}

/// What the I/O layer must do after [`TopologyDescription::handle_application_error`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorOutcome {
    /// The server was marked unknown.
    pub marked_unknown: bool,
    /// Clear the server's connection pool (in load-balanced mode: the service's connections).
    pub clear_pool: bool,
    /// Request an immediate check of the server.
    pub request_check: bool,
    /// Cancel the monitor's check in progress (its connection is likely broken too).
    pub cancel_check: bool,
    /// Servers the update added or removed.
    pub change: TopologyChange,
}

/// True for a "node is recovering" error: by code when there is one, else by message.
pub fn is_recovering(code: Option<i32>, message: &str) -> bool {
    match code {
        Some(c) => RECOVERING_CODES.contains(&c),
        None => {
            message.contains("not master or secondary") || message.contains("node is recovering")
        }
    }
}

/// True for a "not writable primary" error: by code when there is one, else by message.
pub fn is_not_writable_primary(code: Option<i32>, message: &str) -> bool {
    match code {
        Some(c) => NOT_WRITABLE_PRIMARY_CODES.contains(&c),
        None => !is_recovering(None, message) && message.contains("not master"),
    }
}

/// True when an error means the server is no longer (or not yet) a usable primary: a "not
/// writable primary" or "node is recovering" error. The server must be marked unknown.
pub fn is_state_change_error(code: Option<i32>, message: &str) -> bool {
    is_recovering(code, message) || is_not_writable_primary(code, message)
}

/// True for the codes that mean the server is shutting down.
pub fn is_shutdown_error(code: Option<i32>) -> bool {
    code.is_some_and(|c| SHUTDOWN_CODES.contains(&c))
}

impl TopologyDescription {
    /// Applies an error from an application connection to `address`, whose pool is at
    /// `pool_generation`, and says what to do about the pool and the monitor.
    ///
    /// Errors from connections of an older pool generation, and state-change errors whose
    /// `topologyVersion` is not newer than the server's, are stale and change nothing.
    pub fn handle_application_error(
        &mut self,
        address: &ServerAddress,
        error: &ApplicationError,
        pool_generation: u32,
    ) -> ErrorOutcome {
        let Some(server) = self.server(address) else {
            return ErrorOutcome::default();
        };
        if error.generation < pool_generation {
            return ErrorOutcome::default();
        }
        let load_balanced = self.topology_type == TopologyType::LoadBalanced;
        let mut outcome = ErrorOutcome::default();
        match &error.kind {
            ApplicationErrorKind::Command {
                code,
                message,
                topology_version,
            } => {
                if !is_state_change_error(*code, message) {
                    return outcome;
                }
                let order = TopologyVersion::compare(
                    server.topology_version.as_ref(),
                    topology_version.as_ref(),
                );
                if order != Ordering::Less {
                    return outcome;
                }
                if !load_balanced {
                    let mut unknown = ServerDescription::unknown_with_error(
                        address.clone(),
                        format!("{message} (code {})", code.unwrap_or(0)),
                    );
                    unknown.topology_version = *topology_version;
                    outcome.change = self.update(unknown);
                    outcome.marked_unknown = true;
                }
                // From 4.2 a stepping-down primary keeps its connections open.
                outcome.clear_pool = is_shutdown_error(*code) || error.max_wire_version < 8;
                outcome.request_check = true;
            }
            ApplicationErrorKind::Network(message) => {
                self.network_error(address, message, load_balanced, &mut outcome)
            }
            // SDAM: a network error or timeout during the authentication step marks the
            // server Unknown, as does a failed authentication before the handshake completed.
            ApplicationErrorKind::NetworkTimeout(message)
                if error.phase == ErrorPhase::Authentication =>
            {
                self.network_error(address, message, load_balanced, &mut outcome)
            }
            ApplicationErrorKind::Authentication(message)
                if error.phase != ErrorPhase::AfterHandshake =>
            {
                self.network_error(address, message, load_balanced, &mut outcome)
            }
            // A timeout may be a slow operation or a busy server rather than a dead one: the
            // scenario files (error_handling_handshake) leave the server as it is, before and
            // after the handshake.
            ApplicationErrorKind::NetworkTimeout(_) | ApplicationErrorKind::Authentication(_) => {}
        }
        outcome
    }

    fn network_error(
        &mut self,
        address: &ServerAddress,
        message: &str,
        load_balanced: bool,
        outcome: &mut ErrorOutcome,
    ) {
        if !load_balanced {
            outcome.change = self.update(ServerDescription::unknown_with_error(
                address.clone(),
                message,
            ));
            outcome.marked_unknown = true;
        }
        outcome.clear_pool = true;
        outcome.cancel_check = true;
    }
}
