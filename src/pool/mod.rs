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
//! network error while opening a connection, or a "not primary"/"shutting down" error, the pool
//! is *cleared*: its generation is bumped and every older connection is closed instead of being
//! reused.
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

use crate::error::{Error, ErrorKind, Result};
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
        }
    }
}

/// What the pool needs from a connection.
pub(crate) trait PoolConnection: Send + 'static {
    /// True once the connection must not be reused.
    fn is_broken(&self) -> bool;

    /// The `serviceId` of the server behind a load balancer (load-balanced mode only): the
    /// pool keeps a generation per service, so one service's failure clears only its
    /// connections.
    fn service_id(&self) -> Option<ObjectId> {
        None
    }
}

/// Opens connections for a pool. The real one runs `conn::establish`; tests inject fakes.
pub(crate) trait Connector: Send + Sync + 'static {
    /// The connection type.
    type Conn: PoolConnection;
    /// Opens (and handshakes) a connection to `address`, named `id`.
    fn connect(
        &self,
        address: &ServerAddress,
        id: u32,
    ) -> impl Future<Output = Result<Self::Conn>> + Send;
}

struct Idle<T> {
    conn: T,
    generation: u32,
    /// The generation of the connection's service when it opened (load-balanced mode).
    service_generation: u32,
    since: Instant,
}

struct State<T> {
    idle: VecDeque<Idle<T>>,
    /// Established connections not idle.
    checked_out: u32,
    /// Connections being opened.
    pending: u32,
    generation: u32,
    /// Load-balanced mode: the generation of each `serviceId` (absent: 0).
    service_generations: HashMap<ObjectId, u32>,
    next_id: u32,
    closed: bool,
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

    /// Reserves a pending slot for a connection about to be opened: its id and generation.
    fn reserve_slot(&mut self) -> (u32, u32) {
        self.pending += 1;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        (id, self.generation)
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

    /// True when the connection belongs to an older generation of the pool or its service.
    fn is_stale<P: PoolConnection>(
        &self,
        conn: &P,
        generation: u32,
        service_generation: u32,
    ) -> bool {
        generation != self.generation
            || self.service_generation(conn.service_id()) != service_generation
    }
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

    fn is_perished(&self, idle: &Idle<C::Conn>, state: &State<C::Conn>, now: Instant) -> bool {
        state.is_stale(&idle.conn, idle.generation, idle.service_generation)
            || idle.conn.is_broken()
            || self
                .options
                .max_idle_time
                .is_some_and(|max| !max.is_zero() && now.duration_since(idle.since) >= max)
    }

    /// Removes perished idle connections; returns them so they are dropped outside the lock.
    fn prune(&self, state: &mut State<C::Conn>) -> Vec<C::Conn> {
        let now = Instant::now();
        // The common case, nothing perished, allocates nothing.
        if !state.idle.iter().any(|i| self.is_perished(i, state, now)) {
            return Vec::new();
        }
        let mut dead = Vec::new();
        let mut keep = VecDeque::with_capacity(state.idle.len());
        let idle = std::mem::take(&mut state.idle);
        for i in idle {
            if self.is_perished(&i, state, now) {
                dead.push(i.conn);
            } else {
                keep.push_back(i);
            }
        }
        state.idle = keep;
        state.closed_count += dead.len() as u64;
        dead
    }
}

/// Why a check-out failed.
#[derive(Debug)]
pub(crate) struct CheckOutError {
    /// The error.
    pub(crate) error: Error,
    /// True when opening a new connection failed (the server may be down); false when the wait
    /// queue timed out or the pool is closed (the server is fine).
    pub(crate) while_connecting: bool,
}

impl From<CheckOutError> for Error {
    fn from(e: CheckOutError) -> Self {
        e.error
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

impl<C: Connector> Pool<C> {
    /// A new, empty pool. Nothing is opened until the first check-out.
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
                    pending: 0,
                    generation: 0,
                    service_generations: HashMap::new(),
                    next_id: 1,
                    closed: false,
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

    /// The pool's generation (bumped by each clear).
    pub(crate) fn generation(&self) -> u32 {
        self.inner.lock().generation
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
        }
    }

    /// Clears the pool if it is still at `generation` (so that several operations failing on
    /// the same event clear it once): idle connections are closed now, checked-out ones when
    /// they come back.
    pub(crate) fn clear(&self, generation: u32) {
        let dead = {
            let mut st = self.inner.lock();
            if st.generation != generation {
                return;
            }
            st.generation = st.generation.wrapping_add(1);
            tracing::debug!(address = %self.inner.address, generation = st.generation, "connection pool cleared");
            self.inner.prune(&mut st)
        };
        drop(dead);
        self.inner.changed.notify_waiters();
    }

    /// Clears the connections of one service (load-balanced mode) if it is still at
    /// `generation`: the others stay.
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
        drop(dead);
        self.inner.changed.notify_waiters();
    }

    /// Closes the pool: idle connections now, checked-out ones when they come back; further
    /// check-outs fail with [`ErrorKind::Shutdown`].
    pub(crate) fn close(&self) {
        let dead: Vec<_> = {
            let mut st = self.inner.lock();
            st.closed = true;
            let dead: Vec<_> = st.idle.drain(..).map(|i| i.conn).collect();
            st.closed_count += dead.len() as u64;
            dead
        };
        drop(dead);
        self.inner.changed.notify_waiters();
    }

    /// Checks out a connection: an idle one if there is one, else a new one if the pool has
    /// room, else waits (bounded by the wait queue timeout) for one to come back.
    #[cfg(test)]
    pub(crate) async fn check_out(
        &self,
    ) -> std::result::Result<PooledConnection<C>, CheckOutError> {
        self.check_out_until(None).await
    }

    /// [`Pool::check_out`], with the wait bounded by `until` (an operation's `timeoutMS`
    /// deadline) instead of the wait queue timeout when given.
    pub(crate) async fn check_out_until(
        &self,
        until: Option<Instant>,
    ) -> std::result::Result<PooledConnection<C>, CheckOutError> {
        self.start_maintenance();
        let inner = &*self.inner;
        let deadline = until.unwrap_or_else(|| Instant::now() + inner.options.wait_queue_timeout);
        let mut ticket: Option<QueueTicket<'_, C>> = None;
        enum Next<C: Connector> {
            Done(std::result::Result<PooledConnection<C>, CheckOutError>),
            Open { id: u32, generation: u32 },
            Wait,
        }
        let result = loop {
            let mut dead = Vec::new();
            let notified = inner.changed.notified();
            let next: Next<C> = {
                let mut st = inner.lock();
                if st.closed {
                    Next::Done(Err(CheckOutError {
                        error: Error::new(ErrorKind::Shutdown),
                        while_connecting: false,
                    }))
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
                            pool: Arc::clone(&self.inner),
                            discard: false,
                        }))
                    } else if (max == 0 || st.total() < max)
                        && st.pending < inner.options.max_connecting
                    {
                        let (id, generation) = st.reserve_slot();
                        Next::Open { id, generation }
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
                drop(dead);
                inner.changed.notify_waiters();
            }
            match next {
                Next::Done(r) => break r,
                Next::Open { id, generation } => {
                    // Served: leave the queue before the (slow) connect, so the next in line
                    // can take a connection that comes back meanwhile.
                    drop(ticket.take());
                    // Boxed: opening (TLS, handshake, auth) is a large future that every
                    // check-out would otherwise carry, and move, though most find an idle
                    // connection.
                    let open = Box::pin(self.open_connection(id, generation));
                    break open.await.map_err(|error| CheckOutError {
                        error,
                        while_connecting: true,
                    });
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
                let msg = format!(
                    "waited {waited} ({option}) for a connection to {} from the pool, but all {} \
                     (maxPoolSize={}) stayed in use; raise {option} or maxPoolSize, or run fewer \
                     operations at once",
                    inner.address,
                    st.total(),
                    inner.options.max_pool_size,
                );
                break Err(CheckOutError {
                    error: Error::new(ErrorKind::WaitQueueTimeout { message: msg }),
                    while_connecting: false,
                });
            }
        };
        drop(ticket);
        result
    }

    /// Takes a place at the back of the wait queue (the caller holds the lock).
    fn enqueue<'a>(inner: &'a Inner<C>, st: &mut State<C::Conn>) -> QueueTicket<'a, C> {
        let number = st.next_ticket;
        st.next_ticket = st.next_ticket.wrapping_add(1);
        st.queue.push_back(number);
        st.waiting += 1;
        QueueTicket { inner, number }
    }

    /// Opens a connection in a pending slot already reserved by the caller.
    async fn open_connection(&self, id: u32, generation: u32) -> Result<PooledConnection<C>> {
        let inner = &*self.inner;
        let mut slot = PendingSlot { inner, armed: true };
        match inner.connector.connect(&inner.address, id).await {
            Ok(conn) => {
                slot.armed = false;
                let mut st = inner.lock();
                st.pending = st.pending.saturating_sub(1);
                st.created += 1;
                st.checked_out += 1;
                st.note_open();
                let service_generation = st.service_generation(conn.service_id());
                drop(st);
                inner.changed.notify_waiters();
                Ok(PooledConnection {
                    conn: Some(conn),
                    generation,
                    service_generation,
                    pool: Arc::clone(&self.inner),
                    discard: false,
                })
            }
            Err(e) => {
                drop(slot);
                // CMAP: a network error while opening a connection clears the pool (the server
                // is probably gone; its other connections are suspect too).
                if e.is_network_error() {
                    self.clear(generation);
                }
                Err(e)
            }
        }
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
        let pool = Pool { inner };
        if pool.maintain_once().await.is_break() {
            return;
        }
        drop(pool);
        tokio::time::sleep(MAINTENANCE_INTERVAL).await;
    }
}

impl<C: Connector> Pool<C> {
    /// One maintenance round: prune, then fill up to `minPoolSize`.
    async fn maintain_once(&self) -> std::ops::ControlFlow<()> {
        let inner = &*self.inner;
        loop {
            let (id, generation) = {
                let mut st = inner.lock();
                if st.closed {
                    return std::ops::ControlFlow::Break(());
                }
                let dead = inner.prune(&mut st);
                let max = inner.options.max_pool_size;
                let need = st.total() < inner.options.min_pool_size
                    && (max == 0 || st.total() < max)
                    && st.pending < inner.options.max_connecting;
                if !need {
                    drop(st);
                    if !dead.is_empty() {
                        drop(dead);
                        inner.changed.notify_waiters();
                    }
                    return std::ops::ControlFlow::Continue(());
                }
                drop(dead);
                st.reserve_slot()
            };
            let mut slot = PendingSlot { inner, armed: true };
            match inner.connector.connect(&inner.address, id).await {
                Ok(conn) => {
                    slot.armed = false;
                    let mut st = inner.lock();
                    st.pending = st.pending.saturating_sub(1);
                    st.created += 1;
                    if st.generation == generation && !st.closed {
                        let service_generation = st.service_generation(conn.service_id());
                        st.idle.push_back(Idle {
                            conn,
                            generation,
                            service_generation,
                            since: Instant::now(),
                        });
                        st.note_open();
                    } else {
                        st.closed_count += 1;
                    }
                    drop(st);
                    inner.changed.notify_waiters();
                }
                Err(e) => {
                    drop(slot);
                    tracing::debug!(address = %inner.address, error = %e, "minPoolSize: could not open a connection");
                    if e.is_network_error() {
                        self.clear(generation);
                    }
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
    pool: Arc<Inner<C>>,
    discard: bool,
}

impl<C: Connector> PooledConnection<C> {
    /// The pool generation this connection belongs to (for [`Pool::clear`]).
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
        let Some(conn) = self.conn.take() else { return };
        let inner = &*self.pool;
        let mut st = inner.lock();
        st.checked_out = st.checked_out.saturating_sub(1);
        let reuse = !self.discard
            && !conn.is_broken()
            && !st.closed
            && !st.is_stale(&conn, self.generation, self.service_generation);
        let dead = if reuse {
            st.idle.push_back(Idle {
                conn,
                generation: self.generation,
                service_generation: self.service_generation,
                since: Instant::now(),
            });
            None
        } else {
            st.closed_count += 1;
            Some(conn)
        };
        drop(st);
        // Closing a connection (TLS close, socket close) happens outside the lock.
        drop(dead);
        inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
