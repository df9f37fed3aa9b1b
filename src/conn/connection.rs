//! An established connection to one server.

use std::sync::Arc;
use std::time::Duration;

use bson::raw::{RawBsonRef, RawDocument};
use bson::Document;
use tokio::io::AsyncWriteExt;

use crate::conn::{HelloReply, Interrupter};
use crate::error::{Error, ErrorKind, Result};
use crate::event::command::{CommandMonitor, ConnectionInfo, InFlight, Origin};
use crate::options::{Compressor, ServerAddress};
use crate::tls::BoxStream;
use crate::wire::{
    self, DocumentSequence, DEFAULT_MAX_MESSAGE_SIZE, EXHAUST_ALLOWED, MORE_TO_COME,
};

/// What bounds the write of a request and the read of its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoLimit {
    /// `socketTimeoutMS` (if set) bounds each read and write: no `timeoutMS`.
    SocketTimeout,
    /// The operation's `timeoutMS` deadline bounds the write and the read together.
    Until(tokio::time::Instant),
    /// `timeoutMS=0`: no limit, `socketTimeoutMS` ignored.
    Unbounded,
}

/// The ids a streamed reply may answer (see [`Connection::next_streamed`]).
#[derive(Clone, Copy, Debug)]
struct Streaming {
    /// The request that started the stream.
    request: i32,
    /// The latest reply's own id.
    previous_reply: i32,
}

/// One connection to one server, after the handshake and authentication.
///
/// Once [`Connection::is_broken`] is true it must be dropped, never returned to a pool: a
/// request may be half written or a reply half read.
pub(crate) struct Connection {
    id: u32,
    address: ServerAddress,
    stream: BoxStream,
    /// Defaults until the handshake reply is in.
    hello: HelloReply,
    max_message_size: usize,
    socket_timeout: Option<Duration>,
    /// What bounds the next request's write and read (`timeoutMS` or `socketTimeoutMS`).
    limit: IoLimit,
    /// How long the handshake's `hello` took (the first round-trip-time sample).
    handshake_rtt: Duration,
    broken: bool,
    /// While the server streams replies (`moreToCome`), the ids the next one may answer.
    streaming: Option<Streaming>,
    authenticated_user: Option<String>,
    subject: Option<String>,
    /// Requests are encoded here; reused, so a request costs no allocation once warm.
    write_buf: Vec<u8>,
    /// Replies are read here; reused. The last reply's body stays readable through
    /// [`Connection::reply`] until the next request.
    read_buf: Vec<u8>,
    /// Where the last reply's body is in `read_buf`.
    reply: std::ops::Range<usize>,
    /// The compressor negotiated in the handshake (`None`: requests go uncompressed).
    compressor: Option<Compressor>,
    /// Where command events go (`None`: nowhere, as for monitoring connections). Boxed: a
    /// connection is moved by value in every check-out, so it stays small.
    monitor: Option<Box<CommandMonitor>>,
    /// The server's id of this connection (`connectionId` in its `hello` reply).
    server_connection_id: Option<std::num::NonZeroI64>,
    /// What interrupts it in use (a pool clear after a heartbeat timeout); `None` for
    /// monitoring connections.
    interrupter: Option<Arc<Interrupter>>,
}

/// Buffers that grew past this (a large batch) are given back after use (at check-in, and
/// before the next read), so an idle pooled connection holds little memory.
const KEEP_BUFFER: usize = 1 << 20;

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("broken", &self.broken)
            .field("authenticated_user", &self.authenticated_user)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Wraps a freshly opened stream; the handshake has not run yet.
    pub(super) fn new(id: u32, address: ServerAddress, stream: BoxStream) -> Self {
        Self {
            id,
            hello: HelloReply::unknown(address.clone()),
            address,
            stream,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            socket_timeout: None,
            limit: IoLimit::SocketTimeout,
            handshake_rtt: Duration::ZERO,
            broken: false,
            streaming: None,
            authenticated_user: None,
            subject: None,
            write_buf: Vec::new(),
            read_buf: Vec::new(),
            reply: 0..0,
            compressor: None,
            monitor: None,
            server_connection_id: None,
            interrupter: None,
        }
    }

    /// Where this connection's command events go from now on.
    pub(crate) fn set_command_monitor(&mut self, monitor: CommandMonitor) {
        self.monitor = (monitor.handler.is_some() || monitor.log).then(|| Box::new(monitor));
    }

    pub(super) fn set_server_connection_id(&mut self, id: Option<i64>) {
        self.server_connection_id = id.and_then(std::num::NonZeroI64::new);
    }

    /// The server's id of this connection, when its `hello` reply gave one.
    pub(crate) fn server_connection_id(&self) -> Option<i64> {
        self.server_connection_id.map(std::num::NonZeroI64::get)
    }

    pub(super) fn set_hello(&mut self, hello: HelloReply) {
        self.max_message_size = hello.max_message_size();
        self.hello = hello;
    }

    /// Bounds each read of a reply and each write of a request (`socketTimeoutMS` for pooled
    /// connections; per check for monitors). `None` or zero: unbounded.
    pub(crate) fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.socket_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// What bounds the requests from now on: an operation's `timeoutMS` deadline replaces
    /// `socketTimeoutMS` ([`IoLimit::SocketTimeout`] again once the operation is done).
    pub(crate) fn set_io_limit(&mut self, limit: IoLimit) {
        self.limit = limit;
    }

    /// The user operation the next commands are sent for, named in their command events
    /// (`None` once it is done).
    /// Makes the connection interruptible by `interrupter` (see [`Interrupter`]).
    pub(super) fn set_interrupter(&mut self, interrupter: Interrupter) {
        self.interrupter = Some(Arc::new(interrupter));
    }

    /// What interrupts the connection, if it can be.
    pub(crate) fn interrupter(&self) -> Option<&Arc<Interrupter>> {
        self.interrupter.as_ref()
    }

    /// The error of a command on an interrupted connection: it failed because the pool was
    /// cleared (CMAP's message), as a network error, so retryable. Other errors pass.
    #[cold]
    fn interrupted_error(&self, e: Error) -> Error {
        if !self
            .interrupter
            .as_ref()
            .is_some_and(|i| i.is_interrupted())
        {
            return e;
        }
        Error::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!(
                "Connection to {} interrupted due to server monitor timeout (the pool was \
                 cleared while the command was in flight: {e})",
                self.address
            ),
        ))
    }

    pub(crate) fn set_operation_id(&mut self, operation_id: Option<i64>) {
        if let Some(monitor) = self.monitor.as_deref_mut() {
            monitor.operation_id = operation_id;
        }
    }

    /// The compressor negotiated in the handshake, used for every request from now on.
    pub(super) fn set_compressor(&mut self, compressor: Option<Compressor>) {
        self.compressor = compressor;
    }

    pub(super) fn set_handshake_rtt(&mut self, rtt: Duration) {
        self.handshake_rtt = rtt;
    }

    /// How long the handshake's `hello` round trip took.
    pub(crate) fn handshake_rtt(&self) -> Duration {
        self.handshake_rtt
    }

    pub(super) fn set_auth(&mut self, user: Option<String>, subject: Option<String>) {
        self.authenticated_user = user;
        self.subject = subject;
    }

    /// Runs `cmd` on database `db` and returns the reply body as a document (the handshake,
    /// authentication and monitors; operations read the raw reply instead).
    ///
    /// Adds `$db`. A reply with `ok` other than 1 is an [`ErrorKind::Command`]. An I/O error, a
    /// timeout (`socketTimeoutMS`) or a malformed reply marks the connection broken.
    pub(crate) async fn command(&mut self, db: &str, cmd: Document) -> Result<Document> {
        self.command_with_sequences(db, cmd, &[], None).await?;
        to_document(self.reply())
    }

    /// Runs `cmd` with document sequences (kind-1 sections), e.g. the `documents` of an
    /// `insert`, which then must not also be in `cmd`. The reply (`ok: 1`; anything else is an
    /// error) is then read in place with [`Connection::reply`], without being copied or
    /// decoded. Returns how many documents of the last sequence were sent: it is cut to fit the
    /// server's `maxMessageSizeBytes` (see [`wire::encode_request_into`]).
    ///
    /// `cluster_time` is sent as `$clusterTime`, as the bytes the server signed.
    pub(crate) async fn command_with_sequences(
        &mut self,
        db: &str,
        mut cmd: Document,
        sequences: &[DocumentSequence],
        cluster_time: Option<&RawDocument>,
    ) -> Result<usize> {
        self.check_usable()?;
        // Appended by the encoder; a command holding them already (runCommand) loses its own.
        for key in ["$db", "$clusterTime"] {
            if cmd.contains_key(key) && (key == "$db" || cluster_time.is_some()) {
                cmd.remove(key);
            }
        }
        let body = wire::Body {
            command: &cmd,
            cluster_time,
            db: Some(db),
        };
        // OP_MSG spec: an unacknowledged write goes with moreToCome and gets no reply.
        let unacknowledged = is_unacknowledged_write(&cmd);
        let flags = if unacknowledged { MORE_TO_COME } else { 0 };
        let (request_id, sent, buf) = self.encode(&body, sequences, flags)?;
        // Command monitoring: one check when nobody listens; the event is read back from the
        // encoded request, so it shows the command exactly as sent. Boxed, so that an
        // unobserved command's future does not grow.
        let in_flight = if self
            .monitor
            .as_deref()
            .is_some_and(CommandMonitor::observing)
        {
            Some(Box::new(self.command_started(db, request_id, &buf)))
        } else {
            None
        };
        let result = if unacknowledged {
            self.send_only(buf).await
        } else {
            self.exchange(buf, request_id).await
        }
        .map_err(|e| self.interrupted_error(e));
        if let Some(in_flight) = in_flight {
            in_flight.finish(result.as_ref().map(|()| self.reply()));
        }
        result.map(|()| sent)
    }

    /// Publishes the started event of the request in `message`; what it returns publishes the
    /// finished one.
    #[cold]
    fn command_started(&self, db: &str, request_id: i32, message: &[u8]) -> InFlight {
        let origin = Origin {
            db,
            request_id,
            operation_id: self.monitor.as_deref().and_then(|m| m.operation_id),
            connection: ConnectionInfo {
                id: self.id,
                server_id: self.server_connection_id(),
                address: self.address.clone(),
            },
            service_id: self.hello.description.service_id,
        };
        let unobserved = CommandMonitor::default();
        InFlight::start(
            self.monitor.as_deref().unwrap_or(&unobserved),
            message,
            origin,
        )
    }

    /// Writes an encoded request and reads its reply into the read buffer (`ok: 1`; anything
    /// else is an error).
    /// Writes a moreToCome request, which the server does not answer; its reply reads as
    /// `{ok: 1}` (what the CRUD spec's unacknowledged result and the events show).
    async fn send_only(&mut self, buf: Vec<u8>) -> Result<()> {
        self.broken = true;
        let written = self.write(&buf).await;
        self.write_buf = recycle(buf);
        written?;
        self.broken = false;
        self.read_buf.clear();
        self.read_buf.extend_from_slice(OK_DOCUMENT);
        self.reply = 0..OK_DOCUMENT.len();
        Ok(())
    }

    async fn exchange(&mut self, buf: Vec<u8>, request_id: i32) -> Result<()> {
        self.broken = true;
        let written = self.write(&buf).await;
        self.write_buf = recycle(buf);
        written?;
        let reply = self.read_reply().await?;
        if reply.response_to != request_id {
            return Err(Error::invalid_response(format!(
                "reply is to request {} but request {request_id} was sent",
                reply.response_to
            )));
        }
        if reply.flags & MORE_TO_COME != 0 {
            return Err(Error::invalid_response(
                "reply has moreToCome set although exhaust was not requested",
            ));
        }
        self.broken = false;
        self.reply = reply.body;
        check_ok(self.reply())
    }

    /// Encodes a request (with `flags`) into the reused write buffer, taken out of the
    /// connection until it is written. Returns its request id, how many documents of the last
    /// sequence it holds, and the buffer. An encoding problem (too large, unserializable)
    /// leaves the stream untouched; once writing starts the connection is broken until the
    /// reply is fully read, so a future dropped halfway (a caller's timeout) never leaves it
    /// reusable.
    fn encode(
        &mut self,
        body: &wire::Body<'_>,
        sequences: &[DocumentSequence],
        flags: u32,
    ) -> Result<(i32, usize, Vec<u8>)> {
        let request_id = wire::next_request_id();
        let mut buf = std::mem::take(&mut self.write_buf);
        match wire::encode_request_into(
            &mut buf,
            request_id,
            body,
            sequences,
            self.max_message_size,
        ) {
            Ok(sent) => {
                buf[wire::HEADER_LEN..wire::HEADER_LEN + 4].copy_from_slice(&flags.to_le_bytes());
                Ok((request_id, sent, buf))
            }
            Err(e) => {
                self.write_buf = recycle(buf);
                Err(e)
            }
        }
    }

    /// [`Connection::encode`] and write, for requests whose reply is read otherwise (exhaust).
    async fn send(
        &mut self,
        body: &wire::Body<'_>,
        sequences: &[DocumentSequence],
        flags: u32,
    ) -> Result<(i32, usize)> {
        let (request_id, sent, buf) = self.encode(body, sequences, flags)?;
        self.broken = true;
        let written = self.write(&buf).await;
        self.write_buf = recycle(buf);
        written.map(|()| (request_id, sent))
    }

    /// Overwrites the request buffer, spare capacity included: after authentication it may
    /// hold a secret (PLAIN sends the password itself).
    pub(crate) fn wipe_write_buffer(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.write_buf);
    }

    /// The body of the last reply, in the connection's read buffer.
    pub(crate) fn reply(&self) -> &RawDocument {
        self.read_buf
            .get(self.reply.clone())
            .and_then(|b| RawDocument::from_bytes(b).ok())
            // Only before any reply: an empty document.
            .unwrap_or_else(|| {
                RawDocument::from_bytes(EMPTY_DOCUMENT).expect("an empty BSON document is valid")
            })
    }

    /// Sends `cmd` with `exhaustAllowed`, for the streaming `hello` of a monitor. Returns the
    /// reply and whether the server will send more without being asked
    /// ([`Connection::next_streamed`] reads those).
    pub(crate) async fn command_exhaust(
        &mut self,
        db: &str,
        mut cmd: Document,
    ) -> Result<(Document, bool)> {
        self.check_usable()?;
        cmd.remove("$db");
        let body = wire::Body {
            command: &cmd,
            cluster_time: None,
            db: Some(db),
        };
        let (request_id, _) = self.send(&body, &[], EXHAUST_ALLOWED).await?;
        self.read_streamed_reply(Streaming {
            request: request_id,
            previous_reply: request_id,
        })
        .await
    }

    /// The next reply the server streams after [`Connection::command_exhaust`] said more
    /// would come.
    pub(crate) async fn next_streamed(&mut self) -> Result<(Document, bool)> {
        let Some(expected) = self.streaming else {
            return Err(Error::internal(
                "no streamed reply is expected on this connection",
            ));
        };
        self.broken = true;
        self.read_streamed_reply(expected).await
    }

    async fn read_streamed_reply(&mut self, expected: Streaming) -> Result<(Document, bool)> {
        let reply = self.read_reply().await?;
        // mongod answers each streamed reply "to" the previous reply's id (it treats that id
        // as the next, synthetic request); other servers keep answering the request that
        // started the stream. Either keeps the stream in step; anything else does not.
        if reply.response_to != expected.previous_reply && reply.response_to != expected.request {
            return Err(Error::invalid_response(format!(
                "streamed reply is to request {} but {} (the previous reply) or {} (the \
                 request) was expected",
                reply.response_to, expected.previous_reply, expected.request
            )));
        }
        let more = reply.flags & MORE_TO_COME != 0;
        self.streaming = more.then_some(Streaming {
            request: expected.request,
            previous_reply: reply.request_id,
        });
        self.broken = false;
        self.reply = reply.body;
        check_ok(self.reply())?;
        Ok((to_document(self.reply())?, more))
    }

    /// True while the server streams replies to an exhaust request.
    pub(crate) fn is_streaming(&self) -> bool {
        self.streaming.is_some()
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken || self.streaming.is_some() {
            return Err(Error::internal(format!(
                "connection {} to {} is broken or streaming and cannot be used",
                self.id, self.address
            )));
        }
        Ok(())
    }

    /// Writes a request. Under `socketTimeoutMS` each write call must make progress in time (a
    /// server that stopped reading fills the socket buffers, then nothing moves); under
    /// `timeoutMS` the whole write must end by the deadline.
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        // Compression hook: OP_COMPRESSED when negotiated and the command may be compressed.
        let compressed = wire::compression::compress_request(bytes, self.compressor.as_ref())?;
        let bytes = &*compressed;
        match (self.limit, self.socket_timeout) {
            (IoLimit::Until(deadline), _) => {
                let write = wire::write_message(&mut self.stream, bytes);
                match tokio::time::timeout_at(deadline, write).await {
                    Ok(r) => r,
                    Err(_) => Err(self.timed_out("could not write the request to", None)),
                }
            }
            (IoLimit::SocketTimeout, Some(t)) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = match tokio::time::timeout(t, self.stream.write(rest)).await {
                        Ok(n) => n?,
                        Err(_) => {
                            return Err(self.timed_out("could not write the request to", Some(t)))
                        }
                    };
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                    }
                    rest = &rest[n..];
                }
                match tokio::time::timeout(t, self.stream.flush()).await {
                    Ok(r) => Ok(r?),
                    Err(_) => Err(self.timed_out("could not write the request to", Some(t))),
                }
            }
            _ => wire::write_message(&mut self.stream, bytes).await,
        }
    }

    async fn read_reply(&mut self) -> Result<wire::RawMessage> {
        let max = self.max_message_size;
        if self.read_buf.capacity() > KEEP_BUFFER {
            self.read_buf = Vec::new();
        }
        self.reply = 0..0;
        let read = wire::read_message_into(&mut self.stream, &mut self.read_buf, max);
        let timeout = match (self.limit, self.socket_timeout) {
            (IoLimit::Until(deadline), _) => {
                return match tokio::time::timeout_at(deadline, read).await {
                    Ok(r) => r,
                    Err(_) => Err(self.timed_out("no reply from", None)),
                };
            }
            (IoLimit::SocketTimeout, Some(t)) => t,
            _ => return read.await,
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out("no reply from", Some(timeout))),
        }
    }

    /// A socket timeout: `socketTimeoutMS` when `t` is given, else the operation's deadline.
    fn timed_out(&self, what: &str, t: Option<Duration>) -> Error {
        let message = match t {
            Some(t) => format!(
                "{what} {} within {} ms (socketTimeoutMS)",
                self.address,
                t.as_millis()
            ),
            None => format!("{what} {} before the deadline (timeoutMS)", self.address),
        };
        Error::new(ErrorKind::Timeout { message })
    }

    /// The handshake reply.
    pub(crate) fn hello(&self) -> &HelloReply {
        &self.hello
    }

    /// The server this connection is to.
    #[allow(dead_code)] // API for the pool and events; not every caller uses it yet.
    pub(crate) fn address(&self) -> &ServerAddress {
        &self.address
    }

    /// The connection's id (unique per pool).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Gives back buffers that a large request or reply made grow past what an idle
    /// connection keeps (the last reply is no longer readable after this). The pool calls it
    /// at check-in, so idle connections hold little memory however large the replies were.
    pub(crate) fn release_memory(&mut self) {
        if self.read_buf.capacity() > KEEP_BUFFER {
            self.read_buf = Vec::new();
            self.reply = 0..0;
        }
        self.write_buf = recycle(std::mem::take(&mut self.write_buf));
    }

    /// Bytes held by the read and write buffers now.
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.read_buf.capacity() + self.write_buf.capacity()
    }

    /// True after an I/O error, a timeout or a malformed reply: the connection must be dropped.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the connection as not reusable (e.g. the pool was cleared).
    #[allow(dead_code)]
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// The user this connection authenticated as (for X.509, the certificate subject DN).
    #[allow(dead_code)]
    pub(crate) fn authenticated_user(&self) -> Option<&str> {
        self.authenticated_user.as_deref()
    }

    /// The subject DN of the client certificate presented, when X.509 was used.
    #[allow(dead_code)]
    pub(crate) fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

/// An empty BSON document.
const EMPTY_DOCUMENT: &[u8] = &[5, 0, 0, 0, 0];

/// `{ok: 1}` (an int32), the reply an unacknowledged write stands for.
const OK_DOCUMENT: &[u8] = &[13, 0, 0, 0, 0x10, b'o', b'k', 0, 1, 0, 0, 0, 0];

/// A command with `writeConcern: {w: 0}` and no `j: true`: the server sends no reply.
fn is_unacknowledged_write(cmd: &Document) -> bool {
    let Ok(wc) = cmd.get_document("writeConcern") else {
        return false;
    };
    let w0 = match wc.get("w") {
        Some(bson::Bson::Int32(0)) | Some(bson::Bson::Int64(0)) => true,
        Some(bson::Bson::Double(w)) => *w == 0.0,
        _ => false,
    };
    w0 && wc.get_bool("j") != Ok(true)
}

/// A write buffer back from a request: kept unless a large request made it grow.
fn recycle(mut buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > KEEP_BUFFER {
        return Vec::new();
    }
    buf.clear();
    buf
}

/// A raw reply as a document (checked for structure and depth when it was read).
pub(crate) fn to_document(reply: &RawDocument) -> Result<Document> {
    reply.try_into().map_err(|e: bson::raw::Error| {
        Error::invalid_response(format!("invalid BSON document: {e}"))
    })
}

/// Turns a reply with `ok` other than 1 into [`ErrorKind::Command`], reading only the fields
/// it needs from the raw reply.
pub(crate) fn check_ok(reply: &RawDocument) -> Result<()> {
    let field = |key: &str| reply.get(key).ok().flatten();
    let ok = field("ok");
    if ok.is_some_and(crate::wire::truthy) {
        return Ok(());
    }
    let code = match field("code") {
        Some(RawBsonRef::Int32(c)) => c,
        Some(RawBsonRef::Int64(c)) => i32::try_from(c).unwrap_or(0),
        // Only a whole number in range: no saturating cast of 1e300 or NaN into a code.
        Some(RawBsonRef::Double(c))
            if c.fract() == 0.0 && (-2_147_483_648.0..=2_147_483_647.0).contains(&c) =>
        {
            c as i32
        }
        _ => 0,
    };
    let code_name = match field("codeName") {
        Some(RawBsonRef::String(s)) => s.to_owned(),
        _ => String::new(),
    };
    let message = match field("errmsg") {
        Some(RawBsonRef::String(m)) => m.to_owned(),
        _ if ok.is_none() => "the reply has no ok field".to_owned(),
        _ => "the server gave no error message".to_owned(),
    };
    let labels = match field("errorLabels") {
        Some(RawBsonRef::Array(a)) => a
            .into_iter()
            .filter_map(|l| match l {
                Ok(RawBsonRef::String(s)) => Some(s.to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let topology_version = match field("topologyVersion") {
        Some(RawBsonRef::Document(d)) => d.try_into().ok(),
        _ => None,
    };
    let error = Error::new(ErrorKind::Command {
        code,
        code_name,
        message,
    })
    .with_reply_details(labels, topology_version);
    Err(match to_document(reply) {
        Ok(whole) => error.with_server_response(whole),
        Err(_) => error,
    })
}
