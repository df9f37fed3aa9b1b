//! Command monitoring (the Command Logging and Monitoring specification): an event when a
//! command is sent, and one when its reply arrives or it fails.
//!
//! Every [`CommandStartedEvent`] is followed by a [`CommandSucceededEvent`] or a
//! [`CommandFailedEvent`] with the same `request_id` (an operation cancelled mid-command, its
//! future dropped, fails with an I/O error saying so). A command whose reply has `ok: 1`
//! succeeded, write errors included; any other reply, or an error sending or reading, failed.
//!
//! Published: the commands of operations (with everything the client adds: `$db`, `lsid`,
//! `txnNumber`, `$clusterTime`, `$readPreference`, and document sequences as arrays named by
//! their identifier), and the authentication commands of each new connection (redacted, the
//! speculative `hello` included). Not published: the handshake `hello` of a connection that does
//! not authenticate in it, and the monitors' heartbeats (see
//! [`ServerHeartbeatStartedEvent`](crate::event::sdam::ServerHeartbeatStartedEvent)). Logs
//! (target `mongo_x509::command`) leave out the handshake and authentication commands, as the
//! Logging specification says.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use mongo_x509::event::{command::CommandEvent, EventHandler};
//! use mongo_x509::options::ClientOptions;
//!
//! // Slow-command log: every command that took longer than 100 ms.
//! let handler = EventHandler::callback(|event: CommandEvent| match event {
//!     CommandEvent::Succeeded(e) if e.duration > Duration::from_millis(100) => {
//!         eprintln!("slow {} on {}: {:?}", e.command_name, e.connection.address, e.duration)
//!     }
//!     CommandEvent::Failed(e) => eprintln!("{} failed: {}", e.command_name, e.failure),
//!     _ => {}
//! });
//! let options = ClientOptions::builder().command_event_handler(handler).build();
//! # let _ = options;
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{Document, RawDocument};

use super::log::{self, Component};
use super::EventHandler;
use crate::error::{Error, ErrorKind};
use crate::options::ServerAddress;

/// Which connection a command ran on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The client's id of the connection, unique within its pool (the `connection_id` of the
    /// pool's [`cmap`](crate::event::cmap) events).
    pub id: u32,
    /// The server's id of the connection (`connectionId` in its `hello` reply), which its
    /// logs show; `None` when the server did not send one.
    pub server_id: Option<i64>,
    /// The server the connection is to.
    pub address: ServerAddress,
}

events_sharing! {
    shared {
        /// The command's name, its first field (e.g. `find`, `insert`, `saslStart`).
        pub command_name: String,
        /// The database the command runs on.
        pub db: String,
        /// The id of the request on the wire, the same in a command's started event and in its
        /// succeeded or failed event.
        pub request_id: i32,
        /// The id of the user operation the command is part of, the same on all of its commands:
        /// the batches of an `insert_many` or a bulk write, and a retry. `None` for the commands
        /// of a connection's authentication.
        pub operation_id: Option<i64>,
        /// The connection the command is sent on.
        pub connection: ConnectionInfo,
        /// The `serviceId` of the server behind a load balancer (load-balanced mode only).
        pub service_id: Option<ObjectId>,
    }

    /// A command is about to be sent.
    #[derive(Clone, Debug)]
    #[non_exhaustive]
    pub struct CommandStartedEvent {
        /// The command as sent: its fields, then `$db` (and `$clusterTime` when sent), with each
        /// document sequence as an array named by its identifier (e.g. the `documents` of an
        /// `insert`). Empty when [`redacted`](Self::redacted).
        pub command: Document,
        /// True when the command is security-sensitive and its body was replaced with an empty
        /// document.
        pub redacted: bool,
    }

    /// A command's reply arrived with `ok: 1`.
    #[derive(Clone, Debug)]
    #[non_exhaustive]
    pub struct CommandSucceededEvent {
        /// From just before the request was written to the reply read.
        pub duration: Duration,
        /// The reply. Empty when [`redacted`](Self::redacted).
        pub reply: Document,
        /// True when the command is security-sensitive and its reply was replaced with an empty
        /// document.
        pub redacted: bool,
    }

    /// A command failed: the server answered with `ok` other than 1, or sending the request or
    /// reading the reply failed.
    #[derive(Clone, Debug)]
    #[non_exhaustive]
    pub struct CommandFailedEvent {
        /// From just before the request was written to the failure.
        pub duration: Duration,
        /// The error. For a redacted command, a server error keeps its code, code name and labels
        /// only.
        pub failure: Error,
        /// True when the command is security-sensitive and the failure was redacted.
        pub redacted: bool,
    }
}

/// A command monitoring event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CommandEvent {
    /// A command is about to be sent.
    Started(CommandStartedEvent),
    /// A command succeeded.
    Succeeded(CommandSucceededEvent),
    /// A command failed.
    Failed(CommandFailedEvent),
}

impl CommandEvent {
    /// The command's name, whatever the event.
    pub fn command_name(&self) -> &str {
        match self {
            Self::Started(e) => &e.command_name,
            Self::Succeeded(e) => &e.command_name,
            Self::Failed(e) => &e.command_name,
        }
    }

    /// The request id shared by a command's started and finished events.
    pub fn request_id(&self) -> i32 {
        match self {
            Self::Started(e) => e.request_id,
            Self::Succeeded(e) => e.request_id,
            Self::Failed(e) => e.request_id,
        }
    }

    /// The operation id shared by the commands of one user operation (`None`: an
    /// authentication command).
    pub fn operation_id(&self) -> Option<i64> {
        match self {
            Self::Started(e) => e.operation_id,
            Self::Succeeded(e) => e.operation_id,
            Self::Failed(e) => e.operation_id,
        }
    }
}

/// The commands whose body and reply events and logs never show (Command Logging and
/// Monitoring specification, Security), compared without regard to case.
const SENSITIVE: &[&str] = &[
    "authenticate",
    "saslStart",
    "saslContinue",
    "getnonce",
    "createUser",
    "updateUser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
];

/// True when a command named `name` with `body` is security-sensitive: one of the listed
/// commands, or a `hello` (or legacy `isMaster`) that carries `speculativeAuthenticate`.
pub(crate) fn is_sensitive(name: &str, body: &RawDocument) -> bool {
    if SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return true;
    }
    let hello = name.eq_ignore_ascii_case("hello") || name.eq_ignore_ascii_case("ismaster");
    hello && body.get("speculativeAuthenticate").ok().flatten().is_some()
}

/// True when the command carries `writeConcern: {w: 0}`.
pub(crate) fn is_unacknowledged(body: &RawDocument) -> bool {
    let Ok(wc) = body.get_document("writeConcern") else {
        return false;
    };
    match wc.get("w") {
        Ok(Some(bson::RawBsonRef::Int32(0))) | Ok(Some(bson::RawBsonRef::Int64(0))) => true,
        Ok(Some(bson::RawBsonRef::Double(w))) => w == 0.0,
        _ => false,
    }
}

/// A server error with everything but its code, code name and labels removed.
pub(crate) fn redact_error(e: &Error) -> Error {
    match &*e.kind {
        ErrorKind::Command {
            code, code_name, ..
        } => Error::new(ErrorKind::Command {
            code: *code,
            code_name: code_name.clone(),
            message: String::new(),
        })
        .with_reply_details(e.labels().to_vec(), None),
        ErrorKind::Authentication {
            code, mechanism, ..
        } => Error::new(ErrorKind::Authentication {
            message: String::new(),
            mechanism: mechanism.clone(),
            user: None,
            code: *code,
            subject: None,
        })
        .with_reply_details(e.labels().to_vec(), None),
        _ => e.clone(),
    }
}

/// Where a connection's command events go. Monitoring connections have none: heartbeats are
/// SDAM events.
#[derive(Clone, Debug, Default)]
pub(crate) struct CommandMonitor {
    /// The client's command event handler.
    pub(crate) handler: Option<EventHandler<CommandEvent>>,
    /// Whether commands are logged (not during the handshake and authentication).
    pub(crate) log: bool,
    /// The client's topology, named in the log messages (`topologyId`) so that a reader can
    /// tell two clients apart.
    pub(crate) topology_id: Option<ObjectId>,
    /// The operation the connection's commands are sent for now (set for each operation on
    /// the connection's own copy; `None` during the handshake and authentication).
    pub(crate) operation_id: Option<i64>,
}

impl CommandMonitor {
    /// True when a command's events would reach a handler or a log: the one check an
    /// unobserved command pays.
    #[inline]
    pub(crate) fn observing(&self) -> bool {
        self.handler.is_some() || (self.log && log::debug_enabled(Component::Command))
    }
}

/// Who a command is on, for its events.
pub(crate) struct Origin<'a> {
    pub(crate) db: &'a str,
    pub(crate) request_id: i32,
    pub(crate) operation_id: Option<i64>,
    pub(crate) connection: ConnectionInfo,
    pub(crate) service_id: Option<ObjectId>,
}

/// A new operation id (for [`CommandStartedEvent::operation_id`]): one per user operation,
/// unique within the process.
pub(crate) fn next_operation_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A command whose started event was published: its finished event is published by
/// [`InFlight::finish`], or, if the command's future is dropped first, a failure when this is
/// dropped.
pub(crate) struct InFlight {
    handler: Option<EventHandler<CommandEvent>>,
    log: bool,
    command_name: String,
    db: String,
    request_id: i32,
    operation_id: Option<i64>,
    connection: ConnectionInfo,
    service_id: Option<ObjectId>,
    redacted: bool,
    /// Sent with `writeConcern: {w: 0}`: the spec publishes `{ok: 1}` as its reply, whatever
    /// the server answered.
    unacknowledged: bool,
    topology_id: Option<ObjectId>,
    started: Instant,
    done: bool,
}

/// Logs a command message of `flight` (an [`InFlight`]): the fields all three messages have,
/// then those given.
macro_rules! log_command {
    ($flight:expr, $message:literal, $($field:tt)*) => {
        tracing::debug!(
            target: log::COMMAND,
            topologyId = $flight.topology_id.map(|t| t.to_hex()),
            commandName = %$flight.command_name,
            databaseName = %$flight.db,
            requestId = $flight.request_id,
            operationId = $flight.operation_id,
            driverConnectionId = $flight.connection.id,
            serverHost = %$flight.connection.address.host(),
            serverPort = $flight.connection.address.port(),
            serverConnectionId = $flight.connection.server_id,
            serviceId = $flight.service_id.map(|s| s.to_hex()),
            $($field)*
            $message
        )
    };
}

impl InFlight {
    /// Publishes the started event of the request encoded in `message` (an OP_MSG, before
    /// compression) and returns what finishes it.
    pub(crate) fn start(monitor: &CommandMonitor, message: &[u8], origin: Origin<'_>) -> Self {
        let (body, command) = command_from_message(message);
        let command_name = body
            .and_then(|b| b.iter().next())
            .and_then(|e| e.ok())
            .map(|(k, _)| k.to_owned())
            .unwrap_or_default();
        let redacted = body.is_some_and(|b| is_sensitive(&command_name, b));
        let unacknowledged = body.is_some_and(is_unacknowledged);
        let log = monitor.log && log::debug_enabled(Component::Command);
        let this = Self {
            handler: monitor.handler.clone(),
            log: monitor.log,
            command_name,
            db: origin.db.to_owned(),
            request_id: origin.request_id,
            operation_id: origin.operation_id,
            connection: origin.connection,
            service_id: origin.service_id,
            redacted,
            unacknowledged,
            topology_id: monitor.topology_id,
            started: Instant::now(),
            done: false,
        };
        let command = if redacted { Document::new() } else { command };
        if log {
            log_command!(this, "Command started", command = %log::document(&command),);
        }
        if let Some(handler) = &this.handler {
            handler.handle(CommandEvent::Started(CommandStartedEvent {
                command,
                db: this.db.clone(),
                command_name: this.command_name.clone(),
                request_id: this.request_id,
                operation_id: this.operation_id,
                connection: this.connection.clone(),
                service_id: this.service_id,
                redacted,
            }));
        }
        this
    }

    /// Publishes the succeeded event (`reply`) or the failed one.
    pub(crate) fn finish(mut self, outcome: std::result::Result<&RawDocument, &Error>) {
        self.done = true;
        match outcome {
            Ok(reply) => self.succeeded(reply),
            Err(e) => self.failed(e),
        }
    }

    fn succeeded(&self, reply: &RawDocument) {
        let duration = self.started.elapsed();
        let reply = if self.redacted {
            Document::new()
        } else if self.unacknowledged {
            bson::doc! { "ok": 1 }
        } else {
            // Checked for structure when it was read.
            Document::try_from(reply).unwrap_or_default()
        };
        if self.log && log::debug_enabled(Component::Command) {
            log_command!(
                self,
                "Command succeeded",
                durationMS = duration.as_secs_f64() * 1000.0,
                reply = %log::document(&reply),
            );
        }
        if let Some(handler) = &self.handler {
            handler.handle(CommandEvent::Succeeded(CommandSucceededEvent {
                duration,
                reply,
                command_name: self.command_name.clone(),
                db: self.db.clone(),
                request_id: self.request_id,
                operation_id: self.operation_id,
                connection: self.connection.clone(),
                service_id: self.service_id,
                redacted: self.redacted,
            }));
        }
    }

    fn failed(&self, e: &Error) {
        let duration = self.started.elapsed();
        let failure = if self.redacted {
            redact_error(e)
        } else {
            e.clone()
        };
        if self.log && log::debug_enabled(Component::Command) {
            log_command!(
                self,
                "Command failed",
                durationMS = duration.as_secs_f64() * 1000.0,
                failure = %failure,
            );
        }
        if let Some(handler) = &self.handler {
            handler.handle(CommandEvent::Failed(CommandFailedEvent {
                duration,
                command_name: self.command_name.clone(),
                db: self.db.clone(),
                failure,
                request_id: self.request_id,
                operation_id: self.operation_id,
                connection: self.connection.clone(),
                service_id: self.service_id,
                redacted: self.redacted,
            }));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.failed(&Error::from(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the operation was cancelled (its future was dropped) before the reply was read",
            )));
        }
    }
}

/// The body section of an OP_MSG request, and the command as sent: the body with each
/// document sequence added as an array named by its identifier.
pub(crate) fn command_from_message(message: &[u8]) -> (Option<&RawDocument>, Document) {
    // Header (16 bytes), flag bits (4), then sections.
    let mut rest = message.get(20..).unwrap_or_default();
    let mut body = None;
    let mut command = Document::new();
    let mut sequences = Vec::new();
    while let Some((&kind, after)) = rest.split_first() {
        let Some(len) = after
            .get(..4)
            .and_then(|b| usize::try_from(i32::from_le_bytes(b.try_into().ok()?)).ok())
        else {
            break;
        };
        let Some(section) = after.get(..len) else {
            break;
        };
        rest = &after[len..];
        match kind {
            0 => {
                if let Ok(raw) = RawDocument::from_bytes(section) {
                    body = Some(raw);
                    command = Document::try_from(raw).unwrap_or_default();
                }
            }
            1 => {
                let section = &section[4..];
                let Some(nul) = section.iter().position(|b| *b == 0) else {
                    break;
                };
                let identifier = String::from_utf8_lossy(&section[..nul]).into_owned();
                let mut docs = &section[nul + 1..];
                let mut items = bson::Array::new();
                while docs.len() >= 4 {
                    let n = i32::from_le_bytes([docs[0], docs[1], docs[2], docs[3]]);
                    let Some(doc) = usize::try_from(n).ok().and_then(|n| docs.get(..n)) else {
                        break;
                    };
                    if let Ok(d) = RawDocument::from_bytes(doc).and_then(Document::try_from) {
                        items.push(d.into());
                    }
                    docs = &docs[doc.len()..];
                }
                sequences.push((identifier, items));
            }
            _ => break,
        }
    }
    for (identifier, items) in sequences {
        command.insert(identifier, items);
    }
    (body, command)
}
