//! The I/O side of Server Discovery and Monitoring: one monitor task and one connection pool
//! per known server, the shared [`TopologyDescription`], and server selection that waits for
//! the description to change.
//!
//! Decisions (how a `hello` reply or an error changes the description, which servers suit an
//! operation) are pure functions in [`crate::sdam`]; this module only feeds them and acts on
//! what they return: it starts a monitor and a pool for each server the description gains,
//! stops them for each server it loses, clears pools, and wakes waiting selections.
//!
//! Lifetimes: the client holds the only strong reference to [`Topology`]. Monitors hold a weak
//! one and a receiver of the `stop` channel, so dropping the last client clone (or calling
//! `shutdown`) ends every monitor task and closes every monitoring socket; pools close their
//! idle connections when dropped.

mod handle;
mod monitor;
mod monitoring_mode;
pub(crate) use monitoring_mode::streaming_enabled;
mod selection;
#[cfg(feature = "dns-srv")]
mod srv_poll;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::conn::{self, Connection, EstablishOptions};
use crate::csot::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::event::sdam::{self as events, SdamEmitter, SdamEvent};
use crate::event::EventHandler;
use crate::options::ServerAddress;
use crate::pool::{Connector, Pool, PoolConnection, PoolOptions, PoolStats, PoolUpdate};
use crate::sdam::{
    ApplicationError, ErrorPhase, ServerDescription, ServerType, TopologyChange,
    TopologyDescription, XorShift64,
};

pub(crate) use handle::ConnectionHandle;

/// True when server selection is logged (a subscriber wants `mongo_x509::server_selection`
/// at debug level): callers then select with [`Topology::select_logged`].
#[inline]
pub(crate) fn selection_logged() -> bool {
    crate::event::log::debug_enabled(crate::event::log::Component::ServerSelection)
}

pub(crate) use crate::sdam::{DEFAULT_HEARTBEAT_FREQUENCY, DEFAULT_LOCAL_THRESHOLD};
/// `minHeartbeatFrequencyMS`: checks of one server are never closer together than this.
pub(crate) const MIN_HEARTBEAT_FREQUENCY: Duration = Duration::from_millis(500);

/// Settings of the topology, resolved from the client options.
#[derive(Clone, Debug)]
pub(crate) struct TopologyOptions {
    /// For pooled connections: TLS, handshake and authentication.
    pub(crate) establish: Arc<EstablishOptions>,
    pub(crate) pool: PoolOptions,
    pub(crate) server_selection_timeout: Duration,
    pub(crate) heartbeat_frequency: Duration,
    /// Monitors may stream (`serverMonitoringMode`, resolved for this process).
    pub(crate) streaming: bool,
    pub(crate) local_threshold: Duration,
    pub(crate) connect_timeout: Duration,
    /// Rescans the SRV records of a `mongodb+srv://` seed list (mongos discovery).
    #[cfg(feature = "dns-srv")]
    pub(crate) srv_poller: Option<crate::srv::SrvPoller>,
    /// Where topology events go.
    pub(crate) sdam_events: Option<EventHandler<SdamEvent>>,
    /// The id of the topology in its events and log messages (`topologyId`).
    pub(crate) topology_id: bson::oid::ObjectId,
}

/// Opens pooled connections: TCP or Unix socket, TLS, handshake, authentication. A failure is
/// reported to the topology with the pool generation the attempt started in (SDAM then marks
/// the server Unknown and clears its pool, or not), whether a check-out or the background
/// filling to `minPoolSize` made the attempt.
pub(crate) struct Establisher {
    opts: Arc<EstablishOptions>,
    topology: Weak<Shared>,
}

impl Connector for Establisher {
    type Conn = Connection;
    fn connect(
        &self,
        address: &ServerAddress,
        id: u32,
        generation: u32,
    ) -> impl std::future::Future<Output = Result<Connection>> + Send {
        let opts = Arc::clone(&self.opts);
        let topology = self.topology.clone();
        let address = address.clone();
        async move {
            let mut failure = match conn::establish_with_step(&address, &opts, id).await {
                Ok(conn) => return Ok(conn),
                Err(failure) => failure,
            };
            // CMAP "Backpressure-enabled": a network error or timeout while connecting or on
            // the `hello` may be the server shedding load. Labelled, it is retryable as an
            // overload error and SDAM leaves the server and its pool alone.
            if failure.is_possible_overload() {
                failure
                    .error
                    .add_label(crate::client::backpressure::SYSTEM_OVERLOADED_ERROR);
                failure
                    .error
                    .add_label(crate::client::backpressure::RETRYABLE_ERROR);
            }
            if let Some(topology) = topology.upgrade() {
                topology.handle_connect_error(&address, generation, &failure);
            }
            Err(failure.error)
        }
    }
}

impl PoolConnection for Connection {
    fn id(&self) -> u32 {
        Connection::id(self)
    }

    fn is_broken(&self) -> bool {
        Connection::is_broken(self)
    }

    fn service_id(&self) -> Option<bson::oid::ObjectId> {
        self.hello().description.service_id
    }

    fn release_memory(&mut self) {
        Connection::release_memory(self);
    }

    fn buffer_bytes(&self) -> usize {
        Connection::buffer_bytes(self)
    }

    fn interrupter(&self) -> Option<&Arc<crate::conn::Interrupter>> {
        Connection::interrupter(self)
    }
}

/// One known server: its pool, its in-flight operation count (for selection) and the handle
/// its monitor listens to.
pub(crate) struct Server {
    pub(crate) address: ServerAddress,
    pub(crate) pool: Pool<Establisher>,
    /// Operations checked out on this server now (Server Selection: "operationCount").
    pub(crate) operation_count: AtomicU32,
    /// Wakes the monitor for an immediate check.
    check_now: Notify,
    /// Interrupts the monitor's check in progress (its connection is likely broken too).
    cancel_check: Notify,
    /// Set when the server leaves the topology; the monitor exits at its next wake-up.
    removed: AtomicBool,
    /// The error of the monitor's last check, if it failed (typed, for selection errors).
    last_error: Mutex<Option<Error>>,
    /// The round trips its monitor measured (their average and recent minimum).
    pub(crate) rtt: Arc<std::sync::Mutex<crate::sdam::RttAverage>>,
}

impl Server {
    fn new(address: ServerAddress, options: &TopologyOptions, topology: Weak<Shared>) -> Arc<Self> {
        let connector = Establisher {
            opts: Arc::clone(&options.establish),
            topology,
        };
        Arc::new(Self {
            pool: Pool::new(address.clone(), connector, options.pool.clone()),
            address,
            operation_count: AtomicU32::new(0),
            check_now: Notify::new(),
            cancel_check: Notify::new(),
            removed: AtomicBool::new(false),
            last_error: Mutex::new(None),
            rtt: Arc::default(),
        })
    }

    /// Asks the monitor for a check now (it keeps to `minHeartbeatFrequencyMS`).
    pub(crate) fn request_check(&self) {
        self.check_now.notify_one();
    }

    fn remove(&self) {
        self.removed.store(true, Ordering::SeqCst);
        self.pool.close_removed();
        self.check_now.notify_one();
    }

    /// True once the server left the topology (its pool is closed).
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    fn set_last_error(&self, error: Option<Error>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// The monitor's last error when waiting will not fix it: a TLS or identity problem, not
    /// the network, and not the server's answer to the `hello` (a command error such as
    /// ShutdownInProgress: SDAM marks the server Unknown and selection waits for a check that
    /// succeeds).
    fn configuration_error(&self) -> Option<Error> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|e| !e.is_network_error() && !matches!(&*e.kind, ErrorKind::Command { .. }))
            .cloned()
    }
}

struct State {
    description: TopologyDescription,
    /// Keyed like `description.servers` (lower-cased `host:port`).
    servers: HashMap<String, Arc<Server>>,
    monitors_started: bool,
    /// Why servers left the topology lately (newest last, a few kept): a selection error
    /// with no server left must still say what happened to the seeds.
    removals: Vec<String>,
}

/// How many removal reasons are kept for error messages.
const REMOVALS_KEPT: usize = 4;

pub(crate) struct Shared {
    /// This very `Shared`, for callbacks that only get `&self`.
    #[cfg_attr(not(feature = "dns-srv"), allow(dead_code))]
    this: Weak<Shared>,
    options: TopologyOptions,
    state: Mutex<State>,
    /// Bumped whenever the description changes; selections wait on it.
    changed: watch::Sender<()>,
    /// Monitors wait on it: `true` (or the sender dropped with the topology) stops them.
    stop: watch::Sender<bool>,
    shut_down: AtomicBool,
    /// Picks between two selection candidates.
    rng: Mutex<XorShift64>,
    /// The clock of `ServerDescription::last_update_time` (staleness).
    epoch: Instant,
    /// Topology events, delivered in order outside the lock.
    pub(crate) events: SdamEmitter,
}

/// The topology of one client. Dropping it stops its monitors.
pub(crate) struct Topology {
    shared: Arc<Shared>,
}

impl Topology {
    /// A topology for `seeds`. No I/O: monitors start with the first operation, or now if a
    /// Tokio runtime is running.
    pub(crate) fn new(description: TopologyDescription, options: TopologyOptions) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        let emitter = SdamEmitter::new(options.sdam_events.clone(), options.topology_id);
        if emitter.active() {
            // SDAM: the topology opens before its servers do (their pools' events follow).
            emitter.push(events::opening_events(emitter.topology_id, &description));
            emitter.flush();
        }
        let shared = Arc::new_cyclic(|this: &Weak<Shared>| Shared {
            this: this.clone(),
            state: Mutex::new(State {
                servers: description
                    .servers
                    .iter()
                    .map(|(key, s)| {
                        let server = Server::new(s.address.clone(), &options, this.clone());
                        (key.clone(), server)
                    })
                    .collect(),
                description,
                monitors_started: false,
                removals: Vec::new(),
            }),
            options,
            changed: watch::channel(()).0,
            stop: watch::channel(false).0,
            shut_down: AtomicBool::new(false),
            rng: Mutex::new(XorShift64::new(seed)),
            epoch: Instant::now(),
            events: emitter,
        });
        let load_balanced = shared.is_load_balanced();
        let servers: Vec<_> = shared.lock().servers.values().cloned().collect();
        for server in servers {
            drop(server.pool.announce());
            if load_balanced {
                // Load Balancer Support: no monitor ever checks the load balancer; its pool
                // is ready from the start.
                drop(server.pool.ready());
            }
        }
        shared.ensure_monitors();
        Self { shared }
    }

    /// A snapshot of the description.
    pub(crate) fn description(&self) -> TopologyDescription {
        self.shared.lock().description.clone()
    }

    /// A watcher of description changes.
    pub(crate) fn watch(&self) -> TopologyWatcher {
        TopologyWatcher {
            changed: self.shared.changed.subscribe(),
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Each server's pool statistics, in address order.
    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        let st = self.shared.lock();
        let mut stats: Vec<PoolStats> = st.servers.values().map(|s| s.pool.stats()).collect();
        stats.sort_by_key(|s| s.address.to_string());
        stats
    }

    /// After a reload of the TLS identity: every pool closes the connections authenticated
    /// with the previous one as they come back (their operations finish), and opens new ones
    /// with the new identity. Not a clear: the servers are fine, their descriptions stay.
    pub(crate) fn rotate_identity(&self) {
        let servers: Vec<_> = self.shared.lock().servers.values().cloned().collect();
        for s in servers {
            s.pool.rotate_identity();
        }
    }

    /// Stops the monitors and closes every pool; later operations fail with
    /// [`ErrorKind::Shutdown`].
    pub(crate) fn shutdown(&self) {
        self.shared.close();
    }

    /// A connection to a given server (a cursor's getMore and killCursors).
    /// Under `timeoutMS` (`deadline`), the check-out ends by the deadline or by
    /// `serverSelectionTimeoutMS`, whichever comes first, with the typed timeout.
    pub(crate) async fn check_out(
        &self,
        address: &ServerAddress,
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        self.shared.check_shutdown()?;
        let server = self.shared.lock().servers.get(&key(address)).cloned();
        let Some(server) = server else {
            return Err(Error::new(ErrorKind::ServerSelection {
                message: format!(
                    "{address} is no longer part of the deployment (it left the replica set or \
                     the seed list); the cursor or session tied to it cannot continue"
                ),
            }));
        };
        let Some(deadline) = deadline else {
            return ConnectionHandle::check_out(&self.shared, server, None).await;
        };
        let until =
            deadline.earlier_than(Instant::now(), self.shared.options.server_selection_timeout);
        tokio::time::timeout_at(
            until,
            ConnectionHandle::check_out(&self.shared, server, Some(until)),
        )
        .await
        .unwrap_or_else(|_| {
            Err(deadline.expired(&format!("checking out a connection to {address}")))
        })
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Monitors also stop when the sender is dropped with `Shared`, but a checked-out
        // connection may keep `Shared` alive a little longer: stop them now.
        self.shared.stop.send_replace(true);
        // The topology's last events (once: a shut-down topology published them already).
        if !self.shared.shut_down.swap(true, Ordering::SeqCst) {
            self.shared.publish_closing();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shuts the topology down: stops the monitors, closes every pool, publishes the closing
    /// events (once).
    fn close(&self) {
        let first = !self.shut_down.swap(true, Ordering::SeqCst);
        self.stop.send_replace(true);
        let servers: Vec<_> = self.lock().servers.values().cloned().collect();
        for s in servers {
            s.pool.close();
        }
        self.changed.send_replace(());
        if first {
            self.publish_closing();
        }
    }

    /// Publishes the closing events: each server closed, the description back to Unknown, the
    /// topology closed.
    fn publish_closing(&self) {
        if self.events.active() {
            let last = self.lock().description.clone();
            self.events.push_closing(&last);
            self.events.flush();
        }
    }

    /// Publishes a topology event (a heartbeat) in order with the others.
    pub(crate) fn publish(&self, event: impl FnOnce() -> SdamEvent) {
        if self.events.active() {
            self.events.push([event()]);
            self.events.flush();
        }
    }

    fn check_shutdown(&self) -> Result<()> {
        if self.shut_down.load(Ordering::SeqCst) {
            Err(Error::new(ErrorKind::Shutdown))
        } else {
            Ok(())
        }
    }

    /// Starts a monitor per server, once, when a runtime is there to run them.
    fn ensure_monitors(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let servers: Vec<Arc<Server>> = {
            let mut st = self.lock();
            if st.monitors_started {
                return;
            }
            st.monitors_started = true;
            // Load Balancer Support: no monitoring; the load balancer is selectable as is.
            if st.description.topology_type == crate::sdam::TopologyType::LoadBalanced {
                return;
            }
            st.servers.values().cloned().collect()
        };
        for server in servers {
            monitor::spawn(&runtime, self, server);
        }
        #[cfg(feature = "dns-srv")]
        if let Some(poller) = self.options.srv_poller.clone() {
            srv_poll::spawn(&runtime, self, poller);
        }
    }

    /// True for a load-balanced topology (no monitors, one load balancer).
    pub(crate) fn is_load_balanced(&self) -> bool {
        self.lock().description.topology_type == crate::sdam::TopologyType::LoadBalanced
    }

    /// The time since the topology was created: the clock of `last_update_time`.
    pub(crate) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Applies a monitor's description of a server, then acts on what changed.
    /// `interrupt_in_use`: the check failed with a network timeout, so a clear of the server's
    /// pool interrupts the connections in use too (SDAM, CMAP `interruptInUseConnections`).
    pub(crate) fn apply(self: &Arc<Self>, description: ServerDescription, interrupt_in_use: bool) {
        let address = description.address.clone();
        let reported = describe_for_removal(&description);
        let mut st = self.lock();
        if !st.servers.contains_key(&key(&address)) {
            // A late reply from a monitor whose server was removed meanwhile.
            return;
        }
        let before = known_servers(&st.description);
        let previous = self.events.active().then(|| st.description.clone());
        let applied = previous.is_some().then(|| description.clone());
        let change = st.description.update(description);
        let mut updates = Vec::new();
        // SDAM: a successful check of a server that can take operations (or of the one server
        // of a Single topology) marks its pool ready, together with the description update.
        if let (Some(server), Some(d)) = (
            st.servers.get(&key(&address)),
            st.description.server(&address),
        ) {
            let single = st.description.topology_type == crate::sdam::TopologyType::Single;
            if d.server_type.is_data_bearing() || (single && d.server_type != ServerType::Unknown) {
                updates.push(server.pool.ready());
            }
        }
        if let Some(previous) = previous {
            self.events.push(events::update_events(
                self.events.topology_id,
                &previous,
                &st.description,
                applied.as_ref(),
            ));
        }
        let interrupt = interrupt_in_use.then_some(&address);
        self.act_on_change(
            st,
            before,
            change,
            Some((&address, &reported)),
            interrupt,
            updates,
        );
    }

    /// Starts monitors and pools for added servers, stops them for removed ones, clears the
    /// pools of servers that became Unknown (CMAP), and wakes waiting selections. Takes the
    /// lock guard so that the description and the server map change together.
    /// `updates`: what the caller did to pools under the lock, published here once it is
    /// released (with the topology events queued meanwhile).
    fn act_on_change(
        self: &Arc<Self>,
        mut st: MutexGuard<'_, State>,
        before: Vec<String>,
        change: TopologyChange,
        cause: Option<(&ServerAddress, &String)>,
        interrupt: Option<&ServerAddress>,
        mut updates: Vec<PoolUpdate<Establisher>>,
    ) {
        let mut added = Vec::new();
        for address in &change.added {
            let server = Server::new(address.clone(), &self.options, Arc::downgrade(self));
            updates.push(server.pool.announce());
            st.servers.insert(key(address), Arc::clone(&server));
            added.push(server);
        }
        let mut removed = Vec::new();
        for address in &change.removed {
            if let Some(server) = st.servers.remove(&key(address)) {
                removed.push(server);
            }
            if let Some((by, reported)) = cause {
                let why = if key(by) == key(address) {
                    format!("{address} was removed from the topology after it answered {reported}")
                } else {
                    format!("{address} was removed from the topology: {by} answered {reported}")
                };
                if st.removals.len() == REMOVALS_KEPT {
                    st.removals.remove(0);
                }
                st.removals.push(why);
            }
        }
        let now_unknown = before.iter().filter(|k| {
            st.description
                .servers
                .get(*k)
                .is_some_and(|d| d.server_type == ServerType::Unknown)
        });
        let to_clear: Vec<Arc<Server>> = now_unknown
            .chain(
                change
                    .clear_pools
                    .iter()
                    .map(key)
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .filter_map(|k| st.servers.get(k).cloned())
            .collect();
        for address in &change.check_now {
            if let Some(server) = st.servers.get(&key(address)) {
                server.request_check();
            }
        }
        if !st.monitors_started {
            // They start with the first operation, for every server then known.
            added.clear();
        }
        // Cleared together with the description update (SDAM), so that a monitor's next
        // success cannot mark the pool ready before this clear pauses it.
        for server in to_clear {
            let interrupt = interrupt.is_some_and(|a| key(a) == key(&server.address));
            updates.push(server.pool.clear_with(server.pool.generation(), interrupt));
        }
        drop(st);
        drop(updates);
        for server in &removed {
            tracing::trace!(address = %server.address, "server left the topology");
            server.remove();
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for server in added {
                tracing::trace!(address = %server.address, "server joined the topology");
                monitor::spawn(&runtime, self, server);
            }
        }
        self.changed.send_replace(());
        self.events.flush();
    }

    /// Acts on an error an operation hit on `address` (SDAM "error handling").
    pub(crate) fn handle_application_error(
        self: &Arc<Self>,
        address: &ServerAddress,
        error: ApplicationError,
    ) {
        let mut st = self.lock();
        let Some(server) = st.servers.get(&key(address)).cloned() else {
            return;
        };
        let pool_generation = server.pool.generation();
        let before = known_servers(&st.description);
        let previous = self.events.active().then(|| st.description.clone());
        let outcome = st
            .description
            .handle_application_error(address, &error, pool_generation);
        let mut updates = Vec::new();
        if outcome.clear_pool {
            updates.push(server.pool.clear_with(pool_generation, false));
        }
        if let Some(previous) = previous {
            let applied = st.description.server(address).cloned();
            self.events.push(events::update_events(
                self.events.topology_id,
                &previous,
                &st.description,
                applied.as_ref(),
            ));
        }
        if outcome.cancel_check || outcome.marked_unknown {
            // Server Monitoring: a network error on an application connection cancels the
            // monitor's check. A state-change error does too here: a streaming monitor would
            // otherwise hear nothing until the server's topologyVersion changes, which an
            // error injected by a fail point (or a proxy) never does, and the server would stay
            // Unknown for a whole heartbeat.
            server.cancel_check.notify_waiters();
        }
        if outcome.request_check {
            server.request_check();
        }
        if outcome.marked_unknown {
            tracing::trace!(%address, error = ?error.kind, "server marked unknown after an error");
        }
        self.act_on_change(st, before, outcome.change, None, None, updates);
    }

    /// Acts on a failure to open a pooled connection to `address`, in an attempt that started
    /// at pool generation `generation` (SDAM: the error's generation is the pool's when the
    /// attempt started, so a clear it causes itself does not make it stale).
    pub(crate) fn handle_connect_error(
        self: &Arc<Self>,
        address: &ServerAddress,
        generation: u32,
        failure: &conn::EstablishError,
    ) {
        // SDAM error handling: errors labelled for backpressure change nothing (no Unknown,
        // no pool clear, no cancelled check).
        if failure
            .error
            .contains_label(crate::client::backpressure::SYSTEM_OVERLOADED_ERROR)
        {
            tracing::trace!(%address, error = %failure.error, "could not open a connection (possible overload)");
            return;
        }
        let phase = match failure.step {
            conn::EstablishStep::Handshake => ErrorPhase::BeforeHandshake,
            conn::EstablishStep::Authentication { .. } => ErrorPhase::Authentication,
        };
        if self.is_load_balanced() {
            // Load Balancer Support: errors before the `hello` completed change nothing; one in
            // the authentication step clears the connections of that service only.
            if let conn::EstablishStep::Authentication {
                service_id: Some(service),
            } = failure.step
            {
                let server = self.lock().servers.get(&key(address)).cloned();
                if let Some(server) = server {
                    let generation = server.pool.service_generation(service);
                    server.pool.clear_service(service, generation);
                }
            }
            return;
        }
        tracing::trace!(%address, error = %failure.error, ?phase, "could not open a connection");
        self.handle_application_error(
            address,
            handle::application_error(&failure.error, generation, phase, 0),
        );
    }

    /// A pseudo-random number below `n`, to pick between two selection candidates.
    fn random_below(&self, n: usize) -> usize {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).below(n)
    }
}

/// The key of `address` in the description and the server map.
fn key(address: &ServerAddress) -> String {
    crate::sdam::address_key(address)
}

/// The keys of the servers that are not Unknown.
fn known_servers(d: &TopologyDescription) -> Vec<String> {
    d.servers
        .iter()
        .filter(|(_, s)| s.server_type != ServerType::Unknown)
        .map(|(k, _)| k.clone())
        .collect()
}

/// How a server described itself, for the message that says why it was removed.
fn describe_for_removal(d: &ServerDescription) -> String {
    let mut s = format!("as {:?}", d.server_type);
    if let Some(set) = &d.set_name {
        s.push_str(&format!(" of replica set {set:?}"));
    }
    if let Some(me) = &d.me {
        s.push_str(&format!(", calling itself {me}"));
    }
    if !d.hosts.is_empty() {
        s.push_str(&format!(", listing hosts {}", d.hosts.join(", ")));
    }
    s
}

/// Waits for the client's view of the deployment to change (from
/// [`Client::watch_topology`](crate::Client::watch_topology)): a server found or lost, a
/// primary elected, a server marked Unknown. Holds no reference that keeps the client alive.
///
/// ```no_run
/// # async fn f(client: mongo_x509::Client) {
/// use mongo_x509::ServerType;
/// let mut watcher = client.watch_topology();
/// // Wait until some server is the primary.
/// while let Some(topology) = watcher.changed().await {
///     if topology.servers.values().any(|s| s.server_type == ServerType::RsPrimary) {
///         break;
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct TopologyWatcher {
    changed: watch::Receiver<()>,
    shared: Weak<Shared>,
}

impl TopologyWatcher {
    /// The description now, or `None` once the client is gone.
    pub fn current(&self) -> Option<TopologyDescription> {
        Some(self.shared.upgrade()?.lock().description.clone())
    }

    /// Waits for the next change and returns the description after it; `None` once every
    /// clone of the client is dropped or the client is shut down.
    pub async fn changed(&mut self) -> Option<TopologyDescription> {
        self.changed.changed().await.ok()?;
        let shared = self.shared.upgrade()?;
        if shared.shut_down.load(Ordering::SeqCst) {
            return None;
        }
        let d = shared.lock().description.clone();
        Some(d)
    }

    /// Waits, up to `timeout`, until the description satisfies `condition` (checked at once,
    /// then after each change); returns it, or `None` on timeout or when the client is gone.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut condition: impl FnMut(&TopologyDescription) -> bool,
    ) -> Option<TopologyDescription> {
        let work = async {
            let mut d = self.current()?;
            loop {
                if condition(&d) {
                    return Some(d);
                }
                d = self.changed().await?;
            }
        };
        tokio::time::timeout(timeout, work).await.ok().flatten()
    }
}

/// The monitors' view of the topology: a weak reference, so they never keep it alive.
pub(crate) type WeakShared = Weak<Shared>;
