//! `observeLogMessages` and `expectLogMessages`: the crate's structured logs (`tracing` events
//! on the targets `mongo_x509::{command,connection,server_selection,topology}`) collected per
//! client entity.
//!
//! One process-wide `tracing` subscriber takes the crate's log messages while some client
//! entity observes logs, and gives each to the client whose topology it names (`topologyId`,
//! which the crate puts in every message; the client's id is learnt from its
//! `topologyOpeningEvent`). Two suites running at once, or two clients of one test, never see
//! each other's messages.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bson::{Bson, Document};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{span, Event, Level, Metadata, Subscriber};

use super::events::Recorder;
use super::matching::{match_root, MatchCtx};

/// One collected log message.
#[derive(Clone, Debug)]
pub struct LogMessage {
    pub level: Level,
    /// The Logging specification's component name (`command`, `serverSelection`, …).
    pub component: &'static str,
    pub data: Document,
}

/// What one client entity collects: the minimum level per component, and the messages.
#[derive(Debug, Default)]
pub struct LogSink {
    levels: OnceLock<HashMap<&'static str, Level>>,
    messages: Mutex<Vec<LogMessage>>,
}

impl LogSink {
    pub fn messages(&self) -> Vec<LogMessage> {
        self.messages.lock().unwrap().clone()
    }

    fn wants(&self, component: &str, level: Level) -> bool {
        self.levels
            .get()
            .and_then(|l| l.get(component))
            .is_some_and(|min| level <= *min)
    }
}

/// The component of a `tracing` target of the crate.
fn component(target: &str) -> Option<&'static str> {
    Some(match target {
        "mongo_x509::command" => "command",
        "mongo_x509::connection" => "connection",
        "mongo_x509::server_selection" => "serverSelection",
        "mongo_x509::topology" => "topology",
        _ => return None,
    })
}

/// A severity name of the Logging specification as a `tracing` level (as the crate maps them).
fn level(name: &str) -> Result<Level, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" | "error" => Level::ERROR,
        "warn" | "warning" => Level::WARN,
        "notice" | "info" => Level::INFO,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        other => return Err(format!("unknown log level {other:?}")),
    })
}

/// The recorders that collect logs, weakly: a finished test's client collects nothing.
fn observers() -> &'static Mutex<Vec<Weak<Recorder>>> {
    static OBSERVERS: OnceLock<Mutex<Vec<Weak<Recorder>>>> = OnceLock::new();
    OBSERVERS.get_or_init(Default::default)
}

/// Starts collecting the logs `spec` (`observeLogMessages`) names for `recorder`'s client.
pub fn observe(recorder: &Arc<Recorder>, spec: &Document) -> Result<(), String> {
    let mut levels = HashMap::new();
    for (name, min) in spec {
        let component = ["command", "connection", "serverSelection", "topology"]
            .into_iter()
            .find(|c| c == name)
            .ok_or_else(|| format!("observeLogMessages: unknown component {name:?}"))?;
        let min = min
            .as_str()
            .ok_or_else(|| format!("observeLogMessages.{name}: a level name, not {min}"))?;
        levels.insert(component, level(min)?);
    }
    let _ = recorder.logs.levels.set(levels);
    install()?;
    let mut all = observers().lock().unwrap();
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(recorder));
    Ok(())
}

/// Installs the collecting subscriber as the process's global one (once).
fn install() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            tracing::subscriber::set_global_default(Collector)
                .map_err(|e| format!("observeLogMessages: cannot install the log collector: {e}"))
        })
        .clone()
}

/// The process-wide subscriber: only the crate's log targets, only while someone observes.
struct Collector;

impl Collector {
    fn live() -> Vec<Arc<Recorder>> {
        observers()
            .lock()
            .unwrap()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

impl Subscriber for Collector {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if component(metadata.target()).is_some() {
            // Asked again each time: whether someone observes changes from test to test.
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let Some(c) = component(metadata.target()) else {
            return false;
        };
        Self::live()
            .iter()
            .any(|r| !r.is_stopped() && r.logs.wants(c, *metadata.level()))
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let Some(component) = component(meta.target()) else {
            return;
        };
        let mut data = Document::new();
        event.record(&mut Fields(&mut data));
        // The runner's own fail points, as for events.
        if data.get_str("commandName") == Ok("configureFailPoint") {
            return;
        }
        let Ok(topology) = data.get_str("topologyId").map(str::to_owned) else {
            return;
        };
        for r in Self::live() {
            if r.is_stopped()
                || r.topology_id.get() != Some(&topology)
                || !r.logs.wants(component, *meta.level())
            {
                continue;
            }
            r.logs.messages.lock().unwrap().push(LogMessage {
                level: *meta.level(),
                component,
                data: data.clone(),
            });
            r.changed.notify_waiters();
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Records a message's fields into a document.
struct Fields<'a>(&'a mut Document);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(
            field.name(),
            i64::try_from(value).map_or(Bson::Double(value as f64), Bson::Int64),
        );
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here formatted with Display; the message too.
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// Checks `expectLogMessages` (one `expectedLogMessagesForClient`) against what `recorder`
/// collected.
pub fn check(expected: &Document, recorder: &Recorder, ctx: &MatchCtx) -> Result<(), String> {
    let client = expected.get_str("client").unwrap_or("?");
    let want: Vec<Document> = docs(expected, "messages")?;
    let ignore: Vec<Document> = docs(expected, "ignoreMessages").unwrap_or_default();
    let ignore_extra = expected.get_bool("ignoreExtraMessages").unwrap_or(false);
    let observed: Vec<LogMessage> = recorder
        .logs
        .messages()
        .into_iter()
        .filter(|m| !ignore.iter().any(|i| match_message(i, m, ctx).is_ok()))
        .collect();
    let listing = || {
        observed
            .iter()
            .enumerate()
            .map(|(i, m)| format!("\n    [{i}] {:?} {}: {}", m.level, m.component, m.data))
            .collect::<String>()
    };
    if observed.len() < want.len() || (!ignore_extra && observed.len() != want.len()) {
        return Err(format!(
            "expectLogMessages for {client}: expected {} messages, observed {}:{}",
            want.len(),
            observed.len(),
            listing()
        ));
    }
    for (i, (e, a)) in want.iter().zip(&observed).enumerate() {
        match_message(e, a, ctx).map_err(|m| {
            format!(
                "expectLogMessages for {client}: message [{i}]: {m}; observed:{}",
                listing()
            )
        })?;
    }
    Ok(())
}

fn docs(d: &Document, key: &str) -> Result<Vec<Document>, String> {
    let list = d
        .get_array(key)
        .map_err(|_| format!("expectedLogMessagesForClient.{key}: an array is required"))?;
    list.iter()
        .map(|m| {
            m.as_document()
                .cloned()
                .ok_or_else(|| format!("{key}: a document, not {m}"))
        })
        .collect()
}

/// Matches one `expectedLogMessage`.
fn match_message(expected: &Document, actual: &LogMessage, ctx: &MatchCtx) -> Result<(), String> {
    for (key, value) in expected {
        match key.as_str() {
            "level" => {
                let want = level(value.as_str().unwrap_or_default())?;
                if want != actual.level {
                    return Err(format!("level: expected {value}, got {}", actual.level));
                }
            }
            "component" => {
                if value.as_str() != Some(actual.component) {
                    return Err(format!(
                        "component: expected {value}, got {}",
                        actual.component
                    ));
                }
            }
            "data" => match_root(value, Some(&Bson::Document(actual.data.clone())), ctx)
                .map_err(|e| format!("data: {e}"))?,
            // The crate's redacted failure is the error with only its code, code name and
            // labels; both ways the runner checks that a failure is there.
            "failureIsRedacted" => {
                if !actual.data.contains_key("failure") {
                    return Err("failureIsRedacted: the message has no failure".into());
                }
            }
            other => return Err(format!("expectedLogMessage.{other}: not a known field")),
        }
    }
    Ok(())
}
