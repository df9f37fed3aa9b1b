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
    /// The reply's `topologyVersion`, for SDAM's staleness check of state-change errors.
    topology_version: Option<bson::Document>,
}

impl Error {
    /// Builds an error of the given kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
            labels: Vec::new(),
            topology_version: None,
        }
    }

    /// The server's `errorLabels` for this error (empty when it gave none).
    pub fn labels(&self) -> &[String] {
        &self.labels
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
        self.topology_version = topology_version;
        self
    }

    pub(crate) fn topology_version(&self) -> Option<&bson::Document> {
        self.topology_version.as_ref()
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

    /// Authentication failed.
    #[error("authentication failed: {message}")]
    Authentication {
        /// The server's message and a hint on what to check.
        message: String,
        /// The server's error code, when the server answered.
        code: Option<i32>,
        /// The subject DN of the client certificate that was presented, if any.
        subject: Option<String>,
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
    },

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

    /// The client was shut down.
    #[error("the client has been shut down")]
    Shutdown,

    /// A bug in mongo-x509. Please report it.
    #[error("internal error (please report this): {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
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
