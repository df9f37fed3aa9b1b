//! An established connection to one server.

use std::time::Duration;

use bson::raw::{RawBsonRef, RawDocument};
use bson::Document;
use tokio::io::AsyncWriteExt;

use crate::conn::HelloReply;
use crate::error::{Error, ErrorKind, Result};
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
    /// While the server streams replies (`moreToCome`), the request id the next one answers.
    streaming: Option<i32>,
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
}

/// Buffers that grew past this (a large batch) are given back after use, so an idle pooled
/// connection holds little memory.
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
        }
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
        let (request_id, sent) = self.send(&body, sequences, 0).await?;
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
        check_ok(self.reply())?;
        Ok(sent)
    }

    /// Encodes a request (with `flags`) into the reused write buffer and writes it. Returns its
    /// request id and how many documents of the last sequence it holds. An encoding problem
    /// (too large, unserializable) leaves the stream untouched; once writing starts the
    /// connection is broken until the reply is fully read, so a future dropped halfway (a
    /// caller's timeout) never leaves it reusable.
    async fn send(
        &mut self,
        body: &wire::Body<'_>,
        sequences: &[DocumentSequence],
        flags: u32,
    ) -> Result<(i32, usize)> {
        let request_id = wire::next_request_id();
        let mut buf = std::mem::take(&mut self.write_buf);
        let encoded =
            wire::encode_request_into(&mut buf, request_id, body, sequences, self.max_message_size);
        let written = match encoded {
            Ok(sent) => {
                buf[wire::HEADER_LEN..wire::HEADER_LEN + 4].copy_from_slice(&flags.to_le_bytes());
                self.broken = true;
                self.write(&buf).await.map(|()| sent)
            }
            Err(e) => Err(e),
        };
        self.write_buf = recycle(buf);
        Ok((request_id, written?))
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
        self.read_streamed_reply(request_id).await
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

    async fn read_streamed_reply(&mut self, expected: i32) -> Result<(Document, bool)> {
        let reply = self.read_reply().await?;
        if reply.response_to != expected {
            return Err(Error::invalid_response(format!(
                "streamed reply is to request {} but {expected} was expected",
                reply.response_to
            )));
        }
        let more = reply.flags & MORE_TO_COME != 0;
        self.streaming = more.then_some(reply.request_id);
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
    #[allow(dead_code)] // API for the pool and events; not every caller uses it yet.
    pub(crate) fn id(&self) -> u32 {
        self.id
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
    if ok.is_some_and(raw_truthy) {
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
    Err(Error::new(ErrorKind::Command {
        code,
        code_name,
        message,
    })
    .with_reply_details(labels, topology_version))
}

/// `ok`-style truth of a raw value: a non-zero number or `true`.
pub(crate) fn raw_truthy(value: RawBsonRef<'_>) -> bool {
    match value {
        RawBsonRef::Boolean(b) => b,
        RawBsonRef::Int32(i) => i != 0,
        RawBsonRef::Int64(i) => i != 0,
        RawBsonRef::Double(d) => d != 0.0 && !d.is_nan(),
        _ => false,
    }
}
