//! Connection pools: one per server, shared by all clones of a [`Client`](crate::Client).
//!
//! A pool keeps established connections (TCP, TLS, handshake and authentication done) and hands
//! them out one operation at a time. It follows the Connection Monitoring and Pooling (CMAP)
//! specification's options:
//!
//! - `maxPoolSize` (default 10, 0 = unlimited): open plus opening connections never exceed it;
//!   further operations wait for a connection to come back.
//! - `minPoolSize` (default 0): a background task keeps at least this many connections open.
//! - `maxIdleTimeMS`: a connection idle for longer is closed instead of reused.
//! - `maxConnecting` (default 2): connections being opened at once.
//! - the wait for a connection is bounded by `waitQueueTimeoutMS`, or else by
//!   `serverSelectionTimeoutMS`; when it runs out the operation fails with
//!   [`ErrorKind::WaitQueueTimeout`] naming the option. The wait queue is fair: operations are
//!   served in the order they started waiting.
//!
//! A connection that saw a network error or a timed-out read is closed, never reused. After a
//! network error (while opening a connection too), or a "shutting down" error, the server's
//! monitoring (SDAM) *clears* the pool: its generation is bumped and every older connection is
//! closed instead of being reused.
//!
//! A pool is *paused* when it is created and after each clear: check-outs fail at once (with
//! [`ErrorKind::PoolCleared`], which server selection answers by selecting again) and nothing
//! is opened in the background, until the server's monitor finds the server again and marks
//! the pool *ready*. Every step is published as a [`CmapEvent`]
//! and logged (target `mongo_x509::connection`), as the CMAP specification says.
//!
//! After the TLS identity is reloaded, the pool starts a new *identity generation*: connections
//! authenticated with the previous certificate finish the operation they run and are closed
//! when they come back, so the pool drains to the new identity without interrupting work.
//! An idle connection keeps small buffers only: whatever a large reply made grow is given back
//! when the connection is checked in.
//!
//! [`Client::pool_stats`](crate::Client::pool_stats) returns a [`PoolStats`] per server:
//!
//! ```no_run
//! # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
//! for stats in client.pool_stats() {
//!     println!(
//!         "{}: {} open ({} checked out, peak {}), {} created, {} closed",
//!         stats.address, stats.open, stats.checked_out, stats.peak_open,
//!         stats.connections_created, stats.connections_closed,
//!     );
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bson::oid::ObjectId;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::conn::Interrupter;
use crate::error::{Error, ErrorKind, Result};
use crate::event::cmap::{
    CmapEmitter, CmapEvent, ConnectionCheckedInEvent, ConnectionCheckedOutEvent,
    ConnectionCheckoutFailedEvent, ConnectionCheckoutFailedReason, ConnectionCheckoutStartedEvent,
    ConnectionClosedEvent, ConnectionClosedReason, ConnectionCreatedEvent, ConnectionReadyEvent,
    PoolClearedEvent, PoolClosedEvent, PoolCreatedEvent, PoolReadyEvent,
};
use crate::options::ServerAddress;

/// `maxPoolSize` when the user set none.
pub const DEFAULT_MAX_POOL_SIZE: u32 = 10;
/// `maxConnecting` when the user set none.
pub const DEFAULT_MAX_CONNECTING: u32 = 2;
/// How often the background task prunes idle connections and fills up to `minPoolSize`.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(500);

/// A snapshot of one server's connection pool. Counters count since the client was created.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The server this pool connects to.
    pub address: ServerAddress,
    /// Connections established (handshake and authentication done) so far.
    pub connections_created: u64,
    /// Connections closed so far (broken, idle too long, stale after a clear, or shut down).
    pub connections_closed: u64,
    /// Connections open now: idle plus checked out.
    pub open: u32,
    /// Connections checked out by an operation now.
    pub checked_out: u32,
    /// Connections idle in the pool now.
    pub idle: u32,
    /// Connections being opened now (counted against `maxPoolSize` as well).
    pub pending: u32,
    /// The most connections ever open at once.
    pub peak_open: u32,
    /// Operations waiting for a connection now.
    pub waiting: u32,
    /// How many times the pool was cleared (after a network or "not primary" error).
    pub generation: u32,
    /// Check-outs that failed because the wait queue timed out.
    pub wait_queue_timeouts: u64,
    /// Bytes held by the buffers of the idle connections (small once each is checked in,
    /// whatever the size of the replies it read).
    pub idle_buffer_bytes: u64,
}

/// Settings of one pool, resolved from the client options.
#[derive(Clone, Debug)]
pub(crate) struct PoolOptions {
    /// 0 = unlimited.
    pub(crate) max_pool_size: u32,
    pub(crate) min_pool_size: u32,
    pub(crate) max_idle_time: Option<Duration>,
    pub(crate) max_connecting: u32,
    /// Bound on the wait for a connection.
    pub(crate) wait_queue_timeout: Duration,
    /// The option that set `wait_queue_timeout`, named in the timeout error.
    pub(crate) wait_queue_timeout_option: &'static str,
    /// Where the pool's events go.
    pub(crate) events: CmapEmitter,
    /// Between two runs of the background task (pruning, `minPoolSize`).
    pub(crate) maintenance_interval: Duration,
    /// Load-balanced mode: the wait queue timeout error says what the connections in use are
    /// pinned to (Load Balancer specification).
    pub(crate) load_balanced: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_pool_size: DEFAULT_MAX_POOL_SIZE,
            min_pool_size: 0,
            max_idle_time: None,
            max_connecting: DEFAULT_MAX_CONNECTING,
            wait_queue_timeout: Duration::from_secs(30),
            wait_queue_timeout_option: "serverSelectionTimeoutMS",
            events: CmapEmitter::default(),
            maintenance_interval: MAINTENANCE_INTERVAL,
            load_balanced: false,
        }
    }
}

/// What a checked-out connection is kept for beyond one operation (load-balanced mode), as the
/// wait queue timeout error counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinnedTo {
    /// A cursor's `getMore`s and `killCursors`.
    Cursor,
    /// A transaction's commands.
    Transaction,
}

/// What the pool needs from a connection.
pub(crate) trait PoolConnection: Send + 'static {
    /// The id the pool gave it (see [`Connector::connect`]), for its events.
    fn id(&self) -> u32;

    /// True once the connection must not be reused.
    fn is_broken(&self) -> bool;

    /// The `serviceId` of the server behind a load balancer (load-balanced mode only): the
    /// pool keeps a generation per service, so one service's failure clears only its
    /// connections.
    fn service_id(&self) -> Option<ObjectId> {
        None
    }

    /// Called when the connection goes back to the pool idle: gives back memory that only
    /// the operation needed (a large reply's buffer).
    fn release_memory(&mut self) {}

    /// Bytes the connection's buffers hold now (for [`PoolStats::idle_buffer_bytes`]).
    fn buffer_bytes(&self) -> usize {
        0
    }

    /// What interrupts the connection while it is in use (`None`: it cannot be).
    fn interrupter(&self) -> Option<&Arc<Interrupter>> {
        None
    }
}

/// Opens connections for a pool. The real one runs `conn::establish`; tests inject fakes.
pub(crate) trait Connector: Send + Sync + 'static {
    /// The connection type.
    type Conn: PoolConnection;
    /// Opens (and handshakes) a connection to `address`, named `id`, for the pool at
    /// `generation`. A failure is the connector's to report (SDAM decides whether the pool is
    /// cleared), with that generation: the pool does not clear itself.
    fn connect(
        &self,
        address: &ServerAddress,
        id: u32,
        generation: u32,
    ) -> impl Future<Output = Result<Self::Conn>> + Send;
}

struct Idle<T> {
    conn: T,
    id: u32,
    generation: u32,
    /// The generation of the connection's service when it opened (load-balanced mode).
    service_generation: u32,
    /// The identity generation its opening started in.
    identity: u32,
    since: Instant,
}

/// A connection on its way out, and why (for its closed event).
struct Dead<T> {
    conn: T,
    id: u32,
    reason: ConnectionClosedReason,
    error: Option<Error>,
}

/// Why a pool no longer hands out connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// The client was shut down.
    Shutdown,
    /// The server left the topology: an operation waiting here selects another server.
    Removed,
}

/// Where a connection about to be opened belongs: its id and the generations it starts in.
#[derive(Clone, Copy)]
struct Slot {
    id: u32,
    generation: u32,
    identity: u32,
}

struct State<T> {
    idle: VecDeque<Idle<T>>,
    /// Established connections not idle.
    checked_out: u32,
    /// Of those, the ones pinned to cursors and to transactions ([`PinnedTo`]).
    pinned_cursors: u32,
    pinned_transactions: u32,
    /// Connections being opened.
    pending: u32,
    generation: u32,
    /// Load-balanced mode: the generation of each `serviceId` (absent: 0).
    service_generations: HashMap<ObjectId, u32>,
    /// Bumped by each reload of the TLS identity: older connections are not reused.
    identity_generation: u32,
    next_id: u32,
    closed: Option<Closed>,
    /// CMAP's "paused": check-outs fail and nothing is opened until the pool is ready.
    paused: bool,
    /// Connections being opened in this generation or an older one are abandoned (a clear
    /// that interrupts in-use connections).
    interrupted_through: Option<u32>,
    /// The interrupters of the connections opened (held weakly: a closed connection's entry
    /// is dropped at the next registration).
    interrupters: Vec<Weak<Interrupter>>,
    waiting: u32,
    /// The wait queue, oldest first: only its front may take a connection (CMAP: the wait
    /// queue is fair, first come first served).
    queue: VecDeque<u64>,
    next_ticket: u64,
    created: u64,
    closed_count: u64,
    peak_open: u32,
    wait_queue_timeouts: u64,
    maintenance_started: bool,
}

impl<T> State<T> {
    fn open(&self) -> u32 {
        let idle = u32::try_from(self.idle.len()).unwrap_or(u32::MAX);
        idle.saturating_add(self.checked_out)
    }

    fn total(&self) -> u32 {
        self.open().saturating_add(self.pending)
    }

    /// Reserves a pending slot for a connection about to be opened.
    fn reserve_slot(&mut self) -> Slot {
        self.pending += 1;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        Slot {
            id,
            generation: self.generation,
            identity: self.identity_generation,
        }
    }

    fn note_open(&mut self) {
        self.peak_open = self.peak_open.max(self.open());
    }

    /// The current generation of `service` (0 when it was never cleared).
    fn service_generation(&self, service: Option<ObjectId>) -> u32 {
        service
            .and_then(|id| self.service_generations.get(&id).copied())
            .unwrap_or(0)
    }

    /// True when the connection belongs to an older generation of the pool, of its service or
    /// of the identity.
    fn is_stale<P: PoolConnection>(
        &self,
        conn: &P,
        generation: u32,
        service_generation: u32,
        identity: u32,
    ) -> bool {
        generation != self.generation
            || identity != self.identity_generation
            || self.service_generation(conn.service_id()) != service_generation
    }

    /// Why check-outs fail once the pool is closed.
    fn closed_error(&self, address: &ServerAddress) -> Option<Error> {
        Some(match self.closed? {
            Closed::Shutdown => Error::new(ErrorKind::Shutdown),
            Closed::Removed => Error::new(ErrorKind::ServerSelection {
                message: format!(
                    "{address} left the deployment (it is no longer in the replica set's hosts \
                     or the SRV records) while this operation waited for a connection to it"
                ),
            }),
        })
    }
}

/// The error of a check-out from a paused pool (or one interrupted by a clear).
fn pool_cleared(address: &ServerAddress, why: &str) -> Error {
    Error::new(ErrorKind::PoolCleared {
        message: format!(
            "the connection pool for {address} was cleared {why}; the operation was not sent to \
             the server and selects a server again (retry it if it failed)"
        ),
    })
}

struct Inner<C: Connector> {
    address: ServerAddress,
    connector: C,
    options: PoolOptions,
    state: Mutex<State<C::Conn>>,
    /// Woken whenever a connection comes back, is closed, or a slot frees up.
    changed: Notify,
}

impl<C: Connector> Inner<C> {
    fn lock(&self) -> MutexGuard<'_, State<C::Conn>> {
        // A panic while holding the lock cannot leave the counters half-updated in a way that
        // matters more than refusing to work, so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn events(&self) -> &CmapEmitter {
        &self.options.events
    }

    /// Why an idle connection must not be used any more, if it must not.
    fn perished(
        &self,
        idle: &Idle<C::Conn>,
        state: &State<C::Conn>,
        now: Instant,
    ) -> Option<ConnectionClosedReason> {
        if state.is_stale(
            &idle.conn,
            idle.generation,
            idle.service_generation,
            idle.identity,
        ) {
            Some(ConnectionClosedReason::Stale)
        } else if idle.conn.is_broken() {
            Some(ConnectionClosedReason::Error)
        } else if self
            .options
            .max_idle_time
            .is_some_and(|max| !max.is_zero() && now.duration_since(idle.since) >= max)
        {
            Some(ConnectionClosedReason::Idle)
        } else {
            None
        }
    }

    /// Removes perished idle connections; returns them so they are closed outside the lock.
    fn prune(&self, state: &mut State<C::Conn>) -> Vec<Dead<C::Conn>> {
        let now = Instant::now();
        // The common case, nothing perished, allocates nothing.
        if !state
            .idle
            .iter()
            .any(|i| self.perished(i, state, now).is_some())
        {
            return Vec::new();
        }
        let mut dead = Vec::new();
        let mut keep = VecDeque::with_capacity(state.idle.len());
        let idle = std::mem::take(&mut state.idle);
        for i in idle {
            match self.perished(&i, state, now) {
                Some(reason) => dead.push(Dead {
                    conn: i.conn,
                    id: i.id,
                    reason,
                    error: None,
                }),
                None => keep.push_back(i),
            }
        }
        state.idle = keep;
        state.closed_count += dead.len() as u64;
        dead
    }

    /// Publishes the closed events of `dead` and closes them (call it outside the lock).
    fn close_dead(&self, dead: Vec<Dead<C::Conn>>) {
        for d in dead {
            self.events().emit(|| {
                CmapEvent::ConnectionClosed(ConnectionClosedEvent {
                    address: self.address.clone(),
                    connection_id: d.id,
                    reason: d.reason,
                    error: d.error.clone(),
                })
            });
            drop(d.conn);
        }
    }

    /// Opens the connection of `slot`, publishing its created and ready events; abandoned
    /// (with [`ErrorKind::PoolCleared`]) when a clear interrupts connections being opened.
    async fn connect(&self, slot: Slot) -> Result<C::Conn> {
        let events = self.events();
        let created = events.active().then(Instant::now);
        events.emit(|| {
            CmapEvent::ConnectionCreated(ConnectionCreatedEvent {
                address: self.address.clone(),
                connection_id: slot.id,
            })
        });
        let connect = self
            .connector
            .connect(&self.address, slot.id, slot.generation);
        let mut connect = std::pin::pin!(connect);
        let result = loop {
            // Created before the state is read, so a clear after the read still wakes it.
            let changed = self.changed.notified();
            let interrupted = self
                .lock()
                .interrupted_through
                .is_some_and(|g| slot.generation <= g);
            if interrupted {
                break Err(pool_cleared(
                    &self.address,
                    "while this connection was being opened (interrupting connections in use)",
                ));
            }
            tokio::select! {
                r = &mut connect => break r,
                _ = changed => {}
            }
        };
        if let Some(interrupter) = result.as_ref().ok().and_then(PoolConnection::interrupter) {
            let mut st = self.lock();
            if st.interrupted_through.is_some_and(|g| slot.generation <= g) {
                // Opened while a clear interrupted its generation.
                interrupter.interrupt();
            } else {
                st.interrupters.retain(|i| i.strong_count() > 0);
                st.interrupters.push(Arc::downgrade(interrupter));
            }
        }
        match &result {
            Ok(_) => events.emit(|| {
                CmapEvent::ConnectionReady(ConnectionReadyEvent {
                    address: self.address.clone(),
                    connection_id: slot.id,
                    duration: created.map(|c| c.elapsed()).unwrap_or_default(),
                })
            }),
            Err(e) => events.emit(|| {
                CmapEvent::ConnectionClosed(ConnectionClosedEvent {
                    address: self.address.clone(),
                    connection_id: slot.id,
                    reason: ConnectionClosedReason::Error,
                    error: Some(e.clone()),
                })
            }),
        }
        result
    }
}

/// A pool of connections to one server. Cheap to clone.
pub(crate) struct Pool<C: Connector> {
    inner: Arc<Inner<C>>,
}

impl<C: Connector> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Gives back a pending slot if the opening of a connection is abandoned (error or the
/// check-out future dropped).
struct PendingSlot<'a, C: Connector> {
    inner: &'a Inner<C>,
    armed: bool,
}

impl<C: Connector> Drop for PendingSlot<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.inner.lock();
            st.pending = st.pending.saturating_sub(1);
            drop(st);
            self.inner.changed.notify_waiters();
        }
    }
}

/// A place in the wait queue. Leaving it, served, timed out or abandoned (the check-out future
/// dropped), removes it and wakes the others so that the next in line can look.
struct QueueTicket<'a, C: Connector> {
    inner: &'a Inner<C>,
    number: u64,
}

impl<C: Connector> Drop for QueueTicket<'_, C> {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(pos) = st.queue.iter().position(|t| *t == self.number) {
            st.queue.remove(pos);
        }
        st.waiting = st.waiting.saturating_sub(1);
        drop(st);
        self.inner.changed.notify_waiters();
    }
}

/// What a change of the pool's state made, published when this is dropped: the pool's event,
/// then the closed events of the connections it ended, which are closed then. The topology
/// changes pools under its own lock and drops these after releasing it, so that an event
/// handler never runs under the client's locks.
#[must_use = "the events are published and the connections closed when this is dropped"]
pub(crate) struct PoolUpdate<C: Connector> {
    inner: Arc<Inner<C>>,
    notice: Notice,
    dead: Vec<Dead<C::Conn>>,
}

/// The pool event of a [`PoolUpdate`].
enum Notice {
    Nothing,
    Created,
    Ready,
    Cleared {
        service_id: Option<ObjectId>,
        interrupt: bool,
    },
}

impl<C: Connector> Drop for PoolUpdate<C> {
    fn drop(&mut self) {
        let inner = &*self.inner;
        match std::mem::replace(&mut self.notice, Notice::Nothing) {
            Notice::Nothing => {}
            Notice::Created => inner.events().emit(|| {
                CmapEvent::PoolCreated(PoolCreatedEvent {
                    address: inner.address.clone(),
                    options: Some(inner.events().options.clone()),
                })
            }),
            Notice::Ready => inner.events().emit(|| {
                CmapEvent::PoolReady(PoolReadyEvent {
                    address: inner.address.clone(),
                })
            }),
            Notice::Cleared {
                service_id,
                interrupt,
            } => inner.events().emit(|| {
                CmapEvent::PoolCleared(PoolClearedEvent {
                    address: inner.address.clone(),
                    service_id,
                    interrupt_in_use_connections: interrupt,
                })
            }),
        }
        inner.close_dead(std::mem::take(&mut self.dead));
        inner.changed.notify_waiters();
    }
}

impl<C: Connector> Pool<C> {
    /// A new, empty, paused pool (see [`Pool::ready`]). Nothing is opened until it is ready.
    /// Its created event is published by [`Pool::announce`].
    pub(crate) fn new(address: ServerAddress, connector: C, options: PoolOptions) -> Self {
        let options = PoolOptions {
            max_connecting: options.max_connecting.max(1),
            ..options
        };
        Self {
            inner: Arc::new(Inner {
                address,
                connector,
                options,
                state: Mutex::new(State {
                    idle: VecDeque::new(),
                    checked_out: 0,
                    pinned_cursors: 0,
                    pinned_transactions: 0,
                    pending: 0,
                    generation: 0,
                    service_generations: HashMap::new(),
                    identity_generation: 0,
                    next_id: 1,
                    closed: None,
                    paused: true,
                    interrupted_through: None,
                    interrupters: Vec::new(),
                    waiting: 0,
                    queue: VecDeque::new(),
                    next_ticket: 0,
                    created: 0,
                    closed_count: 0,
                    peak_open: 0,
                    wait_queue_timeouts: 0,
                    maintenance_started: false,
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// Publishes the pool's created event (when dropped): the creator calls it once, outside
    /// its locks.
    pub(crate) fn announce(&self) -> PoolUpdate<C> {
        self.update(Notice::Created, Vec::new())
    }

    /// The pool's generation (bumped by each clear).
    pub(crate) fn generation(&self) -> u32 {
        self.inner.lock().generation
    }

    /// The current generation of `service` (load-balanced mode; 0 when never cleared).
    pub(crate) fn service_generation(&self, service: ObjectId) -> u32 {
        self.inner.lock().service_generation(Some(service))
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.inner.lock();
        PoolStats {
            address: self.inner.address.clone(),
            connections_created: st.created,
            connections_closed: st.closed_count,
            open: st.open(),
            checked_out: st.checked_out,
            idle: u32::try_from(st.idle.len()).unwrap_or(u32::MAX),
            pending: st.pending,
            peak_open: st.peak_open,
            waiting: st.waiting,
            generation: st.generation,
            wait_queue_timeouts: st.wait_queue_timeouts,
            idle_buffer_bytes: st.idle.iter().map(|i| i.conn.buffer_bytes() as u64).sum(),
        }
    }

    fn update(&self, notice: Notice, dead: Vec<Dead<C::Conn>>) -> PoolUpdate<C> {
        PoolUpdate {
            inner: Arc::clone(&self.inner),
            notice,
            dead,
        }
    }

    /// Marks the pool ready (after a successful check of its server): check-outs are served
    /// and `minPoolSize` is filled. Nothing happens if it is ready already, or closed.
    pub(crate) fn ready(&self) -> PoolUpdate<C> {
        let notice = {
            let mut st = self.inner.lock();
            if st.closed.is_some() || !st.paused {
                Notice::Nothing
            } else {
                st.paused = false;
                Notice::Ready
            }
        };
        let ready = matches!(notice, Notice::Ready);
        let update = self.update(notice, Vec::new());
        if ready {
            self.start_maintenance();
        }
        update
    }

    /// Clears the pool if it is still at `generation` (so that several operations failing on
    /// the same event clear it once): idle connections are closed now, checked-out ones when
    /// they come back; the pool is paused and the operations waiting for a connection fail.
    #[cfg(test)]
    pub(crate) fn clear(&self, generation: u32) {
        drop(self.clear_with(generation, false));
    }

    /// [`Pool::clear`], returning what it did for publishing later. `interrupt` also
    /// interrupts the connections in use and abandons those being opened (of this generation
    /// or older): their operations fail with a retryable network error, and they are closed
    /// (`Stale`) as they come back.
    pub(crate) fn clear_with(&self, generation: u32, interrupt: bool) -> PoolUpdate<C> {
        let (notice, dead) = {
            let mut st = self.inner.lock();
            if st.generation != generation {
                return self.update(Notice::Nothing, Vec::new());
            }
            st.generation = st.generation.wrapping_add(1);
            if interrupt {
                st.interrupted_through = Some(generation);
                // Shutting a socket down does not block: done under the lock, so that no
                // connection of the cleared generation is handed out uninterrupted.
                // Every connection registered so far is of this generation or an older one.
                for i in st.interrupters.drain(..) {
                    if let Some(i) = i.upgrade() {
                        i.interrupt();
                    }
                }
            }
            // Clearing a paused pool publishes nothing: it was cleared already.
            let notice = if st.paused || st.closed.is_some() {
                Notice::Nothing
            } else {
                Notice::Cleared {
                    service_id: None,
                    interrupt,
                }
            };
            st.paused = true;
            tracing::trace!(address = %self.inner.address, generation = st.generation, "connection pool cleared");
            (notice, self.inner.prune(&mut st))
        };
        self.update(notice, dead)
    }

    /// Clears the connections of one service (load-balanced mode) if it is still at
    /// `generation`: the others stay, and the pool stays ready.
    pub(crate) fn clear_service(&self, service: ObjectId, generation: u32) {
        let dead = {
            let mut st = self.inner.lock();
            let current = st.service_generations.entry(service).or_insert(0);
            if *current != generation {
                return;
            }
            *current = current.wrapping_add(1);
            self.inner.prune(&mut st)
        };
        drop(self.update(
            Notice::Cleared {
                service_id: Some(service),
                interrupt: false,
            },
            dead,
        ));
    }

    /// Starts a new identity generation (after the TLS identity was reloaded): idle connections
    /// are closed now, checked-out ones when they come back, once their operation is done.
    /// Unlike [`Pool::clear_with`], nothing else changes (the server is fine).
    pub(crate) fn rotate_identity(&self) {
        let dead = {
            let mut st = self.inner.lock();
            st.identity_generation = st.identity_generation.wrapping_add(1);
            tracing::debug!(address = %self.inner.address, "TLS identity reloaded: connections authenticated with the previous one are closed as they come back");
            self.inner.prune(&mut st)
        };
        drop(self.update(Notice::Nothing, dead));
    }

    /// Closes the pool when the client shuts down: idle connections now, checked-out ones when
    /// they come back; further check-outs fail with [`ErrorKind::Shutdown`].
    pub(crate) fn close(&self) {
        self.close_for(Closed::Shutdown);
    }

    /// Closes the pool of a server that left the topology, as [`Pool::close`]; check-outs,
    /// waiting ones included, fail with an [`ErrorKind::ServerSelection`] that says so
    /// (selection then picks another server).
    pub(crate) fn close_removed(&self) {
        self.close_for(Closed::Removed);
    }

    fn close_for(&self, why: Closed) {
        let (first, dead) = {
            let mut st = self.inner.lock();
            let first = st.closed.is_none();
            st.closed.get_or_insert(why);
            let dead: Vec<_> = st
                .idle
                .drain(..)
                .map(|i| Dead {
                    conn: i.conn,
                    id: i.id,
                    reason: ConnectionClosedReason::PoolClosed,
                    error: None,
                })
                .collect();
            st.closed_count += dead.len() as u64;
            (first, dead)
        };
        let inner = &*self.inner;
        inner.close_dead(dead);
        if first {
            inner.events().emit(|| {
                CmapEvent::PoolClosed(PoolClosedEvent {
                    address: inner.address.clone(),
                })
            });
        }
        inner.changed.notify_waiters();
    }

    /// Checks out a connection: an idle one if there is one, else a new one if the pool has
    /// room, else waits (bounded by the wait queue timeout) for one to come back.
    #[cfg(test)]
    pub(crate) async fn check_out(&self) -> Result<PooledConnection<C>> {
        self.check_out_until(None).await
    }

    /// [`Pool::check_out`], with the wait bounded by `until` (an operation's `timeoutMS`
    /// deadline) instead of the wait queue timeout when given.
    pub(crate) async fn check_out_until(
        &self,
        until: Option<Instant>,
    ) -> Result<PooledConnection<C>> {
        // One check when nobody listens; the start is timed only when someone does.
        let started = if self.inner.events().active() {
            self.check_out_started()
        } else {
            None
        };
        self.start_maintenance();
        let inner = &*self.inner;
        let deadline = until.unwrap_or_else(|| Instant::now() + inner.options.wait_queue_timeout);
        let mut ticket: Option<QueueTicket<'_, C>> = None;
        enum Next<C: Connector> {
            Done(Result<PooledConnection<C>>),
            Open(Slot),
            Wait,
        }
        let result = loop {
            let mut dead = Vec::new();
            let notified = inner.changed.notified();
            let next: Next<C> = {
                let mut st = inner.lock();
                if let Some(error) = st.closed_error(&inner.address) {
                    Next::Done(Err(error))
                } else if st.paused {
                    // CMAP: a paused pool fails check-outs at once, waiting ones included (a
                    // clear empties the wait queue); selection tries again.
                    Next::Done(Err(pool_cleared(
                        &inner.address,
                        "after an error on that server (its monitor checks it again)",
                    )))
                } else {
                    dead = inner.prune(&mut st);
                    let max = inner.options.max_pool_size;
                    // While others wait, a newcomer queues behind them, and only the longest
                    // waiter may take what frees up: nobody starves.
                    let my_turn = match &ticket {
                        Some(t) => st.queue.front() == Some(&t.number),
                        None => st.queue.is_empty(),
                    };
                    if !my_turn {
                        if ticket.is_none() {
                            ticket = Some(Self::enqueue(inner, &mut st));
                        }
                        Next::Wait
                    } else if let Some(idle) = st.idle.pop_back() {
                        st.checked_out += 1;
                        Next::Done(Ok(PooledConnection {
                            conn: Some(idle.conn),
                            generation: idle.generation,
                            service_generation: idle.service_generation,
                            identity: idle.identity,
                            pool: Arc::clone(&self.inner),
                            discard: false,
                            pinned: None,
                        }))
                    } else if (max == 0 || st.total() < max)
                        && st.pending < inner.options.max_connecting
                    {
                        Next::Open(st.reserve_slot())
                    } else {
                        if ticket.is_none() {
                            ticket = Some(Self::enqueue(inner, &mut st));
                        }
                        Next::Wait
                    }
                }
            };
            if !dead.is_empty() {
                // Closing perished connections freed room: let other waiters look.
                inner.close_dead(dead);
                inner.changed.notify_waiters();
            }
            match next {
                Next::Done(r) => break r,
                Next::Open(slot) => {
                    // Served: leave the queue before the (slow) connect, so the next in line
                    // can take a connection that comes back meanwhile.
                    drop(ticket.take());
                    // Boxed: opening (TLS, handshake, auth) is a large future that every
                    // check-out would otherwise carry, and move, though most find an idle
                    // connection.
                    break Box::pin(self.open_connection(slot)).await;
                }
                Next::Wait => {}
            }
            // `notified` was created before the state was inspected, so a connection returned
            // since then wakes it.
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let mut st = inner.lock();
                st.wait_queue_timeouts += 1;
                let (waited, option) = match until {
                    Some(_) => ("until the deadline".to_owned(), "timeoutMS"),
                    None => (
                        format!("{} ms", inner.options.wait_queue_timeout.as_millis()),
                        inner.options.wait_queue_timeout_option,
                    ),
                };
                let mut msg = format!(
                    "waited {waited} ({option}) for a connection to {} from the pool, but all {} \
                     (maxPoolSize={}) stayed in use; raise {option} or maxPoolSize, or run fewer \
                     operations at once",
                    inner.address,
                    st.total(),
                    inner.options.max_pool_size,
                );
                if inner.options.load_balanced {
                    // Load Balancer specification: the connections in use, by purpose.
                    let pinned = st.pinned_cursors.saturating_add(st.pinned_transactions);
                    msg = format!(
                        "Timeout waiting for connection from the connection pool. maxPoolSize: \
                         {}, connections in use by cursors: {}, connections in use by \
                         transactions: {}, connections in use by other operations: {} ({msg})",
                        inner.options.max_pool_size,
                        st.pinned_cursors,
                        st.pinned_transactions,
                        st.checked_out.saturating_sub(pinned),
                    );
                }
                break Err(Error::new(ErrorKind::WaitQueueTimeout { message: msg }));
            }
        };
        drop(ticket);
        if let Some(started) = started {
            self.checked_out_or_failed(&result, started.elapsed());
        }
        result
    }

    /// Publishes the end of a check-out.
    #[cold]
    fn checked_out_or_failed(&self, result: &Result<PooledConnection<C>>, duration: Duration) {
        let inner = &*self.inner;
        match result {
            Ok(conn) => inner.events().emit(|| {
                CmapEvent::ConnectionCheckedOut(ConnectionCheckedOutEvent {
                    address: inner.address.clone(),
                    connection_id: conn.id(),
                    duration,
                })
            }),
            Err(e) => inner.events().emit(|| {
                let reason = match &*e.kind {
                    ErrorKind::WaitQueueTimeout { .. } => ConnectionCheckoutFailedReason::Timeout,
                    ErrorKind::Shutdown | ErrorKind::ServerSelection { .. } => {
                        ConnectionCheckoutFailedReason::PoolClosed
                    }
                    _ => ConnectionCheckoutFailedReason::ConnectionError,
                };
                CmapEvent::ConnectionCheckoutFailed(ConnectionCheckoutFailedEvent {
                    address: inner.address.clone(),
                    reason,
                    error: Some(e.clone()),
                    duration,
                })
            }),
        }
    }

    /// Publishes the start of a check-out, and times it.
    #[cold]
    fn check_out_started(&self) -> Option<Instant> {
        let inner = &*self.inner;
        inner.events().emit(|| {
            CmapEvent::ConnectionCheckoutStarted(ConnectionCheckoutStartedEvent {
                address: inner.address.clone(),
            })
        });
        Some(Instant::now())
    }

    /// Takes a place at the back of the wait queue (the caller holds the lock).
    fn enqueue<'a>(inner: &'a Inner<C>, st: &mut State<C::Conn>) -> QueueTicket<'a, C> {
        let number = st.next_ticket;
        st.next_ticket = st.next_ticket.wrapping_add(1);
        st.queue.push_back(number);
        st.waiting += 1;
        QueueTicket { inner, number }
    }

    /// Opens a connection in a pending slot already reserved by the caller. A failure is
    /// reported by the connector (with the slot's generation), which decides on clearing.
    async fn open_connection(&self, slot: Slot) -> Result<PooledConnection<C>> {
        let inner = &*self.inner;
        let mut pending = PendingSlot { inner, armed: true };
        let conn = inner.connect(slot).await?;
        pending.armed = false;
        let mut st = inner.lock();
        st.pending = st.pending.saturating_sub(1);
        st.created += 1;
        if let Some(error) = st.closed_error(&inner.address) {
            // Closed while this one was opening: it serves no one.
            st.closed_count += 1;
            drop(st);
            inner.close_dead(vec![Dead {
                conn,
                id: slot.id,
                reason: ConnectionClosedReason::PoolClosed,
                error: None,
            }]);
            inner.changed.notify_waiters();
            return Err(error);
        }
        st.checked_out += 1;
        st.note_open();
        let service_generation = st.service_generation(conn.service_id());
        drop(st);
        inner.changed.notify_waiters();
        Ok(PooledConnection {
            conn: Some(conn),
            generation: slot.generation,
            service_generation,
            identity: slot.identity,
            pool: Arc::clone(&self.inner),
            discard: false,
            pinned: None,
        })
    }

    /// Starts the background task (once, and only inside a Tokio runtime) that closes idle
    /// connections past `maxIdleTimeMS` and keeps `minPoolSize` connections open.
    fn start_maintenance(&self) {
        let opts = &self.inner.options;
        if opts.min_pool_size == 0 && opts.max_idle_time.is_none() {
            return;
        }
        {
            let mut st = self.inner.lock();
            if st.maintenance_started {
                return;
            }
            st.maintenance_started = true;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.inner.lock().maintenance_started = false;
            return;
        };
        // The task holds a weak reference: dropping the client ends it.
        let weak = Arc::downgrade(&self.inner);
        handle.spawn(maintenance(weak));
    }
}

async fn maintenance<C: Connector>(weak: Weak<Inner<C>>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = inner.options.maintenance_interval;
        let pool = Pool { inner };
        if pool.maintain_once().await.is_break() {
            return;
        }
        drop(pool);
        tokio::time::sleep(interval).await;
    }
}

impl<C: Connector> Pool<C> {
    /// One maintenance round: prune, then, when the pool is ready, fill up to `minPoolSize`.
    async fn maintain_once(&self) -> std::ops::ControlFlow<()> {
        let inner = &*self.inner;
        loop {
            let slot = {
                let mut st = inner.lock();
                if st.closed.is_some() {
                    return std::ops::ControlFlow::Break(());
                }
                let dead = inner.prune(&mut st);
                let max = inner.options.max_pool_size;
                let need = !st.paused
                    && st.total() < inner.options.min_pool_size
                    && (max == 0 || st.total() < max)
                    && st.pending < inner.options.max_connecting;
                if !need {
                    drop(st);
                    if !dead.is_empty() {
                        inner.close_dead(dead);
                        inner.changed.notify_waiters();
                    }
                    return std::ops::ControlFlow::Continue(());
                }
                let slot = st.reserve_slot();
                drop(st);
                inner.close_dead(dead);
                slot
            };
            let mut pending = PendingSlot { inner, armed: true };
            match inner.connect(slot).await {
                Ok(conn) => {
                    pending.armed = false;
                    let mut st = inner.lock();
                    st.pending = st.pending.saturating_sub(1);
                    st.created += 1;
                    let dead = if st.generation == slot.generation
                        && st.identity_generation == slot.identity
                        && st.closed.is_none()
                    {
                        let service_generation = st.service_generation(conn.service_id());
                        st.idle.push_back(Idle {
                            conn,
                            id: slot.id,
                            generation: slot.generation,
                            service_generation,
                            identity: slot.identity,
                            since: Instant::now(),
                        });
                        st.note_open();
                        None
                    } else {
                        st.closed_count += 1;
                        let reason = if st.closed.is_some() {
                            ConnectionClosedReason::PoolClosed
                        } else {
                            ConnectionClosedReason::Stale
                        };
                        Some(Dead {
                            conn,
                            id: slot.id,
                            reason,
                            error: None,
                        })
                    };
                    drop(st);
                    inner.close_dead(dead.into_iter().collect());
                    inner.changed.notify_waiters();
                }
                Err(e) => {
                    // Reported by the connector (CMAP: populating errors go through SDAM).
                    drop(pending);
                    tracing::trace!(address = %inner.address, error = %e, "minPoolSize: could not open a connection");
                    return std::ops::ControlFlow::Continue(());
                }
            }
        }
    }
}

/// A checked-out connection. Dereferences to the connection; goes back to the pool when dropped,
/// unless it is broken, stale (the pool was cleared meanwhile) or marked with
/// [`PooledConnection::discard`].
pub(crate) struct PooledConnection<C: Connector> {
    conn: Option<C::Conn>,
    generation: u32,
    service_generation: u32,
    /// The identity generation its opening started in.
    identity: u32,
    pool: Arc<Inner<C>>,
    discard: bool,
    /// Kept for a cursor or a transaction (counted in the pool's state until checked in).
    pinned: Option<PinnedTo>,
}

impl<C: Connector> PooledConnection<C> {
    /// The pool generation this connection belongs to (for [`Pool::clear_with`]).
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// The generation of the connection's service (for [`Pool::clear_service`]).
    pub(crate) fn service_generation(&self) -> u32 {
        self.service_generation
    }

    /// Closes the connection instead of returning it to the pool.
    pub(crate) fn discard(&mut self) {
        self.discard = true;
    }

    /// Counts the connection as kept for `purpose` until it is checked in (a connection a
    /// transaction shares with a cursor stays counted for the transaction).
    pub(crate) fn pin_to(&mut self, purpose: PinnedTo) {
        if self.pinned == Some(PinnedTo::Transaction) || self.pinned == Some(purpose) {
            return;
        }
        let mut st = self.pool.lock();
        if self.pinned == Some(PinnedTo::Cursor) {
            st.pinned_cursors = st.pinned_cursors.saturating_sub(1);
        }
        match purpose {
            PinnedTo::Cursor => st.pinned_cursors += 1,
            PinnedTo::Transaction => st.pinned_transactions += 1,
        }
        self.pinned = Some(purpose);
    }
}

impl<C: Connector> Deref for PooledConnection<C> {
    type Target = C::Conn;
    fn deref(&self) -> &C::Conn {
        // Only `Drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<C: Connector> DerefMut for PooledConnection<C> {
    fn deref_mut(&mut self) -> &mut C::Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<C: Connector> Drop for PooledConnection<C> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let inner = &*self.pool;
        let id = conn.id();
        // CMAP: checked in first, then kept or closed.
        inner.events().emit(|| {
            CmapEvent::ConnectionCheckedIn(ConnectionCheckedInEvent {
                address: inner.address.clone(),
                connection_id: id,
            })
        });
        // Before the lock: freeing a large buffer is no work to do while others wait.
        conn.release_memory();
        let mut st = inner.lock();
        st.checked_out = st.checked_out.saturating_sub(1);
        match self.pinned {
            Some(PinnedTo::Cursor) => st.pinned_cursors = st.pinned_cursors.saturating_sub(1),
            Some(PinnedTo::Transaction) => {
                st.pinned_transactions = st.pinned_transactions.saturating_sub(1);
            }
            None => {}
        }
        let interrupted = conn.interrupter().is_some_and(|i| i.is_interrupted());
        let reason = if st.closed.is_some() {
            Some(ConnectionClosedReason::PoolClosed)
        } else if interrupted {
            // Interrupted by a clear: failed because the pool was cleared.
            Some(ConnectionClosedReason::Stale)
        } else if self.discard || conn.is_broken() {
            Some(ConnectionClosedReason::Error)
        } else if st.is_stale(
            &conn,
            self.generation,
            self.service_generation,
            self.identity,
        ) {
            Some(ConnectionClosedReason::Stale)
        } else {
            None
        };
        let dead = match reason {
            None => {
                st.idle.push_back(Idle {
                    conn,
                    id,
                    generation: self.generation,
                    service_generation: self.service_generation,
                    identity: self.identity,
                    since: Instant::now(),
                });
                None
            }
            Some(reason) => {
                st.closed_count += 1;
                Some(Dead {
                    conn,
                    id,
                    reason,
                    error: None,
                })
            }
        };
        drop(st);
        // Closing a connection (TLS close, socket close) happens outside the lock.
        if let Some(dead) = dead {
            inner.close_dead(vec![dead]);
        }
        inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
