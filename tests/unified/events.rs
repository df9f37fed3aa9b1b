//! The events a client entity observes, in the runner's own shape (what the format matches),
//! the recorder that keeps them, and the matching of `expectedEvent` objects.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bson::{Bson, Document};
use tokio::sync::Notify;

use super::matching::{match_root, show, MatchCtx};

/// One observed event.
#[derive(Clone, Debug)]
pub enum Event {
    Command(CommandEvent),
    Cmap(CmapEvent),
    Sdam(SdamEvent),
}

/// A command monitoring event.
#[derive(Clone, Debug)]
pub struct CommandEvent {
    pub kind: CommandKind,
    pub command_name: String,
    pub database_name: String,
    /// `command` of a started event, `reply` of a succeeded one, empty for a failure.
    pub body: Document,
    pub has_service_id: bool,
    pub has_server_connection_id: bool,
    /// A failure's message.
    pub failure: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    Started,
    Succeeded,
    Failed,
}

/// A connection pool event.
#[derive(Clone, Debug)]
pub enum CmapEvent {
    PoolCreated,
    PoolReady,
    PoolCleared {
        has_service_id: bool,
        interrupt_in_use_connections: bool,
    },
    PoolClosed,
    ConnectionCreated,
    ConnectionReady,
    /// The CMAP reason: `stale`, `idle`, `error`, `poolClosed`.
    ConnectionClosed {
        reason: String,
    },
    ConnectionCheckOutStarted,
    /// The CMAP reason: `poolClosed`, `timeout`, `connectionError`.
    ConnectionCheckOutFailed {
        reason: String,
    },
    ConnectionCheckedOut,
    ConnectionCheckedIn,
}

/// A topology event (server and topology types by their SDAM names).
#[derive(Clone, Debug)]
pub enum SdamEvent {
    ServerDescriptionChanged { previous: String, new: String },
    TopologyDescriptionChanged { previous: String, new: String },
    ServerHeartbeatStarted { awaited: bool },
    ServerHeartbeatSucceeded { awaited: bool },
    ServerHeartbeatFailed { awaited: bool },
    TopologyOpening,
    TopologyClosed,
    ServerOpening,
    ServerClosed,
}

impl Event {
    /// The format's name for the event (`commandStartedEvent`, `poolClearedEvent`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Command(c) => match c.kind {
                CommandKind::Started => "commandStartedEvent",
                CommandKind::Succeeded => "commandSucceededEvent",
                CommandKind::Failed => "commandFailedEvent",
            },
            Event::Cmap(c) => match c {
                CmapEvent::PoolCreated => "poolCreatedEvent",
                CmapEvent::PoolReady => "poolReadyEvent",
                CmapEvent::PoolCleared { .. } => "poolClearedEvent",
                CmapEvent::PoolClosed => "poolClosedEvent",
                CmapEvent::ConnectionCreated => "connectionCreatedEvent",
                CmapEvent::ConnectionReady => "connectionReadyEvent",
                CmapEvent::ConnectionClosed { .. } => "connectionClosedEvent",
                CmapEvent::ConnectionCheckOutStarted => "connectionCheckOutStartedEvent",
                CmapEvent::ConnectionCheckOutFailed { .. } => "connectionCheckOutFailedEvent",
                CmapEvent::ConnectionCheckedOut => "connectionCheckedOutEvent",
                CmapEvent::ConnectionCheckedIn => "connectionCheckedInEvent",
            },
            Event::Sdam(s) => match s {
                SdamEvent::ServerDescriptionChanged { .. } => "serverDescriptionChangedEvent",
                SdamEvent::TopologyDescriptionChanged { .. } => "topologyDescriptionChangedEvent",
                SdamEvent::ServerHeartbeatStarted { .. } => "serverHeartbeatStartedEvent",
                SdamEvent::ServerHeartbeatSucceeded { .. } => "serverHeartbeatSucceededEvent",
                SdamEvent::ServerHeartbeatFailed { .. } => "serverHeartbeatFailedEvent",
                SdamEvent::TopologyOpening => "topologyOpeningEvent",
                SdamEvent::TopologyClosed => "topologyClosedEvent",
                SdamEvent::ServerOpening => "serverOpeningEvent",
                SdamEvent::ServerClosed => "serverClosedEvent",
            },
        }
    }

    /// `command`, `cmap` or `sdam` (`expectedEventsForClient.eventType`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::Command(_) => "command",
            Event::Cmap(_) => "cmap",
            Event::Sdam(_) => "sdam",
        }
    }

    fn describe(&self) -> String {
        match self {
            Event::Command(c) => format!(
                "{} {} on {}: {}{}",
                self.name(),
                c.command_name,
                c.database_name,
                show(&Bson::Document(c.body.clone())),
                c.failure
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ),
            Event::Cmap(c) => format!("{c:?}"),
            Event::Sdam(s) => format!("{s:?}"),
        }
    }
}

/// Commands whose events are not observed unless `observeSensitiveCommands` (Command Logging and
/// Monitoring specification, security).
const SENSITIVE: &[&str] = &[
    "authenticate",
    "saslstart",
    "saslcontinue",
    "getnonce",
    "createuser",
    "updateuser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
];

/// Whether a command event is for a security-sensitive command: one of the list, or a `hello`
/// whose body was redacted (it carried `speculativeAuthenticate`).
pub fn is_sensitive(name: &str, body: &Document) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE.contains(&lower.as_str())
        || (matches!(lower.as_str(), "hello" | "ismaster") && body.is_empty())
}

/// What a client entity observes (`observeEvents`, `ignoreCommandMonitoringEvents`,
/// `observeSensitiveCommands`).
#[derive(Clone, Debug, Default)]
pub struct Observe {
    pub events: HashSet<String>,
    pub ignore_commands: HashSet<String>,
    pub sensitive: bool,
}

/// The events of one client entity, in order. Recording stops when the test's operations end.
#[derive(Debug, Default)]
pub struct Recorder {
    pub observe: Observe,
    events: Mutex<Vec<Event>>,
    stopped: AtomicBool,
    pub changed: Notify,
    /// The client's log messages (`observeLogMessages`).
    pub logs: super::logs::LogSink,
    /// The client's topology (from its `topologyOpeningEvent`): the crate's log messages name
    /// it.
    pub topology_id: std::sync::OnceLock<String>,
}

impl Recorder {
    pub fn new(observe: Observe) -> Self {
        Recorder {
            observe,
            ..Default::default()
        }
    }

    /// Keeps `e` if the entity observes it.
    pub fn record(&self, e: Event) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        if let Event::Command(c) = &e {
            if c.command_name == "configureFailPoint"
                || self.observe.ignore_commands.contains(&c.command_name)
                || (!self.observe.sensitive && is_sensitive(&c.command_name, &c.body))
            {
                return;
            }
        }
        if !self.observe.events.contains(e.name()) {
            return;
        }
        self.events.lock().unwrap().push(e);
        self.changed.notify_waiters();
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The commands of the last `n` observed started events (`assert*LsidOnLastTwoCommands`).
    pub fn last_started(&self, n: usize) -> Vec<Document> {
        let events = self.events.lock().unwrap();
        let started: Vec<Document> = events
            .iter()
            .filter_map(|e| match e {
                Event::Command(c) if c.kind == CommandKind::Started => Some(c.body.clone()),
                _ => None,
            })
            .collect();
        started[started.len().saturating_sub(n)..].to_vec()
    }
}

/// Matches one `expectedEvent` (`{commandStartedEvent: {...}}`) against an observed event.
pub fn match_event(expected: &Document, actual: &Event, ctx: &MatchCtx) -> Result<(), String> {
    let (name, fields) = single_key(expected)?;
    if name != actual.name() {
        return Err(format!("expected a {name}, got {}", actual.describe()));
    }
    let fields = match fields {
        Bson::Document(d) => d,
        other => return Err(format!("{name} takes a document, not {other}")),
    };
    let mismatch = |what: &str, e: &dyn std::fmt::Display| -> String {
        format!(
            "{name}: {what} differs: expected {e}; got {}",
            actual.describe()
        )
    };
    for (key, want) in fields {
        match (key.as_str(), actual) {
            ("command" | "reply", Event::Command(c)) => {
                let body = Bson::Document(c.body.clone());
                match_root(want, Some(&body), ctx).map_err(|e| mismatch(key, &e))?;
            }
            ("commandName", Event::Command(c)) => {
                if want.as_str() != Some(c.command_name.as_str()) {
                    return Err(mismatch(key, want));
                }
            }
            ("databaseName", Event::Command(c)) => {
                if want.as_str() != Some(c.database_name.as_str()) {
                    return Err(mismatch(key, want));
                }
            }
            ("hasServiceId", Event::Command(c)) => {
                check_bool(want, c.has_service_id).map_err(|_| mismatch(key, want))?
            }
            ("hasServerConnectionId", Event::Command(c)) => {
                check_bool(want, c.has_server_connection_id).map_err(|_| mismatch(key, want))?
            }
            ("hasServiceId", Event::Cmap(CmapEvent::PoolCleared { has_service_id, .. })) => {
                check_bool(want, *has_service_id).map_err(|_| mismatch(key, want))?
            }
            (
                "interruptInUseConnections",
                Event::Cmap(CmapEvent::PoolCleared {
                    interrupt_in_use_connections,
                    ..
                }),
            ) => {
                check_bool(want, *interrupt_in_use_connections).map_err(|_| mismatch(key, want))?
            }
            (
                "reason",
                Event::Cmap(
                    CmapEvent::ConnectionClosed { reason }
                    | CmapEvent::ConnectionCheckOutFailed { reason },
                ),
            ) => {
                if want.as_str() != Some(reason.as_str()) {
                    return Err(mismatch(key, want));
                }
            }
            (
                "awaited",
                Event::Sdam(
                    SdamEvent::ServerHeartbeatStarted { awaited }
                    | SdamEvent::ServerHeartbeatSucceeded { awaited }
                    | SdamEvent::ServerHeartbeatFailed { awaited },
                ),
            ) => check_bool(want, *awaited).map_err(|_| mismatch(key, want))?,
            (
                "previousDescription" | "newDescription",
                Event::Sdam(
                    SdamEvent::ServerDescriptionChanged { previous, new }
                    | SdamEvent::TopologyDescriptionChanged { previous, new },
                ),
            ) => {
                let actual_type = if key == "previousDescription" {
                    previous
                } else {
                    new
                };
                let want = want
                    .as_document()
                    .ok_or_else(|| format!("{name}.{key} takes a document"))?;
                for (k, v) in want {
                    if k != "type" {
                        return Err(format!("{name}.{key}.{k}: not supported by this runner"));
                    }
                    if v.as_str() != Some(actual_type.as_str()) {
                        return Err(mismatch(key, v));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "{name}.{key}: not a field this runner knows for this event"
                ))
            }
        }
    }
    Ok(())
}

fn check_bool(want: &Bson, got: bool) -> Result<(), ()> {
    match want {
        Bson::Boolean(b) if *b == got => Ok(()),
        _ => Err(()),
    }
}

fn single_key(d: &Document) -> Result<(&str, &Bson), String> {
    let mut it = d.iter();
    match (it.next(), it.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => Err(format!("an expected event has exactly one key: {d}")),
    }
}

/// Checks a client's events of one type against `expectEvents.events`.
pub fn match_events(
    expected: &[Document],
    actual: &[Event],
    ignore_extra: bool,
    ctx: &MatchCtx,
) -> Result<(), String> {
    let listing = || {
        actual
            .iter()
            .enumerate()
            .map(|(i, e)| format!("\n    [{i}] {}", e.describe()))
            .collect::<String>()
    };
    if actual.len() < expected.len() || (!ignore_extra && actual.len() != expected.len()) {
        return Err(format!(
            "expected {} events, observed {}:{}",
            expected.len(),
            actual.len(),
            listing()
        ));
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        match_event(e, a, ctx).map_err(|m| format!("event [{i}]: {m}; observed:{}", listing()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn started(name: &str, body: Document) -> Event {
        Event::Command(CommandEvent {
            kind: CommandKind::Started,
            command_name: name.into(),
            database_name: "db".into(),
            body,
            has_service_id: false,
            has_server_connection_id: true,
            failure: None,
        })
    }

    #[test]
    fn command_events_match_by_fields() {
        let ctx = MatchCtx::empty();
        let e = started(
            "insert",
            doc! {"insert": "c", "documents": [{"_id": 1}], "lsid": {"id": 1}},
        );
        match_event(
            &doc! {"commandStartedEvent": {"command": {"insert": "c", "documents": [{"_id": 1}]}, "commandName": "insert", "databaseName": "db", "hasServerConnectionId": true}},
            &e,
            &ctx,
        )
        .unwrap();
        assert!(match_event(
            &doc! {"commandStartedEvent": {"commandName": "find"}},
            &e,
            &ctx
        )
        .is_err());
        assert!(match_event(
            &doc! {"commandStartedEvent": {"databaseName": "other"}},
            &e,
            &ctx
        )
        .is_err());
        assert!(match_event(
            &doc! {"commandStartedEvent": {"hasServiceId": true}},
            &e,
            &ctx
        )
        .is_err());
        assert!(match_event(&doc! {"commandSucceededEvent": {}}, &e, &ctx).is_err());
        // A field the runner does not know is an error, not ignored.
        assert!(match_event(&doc! {"commandStartedEvent": {"requestId": 1}}, &e, &ctx).is_err());
    }

    #[test]
    fn cmap_and_sdam_fields() {
        let ctx = MatchCtx::empty();
        let closed = Event::Cmap(CmapEvent::ConnectionClosed {
            reason: "error".into(),
        });
        match_event(
            &doc! {"connectionClosedEvent": {"reason": "error"}},
            &closed,
            &ctx,
        )
        .unwrap();
        assert!(match_event(
            &doc! {"connectionClosedEvent": {"reason": "idle"}},
            &closed,
            &ctx
        )
        .is_err());
        let cleared = Event::Cmap(CmapEvent::PoolCleared {
            has_service_id: true,
            interrupt_in_use_connections: false,
        });
        match_event(
            &doc! {"poolClearedEvent": {"hasServiceId": true}},
            &cleared,
            &ctx,
        )
        .unwrap();
        let t = Event::Sdam(SdamEvent::TopologyDescriptionChanged {
            previous: "Unknown".into(),
            new: "ReplicaSetWithPrimary".into(),
        });
        match_event(
            &doc! {"topologyDescriptionChangedEvent": {"previousDescription": {"type": "Unknown"}, "newDescription": {"type": "ReplicaSetWithPrimary"}}},
            &t,
            &ctx,
        )
        .unwrap();
        assert!(match_event(
            &doc! {"topologyDescriptionChangedEvent": {"newDescription": {"type": "Single"}}},
            &t,
            &ctx
        )
        .is_err());
    }

    #[test]
    fn sequences_and_extra_events() {
        let ctx = MatchCtx::empty();
        let a = vec![
            started("ping", doc! {"ping": 1}),
            started("find", doc! {"find": "c"}),
        ];
        let exp = vec![doc! {"commandStartedEvent": {"commandName": "ping"}}];
        assert!(match_events(&exp, &a, false, &ctx).is_err());
        match_events(&exp, &a, true, &ctx).unwrap();
        assert!(match_events(&[], &a, false, &ctx).is_err());
        match_events(&[], &[], false, &ctx).unwrap();
        let both = vec![
            doc! {"commandStartedEvent": {"commandName": "find"}},
            doc! {"commandStartedEvent": {"commandName": "ping"}},
        ];
        assert!(
            match_events(&both, &a, false, &ctx).is_err(),
            "order matters"
        );
    }

    #[test]
    fn recorder_filters() {
        let observe = Observe {
            events: ["commandStartedEvent".to_string()].into_iter().collect(),
            ignore_commands: ["killCursors".to_string()].into_iter().collect(),
            sensitive: false,
        };
        let r = Recorder::new(observe);
        r.record(started(
            "configureFailPoint",
            doc! {"configureFailPoint": "failCommand"},
        ));
        r.record(started("killCursors", doc! {"killCursors": "c"}));
        r.record(started("saslStart", doc! {}));
        r.record(started("hello", doc! {}));
        r.record(started("ping", doc! {"ping": 1}));
        r.record(Event::Cmap(CmapEvent::PoolReady));
        assert_eq!(r.events().len(), 1);
        r.stop();
        r.record(started("ping", doc! {"ping": 1}));
        assert_eq!(r.events().len(), 1);
        assert_eq!(r.last_started(2), vec![doc! {"ping": 1}]);
    }
}
