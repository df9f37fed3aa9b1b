//! Errors: one [`Error`] type carrying a typed [`ErrorKind`].
//!
//! Every message is written for the person reading it: it names the option, file or server
//! involved and says what to do. Passwords and key bytes never appear in any message or `Debug`
//! output.
//!
//! ```
//! use mongo_x509::error::ErrorKind;
//! use mongo_x509::options::ClientOptions;
//!
//! # tokio_test_block_on(async {
//! let err = ClientOptions::parse("mongodb://host:70000").await.unwrap_err();
//! assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

mod bulk_write;
pub use bulk_write::{BulkWriteError, PartialBulkWriteResult, WriteConcernError};

/// The result type of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error from mongo-x509. Match on [`Error::kind`] to handle a specific case.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
pub struct Error {
    /// What went wrong.
    pub kind: Box<ErrorKind>,
    /// `errorLabels` of the server's reply (e.g. `RetryableWriteError`).
    labels: Vec<String>,
    /// The reply's `topologyVersion`, for SDAM's staleness check of state-change errors
    /// (boxed: rare, and it keeps `Result<T, Error>` small).
    topology_version: Option<Box<bson::Document>>,
    /// The server's whole error reply, for what the typed kind does not name (e.g. the
    /// `violations` of a `collMod`).
    server_response: Option<Box<bson::Document>>,
    /// The error that led to this one (the last error a convenient transaction saw before its
    /// time ran out), as [`std::error::Error::source`].
    source: Option<Box<Error>>,
}

/// The label of an error after which the whole transaction may be retried from its start
/// (`TransientTransactionError`): the server aborted it, or the client could not reach the
/// server in the middle of it.
pub const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";

/// The label of a `commitTransaction` error after which it is unknown whether the transaction
/// committed (`UnknownTransactionCommitResult`): committing again is safe.
pub const UNKNOWN_TRANSACTION_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

/// A reply's `errorLabels` (its strings; anything else in it is passed over).
pub(crate) fn reply_labels(reply: &bson::RawDocument) -> Vec<String> {
    match reply.get("errorLabels").ok().flatten() {
        Some(bson::raw::RawBsonRef::Array(a)) => a
            .into_iter()
            .filter_map(|l| match l {
                Ok(bson::raw::RawBsonRef::String(s)) => Some(s.to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Error {
    /// Builds an error of the given kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
            labels: Vec::new(),
            topology_version: None,
            server_response: None,
            source: None,
        }
    }

    /// GridFS has no file with this id or name.
    pub(crate) fn file_not_found(identifier: GridFsFileIdentifier) -> Self {
        Self::new(ErrorKind::GridFs(GridFsErrorKind::FileNotFound {
            identifier,
        }))
    }

    /// This error with `source` as the error that caused it.
    pub(crate) fn with_source(mut self, source: Error) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The server's `errorLabels` for this error (empty when it gave none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The server's whole reply to the command that failed, when the error came from one
    /// (a command error): its fields beyond code and message, such as a `collMod`'s
    /// `violations`.
    pub fn server_response(&self) -> Option<&bson::Document> {
        self.server_response.as_deref()
    }

    /// Keeps the server's whole error reply on the error.
    pub(crate) fn with_server_response(mut self, reply: bson::Document) -> Self {
        self.server_response = Some(Box::new(reply));
        self
    }

    /// True when the server labelled the error `label`.
    pub fn contains_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }

    /// Adds a label the driver assigns (a network error on a retryable write is a
    /// `RetryableWriteError`, as the Retryable Writes specification says).
    pub(crate) fn add_label(&mut self, label: &str) {
        if !self.contains_label(label) {
            self.labels.push(label.to_owned());
        }
    }

    pub(crate) fn with_reply_details(
        mut self,
        labels: Vec<String>,
        topology_version: Option<bson::Document>,
    ) -> Self {
        self.labels = labels;
        self.topology_version = topology_version.map(Box::new);
        self
    }

    pub(crate) fn topology_version(&self) -> Option<&bson::Document> {
        self.topology_version.as_deref()
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument {
            message: message.into(),
        })
    }

    /// Shorthand for an [`ErrorKind::InvalidTlsConfig`] error.
    pub fn invalid_tls_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidTlsConfig {
            message: message.into(),
        })
    }

    /// Shorthand for an [`ErrorKind::Identity`] error.
    pub fn identity(origin: IdentitySource, kind: IdentityErrorKind) -> Self {
        Self::new(ErrorKind::Identity(IdentityError { origin, kind }))
    }

    /// Shorthand for an [`ErrorKind::InvalidResponse`] error.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse {
            message: message.into(),
        })
    }

    /// Shorthand for an [`ErrorKind::DnsResolve`] error.
    #[cfg_attr(not(feature = "dns-srv"), allow(dead_code))]
    pub(crate) fn dns_resolve(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DnsResolve {
            message: message.into(),
        })
    }

    /// Shorthand for an [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal {
            message: message.into(),
        })
    }

    /// True when the error came from the network (I/O error, a connect or read timeout, a
    /// malformed reply): the connection it happened on must not be reused. A wait for a pooled
    /// connection that timed out ([`ErrorKind::WaitQueueTimeout`]) is not one.
    pub fn is_network_error(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Io(_) | ErrorKind::Timeout { .. } | ErrorKind::InvalidResponse { .. }
        )
    }

    /// The identity error inside, if this is one.
    pub fn as_identity_error(&self) -> Option<&IdentityError> {
        match &*self.kind {
            ErrorKind::Identity(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // A TLS stream reports a late handshake failure (TLS 1.3: the server's verdict on the
        // client certificate comes after `connect`) as our own error inside an io::Error.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            return inner.clone();
        }
        Self::new(ErrorKind::Io(Arc::new(e)))
    }
}

impl From<bson::ser::Error> for Error {
    fn from(e: bson::ser::Error) -> Self {
        Self::new(ErrorKind::BsonSerialization {
            message: e.to_string(),
        })
    }
}

impl From<bson::de::Error> for Error {
    fn from(e: bson::de::Error) -> Self {
        Self::new(ErrorKind::BsonDeserialization {
            message: e.to_string(),
        })
    }
}

/// The kinds of error. New kinds may be added, so match with a wildcard arm.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option, connection string or argument is invalid. The message names the option.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong and what to do about it.
        message: String,
    },

    /// The TLS configuration cannot be used (no backend compiled in, unreadable CA file, …).
    #[error("invalid TLS configuration: {message}")]
    InvalidTlsConfig {
        /// What is wrong and what to do about it.
        message: String,
    },

    /// The client certificate and key (the identity) could not be loaded.
    #[error("{0}")]
    Identity(IdentityError),

    /// A CA or CRL file is larger than [`MAX_TLS_FILE_SIZE`](crate::tls::MAX_TLS_FILE_SIZE).
    /// (A certificate-key file that is too large is an [`IdentityErrorKind::FileTooLarge`].)
    #[error("{option} {}: the file is {size} bytes, more than the limit of {limit} bytes; keep only the certificates (or CRLs) needed in it", path.display())]
    TlsFileTooLarge {
        /// The option that names the file: `tlsCAFile` or `tlsCRLFile`.
        option: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Its size (at least this many bytes).
        size: u64,
        /// The limit.
        limit: u64,
    },

    /// The TLS handshake with a server failed.
    #[error("TLS handshake with {address} failed ({backend} backend): {reason}")]
    TlsHandshake {
        /// The server the client tried to reach.
        address: String,
        /// Which TLS backend was in use.
        backend: String,
        /// The backend's reason, in words (unknown CA, hostname mismatch, …), with a hint.
        reason: String,
    },

    /// Authentication failed. The message never holds a password.
    #[error("authentication failed: {message}")]
    Authentication {
        /// The server's message (or what the client found wrong) and a hint on what to check.
        message: String,
        /// The mechanism that was tried: `MONGODB-X509`, `SCRAM-SHA-256`, `SCRAM-SHA-1` or
        /// `PLAIN` (after negotiation, the one negotiated).
        mechanism: String,
        /// The user name tried: the credential's, or for MONGODB-X509 without one, the
        /// certificate's subject.
        user: Option<String>,
        /// The server's error code, when the server answered.
        code: Option<i32>,
        /// The subject DN of the client certificate that was presented, if any.
        subject: Option<String>,
    },

    /// A SCRAM server asked for a PBKDF2 iteration count outside what the client accepts:
    /// fewer than [`SCRAM_MIN_ITERATIONS`](crate::options::SCRAM_MIN_ITERATIONS) (4,096, the
    /// Authentication specification's floor: a lower count is a downgrade), or more than
    /// [`SCRAM_MAX_ITERATIONS`](crate::options::SCRAM_MAX_ITERATIONS) (a count that would
    /// keep the client computing for minutes). Nothing was derived.
    #[error("{mechanism} as {user:?}: the server asked for {iterations} PBKDF2 iterations, {}", scram_count_hint(*iterations, *min, *max))]
    ScramIterationCount {
        /// `SCRAM-SHA-256` or `SCRAM-SHA-1`.
        mechanism: String,
        /// The user name.
        user: String,
        /// The count the server asked for.
        iterations: u64,
        /// The lowest count accepted.
        min: u32,
        /// The highest count accepted.
        max: u32,
    },

    /// The server answered a command with an error.
    #[error("command failed: {code_name} ({code}): {message}")]
    Command {
        /// The server's error code.
        code: i32,
        /// The server's name for the code (may be empty).
        code_name: String,
        /// The server's message.
        message: String,
    },

    /// A write was not (entirely) applied.
    #[error("write failed: {message}")]
    Write {
        /// A summary of the write errors.
        message: String,
        /// The individual write errors, by index in the batch.
        write_errors: Vec<WriteError>,
        /// The write concern error, if the server reported one.
        write_concern_error: Option<String>,
        /// `insert_many`: the `_id`s of the documents that were inserted, by index in the
        /// request (the others failed or, after an ordered failure, were not sent). Empty for
        /// other writes.
        inserted_ids: std::collections::HashMap<usize, bson::Bson>,
    },

    /// A bulk write ([`Client::bulk_write`](crate::Client::bulk_write),
    /// [`Collection::bulk_write`](crate::Collection::bulk_write)) did not fully succeed: the
    /// failed writes, the write concern errors, what succeeded, and what stopped it.
    #[error("bulk write failed: {0}")]
    BulkWrite(BulkWriteError),

    /// An I/O error talking to a server.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),

    /// An operation did not finish in time.
    #[error("timed out: {message}")]
    Timeout {
        /// What timed out and which option bounds it.
        message: String,
    },

    /// `timeoutMS` expired (Client Side Operations Timeout): the operation as a whole took too
    /// long, in server selection, connection check-out, writing, reading or on the server
    /// (`MaxTimeMSExpired`). The message quotes the underlying error, when there was one.
    /// Not a network error.
    #[error("operation timed out: {message}")]
    OperationTimeout {
        /// When the deadline was found expired, and the underlying error.
        message: String,
    },

    /// Every connection of the pool stayed in use for longer than `waitQueueTimeoutMS` (or
    /// `serverSelectionTimeoutMS`). Not a network error: nothing is wrong with the connections.
    #[error("timed out waiting for a pooled connection: {message}")]
    WaitQueueTimeout {
        /// How long, for which server, and which option to raise.
        message: String,
    },

    /// The server's connection pool was cleared (after an error on that server) and is paused
    /// until the server's monitor finds it again: the check-out failed without sending
    /// anything. Server selection answers it by selecting again; an error of this kind that
    /// reaches the application can be retried. Not a network error.
    #[error("connection pool cleared: {message}")]
    PoolCleared {
        /// Which pool, and why.
        message: String,
    },

    /// No suitable server was found in time.
    #[error("server selection failed: {message}")]
    ServerSelection {
        /// Why no server was suitable.
        message: String,
    },

    /// The server sent something that is not a valid reply.
    #[error("invalid server response: {message}")]
    InvalidResponse {
        /// What was wrong with it.
        message: String,
    },

    /// A value could not be converted to BSON.
    #[error("BSON serialization failed: {message}")]
    BsonSerialization {
        /// The serializer's message.
        message: String,
    },

    /// A reply could not be converted from BSON into the requested type.
    #[error("BSON deserialization failed: {message}")]
    BsonDeserialization {
        /// The deserializer's message.
        message: String,
    },

    /// A `mongodb+srv://` name could not be resolved to a usable seed list: a DNS error or
    /// timeout, no SRV records, a host outside the name's domain, or a bad TXT record.
    #[error("DNS lookup failed: {message}")]
    DnsResolve {
        /// The name, why it failed, and what to check.
        message: String,
    },

    /// A feature that this crate does not support yet.
    #[error("not supported: {message}")]
    NotSupported {
        /// What is not supported and what to use instead.
        message: String,
    },

    /// A transaction was used wrongly (committed after an abort, started twice, an option
    /// a transaction cannot take, …), or a convenient transaction ran out of time (its
    /// [`source`](std::error::Error::source) is the last error it saw).
    #[error("transaction error: {message}")]
    Transaction {
        /// What is wrong and what to do about it.
        message: String,
    },

    /// The server ran a command that has no other result (`commitTransaction`,
    /// `abortTransaction`) but could not satisfy its write concern (`writeConcernError`).
    #[error("write concern error: {code_name} ({code}): {message}")]
    WriteConcern {
        /// The server's error code (e.g. 64, `WriteConcernFailed`).
        code: i32,
        /// The server's name for the code (may be empty).
        code_name: String,
        /// The server's message.
        message: String,
    },

    /// The client was shut down.
    #[error("the client has been shut down")]
    Shutdown,

    /// A change stream event came without its resume token (`_id`), so the stream could not
    /// be resumed after it; the stream is closed. A pipeline stage that removes or replaces
    /// `_id` does this: keep `_id` in the events.
    #[error("cannot provide resume functionality when the resume token is missing: a change stream event has no _id (a $project, $replaceRoot or $redact stage removed it?); keep _id in the events")]
    MissingResumeToken,

    /// A GridFS operation failed: a file that is not there, a damaged file, a misused
    /// upload stream.
    #[error("GridFS: {0}")]
    GridFs(GridFsErrorKind),

    /// A bug in mongo-x509. Please report it.
    #[error("internal error (please report this): {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// Why a SCRAM iteration count was refused, and what to do.
fn scram_count_hint(iterations: u64, min: u32, max: u32) -> String {
    if iterations < u64::from(min) {
        format!(
            "fewer than the {min} the Authentication specification requires; a server never \
             asks for so few, so something between the client and the server may be tampering \
             with the conversation: use TLS"
        )
    } else {
        format!(
            "more than the limit of {max}; lower the server's scramSHA256IterationCount or \
             scramIterationCount and reset the user's password"
        )
    }
}

/// Why a GridFS operation failed ([`ErrorKind::GridFs`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GridFsErrorKind {
    /// No file has this id, or this name.
    #[error("no file {identifier} in the bucket")]
    FileNotFound {
        /// The id or name asked for.
        identifier: GridFsFileIdentifier,
    },

    /// Files with the name exist, but not this revision.
    #[error("the file has no revision {revision} (0 is the oldest, -1 the newest)")]
    RevisionNotFound {
        /// The revision asked for.
        revision: i32,
    },

    /// The chunk with this index is not in the chunks collection: the file is damaged.
    #[error("chunk n={n} is missing: the file is damaged (chunks deleted or never written)")]
    MissingChunk {
        /// The index (`n`) of the missing chunk.
        n: u32,
    },

    /// A chunk came where another was expected (two chunks with the same `n`: the unique
    /// index on the chunks collection is missing).
    #[error("chunk n={n} came where chunk n={expected} was expected: the file is damaged (duplicate chunks?)")]
    UnexpectedChunk {
        /// The index of the chunk that came.
        n: u32,
        /// The index expected.
        expected: u32,
    },

    /// A chunk's data is not as long as the file's length and chunk size say.
    #[error("chunk n={n} holds {actual_size} bytes where {expected_size} were expected: the file is damaged")]
    WrongSizeChunk {
        /// Its length.
        actual_size: usize,
        /// The length expected.
        expected_size: u32,
        /// The chunk's index.
        n: u32,
    },

    /// There are more chunks than the file's length says.
    #[error("the file has {actual_number} chunks or more where {expected_number} were expected: the file is damaged")]
    WrongNumberOfChunks {
        /// How many chunks were found (at least).
        actual_number: u32,
        /// How many the file's length and chunk size call for.
        expected_number: u32,
    },

    /// A chunk document is not one (`n` not an integer, `data` not binary data), or a files
    /// document's `length` or `chunkSize` is unusable.
    #[error("{message}: the file is damaged")]
    MalformedChunk {
        /// What is wrong, naming the chunk.
        message: String,
    },

    /// The upload stream was closed or aborted (or failed) already: nothing more can be
    /// written to it.
    #[error("the upload stream is closed (after close, abort or an error); open a new one")]
    UploadStreamClosed,

    /// Aborting an upload could not delete the chunks already written.
    #[error("aborting the upload failed to delete its chunks: {delete_error}{}", original_error.as_ref().map(|e| format!(" (the upload failed first: {e})")).unwrap_or_default())]
    AbortError {
        /// The error that made the upload stop, if one did.
        original_error: Option<Error>,
        /// The error deleting the chunks.
        delete_error: Error,
    },

    /// The upload stream was closed while a write was still in progress.
    #[error("the upload stream was closed while a write was in progress; finish writing (write_all) before close")]
    WriteInProgress,
}

/// Which file a GridFS error is about.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GridFsFileIdentifier {
    /// By name.
    Filename(String),
    /// By id.
    Id(bson::Bson),
}

impl fmt::Display for GridFsFileIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridFsFileIdentifier::Filename(n) => write!(f, "named {n:?}"),
            GridFsFileIdentifier::Id(id) => write!(f, "with id {id}"),
        }
    }
}

/// One write error reported by the server for a write in a batch.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WriteError {
    /// Index of the document or statement in the batch.
    pub index: usize,
    /// The server's error code.
    pub code: i32,
    /// The server's message.
    pub message: String,
    /// The server's name for the code (may be empty).
    pub code_name: String,
    /// `errInfo`: what the server adds (e.g. why a document failed schema validation).
    pub details: Option<bson::Document>,
}

/// Where an identity (client certificate and key) was loaded from; shown in identity errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// A file (`tlsCertificateKeyFile`).
    File(PathBuf),
    /// Bytes given in memory.
    Memory,
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::File(p) => write!(f, "certificate-key file {}", p.display()),
            IdentitySource::Memory => f.write_str("in-memory certificate-key"),
        }
    }
}

/// The client identity could not be loaded. [`IdentityError::kind`] says why.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{origin}: {kind}")]
#[non_exhaustive]
pub struct IdentityError {
    /// Where the identity came from (the file, named in every message).
    pub origin: IdentitySource,
    /// What went wrong.
    pub kind: IdentityErrorKind,
}

/// Why a client identity could not be loaded. Each case says what to do.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityErrorKind {
    /// The file could not be read.
    #[error(
        "cannot read the file ({io}); check the path (tlsCertificateKeyFile) and its permissions"
    )]
    Unreadable {
        /// The operating system's error, in words.
        io: String,
    },
    /// The key is encrypted and the password does not decrypt it.
    #[error("wrong password: the private key could not be decrypted with the given tlsCertificateKeyFilePassword")]
    WrongPassword,
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted ({scheme}) but no password was given; set tlsCertificateKeyFilePassword")]
    PasswordRequired {
        /// The encryption found, e.g. "PKCS#8 PBES2" or "legacy PEM DES-EDE3-CBC".
        scheme: String,
    },
    /// There is no private key in the file.
    #[error("no private key found ({found}); the file must hold the client certificate and its private key together (e.g. `cat client.crt client.key > client.pem`)")]
    NoPrivateKey {
        /// What the file does hold.
        found: String,
    },
    /// There is no certificate in the file.
    #[error("no certificate found ({found}); the file must hold the client certificate and its private key together (e.g. `cat client.crt client.key > client.pem`)")]
    NoCertificate {
        /// What the file does hold.
        found: String,
    },
    /// The file holds more than one private key: which one goes with the certificate would be
    /// a guess, so the file is refused (on every backend).
    #[error(
        "{count} private keys found ({found}); keep only the client certificate's key in the file"
    )]
    SeveralPrivateKeys {
        /// How many keys.
        count: usize,
        /// What the file holds.
        found: String,
    },
    /// The private key does not belong to the (first) certificate.
    #[error("the private key does not match the certificate {subject}; put the key that was used to request this certificate in the file")]
    KeyMismatch {
        /// The subject DN of the certificate.
        subject: String,
    },
    /// The file's format or an algorithm in it is not supported.
    #[error("unsupported or unrecognised format: {found}")]
    UnsupportedFormat {
        /// What was found (PEM labels, algorithm names, …) and what would work.
        found: String,
    },
    /// The file's content is damaged (truncated, bad base64, invalid DER).
    #[error("the file is damaged or truncated: {detail}")]
    Malformed {
        /// What failed to parse.
        detail: String,
    },
    /// The certificate has expired.
    #[error(
        "the certificate {subject} expired on {not_after} (valid from {not_before}); renew it"
    )]
    CertificateExpired {
        /// The subject DN.
        subject: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The certificate is not valid yet.
    #[error("the certificate {subject} is not valid before {not_before} (valid until {not_after}); check the system clock")]
    CertificateNotYetValid {
        /// The subject DN.
        subject: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The TLS library refused the identity for another reason.
    #[error("the TLS backend refused the identity: {detail}")]
    Rejected {
        /// The backend's reason.
        detail: String,
    },
    /// A key-derivation parameter of the file is above its limit (checked before deriving: a
    /// crafted file could otherwise run for minutes or exhaust memory).
    #[error("the {parameter} is {value}, above the limit of {limit}; re-encrypt the key with usual parameters (e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc`) or, if the file is trusted, raise TlsOptions::kdf_limits ({option})")]
    KdfLimitExceeded {
        /// The parameter, e.g. "PBKDF2 iteration count" or "scrypt cost (N=…, r=…, p=…)".
        parameter: String,
        /// Its value in the file.
        value: u64,
        /// The limit it exceeds.
        limit: u64,
        /// The [`KdfLimits`](crate::options::KdfLimits) field that raises the limit.
        option: &'static str,
    },
    /// The file is larger than [`MAX_TLS_FILE_SIZE`](crate::tls::MAX_TLS_FILE_SIZE).
    #[error("the file is {size} bytes, more than the limit of {limit} bytes for a certificate-key file; keep only the client certificate, its chain and its key in it")]
    FileTooLarge {
        /// The file's size (at least this many bytes).
        size: u64,
        /// The limit.
        limit: u64,
    },
}
