//! A scripted fake MongoDB deployment: replica-set members ([`FakeReplicaSet`]), mongos
//! routers ([`FakeMongos`]), a load balancer in front of mongos ([`FakeLoadBalancer`]) and a
//! standalone `mongod` ([`FakeStandalone`]) that speak OP_MSG over TLS with required client certificates, answer
//! as the MongoDB specifications say a real `mongod`/`mongos` does, and can be steered by the
//! test (step-downs, removed/added members, stopped or frozen members, one-shot and standing fail points).
//!
//! What it is for: testing the client's discovery, monitoring, stepdown handling and server
//! selection end to end, which a single real server cannot show.
//!
//! # Addresses
//! Every member listens on `127.0.0.1:PORT` (an ephemeral port) and is named by that string,
//! in `hosts`, `me`, `primary` and [`FakeDeployment::address`]. The test server certificate
//! covers `IP:127.0.0.1`, so a client seeded with [`FakeDeployment::uri`] sees hosts identical
//! to its seeds. (Not `localhost`: it may resolve to `::1`, where another process can hold the
//! same port number.)
//!
//! # TLS
//! `server.pem` of `scripts/gen-test-certs.sh` ([`FakeOptions::server_pem`]), client
//! certificates required and verified against `ca.pem`
//! ([`certs::client_cert_acceptor`](super::certs::client_cert_acceptor)), driven by
//! `tokio-openssl` (a dev-dependency, so this works in every feature set). MONGODB-X509
//! `authenticate` answers with the client certificate's subject (RFC 2253).
//!
//! # State
//! One in-memory data store per deployment (database → collection → documents), "replicated"
//! instantly: a read on any member sees every acknowledged write. Cursors belong to the member
//! that opened them. Cluster time (`$clusterTime`, `operationTime`) is one `Timestamp` per
//! deployment that advances on every write.
//!
//! # Runtime
//! Everything must run inside a Tokio runtime (either flavour): `start`, `add_member` and
//! `restart` bind sockets and spawn tasks. Controls are plain (synchronous) methods except
//! [`FakeDeployment::stop`], [`FakeDeployment::shutdown`] and [`FakeDeployment::wait_for`],
//! which are `async` (stop waits until the sockets are really closed). Dropping the deployment
//! aborts all of its tasks, which closes its sockets.
//!
//! # Supported commands
//! `hello`/`isMaster`/`ismaster` (awaitable with `topologyVersion` + `maxAwaitTimeMS`, and
//! streamed with the `exhaustAllowed` flag), `authenticate` (MONGODB-X509 on `$external`),
//! `saslStart` (PLAIN on `$external`, with [`FakeOptions::plain_users`]; other SASL mechanisms
//! are refused as not enabled),
//! `ping`, `buildInfo`, `endSessions`, `insert`, `update` (`$set`, `$inc`, `$unset`,
//! replacement, `upsert`, `multi`), `delete`, `find` (`filter`, `sort`, `skip`, `limit`,
//! `batchSize`, `singleBatch`; no projection), `getMore`, `killCursors`, `count`, `aggregate`
//! (`$match`, `$sort`, `$skip`, `$limit`, `$count`; or a `$changeStream` stage alone, on a
//! collection or a database: see [Change streams](#change-streams)), `listDatabases`, `listCollections`,
//! `create`, `drop`, `dropDatabase`, `commitTransaction`, `abortTransaction`, `findAndModify`
//! (`query`, `sort`, `remove`, `update`, `new`, `upsert`; no `fields`). Filters support
//! equality on (dotted) fields and `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`,
//! `$exists`. Anything else is `CommandNotFound` (59).
//!
//! # Change streams
//! Inserts are recorded in one change log per deployment (`insert` events with `fullDocument`
//! and `documentKey`; nothing else is). A `$changeStream` cursor starts at the end of the log,
//! or after the event whose token `resumeAfter`/`startAfter` gives; `aggregate` answers an
//! empty first batch, each `getMore` the matching events since (up to `batchSize`, at once:
//! no waiting for `maxTimeMS`), and both a `postBatchResumeToken`; the cursor stays open. A
//! standalone refuses `$changeStream` (40573), as `mongod` does.
//!
//! # Sessions
//! Every role refuses what `mongod`/`mongos` refuse in a command's session fields: a
//! `txnNumber` without an `lsid` (InvalidOptions, 72), a `txnNumber` on a command that is not a
//! retryable write outside a transaction (50768), and, on a standalone, any `txnNumber`
//! (IllegalOperation, 20: "Transaction numbers are only allowed on a replica set member or
//! mongos"). A standalone reports no `$clusterTime` or `operationTime`, as `mongod` does.
//!
//! # Transactions
//! Commands with `autocommit: false` belong to a multi-document transaction, keyed by `lsid`
//! and `txnNumber` where a real deployment keeps it: on the member (the primary) or the mongos
//! router that ran its first command, and behind the load balancer on the connection (each
//! connection may reach another mongos). The first command must say `startTransaction: true`
//! and may carry `readConcern`; a later one with `readConcern`, any with `writeConcern`
//! (besides `commitTransaction`/`abortTransaction`), or one the router or member does not know
//! (another mongos, another connection, a number it never started) is refused: InvalidOptions
//! (72), or NoSuchTransaction (251, labelled `TransientTransactionError`). A transaction works
//! on a copy of the data taken at its first command, which `commitTransaction` installs (no
//! write-conflict detection) and `abortTransaction` drops; commands outside see none of it
//! until then. A command that fails inside a transaction aborts it, as on mongod. A mongos adds `recoveryToken` to each reply in a transaction, and a
//! `commitTransaction` that reaches another router with it learns the outcome: ok if the
//! transaction committed, NoSuchTransaction otherwise. A committed transaction may be
//! committed again (ok), as on a real server.
//!
//! # Compression
//! With [`FakeOptions::compressors`] set, `hello` answers `compression` (the client's list
//! filtered by the fake's, in the client's order), OP_COMPRESSED requests are accepted and
//! answered compressed with the same compressor, as mongod does (every reply with
//! [`FakeOptions::compress_all_replies`]), and [`MemberStats::wire_log`] records how each
//! request arrived. The codecs are the crates themselves ([`super::compression`]), not
//! mongo-x509's code.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, DateTime, Document, Timestamp};
use openssl::ssl::{Ssl, SslAcceptor};
use openssl::x509::X509NameRef;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf,
    WriteHalf,
};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_openssl::SslStream;

use super::certs;
use super::compression;

/// The OP_MSG opcode.
pub const OP_MSG: i32 = 2013;
/// OP_MSG flag bit 0: a CRC-32C checksum follows the sections.
pub const CHECKSUM_PRESENT: u32 = 1;
/// OP_MSG flag bit 1: another message follows without a request (exhaust replies; requests
/// that want no reply).
pub const MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag bit 16: the client accepts a stream of `moreToCome` replies.
pub const EXHAUST_ALLOWED: u32 = 1 << 16;
/// `maxBsonObjectSize` reported in `hello`.
pub const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;
/// `maxMessageSizeBytes` reported in `hello` (also the largest message the fake reads).
pub const MAX_MESSAGE_SIZE_BYTES: i32 = 48_000_000;
/// `maxWriteBatchSize` reported in `hello`.
pub const MAX_WRITE_BATCH_SIZE: i32 = 100_000;

/// How long a TLS handshake may take before the fake drops the connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop`/`shutdown` wait for the member's tasks to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Error codes of the "not primary" / "node is recovering" families: their replies carry the
/// member's `topologyVersion`, as real servers' do.
const STATE_CHANGE_CODES: &[i32] = &[10107, 13435, 13436, 189, 91, 11600, 11602, 10058];
/// Error codes a 4.4+ server labels `RetryableWriteError` on retryable writes (retryable
/// writes specification).
const RETRYABLE_WRITE_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

// ------------------------------------------------------------------------------------------
// Public types
// ------------------------------------------------------------------------------------------

/// How a fake deployment behaves. `FakeOptions::default()` suits most tests.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// Answer `speculativeAuthenticate` in `hello` (default `true`). When `false` the reply
    /// never has it, as with a server that does not support speculative authentication, and
    /// the client must send `authenticate`.
    pub speculative_auth: bool,
    /// Refuse commands other than `hello`/`isMaster`, `authenticate`, `ping`, `buildInfo` and
    /// `endSessions` with `Unauthorized` (13) until the connection has authenticated
    /// (default `true`, like a server run with `--auth`).
    pub require_auth: bool,
    /// Certificate subjects (RFC 2253) that have an X.509 user. `None` (default): every
    /// certificate the test CA signed has one.
    pub users: Option<Vec<String>>,
    /// LDAP users (name, password) that PLAIN authenticates on `$external`, as a mongod
    /// configured for LDAP does. Empty (default): PLAIN is not enabled, and a `saslStart`
    /// with it is refused with `MechanismUnavailable` (334), as such a mongod refuses it.
    pub plain_users: Vec<(String, String)>,
    /// The server identity (certificate and key) in the test certificate directory
    /// (default `server.pem`).
    pub server_pem: String,
    /// `maxWireVersion` reported in `hello` (default 21, MongoDB 7.0).
    pub max_wire_version: i32,
    /// `logicalSessionTimeoutMinutes` reported in `hello` (default `Some(30)`); `None` leaves it
    /// out, as a deployment without session support does.
    pub logical_session_timeout_minutes: Option<i32>,
    /// Answer as a load balancer in front of mongos (default `false`): a `hello` that says
    /// `loadBalanced: true` gets a `serviceId` (the member's `topologyVersion.processId`).
    /// Set by [`FakeLoadBalancer::start`].
    pub load_balancer: bool,
    /// Compressors the fake accepts, by handshake name (`snappy`, `zlib`, `zstd`, `noop`;
    /// default none, so `hello` never answers `compression`). Only codecs compiled into the
    /// test build can be decompressed.
    pub compressors: Vec<String>,
    /// Compress every reply with the compressor negotiated on the connection, `hello` replies
    /// included, whether or not the request was compressed (as MongoDB 3.4 did; default
    /// `false`: only replies to compressed requests are compressed).
    pub compress_all_replies: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            speculative_auth: true,
            require_auth: true,
            users: None,
            plain_users: Vec::new(),
            server_pem: "server.pem".to_owned(),
            max_wire_version: 21,
            logical_session_timeout_minutes: Some(30),
            load_balancer: false,
            compressors: Vec::new(),
            compress_all_replies: false,
        }
    }
}

/// What a one-shot fail point ([`FakeDeployment::fail_next`]) does to the next matching command.
#[derive(Clone, Debug)]
pub enum FailAction {
    /// Answer with this document instead of running the command (give it `ok: 0`, `code`,
    /// `codeName`, `errmsg`, and `errorLabels` if wanted). `$clusterTime` and `operationTime`
    /// are added, and `topologyVersion` too for "not primary"/"recovering" codes.
    Error(Document),
    /// Close the connection without answering (the client sees a network error).
    CloseConnection,
    /// Wait this long, then run the command normally (for timeout tests).
    Delay(Duration),
    /// Run the command normally, then hold its reply this long (not for `hello`): the command
    /// has taken effect (a `getMore` has moved its cursor on) while the reply is on its way,
    /// as when the network is slow. A client that closes the connection meanwhile gets nothing.
    DelayReply(Duration),
    /// Run the command normally, then close the connection without answering: the command has
    /// taken effect (a commit committed) but the client sees a network error.
    RunThenClose,
    /// Answer with these bytes as they are (a hostile or malformed reply), after putting the
    /// request's id in the header's responseTo (bytes 8..12).
    RawReply(Vec<u8>),
}

impl FailAction {
    /// An [`FailAction::Error`] with `ok: 0, code, codeName, errmsg`.
    pub fn error(code: i32, code_name: &str, errmsg: &str) -> FailAction {
        FailAction::Error(error_doc(code, code_name, errmsg))
    }
}

/// The session fields of one write command a member received.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionUse {
    /// `insert`, `update`, `delete`, …
    pub command: String,
    /// Its `lsid`, if any.
    pub lsid: Option<Document>,
    /// Its `txnNumber`, if any.
    pub txn_number: Option<i64>,
}

/// Counters of one member. They survive `stop`/`restart`.
#[derive(Clone, Debug, Default)]
pub struct MemberStats {
    /// TCP connections accepted since the member started.
    pub connections_accepted: u64,
    /// Connections open now (accepted and not yet closed by either side).
    pub connections_open: u64,
    /// Commands received, by name as sent (`hello`, `isMaster`, `find`, …), whether or not they
    /// succeeded; each streamed exhaust reply is not a command.
    pub commands: BTreeMap<String, u64>,
    /// Every command body received, in order, with its document sequences folded in as arrays.
    pub command_log: Vec<Document>,
    /// `lsid`/`txnNumber` of every write command received (`insert`, `update`, `delete`,
    /// `findAndModify`, `commitTransaction`, `abortTransaction`), accepted or refused.
    pub write_sessions: Vec<SessionUse>,
    /// The user of every successful authentication (`authenticate` or speculative), in order.
    pub authentications: Vec<String>,
    /// How many of [`MemberStats::authentications`] were speculative (in `hello`).
    pub speculative_authentications: u64,
    /// How every request arrived on the wire, in order.
    pub wire_log: Vec<WireRecord>,
}

/// How one request arrived on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct WireRecord {
    /// The command name (the body's first key).
    pub command: String,
    /// The fake's id of the connection it came on (`connectionId` in `hello`).
    pub connection_id: i32,
    /// The compressor id when it came as OP_COMPRESSED; `None` for a plain OP_MSG.
    pub compressor_id: Option<u8>,
    /// Its size on the wire (the OP_COMPRESSED message when compressed).
    pub wire_size: usize,
    /// The size of the OP_MSG it was (the same as `wire_size` when plain).
    pub uncompressed_size: usize,
}

impl MemberStats {
    /// How many `command`s were received (0 if none).
    pub fn count(&self, command: &str) -> u64 {
        self.commands.get(command).copied().unwrap_or(0)
    }

    /// How many monitoring/handshake commands were received (`hello`, `isMaster`, `ismaster`).
    pub fn hellos(&self) -> u64 {
        self.count("hello") + self.count("isMaster") + self.count("ismaster")
    }

    /// The [`WireRecord`]s of `command`, in order.
    pub fn wire(&self, command: &str) -> Vec<WireRecord> {
        self.wire_log
            .iter()
            .filter(|r| r.command == command)
            .cloned()
            .collect()
    }
}

/// One decoded OP_MSG (requests and replies alike).
#[derive(Clone, Debug, PartialEq)]
pub struct OpMsg {
    /// The header's requestID.
    pub request_id: i32,
    /// The header's responseTo.
    pub response_to: i32,
    /// The flag bits ([`MORE_TO_COME`], [`EXHAUST_ALLOWED`], …).
    pub flags: u32,
    /// The kind-0 section.
    pub body: Document,
    /// The kind-1 sections: (identifier, documents).
    pub sequences: Vec<(String, Vec<Document>)>,
}

impl OpMsg {
    /// A message with a body only.
    pub fn new(request_id: i32, response_to: i32, flags: u32, body: Document) -> OpMsg {
        OpMsg {
            request_id,
            response_to,
            flags,
            body,
            sequences: Vec::new(),
        }
    }

    /// The wire bytes (no checksum; the [`CHECKSUM_PRESENT`] bit is cleared).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 16];
        buf.extend_from_slice(&(self.flags & !CHECKSUM_PRESENT).to_le_bytes());
        buf.push(0);
        self.body
            .to_writer(&mut buf)
            .expect("serialize OP_MSG body");
        for (id, docs) in &self.sequences {
            buf.push(1);
            let at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            buf.extend_from_slice(id.as_bytes());
            buf.push(0);
            for d in docs {
                d.to_writer(&mut buf).expect("serialize document sequence");
            }
            let size = (buf.len() - at) as i32;
            buf[at..at + 4].copy_from_slice(&size.to_le_bytes());
        }
        let len = buf.len() as i32;
        buf[0..4].copy_from_slice(&len.to_le_bytes());
        buf[4..8].copy_from_slice(&self.request_id.to_le_bytes());
        buf[8..12].copy_from_slice(&self.response_to.to_le_bytes());
        buf[12..16].copy_from_slice(&OP_MSG.to_le_bytes());
        buf
    }

    /// The body with each document sequence folded in as an array field (how a server sees
    /// the command).
    pub fn command(&self) -> Document {
        let mut body = self.body.clone();
        for (id, docs) in &self.sequences {
            body.insert(
                id.clone(),
                Bson::Array(docs.iter().cloned().map(Bson::Document).collect()),
            );
        }
        body
    }
}

/// Reads one OP_MSG. Malformed input (another opcode, bad lengths, bad BSON) is an
/// `InvalidData` error; a checksum is skipped, not verified.
pub async fn read_op_msg<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> io::Result<OpMsg> {
    parse_op_msg(&read_message(r).await?)
}

/// Reads one message of any opcode, header included (its length checked).
pub async fn read_message<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut header = [0u8; 16];
    r.read_exact(&mut header).await?;
    let len = i32::from_le_bytes(header[0..4].try_into().unwrap());
    if !(21..=MAX_MESSAGE_SIZE_BYTES).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad message length",
        ));
    }
    let mut msg = header.to_vec();
    msg.resize(len as usize, 0);
    r.read_exact(&mut msg[16..]).await?;
    Ok(msg)
}

/// Reads one request, OP_MSG or OP_COMPRESSED around one: the message and how it arrived
/// (compressor id, wire size, uncompressed size).
async fn read_request<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
) -> io::Result<(OpMsg, Option<u8>, usize, usize)> {
    let wire = read_message(r).await?;
    let op = i32::from_le_bytes(wire[12..16].try_into().unwrap());
    if op == compression::OP_COMPRESSED {
        let (msg, id) = compression::unwrap(&wire)?;
        return Ok((parse_op_msg(&msg)?, Some(id), wire.len(), msg.len()));
    }
    let n = wire.len();
    Ok((parse_op_msg(&wire)?, None, n, n))
}

/// Decodes one complete OP_MSG (header included), as [`read_op_msg`] does.
pub fn parse_op_msg(msg: &[u8]) -> io::Result<OpMsg> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    if msg.len() < 21 {
        return Err(bad("shorter than an OP_MSG"));
    }
    let (header, rest) = msg.split_at(16);
    let op = i32::from_le_bytes(header[12..16].try_into().unwrap());
    if op != OP_MSG {
        return Err(bad("not an OP_MSG"));
    }
    let flags = u32::from_le_bytes(rest[0..4].try_into().unwrap());
    let mut end = rest.len();
    if flags & CHECKSUM_PRESENT != 0 {
        end = end
            .checked_sub(4)
            .ok_or_else(|| bad("no room for checksum"))?;
    }
    let mut pos = 4;
    let mut body = None;
    let mut sequences = Vec::new();
    let read_len = |at: usize| -> io::Result<usize> {
        let b = rest
            .get(at..at + 4)
            .ok_or_else(|| bad("truncated length"))?;
        let l = i32::from_le_bytes(b.try_into().unwrap());
        usize::try_from(l)
            .ok()
            .filter(|l| *l >= 5 && at + l <= end)
            .ok_or_else(|| bad("length does not fit the message"))
    };
    while pos < end {
        let kind = rest[pos];
        pos += 1;
        match kind {
            0 => {
                let l = read_len(pos)?;
                let d = Document::from_reader(&rest[pos..pos + l])
                    .map_err(|e| bad(&format!("bad body: {e}")))?;
                body = Some(d);
                pos += l;
            }
            1 => {
                let l = read_len(pos)?;
                let seq_end = pos + l;
                let id_start = pos + 4;
                let nul = rest[id_start..seq_end]
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| bad("unterminated identifier"))?;
                let id = String::from_utf8_lossy(&rest[id_start..id_start + nul]).into_owned();
                let mut p = id_start + nul + 1;
                let mut docs = Vec::new();
                while p < seq_end {
                    let dl = read_len(p)?;
                    if p + dl > seq_end {
                        return Err(bad("document overruns its sequence"));
                    }
                    docs.push(
                        Document::from_reader(&rest[p..p + dl])
                            .map_err(|e| bad(&format!("bad sequence document: {e}")))?,
                    );
                    p += dl;
                }
                sequences.push((id, docs));
                pos = seq_end;
            }
            _ => return Err(bad("unknown section kind")),
        }
    }
    Ok(OpMsg {
        request_id: i32::from_le_bytes(header[4..8].try_into().unwrap()),
        response_to: i32::from_le_bytes(header[8..12].try_into().unwrap()),
        flags,
        body: body.ok_or_else(|| bad("no body section"))?,
        sequences,
    })
}

/// Writes one OP_MSG and flushes.
pub async fn write_op_msg<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    msg: &OpMsg,
) -> io::Result<()> {
    w.write_all(&msg.encode()).await?;
    w.flush().await
}

/// The subject of a certificate in RFC 2253 order (`CN=client,OU=Apps,O=Acme,ST=NY,C=US`), as
/// `openssl x509 -nameopt RFC2253` prints the test certificates (no escaping: their values are
/// plain).
pub fn subject_rfc2253(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_owned();
            let value = String::from_utf8_lossy(e.data().as_slice()).into_owned();
            format!("{key}={value}")
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// `{ok: 0, errmsg, code, codeName}`.
pub fn error_doc(code: i32, code_name: &str, errmsg: &str) -> Document {
    doc! { "ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name }
}

// ------------------------------------------------------------------------------------------
// The deployment
// ------------------------------------------------------------------------------------------

/// What replica sets and mongos routers have in common: addresses, stop/restart/freeze, fail
/// points, counters, data. [`FakeReplicaSet`] and [`FakeMongos`] deref to it.
///
/// Members are numbered from 0 in the order they were created (removed members keep their
/// number). Methods taking a member index panic if it is out of range.
pub struct FakeDeployment {
    inner: Arc<Inner>,
}

/// A fake replica set: member 0 starts as the primary, the others as secondaries, all with
/// `setVersion` 1 and the same `hosts`. See the module documentation.
pub struct FakeReplicaSet {
    deployment: FakeDeployment,
}

/// Fake mongos routers sharing one data store: `hello` says `msg: "isdbgrid"`, every router
/// accepts reads and writes.
pub struct FakeMongos {
    deployment: FakeDeployment,
}

/// A fake load balancer in front of mongos (Load Balancer Support specification): like one
/// [`FakeMongos`] router (`msg: "isdbgrid"`), and a `hello` sent with `loadBalanced: true`
/// is answered with a `serviceId`. Every connection reaches the same service.
pub struct FakeLoadBalancer {
    deployment: FakeDeployment,
}

impl Deref for FakeLoadBalancer {
    type Target = FakeDeployment;
    fn deref(&self) -> &FakeDeployment {
        &self.deployment
    }
}

impl FakeLoadBalancer {
    /// Starts the load balancer (member 0) on `127.0.0.1:<ephemeral port>`.
    pub fn start(options: FakeOptions) -> FakeLoadBalancer {
        let options = FakeOptions {
            load_balancer: true,
            ..options
        };
        FakeLoadBalancer {
            deployment: FakeDeployment::start(None, 1, options),
        }
    }

    /// The `serviceId` it reports.
    pub fn service_id(&self) -> ObjectId {
        member(&self.inner.lock(), 0).process_id
    }
}

/// A fake standalone `mongod`: not a replica set member, not a router. Its `hello` says
/// `isWritablePrimary: true` with no `setName`, `hosts` or `msg` (SDAM: a Standalone), and
/// `logicalSessionTimeoutMinutes` ([`FakeOptions::logical_session_timeout_minutes`], 30 by
/// default) since it supports sessions; but it refuses every command carrying a `txnNumber`
/// with IllegalOperation (20), as `mongod` does, and gossips no cluster time.
pub struct FakeStandalone {
    deployment: FakeDeployment,
}

impl Deref for FakeStandalone {
    type Target = FakeDeployment;
    fn deref(&self) -> &FakeDeployment {
        &self.deployment
    }
}

impl FakeStandalone {
    /// Starts the standalone (member 0) on `127.0.0.1:<ephemeral port>`.
    pub fn start(options: FakeOptions) -> FakeStandalone {
        let deployment = FakeDeployment::start(None, 1, options);
        // Set before anyone knows its address: no client can have seen it as something else.
        deployment.inner.lock().standalone = true;
        FakeStandalone { deployment }
    }
}

impl Deref for FakeReplicaSet {
    type Target = FakeDeployment;
    fn deref(&self) -> &FakeDeployment {
        &self.deployment
    }
}

impl Deref for FakeMongos {
    type Target = FakeDeployment;
    fn deref(&self) -> &FakeDeployment {
        &self.deployment
    }
}

impl FakeReplicaSet {
    /// Starts a replica set named `name` with `members` members (at least 1) on
    /// `127.0.0.1:<ephemeral port>`; member 0 is the primary.
    pub fn start(name: &str, members: usize, options: FakeOptions) -> FakeReplicaSet {
        assert!(members > 0, "a replica set needs at least one member");
        FakeReplicaSet {
            deployment: FakeDeployment::start(Some(name.to_owned()), members, options),
        }
    }

    /// The replica set name (`setName`).
    pub fn name(&self) -> &str {
        self.inner.set_name.as_deref().unwrap_or_default()
    }

    /// What `hello` reports in `hosts` now: the addresses of the members in the configuration
    /// that are neither hidden nor arbiters (stopped and frozen members included), in index order.
    pub fn hosts(&self) -> Vec<String> {
        hosts_of(&self.inner.lock())
    }

    /// The current primary, if any.
    pub fn primary(&self) -> Option<usize> {
        self.inner.lock().primary
    }

    /// The current `electionId` (the one the primary reports; a new election increments it).
    pub fn election_id(&self) -> ObjectId {
        election_id(self.inner.lock().term)
    }

    /// The current `setVersion` (1 at start; each reconfiguration increments it).
    pub fn set_version(&self) -> i32 {
        self.inner.lock().set_version
    }

    /// An election: `new_primary` becomes primary with a new, greater `electionId`; `None`
    /// leaves the set without a primary (every member answers as a secondary). Every member's
    /// `topologyVersion.counter` is incremented, so awaiting `hello`s return at once. The old
    /// primary refuses writes with `NotWritablePrimary` (10107) from then on. Panics if
    /// `new_primary` is removed, hidden or an arbiter.
    pub fn set_primary(&self, new_primary: Option<usize>) {
        {
            let mut st = self.inner.lock();
            if let Some(p) = new_primary {
                let m = member(&st, p);
                assert!(
                    m.in_config && !m.hidden && !m.arbiter,
                    "member {p} cannot become primary (removed, hidden or arbiter)"
                );
                st.term += 1;
            }
            st.primary = new_primary;
            bump_all(&mut st);
        }
        self.inner.notify();
    }

    /// [`set_primary`](Self::set_primary)`(Some(new_primary))`: the primary steps down and
    /// `new_primary` wins the election (it may be the same member: a new term).
    pub fn step_down(&self, new_primary: usize) {
        self.set_primary(Some(new_primary));
    }

    /// Removes member `i` from the configuration (a reconfig: `setVersion` + 1, every
    /// `topologyVersion` bumped): it disappears from everyone's `hosts`, and answers `hello`
    /// like a real removed member: `isWritablePrimary: false, secondary: false,
    /// isreplicaset: true`, no `setName`, `info: "Does not have a valid replica set config"`
    /// (SDAM: an RSGhost). It still accepts connections. Removing the primary leaves the set
    /// without one.
    pub fn remove_member(&self, i: usize) {
        {
            let mut st = self.inner.lock();
            let m = member_mut(&mut st, i);
            m.in_config = false;
            if st.primary == Some(i) {
                st.primary = None;
            }
            st.set_version += 1;
            bump_all(&mut st);
        }
        self.inner.notify();
    }

    /// Puts a removed member back in the configuration as a secondary (a reconfig).
    pub fn readd_member(&self, i: usize) {
        self.reconfig(i, |m| m.in_config = true);
    }

    /// Sets member `i`'s `tags` (a reconfig; an empty document removes them).
    pub fn set_tags(&self, i: usize, tags: Document) {
        self.reconfig(i, |m| m.tags = tags);
    }

    /// Makes member `i` hidden or not (a reconfig). A hidden member reports `hidden: true` and
    /// is not in anyone's `hosts`. Panics if it is the primary.
    pub fn set_hidden(&self, i: usize, hidden: bool) {
        self.assert_not_primary(i, hidden);
        self.reconfig(i, |m| m.hidden = hidden);
    }

    /// Makes member `i` an arbiter or not (a reconfig). An arbiter reports `arbiterOnly: true`,
    /// is listed in `arbiters` rather than `hosts`, and serves no data. Panics if it is the
    /// primary.
    pub fn set_arbiter(&self, i: usize, arbiter: bool) {
        self.assert_not_primary(i, arbiter);
        self.reconfig(i, |m| m.arbiter = arbiter);
    }

    /// Starts a new member (a secondary on a new port) and adds it to the configuration
    /// (`setVersion` + 1, every `topologyVersion` bumped). Returns its index.
    pub fn add_member(&self) -> usize {
        let i = add_member(&self.inner);
        {
            let mut st = self.inner.lock();
            st.set_version += 1;
            bump_all(&mut st);
        }
        self.inner.notify();
        i
    }

    fn assert_not_primary(&self, i: usize, setting: bool) {
        assert!(
            !setting || self.inner.lock().primary != Some(i),
            "member {i} is the primary: step it down first"
        );
    }

    fn reconfig(&self, i: usize, change: impl FnOnce(&mut Member)) {
        {
            let mut st = self.inner.lock();
            change(member_mut(&mut st, i));
            st.set_version += 1;
            bump_all(&mut st);
        }
        self.inner.notify();
    }
}

impl FakeMongos {
    /// Starts `routers` mongos routers (at least 1) on `127.0.0.1:<ephemeral port>`.
    pub fn start(routers: usize, options: FakeOptions) -> FakeMongos {
        assert!(routers > 0, "at least one router");
        FakeMongos {
            deployment: FakeDeployment::start(None, routers, options),
        }
    }

    /// Starts one more router. Returns its index.
    pub fn add_router(&self) -> usize {
        let i = add_member(&self.inner);
        self.inner.notify();
        i
    }
}

impl FakeDeployment {
    fn start(set_name: Option<String>, n: usize, options: FakeOptions) -> FakeDeployment {
        let acceptor = certs::client_cert_acceptor(&options.server_pem);
        let (events, _) = watch::channel(0u64);
        let now = DateTime::now();
        let inner = Arc::new(Inner {
            primary_at_start: set_name.is_some(),
            set_name,
            options,
            acceptor,
            events,
            state: Mutex::new(State {
                members: Vec::new(),
                primary: None,
                term: 1,
                set_version: 1,
                cluster_time: Timestamp {
                    time: (now.timestamp_millis() / 1000) as u32,
                    increment: 1,
                },
                last_write: now,
                data: BTreeMap::new(),
                next_cursor_id: 1000,
                next_connection_id: 1,
                change_log: Vec::new(),
                standalone: false,
                transactions: HashMap::new(),
            }),
        });
        for _ in 0..n {
            add_member(&inner);
        }
        if inner.primary_at_start {
            inner.lock().primary = Some(0);
        }
        FakeDeployment { inner }
    }

    /// How many members (routers) were ever started, removed ones included.
    pub fn len(&self) -> usize {
        self.inner.lock().members.len()
    }

    /// Member `i`'s address, `127.0.0.1:PORT` (as `hosts`, `me` and `primary` spell it).
    pub fn address(&self, i: usize) -> String {
        addr(member(&self.inner.lock(), i).port)
    }

    /// Member `i`'s port.
    pub fn port(&self, i: usize) -> u16 {
        member(&self.inner.lock(), i).port
    }

    /// The addresses of every member ever started, in index order.
    pub fn addresses(&self) -> Vec<String> {
        self.inner
            .lock()
            .members
            .iter()
            .map(|m| addr(m.port))
            .collect()
    }

    /// A MONGODB-X509 connection string seeded with every member in the configuration (every
    /// router), with `replicaSet=<name>` for a replica set, `tls=true`, the test CA, the
    /// certificate-key file `cert_file` of the test set (e.g. `client-pkcs8.pem`), the test
    /// password (ignored for unencrypted keys), and `extra` appended (`"maxPoolSize=8"`, …;
    /// may be empty).
    pub fn uri(&self, cert_file: &str, extra: &str) -> String {
        let dir = certs::test_certs();
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let seeds: Vec<String> = {
            let st = self.inner.lock();
            st.members
                .iter()
                .filter(|m| m.in_config)
                .map(|m| addr(m.port))
                .collect()
        };
        let mut uri = format!("mongodb://{}/?", seeds.join(","));
        if let Some(name) = &self.inner.set_name {
            uri.push_str(&format!("replicaSet={}&", enc(name)));
        }
        uri.push_str(&format!(
            "tls=true&tlsCAFile={}&tlsCertificateKeyFile={}&tlsCertificateKeyFilePassword={}\
             &authMechanism=MONGODB-X509",
            enc(&dir.join("ca.pem").to_string_lossy()),
            enc(&dir.join(cert_file).to_string_lossy()),
            enc(&String::from_utf8(certs::password()).expect("UTF-8 password")),
        ));
        if !extra.is_empty() {
            uri.push('&');
            uri.push_str(extra);
        }
        uri
    }

    /// Member `i`'s `topologyVersion` now: `{processId, counter}`.
    pub fn topology_version(&self, i: usize) -> Document {
        let st = self.inner.lock();
        let m = member(&st, i);
        doc! { "processId": m.process_id, "counter": m.counter }
    }

    /// Increments member `i`'s `topologyVersion.counter` (awaiting `hello`s on it return).
    pub fn bump_topology_version(&self, i: usize) {
        member_mut(&mut self.inner.lock(), i).counter += 1;
        self.inner.notify();
    }

    /// The deployment's cluster time now (advances on every write).
    pub fn cluster_time(&self) -> Timestamp {
        self.inner.lock().cluster_time
    }

    /// Stops member `i`: closes its listener and every open connection (clients see the
    /// connection reset/closed, then connection refused) and forgets its cursors. Returns once
    /// its sockets are closed. A no-op if already stopped. The other members' view does not
    /// change: a stopped primary is still reported as `primary` until
    /// [`FakeReplicaSet::set_primary`] elects another (as during a real election timeout).
    pub async fn stop(&self, i: usize) {
        let tasks = {
            let mut st = self.inner.lock();
            let m = member_mut(&mut st, i);
            m.running = false;
            m.generation += 1;
            m.cursors.clear();
            std::mem::take(&mut m.tasks)
        };
        join_aborted(tasks, &format!("member {i}")).await;
        self.inner.notify();
    }

    /// Restarts a stopped member on the same port, with a new `topologyVersion.processId`
    /// (counter 0), not frozen, with the same role as before. Panics if it is running or the
    /// port was taken meanwhile.
    pub fn restart(&self, i: usize) {
        let (port, generation) = {
            let st = self.inner.lock();
            let m = member(&st, i);
            assert!(!m.running, "member {i} is running: stop it first");
            (m.port, m.generation)
        };
        let listener = bind(port).unwrap_or_else(|e| panic!("cannot rebind 127.0.0.1:{port}: {e}"));
        {
            let mut st = self.inner.lock();
            let m = member_mut(&mut st, i);
            m.running = true;
            m.frozen = false;
            m.process_id = ObjectId::new();
            m.counter = 0;
        }
        spawn_listener(&self.inner, i, listener, generation);
        self.inner.notify();
    }

    /// Freezes member `i`: it still accepts connections and completes TLS handshakes but
    /// answers nothing until [`unfreeze`](Self::unfreeze) (then it answers what is pending).
    pub fn freeze(&self, i: usize) {
        member_mut(&mut self.inner.lock(), i).frozen = true;
        self.inner.notify();
    }

    /// Ends [`freeze`](Self::freeze).
    pub fn unfreeze(&self, i: usize) {
        member_mut(&mut self.inner.lock(), i).frozen = false;
        self.inner.notify();
    }

    /// A one-shot fail point: the next `command` (by name; `hello`, `isMaster` and `ismaster`
    /// are one name here) member `i` receives on any connection gets `action` instead of its
    /// normal answer. Several queue up, each used once.
    pub fn fail_next(&self, i: usize, command: &str, action: FailAction) {
        member_mut(&mut self.inner.lock(), i)
            .fail_points
            .push_back((command.to_owned(), action));
    }

    /// What member `i` reports as `logicalSessionTimeoutMinutes` from now on (`None`: the
    /// field is left out, as by a server without sessions, e.g. an older member during an
    /// upgrade). Its `topologyVersion` is bumped, so that monitors see the change at once.
    pub fn set_logical_session_timeout(&self, i: usize, minutes: Option<i32>) {
        {
            let mut st = self.inner.lock();
            let m = member_mut(&mut st, i);
            m.logical_session_timeout_minutes = minutes;
            m.counter += 1;
        }
        self.inner.notify();
    }

    /// A standing fail point: every `command` (by name, as for [`fail_next`](Self::fail_next))
    /// member `i` receives on any connection gets `action`, until
    /// [`clear_fail_always`](Self::clear_fail_always). One-shot fail points come first. With
    /// `"authenticate"` and [`FakeOptions::speculative_auth`] off, a member that answers its
    /// monitors (never authenticated) but resets every application connection.
    pub fn fail_always(&self, i: usize, command: &str, action: FailAction) {
        member_mut(&mut self.inner.lock(), i)
            .standing_fail_points
            .push((command.to_owned(), action));
    }

    /// Removes member `i`'s standing fail points.
    pub fn clear_fail_always(&self, i: usize) {
        member_mut(&mut self.inner.lock(), i)
            .standing_fail_points
            .clear();
    }

    /// Member `i`'s counters.
    pub fn stats(&self, i: usize) -> MemberStats {
        member(&self.inner.lock(), i).stats.clone()
    }

    /// Resets member `i`'s counters, except `connections_open`.
    pub fn reset_stats(&self, i: usize) {
        let mut st = self.inner.lock();
        let m = member_mut(&mut st, i);
        m.stats = MemberStats {
            connections_open: m.stats.connections_open,
            ..MemberStats::default()
        };
    }

    /// Connections open now on all members together.
    pub fn connections_open(&self) -> u64 {
        let st = self.inner.lock();
        st.members.iter().map(|m| m.stats.connections_open).sum()
    }

    /// The documents of `db.coll` now, in insertion order.
    pub fn documents(&self, db: &str, coll: &str) -> Vec<Document> {
        let st = self.inner.lock();
        st.data
            .get(db)
            .and_then(|d| d.get(coll))
            .cloned()
            .unwrap_or_default()
    }

    /// Adds documents to `db.coll` directly (no command, no counters); `_id`s are added where
    /// missing.
    pub fn seed(&self, db: &str, coll: &str, docs: impl IntoIterator<Item = Document>) {
        let mut st = self.inner.lock();
        let store = st
            .data
            .entry(db.to_owned())
            .or_default()
            .entry(coll.to_owned())
            .or_default();
        store.extend(docs.into_iter().map(with_id));
    }

    /// Waits until `cond(self)` holds, re-checking whenever anything happens in the deployment
    /// (connections opened or closed, commands received, controls called). Panics, naming
    /// `what`, after `timeout`. Example:
    /// `rs.wait_for("sockets closed", secs(5), |d| d.connections_open() == 0).await`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Self) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        let mut rx = self.inner.events.subscribe();
        loop {
            if cond(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
        }
    }

    /// Stops every member (see [`stop`](Self::stop)). Dropping the deployment does the same
    /// without waiting.
    pub async fn shutdown(&self) {
        for i in 0..self.len() {
            self.stop(i).await;
        }
    }
}

impl Drop for FakeDeployment {
    fn drop(&mut self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            st.members
                .iter_mut()
                .flat_map(|m| {
                    m.running = false;
                    m.generation += 1;
                    std::mem::take(&mut m.tasks)
                })
                .collect()
        };
        for t in tasks {
            t.abort();
        }
    }
}

async fn join_aborted(tasks: Vec<JoinHandle<()>>, what: &str) {
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        if tokio::time::timeout(STOP_TIMEOUT, t).await.is_err() {
            panic!("{what}: a task did not end within {STOP_TIMEOUT:?} of being aborted");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Internals
// ------------------------------------------------------------------------------------------

struct Inner {
    /// `None` for mongos.
    set_name: Option<String>,
    primary_at_start: bool,
    options: FakeOptions,
    acceptor: SslAcceptor,
    state: Mutex<State>,
    /// Bumped on every change; waiters re-check their condition.
    events: watch::Sender<u64>,
}

struct State {
    members: Vec<Member>,
    primary: Option<usize>,
    term: i64,
    set_version: i32,
    cluster_time: Timestamp,
    last_write: DateTime,
    data: BTreeMap<String, BTreeMap<String, Vec<Document>>>,
    next_cursor_id: i64,
    next_connection_id: i32,
    /// Insert events for change streams, in order; event `k` has token `k + 1`.
    change_log: Vec<Document>,
    /// A standalone `mongod` ([`FakeStandalone`]): `set_name` is `None` as for mongos.
    standalone: bool,
    /// Multi-document transactions, where each lives.
    transactions: HashMap<(TxnScope, Vec<u8>), Txn>,
}

/// Where a transaction lives: the member (mongod primary, or mongos router) that ran its first
/// command, or behind the load balancer the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TxnScope {
    Member(usize),
    Connection(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnState {
    Active,
    Committed,
    Aborted,
}

/// One transaction: its number, state, and the copy of the data it works on.
struct Txn {
    txn_number: i64,
    state: TxnState,
    data: BTreeMap<String, BTreeMap<String, Vec<Document>>>,
}

struct Member {
    port: u16,
    in_config: bool,
    running: bool,
    frozen: bool,
    hidden: bool,
    arbiter: bool,
    tags: Document,
    process_id: ObjectId,
    counter: i64,
    /// Incremented by `stop`: tasks of an older generation must not register.
    generation: u64,
    tasks: Vec<JoinHandle<()>>,
    fail_points: VecDeque<(String, FailAction)>,
    /// [`FakeDeployment::fail_always`]: used on every match, never removed.
    standing_fail_points: Vec<(String, FailAction)>,
    cursors: HashMap<i64, Cursor>,
    stats: MemberStats,
    /// `logicalSessionTimeoutMinutes` it reports (from [`FakeOptions`] at start).
    logical_session_timeout_minutes: Option<i32>,
}

struct Cursor {
    ns: String,
    docs: VecDeque<Document>,
    /// For a change stream: what it watches and where in the change log it is.
    change_stream: Option<ChangeStreamCursor>,
}

/// A change stream cursor's place: the database, the collection (none: the whole
/// database), and the index of the next change log entry to scan.
struct ChangeStreamCursor {
    db: String,
    coll: Option<String>,
    next: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.events.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn is_mongos(&self) -> bool {
        self.set_name.is_none()
    }
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn member(st: &State, i: usize) -> &Member {
    let n = st.members.len();
    st.members
        .get(i)
        .unwrap_or_else(|| panic!("no member {i} (there are {n})"))
}

fn member_mut(st: &mut State, i: usize) -> &mut Member {
    let n = st.members.len();
    st.members
        .get_mut(i)
        .unwrap_or_else(|| panic!("no member {i} (there are {n})"))
}

fn bump_all(st: &mut State) {
    for m in &mut st.members {
        m.counter += 1;
    }
}

fn hosts_of(st: &State) -> Vec<String> {
    st.members
        .iter()
        .filter(|m| m.in_config && !m.hidden && !m.arbiter)
        .map(|m| addr(m.port))
        .collect()
}

fn election_id(term: i64) -> ObjectId {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    b[4..12].copy_from_slice(&term.to_be_bytes());
    ObjectId::from_bytes(b)
}

fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(1024)
}

fn add_member(inner: &Arc<Inner>) -> usize {
    let listener = bind(0).unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1: {e}"));
    let port = listener.local_addr().expect("local address").port();
    let i = {
        let mut st = inner.lock();
        st.members.push(Member {
            port,
            in_config: true,
            running: true,
            frozen: false,
            hidden: false,
            arbiter: false,
            tags: Document::new(),
            process_id: ObjectId::new(),
            counter: 0,
            generation: 0,
            tasks: Vec::new(),
            fail_points: VecDeque::new(),
            standing_fail_points: Vec::new(),
            cursors: HashMap::new(),
            stats: MemberStats::default(),
            logical_session_timeout_minutes: inner.options.logical_session_timeout_minutes,
        });
        st.members.len() - 1
    };
    spawn_listener(inner, i, listener, 0);
    i
}

fn spawn_listener(inner: &Arc<Inner>, i: usize, listener: TcpListener, generation: u64) {
    let task = tokio::spawn(accept_loop(inner.clone(), i, listener, generation));
    let mut st = inner.lock();
    let m = &mut st.members[i];
    if m.generation == generation {
        m.tasks.push(task);
    } else {
        drop(st);
        task.abort();
    }
}

/// Decrements `connections_open` when a connection task ends (or is aborted).
struct OpenGuard {
    inner: Arc<Inner>,
    i: usize,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        {
            let mut st = self.inner.lock();
            let open = &mut st.members[self.i].stats.connections_open;
            *open = open.saturating_sub(1);
        }
        self.inner.notify();
    }
}

async fn accept_loop(inner: Arc<Inner>, i: usize, listener: TcpListener, generation: u64) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let mut st = inner.lock();
        let conn_id = st.next_connection_id;
        st.next_connection_id += 1;
        let m = &mut st.members[i];
        if m.generation != generation {
            return;
        }
        m.stats.connections_accepted += 1;
        m.stats.connections_open += 1;
        let guard = OpenGuard {
            inner: inner.clone(),
            i,
        };
        let task = tokio::spawn(serve(inner.clone(), i, tcp, conn_id, guard));
        m.tasks.retain(|t| !t.is_finished());
        m.tasks.push(task);
        drop(st);
        inner.notify();
    }
}

type Tls = SslStream<TcpStream>;

/// One connection's I/O and authentication state.
struct Conn {
    rd: BufReader<ReadHalf<Tls>>,
    wr: WriteHalf<Tls>,
    info: ConnInfo,
    next_request_id: i32,
    /// The compressor of the request being answered (replies use the same).
    reply_compressor: Option<u8>,
    /// [`FakeOptions::compress_all_replies`].
    compress_all: bool,
}

struct ConnInfo {
    id: i32,
    /// The client certificate's subject (RFC 2253).
    subject: Option<String>,
    /// The authenticated user.
    user: Option<String>,
    /// A `hello` with `client` metadata was received.
    metadata_seen: bool,
    /// The compressor negotiated in the first `hello` (the first of the client's list that
    /// the fake accepts).
    negotiated: Option<u8>,
}

/// The client closed the connection while the server waited.
struct Gone;

async fn serve(inner: Arc<Inner>, i: usize, tcp: TcpStream, conn_id: i32, _guard: OpenGuard) {
    let Ok(ssl) = Ssl::new(inner.acceptor.context()) else {
        return;
    };
    let Ok(mut tls) = SslStream::new(ssl, tcp) else {
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut tls).accept()).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let subject = tls
        .ssl()
        .peer_certificate()
        .map(|c| subject_rfc2253(c.subject_name()));
    let (rd, wr) = tokio::io::split(tls);
    let mut conn = Conn {
        rd: BufReader::new(rd),
        wr,
        info: ConnInfo {
            id: conn_id,
            subject,
            user: None,
            metadata_seen: false,
            negotiated: None,
        },
        next_request_id: 1,
        reply_compressor: None,
        compress_all: inner.options.compress_all_replies,
    };
    let _ = connection_loop(&inner, i, &mut conn).await;
    if inner.options.load_balancer {
        // Load Balancer specification: a service aborts the transaction of a closed connection.
        let mut st = inner.lock();
        for ((scope, _), txn) in st.transactions.iter_mut() {
            if *scope == TxnScope::Connection(conn_id) && txn.state == TxnState::Active {
                txn.state = TxnState::Aborted;
                txn.data = BTreeMap::new();
            }
        }
    }
}

fn is_hello(name: &str) -> bool {
    matches!(name, "hello" | "isMaster" | "ismaster")
}

fn same_command(a: &str, b: &str) -> bool {
    a == b || (is_hello(a) && is_hello(b))
}

const WRITE_COMMANDS: &[&str] = &[
    "insert",
    "update",
    "delete",
    "findAndModify",
    "commitTransaction",
    "abortTransaction",
];

async fn connection_loop(inner: &Arc<Inner>, i: usize, conn: &mut Conn) -> io::Result<()> {
    loop {
        let (msg, compressor_id, wire_size, uncompressed_size) = read_request(&mut conn.rd).await?;
        conn.reply_compressor = compressor_id;
        let body = msg.command();
        let Some(name) = body.keys().next().cloned() else {
            return Ok(()); // an empty command: close, as a real server would reject it
        };
        let action = {
            let mut st = inner.lock();
            let m = &mut st.members[i];
            m.stats.wire_log.push(WireRecord {
                command: name.clone(),
                connection_id: conn.info.id,
                compressor_id,
                wire_size,
                uncompressed_size,
            });
            *m.stats.commands.entry(name.clone()).or_insert(0) += 1;
            m.stats.command_log.push(body.clone());
            if WRITE_COMMANDS.contains(&name.as_str()) {
                m.stats.write_sessions.push(SessionUse {
                    command: name.clone(),
                    lsid: body.get_document("lsid").ok().cloned(),
                    txn_number: body.get("txnNumber").and_then(as_i64),
                });
            }
            let at = m
                .fail_points
                .iter()
                .position(|(c, _)| same_command(c, &name));
            at.and_then(|at| m.fail_points.remove(at))
                .map(|(_, a)| a)
                .or_else(|| {
                    m.standing_fail_points
                        .iter()
                        .find(|(c, _)| same_command(c, &name))
                        .map(|(_, a)| a.clone())
                })
        };
        inner.notify();
        let wants_reply = msg.flags & MORE_TO_COME == 0;
        let retryable_write = is_retryable_write(&name, &body);
        let mut reply_delay = None;
        let mut close_after = false;
        match action {
            Some(FailAction::CloseConnection) => return Ok(()),
            Some(FailAction::RawReply(mut bytes)) => {
                if bytes.len() >= 12 {
                    bytes[8..12].copy_from_slice(&msg.request_id.to_le_bytes());
                }
                conn.wr.write_all(&bytes).await?;
                conn.wr.flush().await?;
                continue;
            }
            Some(FailAction::Delay(d)) => {
                let deadline = Instant::now() + d;
                if wait_state(inner, &mut conn.rd, Some(deadline), |_| false)
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            Some(FailAction::Error(mut reply)) => {
                if wait_unfrozen(inner, i, conn).await.is_err() {
                    return Ok(());
                }
                {
                    let st = inner.lock();
                    decorate(&st, i, &mut reply);
                }
                if retryable_write {
                    add_retryable_label(&mut reply);
                }
                if wants_reply {
                    send(conn, msg.request_id, 0, reply).await?;
                }
                continue;
            }
            Some(FailAction::DelayReply(d)) => reply_delay = Some(d),
            Some(FailAction::RunThenClose) => close_after = true,
            None => {}
        }
        if !body.contains_key("$db") {
            // Real servers refuse such a message (any command, hello included).
            if wait_unfrozen(inner, i, conn).await.is_err() {
                return Ok(());
            }
            let mut reply = error_doc(
                40571,
                "Location40571",
                "OP_MSG requests require a $db argument",
            );
            decorate(&inner.lock(), i, &mut reply);
            if wants_reply {
                send(conn, msg.request_id, 0, reply).await?;
            }
            continue;
        }
        if is_hello(&name) {
            if hello(inner, i, conn, &msg, &name, &body).await.is_err() {
                return Ok(());
            }
            continue;
        }
        if wait_unfrozen(inner, i, conn).await.is_err() {
            return Ok(());
        }
        let reply = {
            let mut st = inner.lock();
            let mut reply = run_command(inner, &mut st, i, &mut conn.info, &name, &body);
            decorate(&st, i, &mut reply);
            if retryable_write {
                add_retryable_label(&mut reply);
            }
            reply
        };
        inner.notify();
        if close_after {
            return Ok(());
        }
        if let Some(d) = reply_delay {
            let deadline = Instant::now() + d;
            if wait_state(inner, &mut conn.rd, Some(deadline), |_| false)
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        if wants_reply {
            send(conn, msg.request_id, 0, reply).await?;
        } else if reply.get("code").and_then(as_i64) == Some(10107) {
            // OP_MSG spec: an unacknowledged write refused as "not primary" closes the
            // connection, so the client notices the failover on its next use of it.
            return Ok(());
        }
    }
}

/// A retryable write as the server sees it: a write with `txnNumber` outside a multi-document
/// transaction, or `commitTransaction`/`abortTransaction`.
fn is_retryable_write(name: &str, body: &Document) -> bool {
    match name {
        "commitTransaction" | "abortTransaction" => true,
        "insert" | "update" | "delete" | "findAndModify" => {
            body.contains_key("txnNumber") && !body.contains_key("autocommit")
        }
        _ => false,
    }
}

/// Adds `errorLabels: ["RetryableWriteError"]` to a retryable error without labels, as 4.4+
/// servers do for retryable writes.
fn add_retryable_label(reply: &mut Document) {
    let retryable = reply
        .get("code")
        .and_then(as_i64)
        .is_some_and(|c| RETRYABLE_WRITE_CODES.contains(&(c as i32)));
    if retryable && !reply.contains_key("errorLabels") {
        reply.insert("errorLabels", vec!["RetryableWriteError"]);
    }
}

async fn send(conn: &mut Conn, response_to: i32, flags: u32, body: Document) -> io::Result<i32> {
    let id = conn.next_request_id;
    conn.next_request_id = conn.next_request_id.wrapping_add(1);
    let msg = OpMsg::new(id, response_to, flags, body);
    let all = conn.info.negotiated.filter(|_| conn.compress_all);
    match conn.reply_compressor.or(all) {
        Some(c) => {
            conn.wr
                .write_all(&compression::wrap(&msg.encode(), c))
                .await?;
            conn.wr.flush().await?;
        }
        None => write_op_msg(&mut conn.wr, &msg).await?,
    }
    Ok(id)
}

/// Resolves when the client closes its end (EOF or error). Data sent meanwhile stays buffered
/// for the next read (and this then never resolves).
async fn client_closed<R: AsyncRead + Unpin>(rd: &mut BufReader<R>) {
    match rd.fill_buf().await {
        Ok(b) if !b.is_empty() => std::future::pending().await,
        _ => {}
    }
}

/// Waits until `cond` holds (`Ok(true)`), `deadline` passes (`Ok(false)`), or the client
/// closes the connection (`Err(Gone)`).
async fn wait_state<R: AsyncRead + Unpin>(
    inner: &Inner,
    rd: &mut BufReader<R>,
    deadline: Option<Instant>,
    mut cond: impl FnMut(&State) -> bool,
) -> Result<bool, Gone> {
    let mut rx = inner.events.subscribe();
    loop {
        if cond(&inner.lock()) {
            return Ok(true);
        }
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = rx.changed() => {}
            _ = timer => return Ok(false),
            _ = client_closed(rd) => return Err(Gone),
        }
    }
}

async fn wait_unfrozen(inner: &Inner, i: usize, conn: &mut Conn) -> Result<bool, Gone> {
    wait_state(inner, &mut conn.rd, None, |st| !st.members[i].frozen).await
}

/// `hello`, awaitable and streamed: with `topologyVersion` and `maxAwaitTimeMS` the reply
/// waits until the member's topologyVersion differs from the client's or the time is up; with
/// `exhaustAllowed` too, replies keep coming with `moreToCome`, each `responseTo` the previous
/// reply's requestID, until the client closes the connection.
async fn hello(
    inner: &Arc<Inner>,
    i: usize,
    conn: &mut Conn,
    msg: &OpMsg,
    name: &str,
    body: &Document,
) -> Result<(), Gone> {
    let max_await = body.get("maxAwaitTimeMS").and_then(as_i64);
    let mut client_tv = body.get_document("topologyVersion").ok().cloned();
    let exhaust = msg.flags & EXHAUST_ALLOWED != 0 && max_await.is_some() && client_tv.is_some();
    let mut response_to = msg.request_id;
    let mut first = true;
    loop {
        if let (Some(tv), Some(ms)) = (&client_tv, max_await) {
            let deadline = Instant::now() + Duration::from_millis(ms.max(0) as u64);
            let pid = tv.get_object_id("processId").ok();
            let counter = tv.get("counter").and_then(as_i64);
            wait_state(inner, &mut conn.rd, Some(deadline), |st| {
                let m = &st.members[i];
                Some(m.process_id) != pid || Some(m.counter) != counter
            })
            .await?;
        }
        wait_unfrozen(inner, i, conn).await?;
        let reply = {
            let mut st = inner.lock();
            if first && body.contains_key("client") && conn.info.metadata_seen {
                let mut reply = error_doc(
                    186,
                    "ClientMetadataCannotBeMutated",
                    "The client metadata document may only be sent in the first hello",
                );
                decorate(&st, i, &mut reply);
                reply
            } else {
                if first && body.contains_key("client") {
                    conn.info.metadata_seen = true;
                }
                hello_reply(inner, &mut st, i, &mut conn.info, name, body, first)
            }
        };
        inner.notify();
        if msg.flags & MORE_TO_COME != 0 {
            return Ok(());
        }
        let flags = if exhaust { MORE_TO_COME } else { 0 };
        let tv = reply.get_document("topologyVersion").ok().cloned();
        let id = send(conn, response_to, flags, reply)
            .await
            .map_err(|_| Gone)?;
        if !exhaust {
            return Ok(());
        }
        client_tv = tv;
        response_to = id;
        first = false;
    }
}

fn hello_reply(
    inner: &Inner,
    st: &mut State,
    i: usize,
    conn: &mut ConnInfo,
    name: &str,
    body: &Document,
    first: bool,
) -> Document {
    let mut r = Document::new();
    if body.get_bool("helloOk") == Ok(true) {
        r.insert("helloOk", true);
    }
    let writable_key = if name == "hello" {
        "isWritablePrimary"
    } else {
        "ismaster"
    };
    let m = &st.members[i];
    match &inner.set_name {
        None if st.standalone => {
            r.insert(writable_key, true);
        }
        None => {
            r.insert(writable_key, true);
            r.insert("msg", "isdbgrid");
        }
        Some(_) if !m.in_config => {
            r.insert(writable_key, false);
            r.insert("secondary", false);
            r.insert("info", "Does not have a valid replica set config");
            r.insert("isreplicaset", true);
        }
        Some(set_name) => {
            let is_primary = st.primary == Some(i);
            r.insert(writable_key, is_primary);
            r.insert("secondary", !is_primary && !m.arbiter);
            r.insert("hosts", hosts_of(st));
            let arbiters: Vec<String> = st
                .members
                .iter()
                .filter(|m| m.in_config && m.arbiter)
                .map(|m| addr(m.port))
                .collect();
            if !arbiters.is_empty() {
                r.insert("arbiters", arbiters);
            }
            r.insert("setName", set_name.as_str());
            r.insert("setVersion", st.set_version);
            if m.arbiter {
                r.insert("arbiterOnly", true);
            }
            if m.hidden {
                r.insert("hidden", true);
            }
            if let Some(p) = st.primary {
                if st.members[p].in_config {
                    r.insert("primary", addr(st.members[p].port));
                }
            }
            r.insert("me", addr(m.port));
            if is_primary {
                r.insert("electionId", election_id(st.term));
            }
            let op_time = doc! { "ts": st.cluster_time, "t": st.term };
            r.insert(
                "lastWrite",
                doc! {
                    "opTime": op_time.clone(),
                    "lastWriteDate": st.last_write,
                    "majorityOpTime": op_time,
                    "majorityWriteDate": st.last_write,
                },
            );
            if !m.tags.is_empty() {
                r.insert("tags", m.tags.clone());
            }
        }
    }
    r.insert(
        "topologyVersion",
        doc! { "processId": m.process_id, "counter": m.counter },
    );
    r.insert("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE);
    r.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE_BYTES);
    r.insert("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE);
    r.insert("localTime", DateTime::now());
    if let Some(minutes) = m.logical_session_timeout_minutes {
        r.insert("logicalSessionTimeoutMinutes", minutes);
    }
    if inner.options.load_balancer && body.get_bool("loadBalanced") == Ok(true) {
        r.insert("serviceId", m.process_id);
    }
    r.insert("connectionId", conn.id);
    r.insert("minWireVersion", 0);
    r.insert("maxWireVersion", inner.options.max_wire_version);
    r.insert("readOnly", false);
    if first {
        // The client's list filtered by the fake's (Compression spec); no field when empty.
        let offered: Vec<String> = match body.get_array("compression") {
            Ok(names) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .filter(|n| inner.options.compressors.contains(n))
                .filter(|n| compression::id_of(n).is_some())
                .collect(),
            Err(_) => Vec::new(),
        };
        conn.negotiated = offered.first().and_then(|n| compression::id_of(n));
        if !offered.is_empty() {
            r.insert("compression", offered);
        }
    }
    if first && inner.options.speculative_auth {
        if let Ok(spec) = body.get_document("speculativeAuthenticate") {
            let db = spec
                .get_str("db")
                .unwrap_or_else(|_| body.get_str("$db").unwrap_or("admin"));
            if let Ok(user) = x509_auth(inner, conn, spec, db) {
                r.insert(
                    "speculativeAuthenticate",
                    doc! { "dbname": "$external", "user": user.as_str() },
                );
                let stats = &mut st.members[i].stats;
                stats.authentications.push(user);
                stats.speculative_authentications += 1;
            }
        }
    }
    r.insert("ok", 1.0);
    decorate(st, i, &mut r);
    r
}

/// MONGODB-X509 against the connection's certificate: the user, or an error reply.
fn x509_auth(
    inner: &Inner,
    conn: &mut ConnInfo,
    cmd: &Document,
    db: &str,
) -> Result<String, Document> {
    let failed = |m: &str| error_doc(18, "AuthenticationFailed", m);
    let mechanism = cmd.get_str("mechanism").unwrap_or("");
    if mechanism != "MONGODB-X509" {
        return Err(error_doc(
            334,
            "MechanismUnavailable",
            &format!("Received authentication for mechanism {mechanism} which is not enabled"),
        ));
    }
    if db != "$external" {
        return Err(failed(
            "X.509 authentication must always use the $external database.",
        ));
    }
    let subject = conn
        .subject
        .clone()
        .ok_or_else(|| failed("No verified subject name available from client"))?;
    if let Ok(user) = cmd.get_str("user") {
        if user != subject {
            return Err(failed(&format!(
                "There is no x.509 client certificate matching the user {user}"
            )));
        }
    }
    if let Some(users) = &inner.options.users {
        if !users.contains(&subject) {
            return Err(failed(&format!(
                "Could not find user \"{subject}\" for db \"$external\""
            )));
        }
    }
    conn.user = Some(subject.clone());
    Ok(subject)
}

/// PLAIN (LDAP) against [`FakeOptions::plain_users`]: the user, or an error reply.
fn plain_auth(
    inner: &Inner,
    conn: &mut ConnInfo,
    cmd: &Document,
    db: &str,
) -> Result<String, Document> {
    let mechanism = cmd.get_str("mechanism").unwrap_or("");
    if mechanism != "PLAIN" || inner.options.plain_users.is_empty() {
        return Err(error_doc(
            334,
            "MechanismUnavailable",
            &format!("Received authentication for mechanism {mechanism} which is not enabled"),
        ));
    }
    if db != "$external" {
        return Err(error_doc(
            18,
            "AuthenticationFailed",
            "PLAIN authentication must use the $external database.",
        ));
    }
    let payload = cmd
        .get_binary_generic("payload")
        .map_err(|_| error_doc(17, "ProtocolError", "saslStart needs a binary payload"))?;
    // authzid \0 authcid \0 password (RFC 4616); authzid empty or equal to authcid.
    let parts: Vec<&[u8]> = payload.split(|b| *b == 0).collect();
    let (authzid, user, password) = match parts[..] {
        [z, u, p] => (z, u, p),
        _ => return Err(error_doc(17, "ProtocolError", "malformed PLAIN payload")),
    };
    let user = String::from_utf8_lossy(user).into_owned();
    let known = inner
        .options
        .plain_users
        .iter()
        .any(|(u, p)| *u == user && p.as_bytes() == password);
    if !known || !(authzid.is_empty() || authzid == user.as_bytes()) {
        return Err(error_doc(
            18,
            "AuthenticationFailed",
            "Authentication failed.",
        ));
    }
    conn.user = Some(user.clone());
    Ok(user)
}

/// Adds `$clusterTime`, `operationTime` (not on a standalone, which has no cluster time), and
/// `topologyVersion` to state-change errors.
fn decorate(st: &State, i: usize, reply: &mut Document) {
    if let Some(code) = reply.get("code").and_then(as_i64) {
        if STATE_CHANGE_CODES.contains(&(code as i32)) && !reply.contains_key("topologyVersion") {
            let m = &st.members[i];
            reply.insert(
                "topologyVersion",
                doc! { "processId": m.process_id, "counter": m.counter },
            );
        }
    }
    if st.standalone {
        return;
    }
    reply.insert(
        "$clusterTime",
        doc! {
            "clusterTime": st.cluster_time,
            "signature": {
                "hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 20] },
                "keyId": 0i64,
            },
        },
    );
    reply.insert("operationTime", st.cluster_time);
}

enum Access {
    Any,
    Read,
    Write,
}

fn command_access(name: &str) -> Option<Access> {
    Some(match name {
        "authenticate" | "saslStart" | "saslContinue" | "ping" | "buildInfo" | "buildinfo"
        | "endSessions" | "getMore" | "killCursors" => Access::Any,
        "find" | "count" | "aggregate" | "listDatabases" | "listCollections" => Access::Read,
        "insert" | "update" | "delete" | "findAndModify" | "create" | "drop" | "dropDatabase"
        | "commitTransaction" | "abortTransaction" => Access::Write,
        _ => return None,
    })
}

fn run_command(
    inner: &Inner,
    st: &mut State,
    i: usize,
    conn: &mut ConnInfo,
    name: &str,
    body: &Document,
) -> Document {
    let Some(access) = command_access(name) else {
        return error_doc(59, "CommandNotFound", &format!("no such command: '{name}'"));
    };
    let exempt = matches!(
        name,
        "authenticate"
            | "saslStart"
            | "saslContinue"
            | "ping"
            | "buildInfo"
            | "buildinfo"
            | "endSessions"
    );
    if inner.options.require_auth && !exempt && conn.user.is_none() {
        return error_doc(
            13,
            "Unauthorized",
            &format!("Command {name} requires authentication"),
        );
    }
    if let Some(refused) = session_refusal(st.standalone, name, body) {
        return refused;
    }
    if !inner.is_mongos() && !st.standalone {
        let m = &st.members[i];
        let is_primary = st.primary == Some(i) && m.in_config;
        match access {
            Access::Write if !is_primary => {
                return error_doc(10107, "NotWritablePrimary", "not primary");
            }
            Access::Read if !is_primary => {
                let secondary_ok = body
                    .get_document("$readPreference")
                    .ok()
                    .and_then(|rp| rp.get_str("mode").ok())
                    .is_some_and(|mode| mode != "primary");
                if !secondary_ok {
                    return error_doc(
                        13435,
                        "NotPrimaryNoSecondaryOk",
                        "not primary and secondaryOk=false",
                    );
                }
                if !m.in_config || m.arbiter {
                    return error_doc(
                        13436,
                        "NotPrimaryOrSecondary",
                        "node is not in primary or recovering state",
                    );
                }
            }
            _ => {}
        }
    }
    let db = body.get_str("$db").unwrap_or("admin").to_owned();
    let scope = if inner.options.load_balancer {
        TxnScope::Connection(conn.id)
    } else {
        TxnScope::Member(i)
    };
    let txn_key = match transaction_gate(inner, st, scope, name, body) {
        Gate::Outside => None,
        Gate::Inside(key) => Some(key),
        Gate::Reply(mut reply) => {
            if inner.is_mongos() && reply.get("ok").and_then(as_f64) == Some(1.0) {
                reply.insert("recoveryToken", recovery_token(i));
            }
            return reply;
        }
    };
    // A command of a transaction runs on the transaction's copy of the data.
    if let Some(key) = &txn_key {
        if let Some(txn) = st.transactions.get_mut(key) {
            std::mem::swap(&mut st.data, &mut txn.data);
        }
    }
    let result = run_data_command(inner, st, i, conn, name, body, &db);
    if let Some(key) = &txn_key {
        if let Some(txn) = st.transactions.get_mut(key) {
            std::mem::swap(&mut st.data, &mut txn.data);
            // A command error aborts the transaction on the server.
            if result.is_err() {
                txn.state = TxnState::Aborted;
                txn.data = BTreeMap::new();
            }
        }
    }
    match result {
        Ok(mut reply) => {
            reply.insert("ok", 1.0);
            if txn_key.is_some() && inner.is_mongos() {
                reply.insert("recoveryToken", recovery_token(i));
            }
            reply
        }
        Err(error) => error,
    }
}

/// The command itself, on `st.data` (the transaction's copy inside a transaction).
fn run_data_command(
    inner: &Inner,
    st: &mut State,
    i: usize,
    conn: &mut ConnInfo,
    name: &str,
    body: &Document,
    db: &str,
) -> CmdResult {
    let db = db.to_owned();
    match name {
        "authenticate" => x509_auth(inner, conn, body, &db).map(|user| {
            st.members[i].stats.authentications.push(user.clone());
            doc! { "dbname": "$external", "user": user }
        }),
        "saslStart" => plain_auth(inner, conn, body, &db).map(|user| {
            st.members[i].stats.authentications.push(user);
            doc! {
                "conversationId": 1,
                "payload": Binary { subtype: BinarySubtype::Generic, bytes: Vec::new() },
                "done": true,
            }
        }),
        // Every conversation the fake runs ends with saslStart.
        "saslContinue" => Err(error_doc(
            17,
            "ProtocolError",
            "No SASL session state found",
        )),
        "ping" | "endSessions" | "commitTransaction" | "abortTransaction" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(doc! {
            "version": "7.0.0",
            "gitVersion": "fake",
            "versionArray": [7, 0, 0, 0],
            "bits": 64,
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        }),
        "insert" => insert(st, &db, body),
        "update" => update(st, &db, body),
        "delete" => delete(st, &db, body),
        "findAndModify" => find_and_modify(st, &db, body),
        "find" => find(st, i, &db, body),
        "getMore" => get_more(st, i, &db, body),
        "killCursors" => kill_cursors(st, i, body),
        "count" => count(st, &db, body),
        "aggregate" => aggregate(st, i, &db, body),
        "listDatabases" => Ok(list_databases(st, body)),
        "listCollections" => list_collections(st, i, &db, body),
        "create" => create(st, &db, body),
        "drop" => drop_collection(st, &db, body),
        "dropDatabase" => {
            st.data.remove(&db);
            tick(st);
            Ok(doc! { "dropped": db.as_str() })
        }
        _ => unreachable!("command_access knows {name}"),
    }
}

/// What [`transaction_gate`] decided about a command.
enum Gate {
    /// Not part of a transaction.
    Outside,
    /// Part of this transaction: run it on the transaction's data.
    Inside((TxnScope, Vec<u8>)),
    /// Answered already (refused, or `commitTransaction`/`abortTransaction`).
    Reply(Document),
}

fn no_such_transaction(lsid: &Document, txn_number: i64) -> Document {
    let mut reply = error_doc(
        251,
        "NoSuchTransaction",
        &format!("Transaction with {{ txnNumber: {txn_number} }} has been aborted or was never started on this node (lsid {lsid})"),
    );
    reply.insert("errorLabels", vec!["TransientTransactionError"]);
    reply
}

/// The transaction rules of `mongod`/`mongos` for a command's `autocommit`,
/// `startTransaction`, `readConcern` and `writeConcern`, and `commitTransaction` /
/// `abortTransaction` themselves.
fn transaction_gate(
    inner: &Inner,
    st: &mut State,
    scope: TxnScope,
    name: &str,
    body: &Document,
) -> Gate {
    let ends = matches!(name, "commitTransaction" | "abortTransaction");
    if !body.contains_key("autocommit") {
        if ends {
            return Gate::Reply(error_doc(
                50768,
                "Location50768",
                &format!("{name} must be run within a transaction (autocommit: false)"),
            ));
        }
        return Gate::Outside;
    }
    if body.get_bool("autocommit") != Ok(false) {
        return Gate::Reply(error_doc(
            72,
            "InvalidOptions",
            "autocommit must be false when given",
        ));
    }
    let (Ok(lsid), Some(txn_number)) = (
        body.get_document("lsid"),
        body.get("txnNumber").and_then(as_i64),
    ) else {
        return Gate::Reply(error_doc(
            72,
            "InvalidOptions",
            "autocommit:false needs an lsid and a txnNumber",
        ));
    };
    let key = (scope, bson::to_vec(lsid).unwrap_or_default());
    let starting = body.get_bool("startTransaction") == Ok(true);
    if body.contains_key("writeConcern") && !ends {
        return Gate::Reply(error_doc(
            72,
            "InvalidOptions",
            &format!("Cannot set write concern for a command inside a transaction ({name})"),
        ));
    }
    if starting {
        if ends {
            return Gate::Reply(error_doc(
                72,
                "InvalidOptions",
                &format!("{name} cannot start a transaction"),
            ));
        }
        if let Some(old) = st.transactions.get(&key) {
            if old.txn_number > txn_number {
                return Gate::Reply(error_doc(
                    225,
                    "TransactionTooOld",
                    &format!(
                        "txnNumber {txn_number} is less than last txnNumber {} seen in session",
                        old.txn_number
                    ),
                ));
            }
            if old.txn_number == txn_number {
                return Gate::Reply(error_doc(
                    251,
                    "NoSuchTransaction",
                    &format!("txnNumber {txn_number} was already used in this session"),
                ));
            }
        }
        st.transactions.insert(
            key.clone(),
            Txn {
                txn_number,
                state: TxnState::Active,
                data: st.data.clone(),
            },
        );
        return Gate::Inside(key);
    }
    if body.contains_key("readConcern") {
        return Gate::Reply(error_doc(
            72,
            "InvalidOptions",
            "Only the first command in a transaction may specify a readConcern",
        ));
    }
    let known = st
        .transactions
        .get(&key)
        .filter(|t| t.txn_number == txn_number)
        .map(|t| t.state);
    match (name, known) {
        ("commitTransaction", Some(TxnState::Active)) => {
            if let Some(txn) = st.transactions.get_mut(&key) {
                txn.state = TxnState::Committed;
                let data = std::mem::take(&mut txn.data);
                st.data = data;
                tick(st);
            }
            Gate::Reply(doc! { "ok": 1.0 })
        }
        ("commitTransaction", Some(TxnState::Committed)) => Gate::Reply(doc! { "ok": 1.0 }),
        ("abortTransaction", Some(TxnState::Active)) => {
            if let Some(txn) = st.transactions.get_mut(&key) {
                txn.state = TxnState::Aborted;
                txn.data = BTreeMap::new();
            }
            Gate::Reply(doc! { "ok": 1.0 })
        }
        ("commitTransaction", None) | ("abortTransaction", None)
            if inner.is_mongos() && body.contains_key("recoveryToken") =>
        {
            // Another router recovers the outcome through the token.
            let lsid_bytes = key.1.clone();
            let elsewhere = st
                .transactions
                .iter_mut()
                .find(|((_, l), t)| *l == lsid_bytes && t.txn_number == txn_number)
                .map(|(_, t)| t);
            match (name, elsewhere) {
                ("commitTransaction", Some(t)) if t.state == TxnState::Committed => {
                    Gate::Reply(doc! { "ok": 1.0 })
                }
                ("abortTransaction", Some(t)) if t.state == TxnState::Active => {
                    t.state = TxnState::Aborted;
                    t.data = BTreeMap::new();
                    Gate::Reply(doc! { "ok": 1.0 })
                }
                _ => Gate::Reply(no_such_transaction(lsid, txn_number)),
            }
        }
        (_, Some(TxnState::Active)) if !ends => Gate::Inside(key),
        _ => Gate::Reply(no_such_transaction(lsid, txn_number)),
    }
}

/// The `recoveryToken` mongos `i` sends in a transaction.
fn recovery_token(i: usize) -> Document {
    doc! { "recoveryShardId": format!("shard-via-router-{i}") }
}

type CmdResult = Result<Document, Document>;

/// What `mongod` and `mongos` refuse in a command's session fields before running it: a
/// `txnNumber` without an `lsid`, a `txnNumber` on a standalone (only replica set members and
/// mongos take one), and a `txnNumber` on a command that is neither a retryable write nor part
/// of a transaction (`autocommit`).
fn session_refusal(standalone: bool, name: &str, body: &Document) -> Option<Document> {
    if !body.contains_key("txnNumber") {
        return None;
    }
    if !body.contains_key("lsid") {
        return Some(error_doc(
            72,
            "InvalidOptions",
            "Transaction number requires a session ID to also be specified",
        ));
    }
    if standalone {
        return Some(error_doc(
            20,
            "IllegalOperation",
            "Transaction numbers are only allowed on a replica set member or mongos",
        ));
    }
    let retryable = matches!(
        name,
        "insert" | "update" | "delete" | "findAndModify" | "commitTransaction" | "abortTransaction"
    );
    if !retryable && !body.contains_key("autocommit") {
        return Some(error_doc(
            50768,
            "Location50768",
            &format!(
                "txnNumber may only be provided for multi-document transactions and retryable \
                 write commands. autocommit:false was not provided, and {name} is not a \
                 retryable write command."
            ),
        ));
    }
    None
}

fn bad_value(msg: &str) -> Document {
    error_doc(2, "BadValue", msg)
}

fn coll_name<'a>(body: &'a Document, key: &str) -> Result<&'a str, Document> {
    body.get_str(key)
        .map_err(|_| bad_value(&format!("'{key}' must be a collection name")))
}

fn docs_of(body: &Document, key: &str) -> Vec<Document> {
    body.get_array(key)
        .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
        .unwrap_or_default()
}

fn tick(st: &mut State) {
    let now = DateTime::now();
    let secs = (now.timestamp_millis() / 1000) as u32;
    st.cluster_time = if secs > st.cluster_time.time {
        Timestamp {
            time: secs,
            increment: 1,
        }
    } else {
        Timestamp {
            time: st.cluster_time.time,
            increment: st.cluster_time.increment + 1,
        }
    };
    st.last_write = now;
}

fn with_id(d: Document) -> Document {
    if d.contains_key("_id") {
        return d;
    }
    let mut out = doc! { "_id": ObjectId::new() };
    out.extend(d);
    out
}

fn collection<'a>(st: &'a mut State, db: &str, coll: &str) -> &'a mut Vec<Document> {
    st.data
        .entry(db.to_owned())
        .or_default()
        .entry(coll.to_owned())
        .or_default()
}

fn insert(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "insert")?;
    let ordered = body.get_bool("ordered").unwrap_or(true);
    let ns = format!("{db}.{coll}");
    let store = collection(st, db, coll);
    let mut n = 0i32;
    let mut write_errors = Vec::new();
    // The ids present, looked up in a set: a large insert_many stays linear.
    let key = |d: &Document| format!("{:?}", d.get("_id"));
    let mut ids: std::collections::HashSet<String> = store.iter().map(key).collect();
    let mut inserted = Vec::new();
    for (index, d) in docs_of(body, "documents").into_iter().enumerate() {
        let d = with_id(d);
        if !ids.insert(key(&d)) {
            write_errors.push(doc! {
                "index": index as i32,
                "code": 11000,
                "codeName": "DuplicateKey",
                "errmsg": format!("E11000 duplicate key error collection: {ns} index: _id_ dup key: {{ _id: {} }}", d.get("_id").unwrap()),
            });
            if ordered {
                break;
            }
            continue;
        }
        inserted.push(d.clone());
        store.push(d);
        n += 1;
    }
    if n > 0 {
        tick(st);
    }
    for d in inserted {
        let token = change_token(st.change_log.len() + 1);
        st.change_log.push(doc! {
            "_id": token,
            "operationType": "insert",
            "clusterTime": st.cluster_time,
            "ns": { "db": db, "coll": coll },
            "documentKey": { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
            "fullDocument": d,
        });
    }
    let mut reply = doc! { "n": n };
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}

fn update(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "update")?;
    let ordered = body.get_bool("ordered").unwrap_or(true);
    let store = collection(st, db, coll);
    let (mut n, mut modified) = (0i32, 0i32);
    let mut upserted = Vec::new();
    let mut write_errors = Vec::new();
    for (index, spec) in docs_of(body, "updates").into_iter().enumerate() {
        let q = spec.get_document("q").cloned().unwrap_or_default();
        let Ok(u) = spec.get_document("u") else {
            write_errors.push(
                doc! { "index": index as i32, "code": 9, "codeName": "FailedToParse",
                "errmsg": "the fake supports update documents only (no pipelines)" },
            );
            if ordered {
                break;
            }
            continue;
        };
        let multi = spec.get_bool("multi").unwrap_or(false);
        let upsert = spec.get_bool("upsert").unwrap_or(false);
        let mut matched = 0;
        let mut error = None;
        for d in store.iter_mut().filter(|d| matches(d, &q)) {
            matched += 1;
            match apply_update(d, u) {
                Ok(new) => {
                    if new != *d {
                        modified += 1;
                        *d = new;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
            if !multi {
                break;
            }
        }
        n += matched;
        if matched == 0 && upsert && error.is_none() {
            let mut base = Document::new();
            for (k, v) in &q {
                if !k.starts_with('$') && !is_operator_doc(v) {
                    set_path(&mut base, k, v.clone());
                }
            }
            match apply_update(&base, u) {
                Ok(new) => {
                    let new = with_id(new);
                    upserted.push(
                        doc! { "index": index as i32, "_id": new.get("_id").unwrap().clone() },
                    );
                    store.push(new);
                    n += 1;
                }
                Err(e) => error = Some(e),
            }
        }
        if let Some(e) = error {
            write_errors.push(
                doc! { "index": index as i32, "code": 14, "codeName": "TypeMismatch", "errmsg": e },
            );
            if ordered {
                break;
            }
        }
    }
    tick(st);
    let mut reply = doc! { "n": n, "nModified": modified };
    if !upserted.is_empty() {
        reply.insert("upserted", upserted);
    }
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}

fn apply_update(d: &Document, u: &Document) -> Result<Document, String> {
    if !u.keys().next().is_some_and(|k| k.starts_with('$')) {
        let mut out = Document::new();
        if let Some(id) = d.get("_id") {
            out.insert("_id", id.clone());
        }
        for (k, v) in u {
            if k != "_id" {
                out.insert(k.clone(), v.clone());
            }
        }
        return Ok(out);
    }
    let mut out = d.clone();
    for (op, fields) in u {
        let fields = fields
            .as_document()
            .ok_or_else(|| format!("{op} needs a document"))?;
        for (path, value) in fields {
            match op.as_str() {
                "$set" => set_path(&mut out, path, value.clone()),
                "$unset" => {
                    unset_path(&mut out, path);
                }
                "$inc" => {
                    let current = get_path(&out, path).cloned().unwrap_or(Bson::Int32(0));
                    let sum = add(&current, value).ok_or_else(|| {
                        format!("Cannot apply $inc to a value of non-numeric type ({path})")
                    })?;
                    set_path(&mut out, path, sum);
                }
                other => return Err(format!("the fake does not support {other}")),
            }
        }
    }
    Ok(out)
}

fn add(a: &Bson, b: &Bson) -> Option<Bson> {
    Some(match (a, b) {
        (Bson::Int32(x), Bson::Int32(y)) => x
            .checked_add(*y)
            .map(Bson::Int32)
            .unwrap_or(Bson::Int64(i64::from(*x) + i64::from(*y))),
        (Bson::Double(_), _) | (_, Bson::Double(_)) => Bson::Double(as_f64(a)? + as_f64(b)?),
        _ => Bson::Int64(as_i64(a)? + as_i64(b)?),
    })
}

fn delete(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "delete")?;
    let store = collection(st, db, coll);
    let mut n = 0i32;
    for spec in docs_of(body, "deletes") {
        let q = spec.get_document("q").cloned().unwrap_or_default();
        let limit = spec.get("limit").and_then(as_i64).unwrap_or(0);
        if limit == 1 {
            if let Some(at) = store.iter().position(|d| matches(d, &q)) {
                store.remove(at);
                n += 1;
            }
        } else {
            let before = store.len();
            store.retain(|d| !matches(d, &q));
            n += (before - store.len()) as i32;
        }
    }
    tick(st);
    Ok(doc! { "n": n })
}

/// `findAndModify` as mongod answers it: `value` (the document before or, with `new`, after;
/// null when none) and `lastErrorObject` (`n`, `updatedExisting`, `upserted`).
fn find_and_modify(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "findAndModify")?;
    let failed = |m: &str| error_doc(9, "FailedToParse", m);
    if body.contains_key("fields") {
        return Err(bad_value(
            "the fake does not support findAndModify projections (fields)",
        ));
    }
    let q = body.get_document("query").cloned().unwrap_or_default();
    let remove = body.get_bool("remove").unwrap_or(false);
    let return_new = body.get_bool("new").unwrap_or(false);
    let upsert = body.get_bool("upsert").unwrap_or(false);
    let update = match (remove, body.get("update")) {
        (true, Some(_)) => return Err(failed("Cannot specify both an update and remove=true")),
        (true, None) if upsert => {
            return Err(failed("Cannot specify both upsert=true and remove=true"))
        }
        (true, None) if return_new => {
            return Err(failed(
                "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
            ))
        }
        (true, None) => None,
        (false, None) => return Err(failed("Either an update or remove=true must be specified")),
        (false, Some(Bson::Document(u))) => Some(u.clone()),
        (false, Some(_)) => {
            return Err(failed(
                "the fake supports update documents only (no pipelines)",
            ))
        }
    };
    let mut found = query(st, db, coll, &q);
    if let Ok(sort) = body.get_document("sort") {
        sort_docs(&mut found, sort);
    }
    let store = collection(st, db, coll);
    let at = found
        .first()
        .and_then(|target| store.iter().position(|d| d == target));
    let (value, last_error) = match (at, update) {
        (Some(at), None) => (Bson::Document(store.remove(at)), doc! { "n": 1 }),
        (Some(at), Some(u)) => {
            let old = store[at].clone();
            let new = apply_update(&old, &u).map_err(|e| error_doc(14, "TypeMismatch", &e))?;
            store[at] = new.clone();
            let value = if return_new { new } else { old };
            (
                Bson::Document(value),
                doc! { "n": 1, "updatedExisting": true },
            )
        }
        (None, Some(u)) if upsert => {
            let mut base = Document::new();
            for (k, v) in &q {
                if !k.starts_with('$') && !is_operator_doc(v) {
                    set_path(&mut base, k, v.clone());
                }
            }
            let new =
                with_id(apply_update(&base, &u).map_err(|e| error_doc(14, "TypeMismatch", &e))?);
            let id = new.get("_id").cloned().unwrap_or(Bson::Null);
            store.push(new.clone());
            let value = if return_new {
                Bson::Document(new)
            } else {
                Bson::Null
            };
            (
                value,
                doc! { "n": 1, "updatedExisting": false, "upserted": id },
            )
        }
        (None, Some(_)) => (Bson::Null, doc! { "n": 0, "updatedExisting": false }),
        (None, None) => (Bson::Null, doc! { "n": 0 }),
    };
    if last_error.get_i32("n") == Ok(1) {
        tick(st);
    }
    Ok(doc! { "lastErrorObject": last_error, "value": value })
}

fn query(st: &State, db: &str, coll: &str, filter: &Document) -> Vec<Document> {
    st.data
        .get(db)
        .and_then(|d| d.get(coll))
        .map(|docs| {
            docs.iter()
                .filter(|d| matches(d, filter))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn sort_docs(docs: &mut [Document], sort: &Document) {
    docs.sort_by(|a, b| {
        for (k, dir) in sort {
            let ord = compare(get_path(a, k), get_path(b, k));
            let ord = if as_i64(dir) == Some(-1) {
                ord.reverse()
            } else {
                ord
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
}

/// Opens a cursor over `docs` on member `i`: the reply with `firstBatch`.
fn cursor_reply(
    st: &mut State,
    i: usize,
    ns: String,
    docs: Vec<Document>,
    batch_size: Option<i64>,
    single_batch: bool,
) -> Document {
    let mut docs: VecDeque<Document> = docs.into();
    let take = batch_size
        .map_or(101, |b| b.max(0) as usize)
        .min(docs.len());
    let first: Vec<Document> = docs.drain(..take).collect();
    let id = if docs.is_empty() || single_batch {
        0
    } else {
        let id = st.next_cursor_id;
        st.next_cursor_id += 1;
        st.members[i].cursors.insert(
            id,
            Cursor {
                ns: ns.clone(),
                docs,
                change_stream: None,
            },
        );
        id
    };
    doc! { "cursor": { "firstBatch": first, "id": id, "ns": ns } }
}

fn find(st: &mut State, i: usize, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "find")?;
    let filter = body.get_document("filter").cloned().unwrap_or_default();
    let mut docs = query(st, db, coll, &filter);
    if let Ok(sort) = body.get_document("sort") {
        sort_docs(&mut docs, sort);
    }
    let skip = body.get("skip").and_then(as_i64).unwrap_or(0).max(0) as usize;
    docs.drain(..skip.min(docs.len()));
    let limit = body.get("limit").and_then(as_i64).unwrap_or(0);
    let mut single_batch = body.get_bool("singleBatch").unwrap_or(false);
    if limit < 0 {
        single_batch = true;
    }
    if limit != 0 {
        docs.truncate(limit.unsigned_abs() as usize);
    }
    let batch_size = body.get("batchSize").and_then(as_i64);
    Ok(cursor_reply(
        st,
        i,
        format!("{db}.{coll}"),
        docs,
        batch_size,
        single_batch,
    ))
}

fn get_more(st: &mut State, i: usize, db: &str, body: &Document) -> CmdResult {
    let id = body
        .get("getMore")
        .and_then(as_i64)
        .ok_or_else(|| bad_value("getMore needs a cursor id"))?;
    let coll = coll_name(body, "collection")?;
    let batch_size = body.get("batchSize").and_then(as_i64);
    let cursors = &mut st.members[i].cursors;
    let Some(cursor) = cursors.get_mut(&id) else {
        return Err(error_doc(
            43,
            "CursorNotFound",
            &format!("cursor id {id} not found"),
        ));
    };
    if cursor.ns != format!("{db}.{coll}") {
        return Err(error_doc(
            13,
            "Unauthorized",
            &format!("Requested getMore on namespace '{db}.{coll}', but cursor belongs to a different namespace {}", cursor.ns),
        ));
    }
    if let Some(cs) = cursor.change_stream.as_mut() {
        let limit = batch_size
            .filter(|b| *b > 0)
            .map_or(usize::MAX, |b| b as usize);
        let mut batch = Vec::new();
        while cs.next < st.change_log.len() && batch.len() < limit {
            let event = &st.change_log[cs.next];
            cs.next += 1;
            if watched(cs, event) {
                batch.push(event.clone());
            }
        }
        let token = change_token(cs.next);
        let ns = cursor.ns.clone();
        return Ok(doc! { "cursor": {
        "nextBatch": batch, "id": id, "ns": ns, "postBatchResumeToken": token } });
    }
    let take = batch_size
        .filter(|b| *b > 0)
        .map_or(cursor.docs.len(), |b| b as usize)
        .min(cursor.docs.len());
    let batch: Vec<Document> = cursor.docs.drain(..take).collect();
    let ns = cursor.ns.clone();
    let next_id = if cursor.docs.is_empty() {
        cursors.remove(&id);
        0
    } else {
        id
    };
    Ok(doc! { "cursor": { "nextBatch": batch, "id": next_id, "ns": ns } })
}

fn kill_cursors(st: &mut State, i: usize, body: &Document) -> CmdResult {
    let ids: Vec<i64> = body
        .get_array("cursors")
        .map(|a| a.iter().filter_map(as_i64).collect())
        .unwrap_or_default();
    let cursors = &mut st.members[i].cursors;
    let (mut killed, mut not_found) = (Vec::new(), Vec::new());
    for id in ids {
        if cursors.remove(&id).is_some() {
            killed.push(id);
        } else {
            not_found.push(id);
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
    })
}

fn count(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "count")?;
    let filter = body.get_document("query").cloned().unwrap_or_default();
    let mut n = query(st, db, coll, &filter).len() as i64;
    let skip = body.get("skip").and_then(as_i64).unwrap_or(0).max(0);
    n = (n - skip).max(0);
    if let Some(limit) = body.get("limit").and_then(as_i64).filter(|l| *l != 0) {
        n = n.min(limit.abs());
    }
    Ok(doc! { "n": n as i32 })
}

fn aggregate(st: &mut State, i: usize, db: &str, body: &Document) -> CmdResult {
    let first = body
        .get_array("pipeline")
        .ok()
        .and_then(|p| p.first())
        .and_then(Bson::as_document);
    if let Some(stage) = first.and_then(|s| s.get_document("$changeStream").ok()) {
        return change_stream(st, i, db, body, &stage.clone());
    }
    let coll = coll_name(body, "aggregate")?;
    let cursor = body.get_document("cursor").map_err(|_| {
        error_doc(
            9,
            "FailedToParse",
            "The 'cursor' option is required, except for aggregate with the explain argument",
        )
    })?;
    let batch_size = cursor.get("batchSize").and_then(as_i64);
    let mut docs = query(st, db, coll, &Document::new());
    for stage in body.get_array("pipeline").cloned().unwrap_or_default() {
        let stage = stage
            .as_document()
            .cloned()
            .ok_or_else(|| bad_value("a pipeline stage must be a document"))?;
        let (name, arg) = stage
            .iter()
            .next()
            .ok_or_else(|| bad_value("empty pipeline stage"))?;
        match (name.as_str(), arg) {
            ("$match", Bson::Document(f)) => docs.retain(|d| matches(d, f)),
            ("$sort", Bson::Document(s)) => sort_docs(&mut docs, s),
            ("$skip", n) => {
                let n = as_i64(n).unwrap_or(0).max(0) as usize;
                docs.drain(..n.min(docs.len()));
            }
            ("$limit", n) => docs.truncate(as_i64(n).unwrap_or(0).max(0) as usize),
            ("$count", Bson::String(field)) => {
                let n = docs.len() as i32;
                docs = if n == 0 {
                    Vec::new()
                } else {
                    vec![doc! { field.as_str(): n }]
                };
            }
            (other, _) => {
                return Err(error_doc(
                    40324,
                    "UnrecognizedPipelineStage",
                    &format!("Unrecognized pipeline stage name: '{other}' (the fake supports $match, $sort, $skip, $limit, $count)"),
                ))
            }
        }
    }
    Ok(cursor_reply(
        st,
        i,
        format!("{db}.{coll}"),
        docs,
        batch_size,
        false,
    ))
}

/// Opens a change stream cursor (`aggregate` with `$changeStream` first).
fn change_stream(
    st: &mut State,
    i: usize,
    db: &str,
    body: &Document,
    stage: &Document,
) -> CmdResult {
    if st.standalone {
        return Err(error_doc(
            40573,
            "Location40573",
            "The $changeStream stage is only supported on replica sets",
        ));
    }
    if body.get_array("pipeline").map_or(0, |p| p.len()) > 1 {
        return Err(error_doc(
            40324,
            "UnrecognizedPipelineStage",
            "the fake supports a $changeStream stage alone",
        ));
    }
    let coll = body.get_str("aggregate").ok().map(str::to_owned);
    let token = stage
        .get_document("resumeAfter")
        .or_else(|_| stage.get_document("startAfter"))
        .ok();
    let next = match token {
        None => st.change_log.len(),
        Some(t) => t
            .get_str("_data")
            .ok()
            .and_then(|d| usize::from_str_radix(d, 16).ok())
            .filter(|n| *n <= st.change_log.len())
            .ok_or_else(|| {
                error_doc(
                    260,
                    "InvalidResumeToken",
                    &format!("invalid resume token {t}"),
                )
            })?,
    };
    let ns = format!("{db}.{}", coll.as_deref().unwrap_or("$cmd.aggregate"));
    let id = st.next_cursor_id;
    st.next_cursor_id += 1;
    st.members[i].cursors.insert(
        id,
        Cursor {
            ns: ns.clone(),
            docs: VecDeque::new(),
            change_stream: Some(ChangeStreamCursor {
                db: db.to_owned(),
                coll,
                next,
            }),
        },
    );
    Ok(doc! { "cursor": {
    "firstBatch": [], "id": id, "ns": ns, "postBatchResumeToken": change_token(next) } })
}

/// The resume token after change log entry `k - 1` (the place before entry `k`).
fn change_token(k: usize) -> Document {
    doc! { "_data": format!("{k:016X}") }
}

/// Whether a change stream cursor sees a change log event.
fn watched(cs: &ChangeStreamCursor, event: &Document) -> bool {
    let ns = event.get_document("ns").ok();
    let db = ns.and_then(|n| n.get_str("db").ok());
    let coll = ns.and_then(|n| n.get_str("coll").ok());
    db == Some(cs.db.as_str()) && (cs.coll.is_none() || coll == cs.coll.as_deref())
}

fn list_databases(st: &State, body: &Document) -> Document {
    let name_only = body.get_bool("nameOnly").unwrap_or(false);
    let mut total = 0i64;
    let dbs: Vec<Document> = st
        .data
        .iter()
        .map(|(name, colls)| {
            let size: i64 = colls
                .values()
                .flatten()
                .map(|d| bson::to_vec(d).map_or(0, |v| v.len() as i64))
                .sum::<i64>()
                + 4096;
            total += size;
            if name_only {
                doc! { "name": name.as_str() }
            } else {
                doc! { "name": name.as_str(), "sizeOnDisk": size, "empty": false }
            }
        })
        .collect();
    if name_only {
        doc! { "databases": dbs }
    } else {
        doc! { "databases": dbs, "totalSize": total, "totalSizeMb": total / (1024 * 1024) }
    }
}

fn list_collections(st: &mut State, i: usize, db: &str, body: &Document) -> CmdResult {
    let filter = body.get_document("filter").cloned().unwrap_or_default();
    let docs: Vec<Document> = st
        .data
        .get(db)
        .map(|colls| {
            colls
                .keys()
                .map(|name| {
                    doc! {
                        "name": name.as_str(),
                        "type": "collection",
                        "options": {},
                        "info": { "readOnly": false },
                        "idIndex": { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
                    }
                })
                .filter(|d| matches(d, &filter))
                .collect()
        })
        .unwrap_or_default();
    let batch_size = body
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get("batchSize"))
        .and_then(as_i64);
    Ok(cursor_reply(
        st,
        i,
        format!("{db}.$cmd.listCollections"),
        docs,
        batch_size,
        false,
    ))
}

fn create(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "create")?;
    let colls = st.data.entry(db.to_owned()).or_default();
    if colls.contains_key(coll) {
        return Err(error_doc(
            48,
            "NamespaceExists",
            &format!("Collection {db}.{coll} already exists."),
        ));
    }
    colls.insert(coll.to_owned(), Vec::new());
    tick(st);
    Ok(Document::new())
}

fn drop_collection(st: &mut State, db: &str, body: &Document) -> CmdResult {
    let coll = coll_name(body, "drop")?;
    if let Some(colls) = st.data.get_mut(db) {
        colls.remove(coll);
        if colls.is_empty() {
            st.data.remove(db);
        }
    }
    tick(st);
    Ok(doc! { "ns": format!("{db}.{coll}"), "nIndexesWas": 1 })
}

// ------------------------------------------------------------------------------------------
// Filters
// ------------------------------------------------------------------------------------------

fn is_operator_doc(v: &Bson) -> bool {
    matches!(v, Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')))
}

fn get_path<'a>(d: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut cur = d.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_document()?.get(p)?;
    }
    Some(cur)
}

fn set_path(d: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            d.insert(path, value);
        }
        Some((head, rest)) => {
            if !matches!(d.get(head), Some(Bson::Document(_))) {
                d.insert(head, Document::new());
            }
            if let Some(Bson::Document(sub)) = d.get_mut(head) {
                set_path(sub, rest, value);
            }
        }
    }
}

fn unset_path(d: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            d.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(sub)) = d.get_mut(head) {
                unset_path(sub, rest);
            }
        }
    }
}

/// Does `d` match `filter` (equality and simple comparison operators on dotted fields)?
fn matches(d: &Document, filter: &Document) -> bool {
    filter.iter().all(|(k, cond)| {
        let actual = get_path(d, k);
        match cond {
            Bson::Document(ops) if is_operator_doc(cond) => ops.iter().all(|(op, v)| {
                use std::cmp::Ordering::*;
                match op.as_str() {
                    "$eq" => equal(actual, v),
                    "$ne" => !equal(actual, v),
                    "$gt" => actual.is_some() && compare(actual, Some(v)) == Greater,
                    "$gte" => actual.is_some() && compare(actual, Some(v)) != Less,
                    "$lt" => actual.is_some() && compare(actual, Some(v)) == Less,
                    "$lte" => actual.is_some() && compare(actual, Some(v)) != Greater,
                    "$in" => v
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| equal(actual, x))),
                    "$nin" => !v
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| equal(actual, x))),
                    "$exists" => actual.is_some() == v.as_bool().unwrap_or(true),
                    _ => false,
                }
            }),
            _ => equal(actual, cond),
        }
    })
}

fn equal(actual: Option<&Bson>, expected: &Bson) -> bool {
    match actual {
        None => matches!(expected, Bson::Null),
        Some(Bson::Array(items)) if !matches!(expected, Bson::Array(_)) => {
            items.iter().any(|x| equal(Some(x), expected))
        }
        Some(a) => match (as_f64(a), as_f64(expected)) {
            (Some(x), Some(y)) => x == y,
            _ => a == expected,
        },
    }
}

/// Orders missing < null < numbers < strings < everything else (by debug text).
fn compare(a: Option<&Bson>, b: Option<&Bson>) -> std::cmp::Ordering {
    fn rank(v: Option<&Bson>) -> u8 {
        match v {
            None => 0,
            Some(Bson::Null) => 1,
            Some(v) if as_f64(v).is_some() => 2,
            Some(Bson::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(x), Some(y)) if rank(a) == 2 && rank(b) == 2 => as_f64(x)
            .partial_cmp(&as_f64(y))
            .unwrap_or(std::cmp::Ordering::Equal),
        (Some(Bson::String(x)), Some(Bson::String(y))) => x.cmp(y),
        (Some(x), Some(y)) if rank(a) == rank(b) => format!("{x:?}").cmp(&format!("{y:?}")),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn as_i64(b: &Bson) -> Option<i64> {
    match b {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

fn as_f64(b: &Bson) -> Option<f64> {
    match b {
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    }
}
