//! [`Client`]: the entry point. One client serves a whole application.

pub(crate) mod backpressure;
mod end_sessions;
mod executor;
mod identity_watch;
pub(crate) mod retry;
mod weak;

pub(crate) use executor::{Leftovers, Run};
pub(crate) use weak::WeakClient;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroize;

use crate::action::Target;
use crate::conn::EstablishOptions;
use crate::csot::Deadline;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::event::cmap::{CmapEmitter, ConnectionPoolOptions};
use crate::event::command::CommandMonitor;
use crate::event::identity::{
    IdentityEvent, IdentityReloadFailedEvent, IdentityReloadedEvent, ReloadTrigger,
};
use crate::options::{ClientOptions, DatabaseOptions, Inherited, Tls};
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
/// Topology: the client discovers and monitors the deployment (a standalone, a replica set, a
/// sharded cluster or a load balancer) as the SDAM specification says, and selects a server for
/// each operation; [`Client::topology_description`] shows what it knows.
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
    /// The read preference, read and write concern its databases inherit.
    inherited: Inherited,
    /// The runtime of the `sync::Client` that made this client, which `.run()` blocks on. Weak:
    /// the blocking handles own it, so it ends with the last of them.
    #[cfg(feature = "sync")]
    sync_runtime: std::sync::OnceLock<std::sync::Weak<crate::sync::Runtime>>,
}

impl ClientInner {
    /// Reloads the TLS identity (for the caller or the file watch). After a successful reload
    /// the pools stop reusing connections authenticated with the previous one. Either way an
    /// identity event is published.
    async fn reload_identity(&self, tls: &dyn TlsBackend, trigger: ReloadTrigger) -> Result<()> {
        let previous_subject = tls.client_subject();
        let result = tls.reload_identity().await;
        if result.is_ok() {
            self.topology.rotate_identity();
        }
        if let Some(handler) = &self.options.identity_event_handler {
            let subject = tls.client_subject();
            let not_after = tls.client_certificate_not_after();
            handler.handle(match &result {
                Ok(()) => IdentityEvent::Reloaded(IdentityReloadedEvent {
                    previous_subject,
                    subject,
                    not_after,
                    trigger,
                }),
                Err(e) => IdentityEvent::ReloadFailed(IdentityReloadFailedEvent {
                    failure: e.clone(),
                    subject,
                    not_after,
                    trigger,
                }),
            });
        }
        result
    }
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
        // Unsupported mechanisms and missing fields are refused there, and only there.
        if crate::auth::mechanism(cred)? == crate::auth::Mechanism::X509 {
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
    /// [`reload_tls_identity`](Client::reload_tls_identity) can decrypt a rotated key. Likewise
    /// the credential's password (SCRAM, PLAIN) is held only where new connections
    /// authenticate, with the SCRAM keys derived from it, all zeroized when the client is
    /// dropped.
    ///
    /// With [`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch)
    /// set, a task that watches the certificate-key file is started on the current Tokio
    /// runtime (none running: a warning, and no watch).
    pub fn with_options(mut options: ClientOptions) -> Result<Self> {
        let checked = validate(&options);
        let watch = options
            .tls_options()
            .and_then(|t| Some((t.cert_key_file_path.clone()?, t.cert_key_file_watch?)));
        // Before the identity is loaded: a change made while it loads is seen at the first poll.
        let baseline = watch
            .as_ref()
            .and_then(|(path, _)| identity_watch::fingerprint(path));
        let tls = match (&checked, &options.tls) {
            (Ok(()), Some(Tls::Enabled(tls_options))) => Some(tls::build_backend(tls_options)),
            _ => None,
        };
        // Connections authenticate with this copy (a Credential wipes its password when
        // dropped); the options the client keeps lose theirs.
        let credential = options.credential.clone();
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
        // Names the client's topology in its SDAM events and in every log message.
        let topology_id = bson::oid::ObjectId::new();
        let pool_options = PoolOptions {
            max_pool_size: options.max_pool_size.unwrap_or(DEFAULT_MAX_POOL_SIZE),
            min_pool_size: options.min_pool_size.unwrap_or(0),
            max_idle_time: options.max_idle_time.filter(|d| !d.is_zero()),
            max_connecting: options.max_connecting.unwrap_or(DEFAULT_MAX_CONNECTING),
            wait_queue_timeout,
            wait_queue_timeout_option,
            events: CmapEmitter {
                handler: options.cmap_event_handler.clone(),
                options: ConnectionPoolOptions {
                    max_idle_time: options.max_idle_time,
                    max_pool_size: options.max_pool_size,
                    min_pool_size: options.min_pool_size,
                    max_connecting: options.max_connecting,
                    wait_queue_timeout: options.wait_queue_timeout,
                },
                topology_id: Some(topology_id),
            },
            load_balanced: options.load_balanced == Some(true),
            ..PoolOptions::default()
        };
        let establish = EstablishOptions {
            app_name: options.app_name.clone(),
            credential,
            auth_cache: Default::default(),
            tls: tls.clone(),
            connect_timeout: options.connect_timeout,
            socket_timeout: options.socket_timeout,
            resolver: options.host_resolver(),
            load_balanced: options.load_balanced == Some(true),
            compressors: options.compressors.clone().unwrap_or_default(),
            command_monitor: CommandMonitor {
                handler: options.command_event_handler.clone(),
                log: true,
                topology_id: Some(topology_id),
                operation_id: None,
            },
            server_api: options.server_api.clone(),
            single_attempt: false,
        };
        let topology_options = TopologyOptions {
            establish: Arc::new(establish),
            pool: pool_options,
            server_selection_timeout,
            heartbeat_frequency: options
                .heartbeat_freq
                .unwrap_or(crate::topology::DEFAULT_HEARTBEAT_FREQUENCY),
            streaming: crate::topology::streaming_enabled(
                options.server_monitoring_mode.unwrap_or_default(),
            ),
            local_threshold: options
                .local_threshold
                .unwrap_or(crate::topology::DEFAULT_LOCAL_THRESHOLD),
            connect_timeout: options
                .connect_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(crate::conn::DEFAULT_CONNECT_TIMEOUT),
            #[cfg(feature = "dns-srv")]
            srv_poller: crate::srv::SrvPoller::from_options(&options),
            sdam_events: options.sdam_event_handler.clone(),
            topology_id,
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
        let inherited = Inherited::from_client(&options);
        let inner = Arc::new(ClientInner {
            inherited,
            options,
            tls,
            topology,
            sessions: ServerSessionPool::default(),
            clock: ClusterClock::default(),
            #[cfg(feature = "sync")]
            sync_runtime: Default::default(),
        });
        if let Some((path, interval)) = watch {
            identity_watch::start(&inner, path, interval, baseline);
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
        Database::new(self.clone(), name, self.inner.inherited.clone())
    }

    /// A handle to the database `name` with its own read preference, read concern, write
    /// concern or `timeoutMS`; what `options` leaves unset comes from the client. Nothing is
    /// sent to the server.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// use mongo_x509::options::{DatabaseOptions, ReadConcern};
    /// let reports = client.database_with_options(
    ///     "reports",
    ///     DatabaseOptions::builder().read_concern(ReadConcern::majority()).build(),
    /// );
    /// // Reads majority-committed data.
    /// let n = reports.collection::<Document>("daily").count_documents(doc! {}).await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub fn database_with_options(&self, name: &str, options: DatabaseOptions) -> Database {
        let inherited = self.inner.inherited.for_database(options);
        Database::new(self.clone(), name, inherited)
    }

    /// The database named in the connection string's path (`mongodb://host/NAME`), if any.
    pub fn default_database(&self) -> Option<Database> {
        self.inner
            .options
            .default_database
            .as_deref()
            .map(|name| self.database(name))
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
    /// certificate and authenticate as its subject. A pooled connection authenticated with the
    /// previous one finishes the operation it is running, then is closed, never reused: after
    /// the reload every operation that starts runs as the new subject. (Monitoring connections,
    /// never authenticated, are left as they are.)
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
            Some(tls) => {
                self.inner
                    .reload_identity(tls.as_ref(), ReloadTrigger::Call)
                    .await
            }
            None => Err(Error::invalid_tls_config(
                "reload_tls_identity: this client does not use TLS",
            )),
        }
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// What client-level actions (on the `admin` database) run against.
    pub(crate) fn target(&self) -> Target<'_> {
        Target::new(self, "admin", "", &self.inner.inherited)
    }

    /// Stops the monitors and closes the pools ([`Client::shutdown`]).
    pub(crate) fn stop_topology(&self) {
        self.inner.topology.shutdown();
    }

    /// Selects a server and checks out a connection to it, to start a session (the only
    /// selection that runs no command; it is logged as `startSession`).
    /// `deadline`: the operation's `timeoutMS`, which then bounds selection and check-out.
    pub(crate) async fn select(
        &self,
        criteria: &SelectionCriteria,
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        let topology = &self.inner.topology;
        if crate::topology::selection_logged() {
            return Box::pin(topology.select_logged(criteria, &[], deadline, "startSession")).await;
        }
        topology.select_with(criteria, &[], deadline).await
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

    /// Ties this client to the runtime of the `sync::Client` wrapping it.
    #[cfg(feature = "sync")]
    pub(crate) fn set_sync_runtime(&self, runtime: &Arc<crate::sync::Runtime>) {
        // Set once, right after the client is made.
        let _ = self.inner.sync_runtime.set(Arc::downgrade(runtime));
    }

    /// The runtime `.run()` blocks on; `None` for a client made by the async API.
    #[cfg(feature = "sync")]
    pub(crate) fn sync_runtime(&self) -> Option<&std::sync::Weak<crate::sync::Runtime>> {
        self.inner.sync_runtime.get()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::options::{AuthMechanism, Credential, ServerAddress, TlsOptions};
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
        // The error is an invalid argument whose message names `option`.
        let refused = |o: ClientOptions, option: &str| match kind(Client::with_options(o)) {
            ErrorKind::InvalidArgument { message } => {
                assert!(message.contains(option), "{message}")
            }
            other => panic!("{option}: expected an invalid argument, got {other:?}"),
        };
        let other = || ServerAddress::Tcp {
            host: "other".into(),
            port: None,
        };
        let x509 = || {
            Credential::builder()
                .mechanism(AuthMechanism::MongoDbX509)
                .build()
        };

        let mut o = opts();
        o.hosts.clear();
        refused(o, "hosts");

        let mut o = opts();
        o.min_pool_size = Some(5);
        o.max_pool_size = Some(2);
        refused(o, "minPoolSize");

        let mut o = opts();
        o.max_connecting = Some(0);
        refused(o, "maxConnecting");

        let mut o = opts();
        o.hosts.push(other());
        o.direct_connection = Some(true);
        refused(o, "directConnection");

        let mut o = opts();
        o.credential = Some(x509());
        refused(o, "tls=true");

        let mut o = opts();
        o.credential = Some(x509());
        o.tls = Some(Tls::Enabled(TlsOptions::default()));
        refused(o, "tlsCertificateKeyFile");

        for mechanism in [
            AuthMechanism::Gssapi,
            AuthMechanism::MongoDbAws,
            AuthMechanism::MongoDbOidc,
        ] {
            let mut o = opts();
            o.credential = Some(Credential::builder().mechanism(mechanism).build());
            assert!(
                matches!(kind(Client::with_options(o)), ErrorKind::NotSupported { message } if message.contains("SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN"))
            );
        }
        // Password mechanisms need a user and a password, also when built in code.
        for mechanism in [
            Some(AuthMechanism::ScramSha256),
            Some(AuthMechanism::ScramSha1),
            Some(AuthMechanism::Plain),
            None,
        ] {
            let with = |user: Option<&str>, password: Option<&str>| {
                let mut c = Credential::default();
                c.mechanism = mechanism.clone();
                c.username = user.map(Into::into);
                c.password = password.map(Into::into);
                let mut o = opts();
                o.credential = Some(c);
                o
            };
            refused(with(None, None), "needs a user name");
            refused(with(Some("u"), None), "needs a password");
            let accepted = Client::with_options(with(Some("u"), Some("p")));
            assert!(accepted.is_ok(), "{mechanism:?}");
        }

        let mut o = opts();
        o.load_balanced = Some(true);
        o.hosts.push(other());
        refused(o, "loadBalanced");
        let mut o = opts();
        o.load_balanced = Some(true);
        assert!(Client::with_options(o).is_ok(), "one host: accepted");

        let mut o = opts();
        o.srv = true;
        refused(o, "ClientOptions::parse");
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
