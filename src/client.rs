//! [`Client`]: the entry point. One client serves a whole application.

mod executor;
mod identity_watch;
mod start_session;

pub(crate) use executor::{Leftovers, Run};
pub use start_session::StartSession;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroize;

use crate::conn::EstablishOptions;
use crate::csot::Deadline;
use crate::db::Database;
use crate::error::{Error, ErrorKind, Result};
use crate::operation::ListDatabases;
use crate::options::{AuthMechanism, ClientOptions, ReadConcern, Tls, WriteConcern};
use crate::pool::{PoolOptions, PoolStats, DEFAULT_MAX_CONNECTING, DEFAULT_MAX_POOL_SIZE};
use crate::sdam::{SelectionCriteria, TopologyDescription};
use crate::session::{ClusterClock, ServerSessionPool};
use crate::tls::{self, TlsBackend};

pub(crate) use crate::topology::ConnectionHandle;
use crate::topology::{Topology, TopologyOptions};

/// `serverSelectionTimeoutMS` when the user set none.
const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A MongoDB client: connection pools, server selection and the TLS identity, shared.
///
/// `Client` is `Clone + Send + Sync` and cheap to clone (its state is behind an `Arc`): create
/// one per application and clone it wherever it is needed. It connects lazily, on the first
/// operation.
///
/// ```no_run
/// use mongo_x509::{bson::doc, Client};
///
/// # async fn run() -> mongo_x509::error::Result<()> {
/// let client = Client::with_uri_str(
///     "mongodb://db.example.com/?tls=true&tlsCAFile=%2Fetc%2Fca.pem\
///      &tlsCertificateKeyFile=%2Fetc%2Fclient.pem&authMechanism=MONGODB-X509",
/// )
/// .await?;
/// client.database("admin").run_command(doc! { "ping": 1 }).await?;
/// println!("authenticated as {:?} using {:?}", client.client_subject(), client.tls_backend_name());
/// # Ok(()) }
/// ```
///
/// Topology: with one host (or `directConnection=true`) the client uses that server when it is
/// a writable primary, a standalone or a mongos, and refuses any other member with an error that
/// says what it is. With several hosts it tries them in order and uses the first writable primary.
/// Replica-set discovery and monitoring (following a primary that moves) come in a later
/// version: after a "not primary" or network error the client asks the hosts again.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    options: ClientOptions,
    tls: Option<Arc<dyn TlsBackend>>,
    topology: Topology,
    /// Server sessions for reuse (implicit and explicit sessions alike).
    sessions: ServerSessionPool,
    /// The highest `$clusterTime` seen.
    clock: ClusterClock,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.options.hosts)
            .field("tls_backend", &self.tls_backend_name())
            .field("client_subject", &self.client_subject())
            .finish_non_exhaustive()
    }
}

fn validate(options: &ClientOptions) -> Result<()> {
    if let Some(list) = &options.compressors {
        crate::wire::compression::check_compressors(list)?;
    }
    if options.hosts.is_empty() {
        return Err(Error::invalid_argument(
            "hosts: the host list is empty; give at least one host",
        ));
    }
    // ClientOptions::parse replaced the SRV name by the hosts it resolves to; options built in
    // code with `srv` set never were.
    if options.srv && options.srv_origin.is_none() {
        return Err(Error::invalid_argument(
            "srv: options with srv = true must come from ClientOptions::parse (or \
             parse_with_resolver_config), which looks up the SRV records; set srv = false and \
             list the hosts, or parse the mongodb+srv:// connection string",
        ));
    }
    if options.load_balanced == Some(true) {
        // Load Balancer Support specification: one host, no replica set, no direct connection.
        if options.hosts.len() > 1 {
            return Err(Error::invalid_argument(
                "loadBalanced=true allows one host only (the load balancer); remove the other \
                 hosts",
            ));
        }
        if options.repl_set_name.is_some() {
            return Err(Error::invalid_argument(
                "loadBalanced=true cannot be combined with replicaSet; remove replicaSet",
            ));
        }
        if options.direct_connection == Some(true) {
            return Err(Error::invalid_argument(
                "loadBalanced=true cannot be combined with directConnection=true; remove \
                 directConnection",
            ));
        }
    }
    if options.direct_connection == Some(true) && options.hosts.len() > 1 {
        return Err(Error::invalid_argument(
            "directConnection=true allows one host only; remove the other hosts or \
             directConnection",
        ));
    }
    let max = options.max_pool_size.unwrap_or(DEFAULT_MAX_POOL_SIZE);
    if let Some(min) = options.min_pool_size {
        if max != 0 && min > max {
            return Err(Error::invalid_argument(format!(
                "minPoolSize ({min}) is larger than maxPoolSize ({max}); lower minPoolSize"
            )));
        }
    }
    if options.max_connecting == Some(0) {
        return Err(Error::invalid_argument(
            "maxConnecting must be at least 1; remove it to use the default (2)",
        ));
    }
    if let Some(cred) = &options.credential {
        match &cred.mechanism {
            Some(AuthMechanism::MongoDbX509) => {
                let Some(tls) = options.tls_options() else {
                    return Err(Error::invalid_argument(
                        "authMechanism=MONGODB-X509 needs TLS with a client certificate: set \
                         tls=true and tlsCertificateKeyFile",
                    ));
                };
                let custom = matches!(tls.backend, Some(crate::options::TlsBackendKind::Custom(_)));
                if !custom && tls.cert_key_file_path.is_none() && tls.cert_key_data.is_none() {
                    return Err(Error::invalid_argument(
                        "authMechanism=MONGODB-X509 needs a client certificate: set \
                         tlsCertificateKeyFile (the certificate and its key in one file)",
                    ));
                }
            }
            Some(other) => {
                return Err(Error::new(ErrorKind::NotSupported {
                    message: format!(
                        "authMechanism={other} is not supported; this client authenticates \
                         with MONGODB-X509 only"
                    ),
                }))
            }
            None if cred.username.is_some() || cred.password.is_some() => {
                return Err(Error::new(ErrorKind::NotSupported {
                    message: "a user name or password without authMechanism asks for SCRAM, \
                              which is not supported; set authMechanism=MONGODB-X509"
                        .into(),
                }))
            }
            None => {}
        }
    }
    Ok(())
}

/// Zeroizes the secrets in the options once the backend holds what it needs.
fn scrub(options: &mut ClientOptions) {
    if let Some(Tls::Enabled(tls)) = &mut options.tls {
        if let Some(mut p) = tls.tls_certificate_key_file_password.take() {
            p.zeroize();
        }
        if let Some(mut d) = tls.cert_key_data.take() {
            d.zeroize();
        }
    }
    if let Some(cred) = &mut options.credential {
        if let Some(mut p) = cred.password.take() {
            p.zeroize();
        }
    }
}

impl Client {
    /// Creates a client from options. Synchronous, as in the official driver: it validates the
    /// options and builds the TLS backend, so an unreadable certificate file or a wrong key
    /// password is reported here. It does not connect: the first operation does.
    ///
    /// The key password (and in-memory key bytes) are scrubbed from the options the client
    /// keeps; the TLS backend holds its own copy, zeroized when the client is dropped, so that
    /// [`reload_tls_identity`](Client::reload_tls_identity) can decrypt a rotated key.
    ///
    /// With [`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch)
    /// set, a task that watches the certificate-key file is started on the current Tokio
    /// runtime (none running: a warning, and no watch).
    pub fn with_options(mut options: ClientOptions) -> Result<Self> {
        let checked = validate(&options);
        let tls = match (&checked, &options.tls) {
            (Ok(()), Some(Tls::Enabled(tls_options))) => Some(tls::build_backend(tls_options)),
            _ => None,
        };
        // Scrub on every path, errors included.
        scrub(&mut options);
        checked?;
        let tls = tls.transpose()?;

        let server_selection_timeout = options
            .server_selection_timeout
            .unwrap_or(DEFAULT_SERVER_SELECTION_TIMEOUT);
        let (wait_queue_timeout, wait_queue_timeout_option) = match options.wait_queue_timeout {
            Some(t) if !t.is_zero() => (t, "waitQueueTimeoutMS"),
            _ => (server_selection_timeout, "serverSelectionTimeoutMS"),
        };
        let pool_options = PoolOptions {
            max_pool_size: options.max_pool_size.unwrap_or(DEFAULT_MAX_POOL_SIZE),
            min_pool_size: options.min_pool_size.unwrap_or(0),
            max_idle_time: options.max_idle_time.filter(|d| !d.is_zero()),
            max_connecting: options.max_connecting.unwrap_or(DEFAULT_MAX_CONNECTING),
            wait_queue_timeout,
            wait_queue_timeout_option,
        };
        let establish = EstablishOptions {
            app_name: options.app_name.clone(),
            credential: options.credential.clone(),
            tls: tls.clone(),
            connect_timeout: options.connect_timeout,
            socket_timeout: options.socket_timeout,
            resolver: options.host_resolver(),
            load_balanced: options.load_balanced == Some(true),
            compressors: options.compressors.clone().unwrap_or_default(),
        };
        let topology_options = TopologyOptions {
            establish: Arc::new(establish),
            pool: pool_options,
            server_selection_timeout,
            heartbeat_frequency: options
                .heartbeat_freq
                .unwrap_or(crate::topology::DEFAULT_HEARTBEAT_FREQUENCY),
            local_threshold: options
                .local_threshold
                .unwrap_or(crate::topology::DEFAULT_LOCAL_THRESHOLD),
            connect_timeout: options
                .connect_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(crate::conn::DEFAULT_CONNECT_TIMEOUT),
            #[cfg(feature = "dns-srv")]
            srv_poller: crate::srv::SrvPoller::from_options(&options),
        };
        let mut description = TopologyDescription::new(
            &options.hosts,
            options.direct_connection,
            options.repl_set_name.clone(),
            options.load_balanced == Some(true),
        );
        description.heartbeat_frequency = topology_options.heartbeat_frequency;
        description.local_threshold = topology_options.local_threshold;
        let topology = Topology::new(description, topology_options);
        let watch = options
            .tls_options()
            .and_then(|t| Some((t.cert_key_file_path.clone()?, t.cert_key_file_watch?)));
        let inner = Arc::new(ClientInner {
            options,
            tls,
            topology,
            sessions: ServerSessionPool::default(),
            clock: ClusterClock::default(),
        });
        if let Some((path, interval)) = watch {
            identity_watch::start(&inner, path, interval);
        }
        Ok(Self { inner })
    }

    /// Parses a connection string and creates a client ([`ClientOptions::parse`] then
    /// [`Client::with_options`]).
    pub async fn with_uri_str(uri: impl AsRef<str>) -> Result<Self> {
        let options = ClientOptions::parse(uri).await?;
        // Reading the certificate-key file and decrypting the key (scrypt takes tens of
        // milliseconds on purpose) is blocking work: keep it off the async worker threads.
        match tokio::task::spawn_blocking(move || Self::with_options(options)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::internal(format!(
                "creating the client was cancelled: {e}"
            ))),
        }
    }

    /// A handle to the database `name`. Nothing is sent to the server.
    pub fn database(&self, name: &str) -> Database {
        Database::new(self.clone(), name)
    }

    /// The database named in the connection string's path (`mongodb://host/NAME`), if any.
    pub fn default_database(&self) -> Option<Database> {
        self.inner
            .options
            .default_database
            .as_deref()
            .map(|name| self.database(name))
    }

    /// The names of the databases the authenticated user may see (`listDatabases`).
    pub async fn list_database_names(&self) -> Result<Vec<String>> {
        self.execute(ListDatabases::new(self.read_criteria())).await
    }

    /// Shuts the client down: ends the pooled server sessions on the server (`endSessions`,
    /// for at most two seconds), stops the monitors and closes every pooled connection.
    /// Operations started afterwards, on this client or any of its clones, fail with
    /// [`ErrorKind::Shutdown`]; connections in use are closed when their operation ends.
    ///
    /// Sessions and cursors still alive are not waited for: drop them first so that their
    /// server sessions are ended too.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) {
    /// client.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(self) {
        self.end_sessions().await;
        self.inner.topology.shutdown();
    }

    /// A snapshot of each server's connection pool: connections created, closed, open, checked
    /// out, the peak open at once, and more. See [`PoolStats`].
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        self.inner.topology.pool_stats()
    }

    /// What the client knows about the deployment now: its type (replica set with or without
    /// a primary, sharded, single server…) and, for each server, its type, round-trip time,
    /// replica-set name, tags and last error. Monitors keep it up to date in the background.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) {
    /// let topology = client.topology_description();
    /// println!("{:?}", topology.topology_type);
    /// for server in topology.servers.values() {
    ///     println!("{} is {:?} ({:?})", server.address, server.server_type, server.error);
    /// }
    /// # }
    /// ```
    pub fn topology_description(&self) -> TopologyDescription {
        self.inner.topology.description()
    }

    /// Watches the client's view of the deployment: [`TopologyWatcher::changed`] returns the
    /// description after each change. Useful to wait for a primary, or to log failovers.
    ///
    /// [`TopologyWatcher::changed`]: crate::TopologyWatcher::changed
    pub fn watch_topology(&self) -> crate::TopologyWatcher {
        self.inner.topology.watch()
    }

    /// The TLS backend in use (`"openssl"`, `"native-tls"` or a custom backend's name);
    /// `None` without TLS.
    pub fn tls_backend_name(&self) -> Option<&str> {
        self.inner.tls.as_deref().map(|b| b.name())
    }

    /// The subject DN of the client certificate (RFC 2253), i.e. the X.509 user name the server
    /// sees on new connections; `None` without a client certificate. It follows
    /// [`reload_tls_identity`](Client::reload_tls_identity).
    pub fn client_subject(&self) -> Option<String> {
        self.inner.tls.as_deref().and_then(|b| b.client_subject())
    }

    /// Re-reads and re-decrypts the TLS identity (`tlsCertificateKeyFile` or the in-memory
    /// certificate-key, with the same password; the CA and CRL files are read again too), for
    /// certificates that rotate (cert-manager, Vault PKI, SPIFFE). New connections use the new
    /// certificate and authenticate as its subject; connections already open finish their work
    /// with the old one.
    ///
    /// On any error (a half-written file, a wrong password, a key that does not match) the
    /// client keeps its current identity and the typed error is returned. Without TLS, or with
    /// a custom backend that cannot reload, it fails with
    /// [`ErrorKind::InvalidTlsConfig`](crate::error::ErrorKind::InvalidTlsConfig).
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// // After the certificate-key file has been replaced:
    /// client.reload_tls_identity().await?;
    /// println!("new connections authenticate as {:?}", client.client_subject());
    /// # Ok(()) }
    /// ```
    ///
    /// To reload automatically when the file changes, set
    /// [`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch)
    /// (`tlsCertificateKeyFileWatchIntervalMS` in a connection string).
    pub async fn reload_tls_identity(&self) -> Result<()> {
        match &self.inner.tls {
            Some(tls) => tls.reload_identity().await,
            None => Err(Error::invalid_tls_config(
                "reload_tls_identity: this client does not use TLS",
            )),
        }
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Selects a server and checks out a connection to it.
    /// `deadline`: the operation's `timeoutMS`, which then bounds selection and check-out.
    pub(crate) async fn select(
        &self,
        criteria: &SelectionCriteria,
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        self.inner.topology.select(criteria, deadline).await
    }

    /// [`select`](Self::select), avoiding `deprioritized` servers when others suit (a retry on
    /// a sharded cluster goes to another mongos).
    pub(crate) async fn select_with(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        self.inner
            .topology
            .select_with(criteria, deprioritized, deadline)
            .await
    }

    /// True when `other` is a clone of this client.
    pub(crate) fn is_same(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn sessions(&self) -> &ServerSessionPool {
        &self.inner.sessions
    }

    pub(crate) fn cluster_clock(&self) -> &ClusterClock {
        &self.inner.clock
    }

    /// True in load-balanced mode (`loadBalanced=true`).
    pub(crate) fn is_load_balanced(&self) -> bool {
        self.inner.options.load_balanced == Some(true)
    }

    /// A connection to a given server (for a cursor's getMore and killCursors).
    pub(crate) async fn connection_to(
        &self,
        address: &crate::options::ServerAddress,
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        self.inner.topology.check_out(address, deadline).await
    }

    /// The read preference reads use.
    pub(crate) fn read_criteria(&self) -> SelectionCriteria {
        SelectionCriteria::Read(
            self.inner
                .options
                .read_preference
                .clone()
                .unwrap_or_default(),
        )
    }

    /// The operation's write concern, or the client's when it has none.
    pub(crate) fn write_concern_or_default(
        &self,
        wc: Option<WriteConcern>,
    ) -> Option<WriteConcern> {
        wc.or_else(|| self.inner.options.write_concern.clone())
    }

    /// The client's read concern.
    pub(crate) fn read_concern(&self) -> Option<ReadConcern> {
        self.inner.options.read_concern.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Credential, ServerAddress, TlsOptions};
    use bson::doc;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn client_is_clone_send_sync() {
        assert_send_sync::<Client>();
    }

    fn opts() -> ClientOptions {
        ClientOptions::builder()
            .hosts(vec![ServerAddress::Tcp {
                host: "localhost".into(),
                port: Some(1),
            }])
            .build()
    }

    fn kind(r: Result<Client>) -> ErrorKind {
        *r.expect_err("should fail").kind
    }

    #[test]
    fn with_options_does_no_io_and_needs_no_runtime() {
        let client = Client::with_options(opts()).unwrap();
        assert_eq!(client.tls_backend_name(), None);
        assert_eq!(client.client_subject(), None);
        let stats = client.pool_stats();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].connections_created, 0);
        assert!(client.default_database().is_none());
    }

    #[test]
    fn invalid_options_are_refused_with_the_option_named() {
        let mut o = opts();
        o.hosts.clear();
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("hosts"))
        );

        let mut o = opts();
        o.min_pool_size = Some(5);
        o.max_pool_size = Some(2);
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("minPoolSize"))
        );

        let mut o = opts();
        o.max_connecting = Some(0);
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("maxConnecting"))
        );

        let mut o = opts();
        o.hosts.push(ServerAddress::Tcp {
            host: "other".into(),
            port: None,
        });
        o.direct_connection = Some(true);
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("directConnection"))
        );

        let mut o = opts();
        o.credential = Some(
            Credential::builder()
                .mechanism(AuthMechanism::MongoDbX509)
                .build(),
        );
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("tls=true"))
        );

        let mut o = opts();
        o.credential = Some(
            Credential::builder()
                .mechanism(AuthMechanism::MongoDbX509)
                .build(),
        );
        o.tls = Some(Tls::Enabled(TlsOptions::default()));
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("tlsCertificateKeyFile"))
        );

        let mut o = opts();
        o.credential = Some(
            Credential::builder()
                .mechanism(AuthMechanism::ScramSha256)
                .build(),
        );
        assert!(matches!(
            kind(Client::with_options(o)),
            ErrorKind::NotSupported { .. }
        ));

        let mut o = opts();
        o.load_balanced = Some(true);
        o.hosts.push(ServerAddress::Tcp {
            host: "other".into(),
            port: None,
        });
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("loadBalanced"))
        );
        let mut o = opts();
        o.load_balanced = Some(true);
        assert!(Client::with_options(o).is_ok(), "one host: accepted");

        let mut o = opts();
        o.srv = true;
        assert!(
            matches!(kind(Client::with_options(o)), ErrorKind::InvalidArgument { message } if message.contains("ClientOptions::parse"))
        );
    }

    #[test]
    fn secrets_are_scrubbed() {
        let mut o = opts();
        o.tls = Some(Tls::Enabled(
            TlsOptions::builder()
                .tls_certificate_key_file_password(b"pw".to_vec())
                .cert_key_data(b"key".to_vec())
                .build(),
        ));
        scrub(&mut o);
        let t = o.tls_options().unwrap();
        assert!(t.tls_certificate_key_file_password.is_none());
        assert!(t.cert_key_data.is_none());
    }

    #[tokio::test]
    async fn operations_after_shutdown_fail() {
        let client = Client::with_options(opts()).unwrap();
        let clone = client.clone();
        client.shutdown().await;
        let err = clone
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
            .unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Shutdown), "{err}");
    }
}
