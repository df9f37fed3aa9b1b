//! Topology events (the SDAM Logging and Monitoring specification): the deployment the client
//! follows opening and closing, each server found and lost, each change of a server's or the
//! topology's description, and each heartbeat of the monitors.
//!
//! Events of one client come in the order the changes were made, never two at once. A server's
//! description "changes" only when a field the specification compares does (type, wire
//! versions, `me`, hosts, passives, arbiters, tags, set name and version, election id,
//! primary, session timeout, `topologyVersion`, error): a new round-trip time alone publishes
//! nothing.
//!
//! ```
//! use mongo_x509::event::{sdam::SdamEvent, EventHandler};
//! use mongo_x509::options::ClientOptions;
//! use mongo_x509::ServerType;
//!
//! // Log failovers: a server that becomes (or stops being) the primary.
//! let handler = EventHandler::callback(|event: SdamEvent| {
//!     if let SdamEvent::ServerDescriptionChanged(e) = event {
//!         let (was, is) = (e.previous_description.server_type, e.new_description.server_type);
//!         if (was == ServerType::RsPrimary) != (is == ServerType::RsPrimary) {
//!             eprintln!("{}: {was:?} -> {is:?}", e.address);
//!         }
//!     }
//! });
//! let options = ClientOptions::builder().sdam_event_handler(handler).build();
//! # let _ = options;
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::Document;

use super::log::{self, Component};
use super::EventHandler;
use crate::error::Error;
use crate::options::ServerAddress;
use crate::sdam::{ServerDescription, ServerType, TopologyDescription};

/// A server's description changed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerDescriptionChangedEvent {
    /// The server.
    pub address: ServerAddress,
    /// The client's topology.
    pub topology_id: ObjectId,
    /// The description before.
    pub previous_description: ServerDescription,
    /// The description now.
    pub new_description: ServerDescription,
}

/// A server joined the topology (a seed, or a member another server named); its monitor starts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerOpeningEvent {
    /// The server.
    pub address: ServerAddress,
    /// The client's topology.
    pub topology_id: ObjectId,
}

/// A server left the topology (or the client shut down); its monitor and pool stop.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerClosedEvent {
    /// The server.
    pub address: ServerAddress,
    /// The client's topology.
    pub topology_id: ObjectId,
}

/// The topology's description changed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TopologyDescriptionChangedEvent {
    /// The client's topology.
    pub topology_id: ObjectId,
    /// The description before (the first event's is Unknown, with no server).
    pub previous_description: TopologyDescription,
    /// The description now.
    pub new_description: TopologyDescription,
}

/// The client's topology was created: the first event of a client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TopologyOpeningEvent {
    /// The client's topology, a new id per client.
    pub topology_id: ObjectId,
}

/// The client shut down: the last event of a client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TopologyClosedEvent {
    /// The client's topology.
    pub topology_id: ObjectId,
}

events_sharing! {
    shared {
        /// The server.
        pub server_address: ServerAddress,
        /// True for an awaitable `hello` (streaming: the server answers when something changes).
        pub awaited: bool,
        /// The client's id of the monitoring connection (for a check that opens one, the id it
        /// will have). Monitoring connections are not pooled: their ids are unique in the
        /// process, from a counter of their own.
        pub driver_connection_id: u32,
        /// The server's id of the monitoring connection, once known.
        pub server_connection_id: Option<i64>,
    }

    /// A monitor is about to check its server (before opening a monitoring connection, or
    /// before sending or awaiting a `hello`).
    #[derive(Clone, Debug, PartialEq)]
    #[non_exhaustive]
    pub struct ServerHeartbeatStartedEvent {}

    /// A check succeeded.
    #[derive(Clone, Debug)]
    #[non_exhaustive]
    pub struct ServerHeartbeatSucceededEvent {
        /// How long the check took; for an awaited check, how long the server held it.
        pub duration: Duration,
        /// The `hello` reply.
        pub reply: Document,
    }

    /// A check failed (the server could not be reached, or answered with an error).
    #[derive(Clone, Debug)]
    #[non_exhaustive]
    pub struct ServerHeartbeatFailedEvent {
        /// How long the check took.
        pub duration: Duration,
        /// The error.
        pub failure: Error,
    }
}

/// A topology event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SdamEvent {
    /// See [`ServerDescriptionChangedEvent`].
    ServerDescriptionChanged(Box<ServerDescriptionChangedEvent>),
    /// See [`ServerOpeningEvent`].
    ServerOpening(ServerOpeningEvent),
    /// See [`ServerClosedEvent`].
    ServerClosed(ServerClosedEvent),
    /// See [`TopologyDescriptionChangedEvent`].
    TopologyDescriptionChanged(Box<TopologyDescriptionChangedEvent>),
    /// See [`TopologyOpeningEvent`].
    TopologyOpening(TopologyOpeningEvent),
    /// See [`TopologyClosedEvent`].
    TopologyClosed(TopologyClosedEvent),
    /// See [`ServerHeartbeatStartedEvent`].
    ServerHeartbeatStarted(ServerHeartbeatStartedEvent),
    /// See [`ServerHeartbeatSucceededEvent`].
    ServerHeartbeatSucceeded(ServerHeartbeatSucceededEvent),
    /// See [`ServerHeartbeatFailedEvent`].
    ServerHeartbeatFailed(ServerHeartbeatFailedEvent),
}

/// True when two descriptions of one server are equal as the SDAM specification defines it
/// (the fields it marks for comparison; `hosts`, `passives` and `arbiters` as sets).
pub(crate) fn same_server(a: &ServerDescription, b: &ServerDescription) -> bool {
    fn set(v: &[String]) -> Vec<&String> {
        let mut s: Vec<&String> = v.iter().collect();
        s.sort();
        s.dedup();
        s
    }
    a.address == b.address
        && a.server_type == b.server_type
        && a.min_wire_version == b.min_wire_version
        && a.max_wire_version == b.max_wire_version
        && a.me == b.me
        && set(&a.hosts) == set(&b.hosts)
        && set(&a.passives) == set(&b.passives)
        && set(&a.arbiters) == set(&b.arbiters)
        && a.tags == b.tags
        && a.set_name == b.set_name
        && a.set_version == b.set_version
        && a.election_id == b.election_id
        && a.primary == b.primary
        && a.logical_session_timeout == b.logical_session_timeout
        && a.topology_version == b.topology_version
        && a.error == b.error
}

/// True when two topology descriptions are equal for event purposes: type, set name, the
/// highest set version and election id, compatibility, session timeout, and the servers.
pub(crate) fn same_topology(a: &TopologyDescription, b: &TopologyDescription) -> bool {
    a.topology_type == b.topology_type
        && a.set_name == b.set_name
        && a.max_set_version == b.max_set_version
        && a.max_election_id == b.max_election_id
        && a.compatibility_error == b.compatibility_error
        && a.logical_session_timeout == b.logical_session_timeout
        && a.servers.len() == b.servers.len()
        && a.servers
            .iter()
            .all(|(k, s)| b.servers.get(k).is_some_and(|other| same_server(s, other)))
}

/// The description of a topology before anything is known: Unknown, no server.
pub(crate) fn empty_topology() -> TopologyDescription {
    TopologyDescription::new(&[], None, None, false)
}

/// The events that open a topology described by `initial`: opening, the first description
/// change (from Unknown with no server), a server opening per seed. In load-balanced mode the
/// load balancer's description then changes from Unknown to LoadBalancer, as the
/// specification's tests expect.
pub(crate) fn opening_events(id: ObjectId, initial: &TopologyDescription) -> Vec<SdamEvent> {
    let mut events = vec![SdamEvent::TopologyOpening(TopologyOpeningEvent {
        topology_id: id,
    })];
    let load_balanced = initial
        .servers
        .values()
        .any(|s| s.server_type == ServerType::LoadBalancer);
    let mut first = initial.clone();
    if load_balanced {
        for s in first.servers.values_mut() {
            *s = ServerDescription::unknown(s.address.clone());
        }
    }
    events.push(topology_changed(id, empty_topology(), first.clone()));
    for s in first.servers.values() {
        events.push(SdamEvent::ServerOpening(ServerOpeningEvent {
            address: s.address.clone(),
            topology_id: id,
        }));
    }
    if load_balanced {
        for (key, s) in &initial.servers {
            if let Some(before) = first.servers.get(key) {
                events.push(server_changed(id, before.clone(), s.clone()));
            }
        }
        events.push(topology_changed(id, first, initial.clone()));
    }
    events
}

/// The events of one update of the topology from `before` to `after`: the description of
/// `server` (the one that answered or failed, as applied: for a server the update removed,
/// what it said), then of every other server the update changed (a stale primary made
/// Unknown; not an unchecked server named as the primary, which only becomes
/// PossiblePrimary, as the specification's tests expect), the servers closed and opened,
/// then the topology's description.
pub(crate) fn update_events(
    id: ObjectId,
    before: &TopologyDescription,
    after: &TopologyDescription,
    server: Option<&ServerDescription>,
) -> Vec<SdamEvent> {
    let mut events = Vec::new();
    let applied_key = server.map(|s| crate::sdam::address_key(&s.address));
    if let Some(applied) = server {
        if let Some(previous) = before.server(&applied.address) {
            let new = after.server(&applied.address).unwrap_or(applied);
            if !same_server(previous, new) {
                events.push(server_changed(id, previous.clone(), new.clone()));
            }
        }
    }
    for (key, previous) in &before.servers {
        if applied_key.as_ref() == Some(key) {
            continue;
        }
        if let Some(new) = after.servers.get(key) {
            let named_primary = previous.server_type == ServerType::Unknown
                && new.server_type == ServerType::PossiblePrimary;
            if !named_primary && !same_server(previous, new) {
                events.push(server_changed(id, previous.clone(), new.clone()));
            }
        }
    }
    for (key, s) in &before.servers {
        if !after.servers.contains_key(key) {
            events.push(SdamEvent::ServerClosed(ServerClosedEvent {
                address: s.address.clone(),
                topology_id: id,
            }));
        }
    }
    for (key, s) in &after.servers {
        if !before.servers.contains_key(key) {
            events.push(SdamEvent::ServerOpening(ServerOpeningEvent {
                address: s.address.clone(),
                topology_id: id,
            }));
        }
    }
    if !same_topology(before, after) {
        events.push(topology_changed(id, before.clone(), after.clone()));
    }
    events
}

/// The events of closing a topology: each server closed, the description back to Unknown,
/// then the topology closed.
pub(crate) fn closing_events(id: ObjectId, last: &TopologyDescription) -> Vec<SdamEvent> {
    let mut events: Vec<SdamEvent> = last
        .servers
        .values()
        .map(|s| {
            SdamEvent::ServerClosed(ServerClosedEvent {
                address: s.address.clone(),
                topology_id: id,
            })
        })
        .collect();
    events.push(topology_changed(id, last.clone(), empty_topology()));
    events.push(SdamEvent::TopologyClosed(TopologyClosedEvent {
        topology_id: id,
    }));
    events
}

fn server_changed(id: ObjectId, previous: ServerDescription, new: ServerDescription) -> SdamEvent {
    SdamEvent::ServerDescriptionChanged(Box::new(ServerDescriptionChangedEvent {
        address: new.address.clone(),
        topology_id: id,
        previous_description: previous,
        new_description: new,
    }))
}

fn topology_changed(
    id: ObjectId,
    previous: TopologyDescription,
    new: TopologyDescription,
) -> SdamEvent {
    SdamEvent::TopologyDescriptionChanged(Box::new(TopologyDescriptionChangedEvent {
        topology_id: id,
        previous_description: previous,
        new_description: new,
    }))
}

/// Where a topology's events go, in order: they are queued where the change is made (under the
/// topology's lock) and delivered by [`SdamEmitter::flush`] after the lock is released, by one
/// caller at a time, so a handler never runs under the client's locks and never sees two
/// events at once or out of order.
#[derive(Debug)]
pub(crate) struct SdamEmitter {
    handler: Option<EventHandler<SdamEvent>>,
    pub(crate) topology_id: ObjectId,
    queue: Mutex<VecDeque<SdamEvent>>,
    delivering: Mutex<()>,
    /// Set with the closing events: nothing is published after them (a monitor stopping
    /// mid-check would otherwise report it after the topology closed).
    closed: AtomicBool,
}

impl SdamEmitter {
    pub(crate) fn new(handler: Option<EventHandler<SdamEvent>>, topology_id: ObjectId) -> Self {
        Self {
            handler,
            topology_id,
            queue: Mutex::new(VecDeque::new()),
            delivering: Mutex::new(()),
            closed: AtomicBool::new(false),
        }
    }

    /// True when events would reach a handler or the log: only then are they computed.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.handler.is_some() || log::debug_enabled(Component::Topology)
    }

    /// Queues events for delivery (see [`SdamEmitter::flush`]); none once the closing events
    /// are queued.
    pub(crate) fn push(&self, events: impl IntoIterator<Item = SdamEvent>) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if !self.closed.load(Ordering::SeqCst) {
            queue.extend(events);
        }
    }

    /// Queues the topology's last events (once).
    pub(crate) fn push_closing(&self, last: &TopologyDescription) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if !self.closed.swap(true, Ordering::SeqCst) {
            queue.extend(closing_events(self.topology_id, last));
        }
    }

    /// Delivers the queued events, unless another caller is delivering (it delivers these
    /// too). Call it with no lock of the client held.
    pub(crate) fn flush(&self) {
        loop {
            let Ok(_delivering) = self.delivering.try_lock() else {
                return;
            };
            loop {
                let next = self
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
                let Some(event) = next else { break };
                if log::debug_enabled(Component::Topology) {
                    log_event(self.topology_id, &event);
                }
                if let Some(handler) = &self.handler {
                    handler.handle(event);
                }
            }
            drop(_delivering);
            // An event queued after the last look but before the release would wait for the
            // next flush: look once more.
            if self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                return;
            }
        }
    }
}

/// A short text form of a topology description for logs: type, set name and each server's
/// address and type.
pub(crate) fn describe_topology(d: &TopologyDescription) -> String {
    let mut s = format!("{{type: {:?}", d.topology_type);
    if let Some(set) = &d.set_name {
        let _ = write!(s, ", setName: {set}");
    }
    s.push_str(", servers: [");
    for (i, server) in d.servers.values().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(
            s,
            "{{address: {}, type: {:?}",
            server.address, server.server_type
        );
        if let Some(e) = &server.error {
            let _ = write!(s, ", error: {e}");
        }
        s.push('}');
    }
    s.push_str("]}");
    s
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The Logging specification's message for a topology event (component `topology`). Server
/// description changes have no message of their own.
fn log_event(topology_id: ObjectId, event: &SdamEvent) {
    let id = topology_id.to_hex();
    // Every message names the topology; a server's messages name the server too.
    macro_rules! topology_log {
        ($($field:tt)*) => {
            tracing::debug!(target: log::TOPOLOGY, topologyId = %id, $($field)*)
        };
    }
    macro_rules! server_log {
        ($address:expr, $($field:tt)*) => {
            topology_log!(serverHost = %$address.host(), serverPort = $address.port(), $($field)*)
        };
    }
    // A heartbeat message: the monitor's server and connection, then the event's own fields.
    macro_rules! heartbeat_log {
        ($e:ident, $($field:tt)*) => {
            server_log!(
                $e.server_address,
                driverConnectionId = $e.driver_connection_id,
                serverConnectionId = $e.server_connection_id,
                awaited = $e.awaited,
                $($field)*
            )
        };
    }
    match event {
        SdamEvent::TopologyOpening(_) => topology_log!("Starting topology monitoring"),
        SdamEvent::TopologyClosed(_) => topology_log!("Stopped topology monitoring"),
        SdamEvent::ServerOpening(e) => server_log!(e.address, "Starting server monitoring"),
        SdamEvent::ServerClosed(e) => server_log!(e.address, "Stopped server monitoring"),
        SdamEvent::TopologyDescriptionChanged(e) => topology_log!(
            previousDescription = %describe_topology(&e.previous_description),
            newDescription = %describe_topology(&e.new_description),
            "Topology description changed"
        ),
        SdamEvent::ServerHeartbeatStarted(e) => heartbeat_log!(e, "Server heartbeat started"),
        SdamEvent::ServerHeartbeatSucceeded(e) => heartbeat_log!(
            e,
            durationMS = millis(e.duration),
            reply = %log::document(&e.reply),
            "Server heartbeat succeeded"
        ),
        SdamEvent::ServerHeartbeatFailed(e) => heartbeat_log!(
            e,
            durationMS = millis(e.duration),
            failure = %e.failure,
            "Server heartbeat failed"
        ),
        SdamEvent::ServerDescriptionChanged(_) => {}
    }
}
