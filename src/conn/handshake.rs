//! The handshake as pure functions: what `hello` to send, how to read the reply, and whether
//! authentication is already done after it. No I/O here, so every decision is unit-tested.

use bson::{doc, Bson, Document};

use crate::auth::x509;
use crate::conn::EstablishOptions;
use crate::error::{Error, Result};
use crate::options::{AuthMechanism, Credential};
use crate::wire::DEFAULT_MAX_MESSAGE_SIZE;

/// The client metadata document may not exceed this many bytes (handshake spec).
pub(crate) const MAX_METADATA_SIZE: usize = 512;
/// `client.application.name` may not exceed this many bytes (handshake spec).
pub(crate) const MAX_APP_NAME_SIZE: usize = 128;
/// The driver name sent in the metadata.
pub(crate) const DRIVER_NAME: &str = "mongo-x509";
/// `client.platform`: the language and runtime (the compiler version is not known without a
/// build script).
pub(crate) const PLATFORM: &str = "Rust/tokio";
/// `maxBsonObjectSize` when the server does not say.
pub(crate) const DEFAULT_MAX_BSON_OBJECT_SIZE: i64 = 16 * 1024 * 1024;
/// `maxWriteBatchSize` when the server does not say.
pub(crate) const DEFAULT_MAX_WRITE_BATCH_SIZE: i64 = 100_000;

/// The parsed `hello` reply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HelloReply {
    /// `isWritablePrimary` (or the legacy `ismaster`).
    pub(crate) is_writable_primary: bool,
    /// `secondary`.
    pub(crate) secondary: bool,
    /// `arbiterOnly`.
    pub(crate) arbiter_only: bool,
    /// `hidden`.
    pub(crate) hidden: bool,
    /// `setName`: the replica set this member belongs to.
    pub(crate) set_name: Option<String>,
    /// `hosts`.
    pub(crate) hosts: Vec<String>,
    /// `passives`.
    pub(crate) passives: Vec<String>,
    /// `arbiters`.
    pub(crate) arbiters: Vec<String>,
    /// `primary`.
    pub(crate) primary: Option<String>,
    /// `me`.
    pub(crate) me: Option<String>,
    /// `msg` (`"isdbgrid"` on a mongos).
    pub(crate) msg: Option<String>,
    /// `maxWireVersion` (0 when absent).
    pub(crate) max_wire_version: i32,
    /// `minWireVersion` (0 when absent).
    pub(crate) min_wire_version: i32,
    /// `maxMessageSizeBytes` (48 000 000 when absent or not positive).
    pub(crate) max_message_size_bytes: i64,
    /// `maxBsonObjectSize` (16 MiB when absent or not positive).
    pub(crate) max_bson_object_size: i64,
    /// `maxWriteBatchSize` (100 000 when absent or not positive).
    pub(crate) max_write_batch_size: i64,
    /// `logicalSessionTimeoutMinutes` (`None`: sessions not supported).
    pub(crate) logical_session_timeout_minutes: Option<i64>,
    /// The `speculativeAuthenticate` reply, when the server ran the speculative authentication.
    pub(crate) speculative_authenticate: Option<Document>,
    /// The whole reply, for whatever else a caller needs.
    pub(crate) raw: Document,
}

impl HelloReply {
    /// True for a mongos.
    #[allow(dead_code)]
    pub(crate) fn is_mongos(&self) -> bool {
        self.msg.as_deref() == Some("isdbgrid")
    }

    /// The maximum message size as a `usize`, for the wire layer.
    pub(crate) fn max_message_size(&self) -> usize {
        usize::try_from(self.max_message_size_bytes).unwrap_or(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

/// The `hello` command that opens every connection.
pub(crate) fn build_hello(opts: &EstablishOptions) -> Document {
    let mut cmd = doc! {
        "hello": 1,
        "helloOk": true,
        "client": client_metadata(opts.app_name.as_deref()),
    };
    if let Some(credential) = &opts.credential {
        if credential.mechanism == Some(AuthMechanism::MongoDbX509) {
            cmd.insert(
                "speculativeAuthenticate",
                x509::authenticate_command(credential, true),
            );
        }
    }
    cmd
}

/// `os.type` as the handshake spec wants it (`uname -s` style).
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "linux" | "android" => "Linux",
        "macos" | "ios" => "Darwin",
        "windows" => "Windows",
        "freebsd" | "openbsd" | "netbsd" | "dragonfly" => "BSD",
        "" => "unknown",
        _ => "Unix",
    }
}

/// The `client` metadata document, at most [`MAX_METADATA_SIZE`] bytes.
pub(crate) fn client_metadata(app_name: Option<&str>) -> Document {
    build_metadata(app_name, std::env::consts::OS, std::env::consts::ARCH, PLATFORM)
}

/// [`client_metadata`] with the variable parts as arguments, so the size limit is testable.
pub(crate) fn build_metadata(app_name: Option<&str>, os_name: &str, arch: &str, platform: &str) -> Document {
    let mut meta = Document::new();
    if let Some(name) = app_name {
        meta.insert("application", doc! { "name": truncate_utf8(name, MAX_APP_NAME_SIZE) });
    }
    meta.insert(
        "driver",
        doc! { "name": DRIVER_NAME, "version": env!("CARGO_PKG_VERSION") },
    );
    meta.insert(
        "os",
        doc! { "type": os_type(), "name": os_name, "architecture": arch },
    );
    meta.insert("platform", platform);
    // Spec order: (env is never sent) omit os fields but type, then truncate platform.
    if doc_size(&meta) > MAX_METADATA_SIZE {
        meta.insert("os", doc! { "type": os_type() });
    }
    let size = doc_size(&meta);
    if size > MAX_METADATA_SIZE {
        let excess = size - MAX_METADATA_SIZE;
        let keep = platform.len().saturating_sub(excess);
        meta.insert("platform", truncate_utf8(platform, keep));
    }
    if doc_size(&meta) > MAX_METADATA_SIZE {
        // Only possible with an absurd driver version; keep the document valid regardless.
        meta.remove("platform");
        meta.remove("application");
    }
    meta
}

fn doc_size(doc: &Document) -> usize {
    let mut buf = Vec::new();
    // Writing a Document of strings to a Vec cannot fail; count an error as "too big".
    match doc.to_writer(&mut buf) {
        Ok(()) => buf.len(),
        Err(_) => usize::MAX,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Reads a `hello` reply (already known to have `ok: 1`).
pub(crate) fn parse_hello(reply: Document) -> Result<HelloReply> {
    let r = &reply;
    let is_writable_primary = match get_bool(r, "isWritablePrimary")? {
        Some(b) => b,
        None => get_bool(r, "ismaster")?.unwrap_or(false),
    };
    let positive_or = |v: Option<i64>, default: i64| v.filter(|v| *v > 0).unwrap_or(default);
    let speculative_authenticate = match r.get("speculativeAuthenticate") {
        None | Some(Bson::Null) => None,
        Some(Bson::Document(d)) => Some(d.clone()),
        Some(other) => return Err(wrong_type("speculativeAuthenticate", "a document", other)),
    };
    Ok(HelloReply {
        is_writable_primary,
        secondary: get_bool(r, "secondary")?.unwrap_or(false),
        arbiter_only: get_bool(r, "arbiterOnly")?.unwrap_or(false),
        hidden: get_bool(r, "hidden")?.unwrap_or(false),
        set_name: get_str(r, "setName")?,
        hosts: get_str_array(r, "hosts")?,
        passives: get_str_array(r, "passives")?,
        arbiters: get_str_array(r, "arbiters")?,
        primary: get_str(r, "primary")?,
        me: get_str(r, "me")?,
        msg: get_str(r, "msg")?,
        max_wire_version: get_int(r, "maxWireVersion")?
            .map(|v| i32::try_from(v).unwrap_or(i32::MAX))
            .unwrap_or(0),
        min_wire_version: get_int(r, "minWireVersion")?
            .map(|v| i32::try_from(v).unwrap_or(i32::MAX))
            .unwrap_or(0),
        max_message_size_bytes: positive_or(
            get_int(r, "maxMessageSizeBytes")?,
            DEFAULT_MAX_MESSAGE_SIZE as i64,
        ),
        max_bson_object_size: positive_or(
            get_int(r, "maxBsonObjectSize")?,
            DEFAULT_MAX_BSON_OBJECT_SIZE,
        ),
        max_write_batch_size: positive_or(
            get_int(r, "maxWriteBatchSize")?,
            DEFAULT_MAX_WRITE_BATCH_SIZE,
        ),
        logical_session_timeout_minutes: get_int(r, "logicalSessionTimeoutMinutes")?,
        speculative_authenticate,
        raw: reply,
    })
}

fn wrong_type(key: &str, expected: &str, got: &Bson) -> Error {
    Error::invalid_response(format!(
        "hello reply field {key} should be {expected}, got {:?}",
        got.element_type()
    ))
}

fn get_bool(d: &Document, key: &str) -> Result<Option<bool>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        // Some servers have sent 0/1 for booleans.
        Some(Bson::Int32(i)) => Ok(Some(*i != 0)),
        Some(Bson::Int64(i)) => Ok(Some(*i != 0)),
        Some(Bson::Double(f)) => Ok(Some(*f != 0.0)),
        Some(other) => Err(wrong_type(key, "a boolean", other)),
    }
}

fn get_int(d: &Document, key: &str) -> Result<Option<i64>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int32(i)) => Ok(Some(i64::from(*i))),
        Some(Bson::Int64(i)) => Ok(Some(*i)),
        Some(Bson::Double(f)) if f.is_finite() && f.fract() == 0.0 => Ok(Some(*f as i64)),
        Some(other) => Err(wrong_type(key, "an integer", other)),
    }
}

fn get_str(d: &Document, key: &str) -> Result<Option<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

fn get_str_array(d: &Document, key: &str) -> Result<Vec<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(a)) => a
            .iter()
            .map(|v| match v {
                Bson::String(s) => Ok(s.clone()),
                other => Err(wrong_type(key, "an array of strings", other)),
            })
            .collect(),
        Some(other) => Err(wrong_type(key, "an array of strings", other)),
    }
}

/// What is left to do after the `hello` reply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AuthStep {
    /// Nothing: no credential, or the speculative authentication succeeded.
    Done,
    /// Send this `authenticate` command on `$external`.
    SendAuthenticate(Document),
}

/// Decides whether the connection still needs an `authenticate` after `hello`.
///
/// For MONGODB-X509 the server answers a successful speculative authentication with a
/// `speculativeAuthenticate` document (the `authenticate` reply without `ok`). If it is absent,
/// or carries `ok: 0`, the standard `authenticate` is sent; if that fails, its error is the one
/// reported (it says more than a missing field).
pub(crate) fn auth_step_after_hello(hello: &HelloReply, credential: &Credential) -> Result<AuthStep> {
    match credential.mechanism {
        Some(AuthMechanism::MongoDbX509) => {
            let speculative_ok = hello
                .speculative_authenticate
                .as_ref()
                .is_some_and(|d| d.get("ok").map_or(true, bson_truthy));
            if speculative_ok {
                Ok(AuthStep::Done)
            } else {
                Ok(AuthStep::SendAuthenticate(x509::authenticate_command(credential, false)))
            }
        }
        ref other => Err(crate::auth::unsupported_mechanism(other.as_ref())),
    }
}

/// MongoDB's notion of a true `ok`: a non-zero number or `true`.
pub(crate) fn bson_truthy(v: &Bson) -> bool {
    match v {
        Bson::Boolean(b) => *b,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(f) => *f != 0.0 && !f.is_nan(),
        _ => false,
    }
}
