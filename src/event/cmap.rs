//! Connection pool events (the Connection Monitoring and Pooling specification): each pool's
//! life (created, ready, cleared, closed) and each connection's (created, ready, checked out
//! and in, closed), with check-outs that start and fail.
//!
//! A pool starts *paused* and is marked ready by the server's monitor after a successful
//! check; clearing it (a network error, a "not primary" error) pauses it again until the next
//! successful check. Connection ids count from 1 in each pool.
//!
//! ```
//! use std::sync::atomic::{AtomicI64, Ordering};
//! use std::sync::Arc;
//! use mongo_x509::event::{cmap::CmapEvent, EventHandler};
//! use mongo_x509::options::ClientOptions;
//!
//! // A gauge of connections checked out, for a metrics system.
//! let in_use = Arc::new(AtomicI64::new(0));
//! let gauge = Arc::clone(&in_use);
//! let handler = EventHandler::callback(move |event: CmapEvent| match event {
//!     CmapEvent::ConnectionCheckedOut(_) => {
//!         gauge.fetch_add(1, Ordering::Relaxed);
//!     }
//!     CmapEvent::ConnectionCheckedIn(_) => {
//!         gauge.fetch_sub(1, Ordering::Relaxed);
//!     }
//!     _ => {}
//! });
//! let options = ClientOptions::builder().cmap_event_handler(handler).build();
//! # let _ = options;
//! ```

use std::time::Duration;

use bson::oid::ObjectId;

use super::log::{self, Component};
use super::EventHandler;
use crate::error::Error;
use crate::options::ServerAddress;

/// The pool options the application set (`None`: the default applies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionPoolOptions {
    /// `maxIdleTimeMS`.
    pub max_idle_time: Option<Duration>,
    /// `maxPoolSize`.
    pub max_pool_size: Option<u32>,
    /// `minPoolSize`.
    pub min_pool_size: Option<u32>,
    /// `maxConnecting`.
    pub max_connecting: Option<u32>,
    /// `waitQueueTimeoutMS`.
    pub wait_queue_timeout: Option<Duration>,
}

/// A pool was created (paused: no connection is opened before it is ready).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolCreatedEvent {
    /// The server the pool connects to.
    pub address: ServerAddress,
    /// The pool options the application set.
    pub options: Option<ConnectionPoolOptions>,
}

/// A pool was marked ready: check-outs are served and `minPoolSize` is filled.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolReadyEvent {
    /// The server the pool connects to.
    pub address: ServerAddress,
}

/// A pool was cleared: its connections will not be reused, and it is paused until the server
/// is found again (in load-balanced mode only the connections of one service are cleared and
/// the pool stays ready).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolClearedEvent {
    /// The server the pool connects to.
    pub address: ServerAddress,
    /// The service whose connections were cleared (load-balanced mode).
    pub service_id: Option<ObjectId>,
    /// Whether connections in use (and being opened) were interrupted as well.
    pub interrupt_in_use_connections: bool,
}

/// A pool was closed: the client shut down, or the server left the deployment.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolClosedEvent {
    /// The server the pool connected to.
    pub address: ServerAddress,
}

/// A connection is being opened (TCP, TLS, handshake and authentication follow).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionCreatedEvent {
    /// The server the connection is to.
    pub address: ServerAddress,
    /// The connection's id in its pool.
    pub connection_id: u32,
}

/// A connection is established and authenticated: ready for use.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionReadyEvent {
    /// The server the connection is to.
    pub address: ServerAddress,
    /// The connection's id in its pool.
    pub connection_id: u32,
    /// How long opening it took, from its [`ConnectionCreatedEvent`].
    pub duration: Duration,
}

/// A connection was closed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionClosedEvent {
    /// The server the connection was to.
    pub address: ServerAddress,
    /// The connection's id in its pool.
    pub connection_id: u32,
    /// Why it was closed.
    pub reason: ConnectionClosedReason,
    /// The error that closed it, when the pool knows it (a failure to open it).
    pub error: Option<Error>,
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionClosedReason {
    /// The pool was cleared (or the TLS identity reloaded) since it was opened.
    Stale,
    /// It was idle for longer than `maxIdleTimeMS`.
    Idle,
    /// It failed: opening it, or an error that made it unusable (network error, timeout,
    /// an operation cancelled mid-command).
    Error,
    /// Its pool was closed.
    PoolClosed,
}

/// A check-out started.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionCheckoutStartedEvent {
    /// The server of the pool.
    pub address: ServerAddress,
}

/// A check-out failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionCheckoutFailedEvent {
    /// The server of the pool.
    pub address: ServerAddress,
    /// Why it failed.
    pub reason: ConnectionCheckoutFailedReason,
    /// The error the check-out returned.
    pub error: Option<Error>,
    /// From its [`ConnectionCheckoutStartedEvent`].
    pub duration: Duration,
}

/// Why a check-out failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionCheckoutFailedReason {
    /// No connection came free within the wait queue timeout (or `timeoutMS`).
    Timeout,
    /// Opening a connection failed, or the pool was cleared (is paused).
    ConnectionError,
    /// The pool was closed.
    PoolClosed,
}

/// A connection was checked out.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionCheckedOutEvent {
    /// The server of the pool.
    pub address: ServerAddress,
    /// The connection's id in its pool.
    pub connection_id: u32,
    /// From its [`ConnectionCheckoutStartedEvent`] (opening a connection included).
    pub duration: Duration,
}

/// A connection was checked back in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionCheckedInEvent {
    /// The server of the pool.
    pub address: ServerAddress,
    /// The connection's id in its pool.
    pub connection_id: u32,
}

/// A connection pool event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CmapEvent {
    /// See [`PoolCreatedEvent`].
    PoolCreated(PoolCreatedEvent),
    /// See [`PoolReadyEvent`].
    PoolReady(PoolReadyEvent),
    /// See [`PoolClearedEvent`].
    PoolCleared(PoolClearedEvent),
    /// See [`PoolClosedEvent`].
    PoolClosed(PoolClosedEvent),
    /// See [`ConnectionCreatedEvent`].
    ConnectionCreated(ConnectionCreatedEvent),
    /// See [`ConnectionReadyEvent`].
    ConnectionReady(ConnectionReadyEvent),
    /// See [`ConnectionClosedEvent`].
    ConnectionClosed(ConnectionClosedEvent),
    /// See [`ConnectionCheckoutStartedEvent`].
    ConnectionCheckoutStarted(ConnectionCheckoutStartedEvent),
    /// See [`ConnectionCheckoutFailedEvent`].
    ConnectionCheckoutFailed(ConnectionCheckoutFailedEvent),
    /// See [`ConnectionCheckedOutEvent`].
    ConnectionCheckedOut(ConnectionCheckedOutEvent),
    /// See [`ConnectionCheckedInEvent`].
    ConnectionCheckedIn(ConnectionCheckedInEvent),
}

impl CmapEvent {
    /// The server of the pool the event is about.
    pub fn address(&self) -> &ServerAddress {
        match self {
            Self::PoolCreated(e) => &e.address,
            Self::PoolReady(e) => &e.address,
            Self::PoolCleared(e) => &e.address,
            Self::PoolClosed(e) => &e.address,
            Self::ConnectionCreated(e) => &e.address,
            Self::ConnectionReady(e) => &e.address,
            Self::ConnectionClosed(e) => &e.address,
            Self::ConnectionCheckoutStarted(e) => &e.address,
            Self::ConnectionCheckoutFailed(e) => &e.address,
            Self::ConnectionCheckedOut(e) => &e.address,
            Self::ConnectionCheckedIn(e) => &e.address,
        }
    }
}

/// Where a pool's events go: the client's handler and the `mongo_x509::connection` log.
#[derive(Clone, Debug, Default)]
pub(crate) struct CmapEmitter {
    pub(crate) handler: Option<EventHandler<CmapEvent>>,
    /// The options the application set, for [`PoolCreatedEvent`].
    pub(crate) options: ConnectionPoolOptions,
    /// The client's topology, named in the log messages (`topologyId`).
    pub(crate) topology_id: Option<ObjectId>,
}

impl CmapEmitter {
    /// True when an event would reach a handler or the log (so that its timing is worth
    /// taking).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.handler.is_some() || log::debug_enabled(Component::Connection)
    }

    /// Builds the event with `make` and publishes it, if anyone listens.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> CmapEvent) {
        let log = log::debug_enabled(Component::Connection);
        if self.handler.is_none() && !log {
            return;
        }
        let event = make();
        if log {
            log_event(&event, self.topology_id);
        }
        if let Some(handler) = &self.handler {
            handler.handle(event);
        }
    }
}

fn closed_reason(reason: ConnectionClosedReason) -> &'static str {
    match reason {
        ConnectionClosedReason::Stale => "Connection became stale because the pool was cleared",
        ConnectionClosedReason::Idle => {
            "Connection has been available but unused for longer than the configured max idle time"
        }
        ConnectionClosedReason::Error => "An error occurred while using the connection",
        ConnectionClosedReason::PoolClosed => "Connection pool was closed",
    }
}

fn checkout_failed_reason(reason: ConnectionCheckoutFailedReason) -> &'static str {
    match reason {
        ConnectionCheckoutFailedReason::Timeout => {
            "Wait queue timeout elapsed without a connection becoming available"
        }
        ConnectionCheckoutFailedReason::ConnectionError => {
            "An error occurred while trying to establish a new connection"
        }
        ConnectionCheckoutFailedReason::PoolClosed => "Connection pool was closed",
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The Logging specification's message for a pool event (component `connection`).
fn log_event(event: &CmapEvent, topology_id: Option<ObjectId>) {
    let topology_id = topology_id.map(|t| t.to_hex());
    let topology_id = topology_id.as_deref();
    let address = event.address();
    let host = address.host();
    let port = address.port();
    // Every pool message names its topology and server, then gives the event's own fields.
    macro_rules! pool_log {
        ($($field:tt)*) => {
            tracing::debug!(
                target: log::CONNECTION,
                topologyId = topology_id,
                serverHost = %host,
                serverPort = port,
                $($field)*
            )
        };
    }
    match event {
        CmapEvent::PoolCreated(e) => {
            let o = e.options.clone().unwrap_or_default();
            pool_log!(
                maxIdleTimeMS = o.max_idle_time.map(|d| d.as_millis() as u64),
                minPoolSize = o.min_pool_size,
                maxPoolSize = o.max_pool_size,
                maxConnecting = o.max_connecting,
                waitQueueTimeoutMS = o.wait_queue_timeout.map(|d| d.as_millis() as u64),
                "Connection pool created"
            );
        }
        CmapEvent::PoolReady(_) => pool_log!("Connection pool ready"),
        CmapEvent::PoolCleared(e) => pool_log!(
            serviceId = e.service_id.map(|s| s.to_hex()),
            "Connection pool cleared"
        ),
        CmapEvent::PoolClosed(_) => pool_log!("Connection pool closed"),
        CmapEvent::ConnectionCreated(e) => {
            pool_log!(driverConnectionId = e.connection_id, "Connection created")
        }
        CmapEvent::ConnectionReady(e) => pool_log!(
            driverConnectionId = e.connection_id,
            durationMS = millis(e.duration),
            "Connection ready"
        ),
        CmapEvent::ConnectionClosed(e) => pool_log!(
            driverConnectionId = e.connection_id,
            reason = closed_reason(e.reason),
            error = e.error.as_ref().map(|e| e.to_string()),
            "Connection closed"
        ),
        CmapEvent::ConnectionCheckoutStarted(_) => pool_log!("Connection checkout started"),
        CmapEvent::ConnectionCheckoutFailed(e) => pool_log!(
            reason = checkout_failed_reason(e.reason),
            error = e.error.as_ref().map(|e| e.to_string()),
            durationMS = millis(e.duration),
            "Connection checkout failed"
        ),
        CmapEvent::ConnectionCheckedOut(e) => pool_log!(
            driverConnectionId = e.connection_id,
            durationMS = millis(e.duration),
            "Connection checked out"
        ),
        CmapEvent::ConnectionCheckedIn(e) => pool_log!(
            driverConnectionId = e.connection_id,
            "Connection checked in"
        ),
    }
}
