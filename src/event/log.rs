//! Structured logs as the Logging specification defines them, through `tracing`.
//!
//! Each component is a `tracing` target: `mongo_x509::command`, `mongo_x509::connection`,
//! `mongo_x509::server_selection` and `mongo_x509::topology`. The subscriber decides what is
//! recorded; the `MONGODB_LOG_ALL` / `MONGODB_LOG_COMMAND` / `MONGODB_LOG_CONNECTION` /
//! `MONGODB_LOG_SERVER_SELECTION` / `MONGODB_LOG_TOPOLOGY` variables, when set, filter on top
//! of it (a component variable wins over `MONGODB_LOG_ALL`; an invalid value counts as unset).
//! Documents are relaxed extended JSON cut at `MONGODB_LOG_MAX_DOCUMENT_LENGTH` bytes (default
//! 1000, on a character boundary) with `...` appended. The variables are read once.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use bson::{Bson, Document};
use tracing::Level;

/// The `tracing` target of the command component.
pub(crate) const COMMAND: &str = "mongo_x509::command";
/// The `tracing` target of the connection (pool) component.
pub(crate) const CONNECTION: &str = "mongo_x509::connection";
/// The `tracing` target of the server selection component.
pub(crate) const SERVER_SELECTION: &str = "mongo_x509::server_selection";
/// The `tracing` target of the topology component.
pub(crate) const TOPOLOGY: &str = "mongo_x509::topology";

/// `MONGODB_LOG_MAX_DOCUMENT_LENGTH` when unset.
pub(crate) const DEFAULT_MAX_DOCUMENT_LENGTH: usize = 1000;

/// A log component of the Logging specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Command,
    Connection,
    ServerSelection,
    Topology,
}

impl Component {
    fn index(self) -> usize {
        self as usize
    }

    fn variable(self) -> &'static str {
        match self {
            Self::Command => "MONGODB_LOG_COMMAND",
            Self::Connection => "MONGODB_LOG_CONNECTION",
            Self::ServerSelection => "MONGODB_LOG_SERVER_SELECTION",
            Self::Topology => "MONGODB_LOG_TOPOLOGY",
        }
    }
}

/// What the environment allows per component: `None` when no variable says anything (the
/// subscriber alone decides), `Some(None)` for `off`, `Some(Some(level))` for a threshold.
type EnvLevels = [Option<Option<Level>>; 4];

struct EnvConfig {
    levels: EnvLevels,
    max_document_length: usize,
}

/// A severity name of the Logging specification as the `tracing` level it maps to
/// (`emergency`, `alert`, `critical` and `error` are errors; `notice` is info). `Some(None)`:
/// `off`. `None`: not a valid value.
pub(crate) fn parse_level(value: &str) -> Option<Option<Level>> {
    Some(Some(match value.trim().to_ascii_lowercase().as_str() {
        "off" => return Some(None),
        "emergency" | "alert" | "critical" | "error" => Level::ERROR,
        "warn" | "warning" => Level::WARN,
        "notice" | "info" => Level::INFO,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        _ => return None,
    }))
}

/// The configuration the given variables make (`get` reads one).
pub(crate) fn config_from(get: impl Fn(&str) -> Option<String>) -> (EnvLevels, usize) {
    let all = get("MONGODB_LOG_ALL").and_then(|v| parse_level(&v));
    let mut levels: EnvLevels = [None; 4];
    for c in [
        Component::Command,
        Component::Connection,
        Component::ServerSelection,
        Component::Topology,
    ] {
        levels[c.index()] = get(c.variable()).and_then(|v| parse_level(&v)).or(all);
    }
    let max = get("MONGODB_LOG_MAX_DOCUMENT_LENGTH")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_MAX_DOCUMENT_LENGTH);
    (levels, max)
}

fn env() -> &'static EnvConfig {
    static CONFIG: OnceLock<EnvConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (levels, max_document_length) = config_from(|k| std::env::var(k).ok());
        EnvConfig {
            levels,
            max_document_length,
        }
    })
}

/// Whether the environment lets `component` log at `level`.
fn env_allows(component: Component, level: Level) -> bool {
    match env().levels[component.index()] {
        None => true,
        Some(None) => false,
        // tracing orders levels by verbosity: TRACE > DEBUG > … > ERROR.
        Some(Some(threshold)) => level <= threshold,
    }
}

/// True when a message of `component` at debug level would be recorded: a subscriber wants it
/// and the environment allows it. Cheap when nothing listens (one atomic load).
pub(crate) fn debug_enabled(component: Component) -> bool {
    let wanted = match component {
        Component::Command => tracing::enabled!(target: COMMAND, Level::DEBUG),
        Component::Connection => tracing::enabled!(target: CONNECTION, Level::DEBUG),
        Component::ServerSelection => tracing::enabled!(target: SERVER_SELECTION, Level::DEBUG),
        Component::Topology => tracing::enabled!(target: TOPOLOGY, Level::DEBUG),
    };
    wanted && env_allows(component, Level::DEBUG)
}

/// True when the server selection component would record an info message.
pub(crate) fn selection_info_enabled() -> bool {
    tracing::enabled!(target: SERVER_SELECTION, Level::INFO)
        && env_allows(Component::ServerSelection, Level::INFO)
}

/// `doc` as relaxed extended JSON, cut at the configured maximum length.
pub(crate) fn document(doc: &Document) -> String {
    truncated_json(doc, env().max_document_length)
}

/// `doc` as relaxed extended JSON, cut at `max` bytes (rounded down to a character boundary)
/// with `...` appended when cut. Writing stops once `max` is reached.
pub(crate) fn truncated_json(doc: &Document, max: usize) -> String {
    let json = Bson::Document(doc.clone()).into_relaxed_extjson();
    let mut out = Bounded {
        text: String::new(),
        max,
        cut: false,
    };
    // An error here only means the bound was reached.
    let _ = write!(out, "{json}");
    if out.cut {
        out.text.push_str("...");
    }
    out.text
}

/// A string that takes at most `max` bytes, then refuses more (which stops the formatter).
struct Bounded {
    text: String,
    max: usize,
    cut: bool,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.cut = true;
        Err(fmt::Error)
    }
}
