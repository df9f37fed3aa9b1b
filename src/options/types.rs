//! The option types. Parsing lives in `parse.rs`; these are plain data with builders.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroize;

use bson::Document;
use typed_builder::TypedBuilder;

use crate::event::cmap::CmapEvent;
use crate::event::command::CommandEvent;
use crate::event::identity::IdentityEvent;
use crate::event::sdam::SdamEvent;
use crate::event::EventHandler;

use super::ResolverConfig;
use crate::error::{Error, Result};
pub use crate::tls::KdfLimits;
use crate::tls::TlsBackend;

/// The default MongoDB port.
pub const DEFAULT_PORT: u16 = 27017;

/// What `Debug` prints in place of a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// The address of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAddress {
    /// A TCP host (name, IPv4 or IPv6 literal without brackets) and port (27017 when `None`).
    Tcp {
        /// Host name or IP literal. IPv6 literals are stored without brackets.
        host: String,
        /// The port; `None` means [`DEFAULT_PORT`].
        port: Option<u16>,
    },
    /// A Unix domain socket.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
}

impl ServerAddress {
    /// Parses `host`, `host:port`, `[v6]:port` or a `.sock` path. Host names are lower-cased.
    ///
    /// ```
    /// use mongo_x509::options::ServerAddress;
    /// let a = ServerAddress::parse("[::1]:27018").unwrap();
    /// assert_eq!(a, ServerAddress::Tcp { host: "::1".into(), port: Some(27018) });
    /// ```
    pub fn parse(address: &str) -> Result<Self> {
        parse::parse_host(address)
    }

    /// The host name (TCP) or the socket path (Unix).
    pub fn host(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ServerAddress::Tcp { host, .. } => host.as_str().into(),
            ServerAddress::Unix { path } => path.to_string_lossy(),
        }
    }

    /// The port, with the default applied; `None` for Unix sockets.
    pub fn port(&self) -> Option<u16> {
        match self {
            ServerAddress::Tcp { port, .. } => Some(port.unwrap_or(DEFAULT_PORT)),
            ServerAddress::Unix { .. } => None,
        }
    }
}

use super::parse;

impl Default for ServerAddress {
    fn default() -> Self {
        ServerAddress::Tcp {
            host: "localhost".into(),
            port: None,
        }
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddress::Tcp { host, port } => {
                let port = port.unwrap_or(DEFAULT_PORT);
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
            ServerAddress::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

impl FromStr for ServerAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// An authentication mechanism from the MongoDB Authentication specification.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// SCRAM-SHA-1.
    ScramSha1,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// MONGODB-X509: the client certificate's subject is the user. What this crate is for.
    MongoDbX509,
    /// GSSAPI (Kerberos).
    Gssapi,
    /// PLAIN (LDAP).
    Plain,
    /// MONGODB-AWS.
    MongoDbAws,
    /// MONGODB-OIDC.
    MongoDbOidc,
}

impl AuthMechanism {
    /// The mechanism's name as the server and connection strings spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::MongoDbX509 => "MONGODB-X509",
            AuthMechanism::Gssapi => "GSSAPI",
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::MongoDbAws => "MONGODB-AWS",
            AuthMechanism::MongoDbOidc => "MONGODB-OIDC",
        }
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMechanism {
    type Err = Error;

    /// Mechanism names are matched case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        let all = [
            AuthMechanism::ScramSha1,
            AuthMechanism::ScramSha256,
            AuthMechanism::MongoDbX509,
            AuthMechanism::Gssapi,
            AuthMechanism::Plain,
            AuthMechanism::MongoDbAws,
            AuthMechanism::MongoDbOidc,
        ];
        all.into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "authMechanism: unknown mechanism {s:?}; expected one of MONGODB-X509, \
                     SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, GSSAPI, MONGODB-AWS, MONGODB-OIDC"
                ))
            })
    }
}

/// Who the client authenticates as, and how.
///
/// For [`AuthMechanism::MongoDbX509`] the user name is optional: when absent, the server takes
/// the subject of the client certificate. The source is always `$external`.
///
/// SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN need a user name and a password. The source defaults
/// to `admin` for SCRAM (in a connection string: its database, else `admin`) and to
/// `$external` for PLAIN.
///
/// ```
/// use mongo_x509::options::{AuthMechanism, Credential};
///
/// let credential = Credential::builder()
///     .username("app")
///     .password("s3cr3t")
///     .mechanism(AuthMechanism::ScramSha256)
///     .source("admin")
///     .build();
/// assert!(!format!("{credential:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct Credential {
    /// The user name (for X.509, the certificate subject DN in RFC 2253 form).
    pub username: Option<String>,
    /// The database the user is defined in (`$external` for X.509).
    pub source: Option<String>,
    /// The password (not allowed for X.509). Never printed by `Debug`.
    pub password: Option<String>,
    /// The mechanism; `None` negotiates SCRAM with the server: SCRAM-SHA-256 if the server
    /// lists it for the user, else SCRAM-SHA-1.
    pub mechanism: Option<AuthMechanism>,
    /// `authMechanismProperties`.
    pub mechanism_properties: Option<Document>,
}

/// Wipes the password: a parsed or built credential that is dropped (an error in a later
/// option, a client never built) leaves no copy in freed memory.
impl Drop for Credential {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            p.zeroize();
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("source", &self.source)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("mechanism", &self.mechanism)
            .field(
                "mechanism_properties",
                &self.mechanism_properties.as_ref().map(redact_properties),
            )
            .finish()
    }
}

/// Mechanism properties with secret values (the AWS session token) replaced by a marker.
fn redact_properties(properties: &Document) -> Document {
    let mut shown = properties.clone();
    for (key, value) in shown.iter_mut() {
        if key.eq_ignore_ascii_case("AWS_SESSION_TOKEN") {
            *value = REDACTED.into();
        }
    }
    shown
}

/// Whether to use TLS, and how.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
// Built once per client, never in a hot path: boxing the options would only cost users a
// `Box::new` in the public API.
#[allow(clippy::large_enum_variant)]
pub enum Tls {
    /// TLS with these options.
    Enabled(TlsOptions),
    /// No TLS.
    Disabled,
}

impl From<TlsOptions> for Tls {
    fn from(o: TlsOptions) -> Self {
        Tls::Enabled(o)
    }
}

/// Which TLS backend a client uses.
#[derive(Clone)]
#[non_exhaustive]
pub enum TlsBackendKind {
    /// OpenSSL through `openssl` and `tokio-openssl` (feature `openssl`, the default).
    OpenSsl,
    /// The platform's TLS through `native-tls` (feature `native-tls`).
    NativeTls,
    /// Your own backend. It is used as given: the file and password options are not read by the
    /// crate, your backend is responsible for its identity.
    Custom(Arc<dyn TlsBackend>),
}

impl TlsBackendKind {
    /// The backend's name: `"openssl"`, `"native-tls"`, or the custom backend's own.
    pub fn name(&self) -> &str {
        match self {
            TlsBackendKind::OpenSsl => "openssl",
            TlsBackendKind::NativeTls => "native-tls",
            TlsBackendKind::Custom(b) => b.name(),
        }
    }
}

impl FromStr for TlsBackendKind {
    type Err = Error;
    /// `openssl` or `native-tls` (case-insensitive; `nativetls` and `native_tls` too).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "openssl" => Ok(TlsBackendKind::OpenSsl),
            "native-tls" | "nativetls" | "native_tls" | "native" => Ok(TlsBackendKind::NativeTls),
            _ => Err(Error::invalid_argument(format!(
                "tlsBackend: unknown backend {s:?}; expected \"openssl\" or \"native-tls\""
            ))),
        }
    }
}

impl fmt::Debug for TlsBackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsBackendKind::Custom(b) => write!(f, "Custom({})", b.name()),
            other => f.write_str(other.name()),
        }
    }
}

impl PartialEq for TlsBackendKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TlsBackendKind::Custom(a), TlsBackendKind::Custom(b)) => Arc::ptr_eq(a, b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

/// TLS options (`tls*` URI options).
///
/// The password is read when the client is built (the key is decrypted once, not per
/// connection). The options the client keeps are scrubbed of it; the TLS backend keeps its own
/// copy, zeroized when the client is dropped, to decrypt a rotated key
/// (`Client::reload_tls_identity`).
#[derive(Clone, Default, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct TlsOptions {
    /// `tlsCAFile`: trust only the CAs in this PEM file. Without it, the system trust store.
    pub ca_file_path: Option<PathBuf>,
    /// `tlsCertificateKeyFile`: the client certificate (and intermediates) with its private key,
    /// as PEM or PKCS#12.
    pub cert_key_file_path: Option<PathBuf>,
    /// `tlsCertificateKeyFilePassword`: decrypts the private key (or the PKCS#12 file).
    /// Never printed by `Debug`.
    pub tls_certificate_key_file_password: Option<Vec<u8>>,
    /// The client certificate and key as bytes (PEM or PKCS#12), instead of a file.
    /// Never printed by `Debug`.
    pub cert_key_data: Option<Vec<u8>>,
    /// `tlsAllowInvalidCertificates`: do not verify the server's certificate. Unsafe.
    pub allow_invalid_certificates: Option<bool>,
    /// `tlsAllowInvalidHostnames`: verify the certificate but not that it names the host.
    pub allow_invalid_hostnames: Option<bool>,
    /// `tlsDisableOCSPEndpointCheck`.
    pub disable_ocsp_endpoint_check: Option<bool>,
    /// `tlsDisableCertificateRevocationCheck`.
    pub disable_certificate_revocation_check: Option<bool>,
    /// Which backend to use; `None` picks OpenSSL when compiled in, else native-tls.
    /// In a connection string: `tlsBackend=openssl|native-tls` (an extension of this crate).
    pub backend: Option<TlsBackendKind>,
    /// `tlsCRLFile`: certificate revocation lists (PEM `X509 CRL` blocks, or one DER CRL); the
    /// server's certificate is refused when its CA's CRL lists it. OpenSSL backend only: the
    /// native-tls backend refuses the option when the client is created. Ignored when
    /// `tlsDisableCertificateRevocationCheck=true`.
    pub crl_file_path: Option<PathBuf>,
    /// Watch `tlsCertificateKeyFile` and reload the identity when the file changes, checking at
    /// this interval (`None`: no watch). Needs a Tokio runtime when the client is created.
    /// In a connection string: `tlsCertificateKeyFileWatchIntervalMS=<ms>` (an extension of
    /// this crate; 0 means no watch).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use mongo_x509::options::TlsOptions;
    /// let tls = TlsOptions::builder()
    ///     .cert_key_file_path("/var/run/secrets/mongo/client.pem")
    ///     .cert_key_file_watch(Duration::from_secs(30))
    ///     .build();
    /// # assert!(tls.cert_key_file_watch.is_some());
    /// ```
    pub cert_key_file_watch: Option<Duration>,
    /// Log a `tracing` warning when the client certificate, as loaded or reloaded, expires
    /// within this window. Default [`DEFAULT_EXPIRY_WARNING`](crate::tls::DEFAULT_EXPIRY_WARNING)
    /// (7 days).
    pub cert_expiry_warning: Option<Duration>,
    /// Limits on the key-derivation parameters of an encrypted key or PKCS#12 file, checked
    /// before deriving; `None`: [`KdfLimits::default()`] (10,000,000 iterations, 32 MiB of
    /// scrypt). Raise them only for a key file you trust; see [`KdfLimits`].
    pub kdf_limits: Option<KdfLimits>,
}

/// Wipes the key password and the in-memory key: options that are dropped (an error in a later
/// option, a client never built, a clone) leave no copy in freed memory.
impl Drop for TlsOptions {
    fn drop(&mut self) {
        if let Some(p) = &mut self.tls_certificate_key_file_password {
            p.zeroize();
        }
        if let Some(d) = &mut self.cert_key_data {
            d.zeroize();
        }
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_file_path", &self.ca_file_path)
            .field("cert_key_file_path", &self.cert_key_file_path)
            .field(
                "tls_certificate_key_file_password",
                &self
                    .tls_certificate_key_file_password
                    .as_ref()
                    .map(|_| REDACTED),
            )
            .field(
                "cert_key_data",
                &self.cert_key_data.as_ref().map(|_| REDACTED),
            )
            .field(
                "allow_invalid_certificates",
                &self.allow_invalid_certificates,
            )
            .field("allow_invalid_hostnames", &self.allow_invalid_hostnames)
            .field(
                "disable_ocsp_endpoint_check",
                &self.disable_ocsp_endpoint_check,
            )
            .field(
                "disable_certificate_revocation_check",
                &self.disable_certificate_revocation_check,
            )
            .field("backend", &self.backend)
            .field("crl_file_path", &self.crl_file_path)
            .field("cert_key_file_watch", &self.cert_key_file_watch)
            .field("cert_expiry_warning", &self.cert_expiry_warning)
            .field("kdf_limits", &self.kdf_limits)
            .finish()
    }
}

/// How a monitor checks its server (Server Monitoring specification, `serverMonitoringMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerMonitoringMode {
    /// The streaming protocol (an awaitable `hello` the server answers when something changes,
    /// with round-trip times measured on a second connection) when the server supports it,
    /// else polling.
    Stream,
    /// Polling: a `hello` every `heartbeatFrequencyMS` on one connection per server.
    Poll,
    /// [`Poll`](Self::Poll) on a FaaS platform (AWS Lambda, Azure Functions, Google Cloud
    /// Functions or Cloud Run, Vercel: detected from their environment variables, as the
    /// handshake's `client.env`), where a process may be frozen between invocations;
    /// [`Stream`](Self::Stream) elsewhere.
    #[default]
    Auto,
}

impl ServerMonitoringMode {
    /// The value as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Poll => "poll",
            Self::Auto => "auto",
        }
    }
}

/// Read preference mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadPreferenceMode {
    /// Only the primary (the default).
    #[default]
    Primary,
    /// The primary, or a secondary when there is none.
    PrimaryPreferred,
    /// Only secondaries.
    Secondary,
    /// A secondary, or the primary when there is none.
    SecondaryPreferred,
    /// The member with the lowest latency.
    Nearest,
}

impl ReadPreferenceMode {
    /// The mode as the server spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReadPreferenceMode::Primary => "primary",
            ReadPreferenceMode::PrimaryPreferred => "primaryPreferred",
            ReadPreferenceMode::Secondary => "secondary",
            ReadPreferenceMode::SecondaryPreferred => "secondaryPreferred",
            ReadPreferenceMode::Nearest => "nearest",
        }
    }
}

impl From<ReadPreferenceMode> for ReadPreference {
    /// A read preference with this mode, no tag sets and no staleness limit.
    fn from(mode: ReadPreferenceMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }
}

/// A read preference tag set, e.g. `{dc: "ny", rack: "1"}`.
pub type TagSet = std::collections::HashMap<String, String>;

/// Where reads go (`readPreference`, `readPreferenceTags`, `maxStalenessSeconds`).
#[derive(Clone, Debug, PartialEq, Default, TypedBuilder)]
#[builder(field_defaults(default, setter(into)))]
#[non_exhaustive]
pub struct ReadPreference {
    /// The mode.
    pub mode: ReadPreferenceMode,
    /// Tag sets, tried in order (not allowed with `primary`).
    pub tag_sets: Vec<TagSet>,
    /// `maxStalenessSeconds` (not allowed with `primary`; at least 90 seconds).
    #[builder(setter(strip_option))]
    pub max_staleness: Option<Duration>,
}

/// The `w` of a write concern.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acknowledgment {
    /// This many members (`w=0` is unacknowledged).
    Nodes(u32),
    /// A majority of members.
    Majority,
    /// A custom write-concern tag.
    Custom(String),
}

/// Write concern (`w`, `wTimeoutMS`, `journal`).
#[derive(Clone, Debug, PartialEq, Default, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct WriteConcern {
    /// `w`.
    pub w: Option<Acknowledgment>,
    /// `wTimeoutMS`.
    pub w_timeout: Option<Duration>,
    /// `journal`.
    pub journal: Option<bool>,
}

/// Read concern (`readConcernLevel`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadConcern {
    /// The level as the server spells it (`local`, `majority`, `linearizable`, `available`,
    /// `snapshot`, or another the server knows).
    pub level: String,
}

impl ReadConcern {
    /// `local`: the member's most recent data (the server's default).
    pub fn local() -> Self {
        Self::custom("local")
    }

    /// `majority`: data a majority of members has, which no rollback can undo.
    pub fn majority() -> Self {
        Self::custom("majority")
    }

    /// `linearizable`: majority-committed data that reflects every write acknowledged before
    /// the read started (primary only).
    pub fn linearizable() -> Self {
        Self::custom("linearizable")
    }

    /// `available`: like `local`, without waiting on a sharded cluster's routing metadata.
    pub fn available() -> Self {
        Self::custom("available")
    }

    /// `snapshot`: majority-committed data at one point in time (transactions, snapshot
    /// sessions).
    pub fn snapshot() -> Self {
        Self::custom("snapshot")
    }

    /// A level this crate has no constructor for, as the server spells it.
    pub fn custom(level: impl Into<String>) -> Self {
        Self {
            level: level.into(),
        }
    }
}

/// Wire compressors that may be named in `compressors` (OP_COMPRESSED, the MongoDB
/// "Compression" specification). Each codec needs its cargo feature: `snappy-compression`,
/// `zlib-compression`, `zstd-compression`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compressor {
    /// snappy.
    Snappy,
    /// zlib, with `zlibCompressionLevel` (-1 to 9).
    Zlib {
        /// The level; `None` is the library default.
        level: Option<i32>,
    },
    /// zstd.
    Zstd,
}

/// Everything a client needs to know to connect. Parse a connection string with
/// [`ClientOptions::parse`], or build it with [`ClientOptions::builder`].
#[derive(Clone, Debug, PartialEq, TypedBuilder)]
#[builder(field_defaults(default, setter(into, strip_option)))]
#[non_exhaustive]
pub struct ClientOptions {
    /// The seed list. For `mongodb+srv://`, [`ClientOptions::parse`] puts the hosts of the SRV
    /// records here (at most `srvMaxHosts` of them).
    #[builder(default = vec![ServerAddress::default()], setter(!strip_option))]
    pub hosts: Vec<ServerAddress>,
    /// Who to authenticate as.
    pub credential: Option<Credential>,
    /// TLS (`tls`/`ssl` and the `tls*` options).
    pub tls: Option<Tls>,
    /// `appName`, sent to the server in the handshake.
    pub app_name: Option<String>,
    /// `connectTimeoutMS`: bounds TCP connect, TLS and the handshake. Default 10 s.
    pub connect_timeout: Option<Duration>,
    /// `socketTimeoutMS`: bounds each read. Default: none.
    pub socket_timeout: Option<Duration>,
    /// `serverSelectionTimeoutMS`. Default 30 s.
    pub server_selection_timeout: Option<Duration>,
    /// `heartbeatFrequencyMS` (at least 500 ms). Default 10 s.
    pub heartbeat_freq: Option<Duration>,
    /// `maxPoolSize` (0 means no limit). Default 10.
    pub max_pool_size: Option<u32>,
    /// `minPoolSize`. Default 0.
    pub min_pool_size: Option<u32>,
    /// `maxIdleTimeMS`: close connections idle for longer. Default: never.
    pub max_idle_time: Option<Duration>,
    /// `maxConnecting`: connections being opened at once per pool. Default 2.
    pub max_connecting: Option<u32>,
    /// `waitQueueTimeoutMS`: how long a checkout may wait for a free connection.
    pub wait_queue_timeout: Option<Duration>,
    /// `directConnection`.
    pub direct_connection: Option<bool>,
    /// `replicaSet`.
    pub repl_set_name: Option<String>,
    /// The database named in the connection string's path.
    pub default_database: Option<String>,
    /// Whether the connection string used `mongodb+srv://`. A client only accepts options with
    /// `srv` set when they come from [`ClientOptions::parse`] (which resolved the name).
    #[builder(setter(!strip_option))]
    pub srv: bool,
    /// `srvServiceName`. Default `mongodb`.
    pub srv_service_name: Option<String>,
    /// `srvMaxHosts`. Default 0 (all).
    pub srv_max_hosts: Option<u32>,
    /// `retryReads`. Default true.
    pub retry_reads: Option<bool>,
    /// `retryWrites`. Default true.
    pub retry_writes: Option<bool>,
    /// `maxAdaptiveRetries`: how many times an operation is retried after the server shed it
    /// for overload (an error labelled both `SystemOverloadedError` and `RetryableError`; Client
    /// Backpressure specification), with exponential backoff and jitter between attempts.
    /// Default 2; 0 turns these retries off (the retryable reads and writes' one retry stays).
    ///
    /// ```
    /// # use mongo_x509::options::ClientOptions;
    /// let options = ClientOptions::builder().max_adaptive_retries(0_u32).build();
    /// assert_eq!(options.max_adaptive_retries, Some(0));
    /// ```
    pub max_adaptive_retries: Option<u32>,
    /// `serverMonitoringMode`: how monitors check their servers. Default
    /// [`Auto`](ServerMonitoringMode::Auto).
    ///
    /// ```
    /// # use mongo_x509::options::{ClientOptions, ServerMonitoringMode};
    /// let options = ClientOptions::builder()
    ///     .server_monitoring_mode(ServerMonitoringMode::Poll)
    ///     .build();
    /// assert_eq!(options.server_monitoring_mode, Some(ServerMonitoringMode::Poll));
    /// ```
    pub server_monitoring_mode: Option<ServerMonitoringMode>,
    /// `readPreference`, `readPreferenceTags`, `maxStalenessSeconds`.
    pub read_preference: Option<ReadPreference>,
    /// `localThresholdMS`. Default 15 ms.
    pub local_threshold: Option<Duration>,
    /// `loadBalanced`.
    pub load_balanced: Option<bool>,
    /// `timeoutMS` (client-side operation timeout).
    pub timeout: Option<Duration>,
    /// `w`, `wTimeoutMS`, `journal`.
    pub write_concern: Option<WriteConcern>,
    /// `readConcernLevel`.
    pub read_concern: Option<ReadConcern>,
    /// `compressors` and `zlibCompressionLevel`: the compressors to offer in the handshake, in
    /// order of preference. Each connection compresses its requests with the first of them the
    /// server also accepts (none in common: no compression, not an error); the handshake and
    /// authentication commands (`hello`, `authenticate`, `saslStart`, …) are never compressed,
    /// and compressed replies are always accepted.
    ///
    /// A connection string naming a compressor whose cargo feature (`snappy-compression`,
    /// `zlib-compression`, `zstd-compression`) is not compiled in still parses, but
    /// [`Client::with_options`](crate::Client::with_options) then fails with an
    /// [`ErrorKind::InvalidArgument`](crate::error::ErrorKind::InvalidArgument) naming the
    /// feature to enable. Unknown names are dropped with a warning when parsing.
    pub compressors: Option<Vec<Compressor>>,
    /// Where command events go: each command's start and its success or failure, with
    /// durations (see [`event::command`](crate::event::command)). Default: none.
    ///
    /// ```
    /// use mongo_x509::event::EventHandler;
    /// use mongo_x509::options::ClientOptions;
    ///
    /// let options = ClientOptions::builder()
    ///     .command_event_handler(EventHandler::callback(|e| println!("{e:?}")))
    ///     .build();
    /// # let _ = options;
    /// ```
    pub command_event_handler: Option<EventHandler<CommandEvent>>,
    /// Where connection pool events go (see [`event::cmap`](crate::event::cmap)). Default:
    /// none.
    pub cmap_event_handler: Option<EventHandler<CmapEvent>>,
    /// Where topology events go: servers found, lost and changed, heartbeats (see
    /// [`event::sdam`](crate::event::sdam)). Default: none.
    pub sdam_event_handler: Option<EventHandler<SdamEvent>>,
    /// Where TLS identity events go: reloads of the client certificate and failed reloads
    /// (see [`event::identity`](crate::event::identity)). Default: none.
    pub identity_event_handler: Option<EventHandler<IdentityEvent>>,
    /// The Stable API version to declare: sent with every command, the handshake included.
    /// Code only: no connection string option sets it (Stable API specification).
    pub server_api: Option<super::ServerApi>,
    /// Set when `hosts` came from a `mongodb+srv://` lookup: what to look up again when polling.
    #[builder(default, setter(skip))]
    pub(crate) srv_origin: Option<SrvOrigin>,
    /// Test hook: the shortest interval between SRV rescans (the specification's 60 s floor
    /// makes polling untestable otherwise). Not part of the API.
    #[doc(hidden)]
    #[builder(default, setter(skip))]
    pub test_srv_rescan_interval: Option<Duration>,
}

/// Where a `mongodb+srv://` seed list came from: the SRV name, the service name and the
/// resolver configuration, kept for SRV polling (mongos discovery).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "dns-srv"), allow(dead_code))]
pub(crate) struct SrvOrigin {
    /// The host name of the connection string (`{hostname}` in the spec).
    pub(crate) name: String,
    /// `srvServiceName`, default `mongodb`.
    pub(crate) service_name: String,
    /// The name servers asked.
    pub(crate) resolver: ResolverConfig,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions::builder().build()
    }
}

impl ClientOptions {
    /// Parses a `mongodb://` or `mongodb+srv://` connection string.
    ///
    /// For `mongodb+srv://host` it asks the system's DNS configuration (`/etc/resolv.conf` on
    /// Unix) for the SRV records at `_mongodb._tcp.host` (or `_{srvServiceName}._tcp.host`) and
    /// the TXT record at `host`, and returns options whose [`ClientOptions::hosts`] are the
    /// hosts found; [`ClientOptions::parse_with_resolver_config`] asks other name servers. See
    /// there for the rules.
    ///
    /// Follows the MongoDB Connection String, URI Options and Auth specifications:
    ///
    /// - The user name and password, the database, option values and Unix socket paths are
    ///   percent-decoded (`%20`, not `+`, for a space). A user name or password with an
    ///   unescaped `@`, more than one `:`, a stray `%` or another character RFC 3986 does not
    ///   allow in userinfo is an error.
    /// - Option names are case-insensitive. An unknown option is ignored with a `tracing`
    ///   warning; so is a known option with an empty value (`journal=`). A repeated option: the
    ///   last value wins, with a warning, except `readPreferenceTags` (each one is a tag set)
    ///   and `tls`/`ssl` (every instance must agree).
    /// - An invalid value for a known option is an [`ErrorKind::InvalidArgument`] naming the
    ///   option and the value (never the value of `tlsCertificateKeyFilePassword`).
    ///   The specifications allow a warning instead; this crate prefers to stop.
    /// - **When TLS is on:** `tls=true` (or `ssl=true`); otherwise any `tls*` option turns it on,
    ///   and so does `mongodb+srv://`. `tls=false` turns it off, and is an error together with
    ///   any `tls*` option. `tlsInsecure=true` means `tlsAllowInvalidCertificates=true` and
    ///   `tlsAllowInvalidHostnames=true`; it cannot be combined with those options nor with
    ///   `tlsDisableOCSPEndpointCheck`/`tlsDisableCertificateRevocationCheck` (the spec's
    ///   conflicts, refused whatever the values).
    /// - `tlsCertificateKeyFilePassword` is kept as bytes (the percent-decoded value, which need
    ///   not be UTF-8), in [`TlsOptions::tls_certificate_key_file_password`].
    /// - **Extension:** `tlsBackend=openssl|native-tls` chooses the TLS backend
    ///   ([`TlsOptions::backend`]). Other drivers ignore it (with a warning).
    /// - Timeouts of `0` (`connectTimeoutMS`, `socketTimeoutMS`, `timeoutMS`, `wTimeoutMS`)
    ///   mean "no timeout" and are kept as [`Duration::ZERO`].
    /// - A credential is made when there is a `@` or an `authMechanism`, and is checked with
    ///   the Auth spec's rules for its mechanism; `authSource` alone makes none. For
    ///   MONGODB-X509 the user name is optional, the source is `$external`, and a password or
    ///   mechanism properties are errors. SCRAM (named, or negotiated when `authMechanism` is
    ///   absent) and PLAIN take `user:password@`; the source defaults to the path's database,
    ///   else `admin` (SCRAM) or `$external` (PLAIN). MONGODB-OIDC needs `ENVIRONMENT` (a
    ///   callback cannot be given in a connection string).
    ///
    /// [`ErrorKind::InvalidArgument`]: crate::error::ErrorKind::InvalidArgument
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use mongo_x509::options::{AuthMechanism, ClientOptions, Tls};
    ///
    /// let uri = "mongodb://db.example.com/?tls=true&tlsCAFile=%2Fetc%2Fca.pem\
    ///            &tlsCertificateKeyFile=%2Fetc%2Fclient.pem\
    ///            &tlsCertificateKeyFilePassword=s3cr3t%20p%40ss\
    ///            &authMechanism=MONGODB-X509";
    /// let options = ClientOptions::parse(uri).await?;
    /// let credential = options.credential.as_ref().unwrap();
    /// assert_eq!(credential.mechanism, Some(AuthMechanism::MongoDbX509));
    /// assert_eq!(credential.source.as_deref(), Some("$external"));
    /// let Some(Tls::Enabled(tls)) = &options.tls else { panic!("TLS is on") };
    /// assert_eq!(tls.tls_certificate_key_file_password.as_deref(), Some(&b"s3cr3t p@ss"[..]));
    /// # Ok::<_, mongo_x509::error::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn parse(uri: impl AsRef<str>) -> Result<Self> {
        parse::parse_uri(uri.as_ref(), &ResolverConfig::default()).await
    }

    /// Parses a connection string like [`ClientOptions::parse`], with the DNS lookups of a
    /// `mongodb+srv://` connection string sent where `resolver_config` says (the name of the
    /// official `mongodb` crate 2.x). A `mongodb://` connection string makes no lookup.
    ///
    /// The Initial DNS Seedlist Discovery specification, before any connection:
    ///
    /// - The SRV records at `_{srvServiceName}._tcp.{host}` give the hosts and ports (priority
    ///   and weight are ignored). Every host must be in the domain of `{host}`: all but its
    ///   first label when it has three or more, else `{host}` itself with at least one more
    ///   label. One host outside it fails the whole answer.
    /// - The TXT record at `{host}` (at most one; its strings are concatenated) may set
    ///   `authSource`, `replicaSet` and `loadBalanced`, nothing else. The connection string's
    ///   values win over the TXT record's.
    /// - TLS is on unless the connection string says `tls=false`.
    /// - `srvMaxHosts=N` (N > 0) keeps N hosts picked at random; it cannot be combined with
    ///   `replicaSet` (from either place) or `loadBalanced=true`.
    /// - Both lookups together take at most `connectTimeoutMS` (default 10 s).
    ///
    /// No SRV records, a DNS error or timeout, a host outside the domain, or a bad TXT record
    /// are an [`ErrorKind::DnsResolve`] saying which and what to check; an option conflict is an
    /// [`ErrorKind::InvalidArgument`]. Without the `dns-srv` cargo feature (on by default),
    /// `mongodb+srv://` is an [`ErrorKind::NotSupported`] naming the feature.
    ///
    /// [`ErrorKind::DnsResolve`]: crate::error::ErrorKind::DnsResolve
    /// [`ErrorKind::InvalidArgument`]: crate::error::ErrorKind::InvalidArgument
    /// [`ErrorKind::NotSupported`]: crate::error::ErrorKind::NotSupported
    ///
    /// ```no_run
    /// # async fn run() -> mongo_x509::error::Result<()> {
    /// use mongo_x509::options::{ClientOptions, ResolverConfig};
    ///
    /// // Ask a private name server instead of the system's.
    /// let resolver = ResolverConfig::with_name_servers(vec!["10.0.0.53:53".parse().unwrap()]);
    /// let options = ClientOptions::parse_with_resolver_config(
    ///     "mongodb+srv://cluster0.db.internal/?authMechanism=MONGODB-X509\
    ///      &tlsCertificateKeyFile=%2Fetc%2Fclient.pem",
    ///     resolver,
    /// )
    /// .await?;
    /// println!("seed list: {:?}", options.hosts);
    /// # Ok(()) }
    /// ```
    pub async fn parse_with_resolver_config(
        uri: impl AsRef<str>,
        resolver_config: ResolverConfig,
    ) -> Result<Self> {
        parse::parse_uri(uri.as_ref(), &resolver_config).await
    }

    /// The name servers to resolve host names with before the system's: those of
    /// [`ClientOptions::parse_with_resolver_config`] when it was given explicit name servers
    /// and resolved a `mongodb+srv://` name (the private zone that holds the SRV records
    /// usually holds the hosts too). `None` otherwise: the system's resolver only.
    pub(crate) fn host_resolver(&self) -> Option<ResolverConfig> {
        self.srv_origin
            .as_ref()
            .filter(|o| o.resolver.name_servers().is_some())
            .map(|o| o.resolver.clone())
    }

    /// The TLS options when TLS is enabled.
    pub fn tls_options(&self) -> Option<&TlsOptions> {
        match &self.tls {
            Some(Tls::Enabled(o)) => Some(o),
            _ => None,
        }
    }
}

/// The lowest PBKDF2 iteration count a SCRAM server may ask for (the Authentication
/// specification's floor; a lower count is refused as a downgrade).
pub const SCRAM_MIN_ITERATIONS: u32 = 4_096;

/// The highest PBKDF2 iteration count a SCRAM server may ask for: 10,000,000, the same cap as
/// [`KdfLimits::DEFAULT_MAX_ITERATIONS`](crate::options::KdfLimits::DEFAULT_MAX_ITERATIONS)
/// for key files (a few seconds of work, once per client). MongoDB's defaults are 10,000
/// (SCRAM-SHA-1) and 15,000 (SCRAM-SHA-256). A higher count is refused with
/// [`ErrorKind::ScramIterationCount`](crate::error::ErrorKind::ScramIterationCount) before anything is derived.
pub const SCRAM_MAX_ITERATIONS: u32 = 10_000_000;
