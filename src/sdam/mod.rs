//! Server discovery and selection, sans I/O.
//!
//! This module only holds data and pure decisions: what a `hello` reply says about a server
//! ([`ServerDescription::from_hello_document`]), what the client knows about the deployment
//! ([`TopologyDescription`]) and which server an operation goes to ([`select_server`]). The client
//! feeds it the replies it gets; nothing here opens a socket, so every decision is unit tested.
//!
//! What the client does today (full SDAM monitoring with heartbeats and replica-set discovery
//! comes in a later version; the seam for it is [`TopologyDescription::update`] and
//! [`select_server`]):
//! - one seed, or `directConnection=true`: the client connects to that server. A writable
//!   primary, a standalone or a mongos is used; any other member is refused with an error that
//!   says what it is and what to connect to instead.
//! - several seeds without `directConnection`: the seeds are tried in order and the first
//!   writable primary (or mongos) is used. Members named in a `hello` reply but not in the seed
//!   list are not discovered yet.

use std::time::Duration;

use bson::{Bson, Document};

use crate::options::{ReadPreference, ReadPreferenceMode, ServerAddress};

/// What kind of server a `hello` reply describes (Server Discovery and Monitoring specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerType {
    /// A server that is not part of a replica set or sharded cluster.
    Standalone,
    /// The primary of a replica set.
    RsPrimary,
    /// A secondary of a replica set.
    RsSecondary,
    /// An arbiter: it votes but holds no data.
    RsArbiter,
    /// A replica set member that is none of the above (hidden, starting up, recovering, …).
    RsOther,
    /// A member of a replica set that is not configured yet (or was removed).
    RsGhost,
    /// A mongos router of a sharded cluster.
    Mongos,
    /// A load balancer in front of mongos routers.
    LoadBalancer,
    /// Not known: not contacted yet, or the last attempt failed.
    #[default]
    Unknown,
}

impl ServerType {
    /// True for the types that accept writes: standalone, primary, mongos, load balancer.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            ServerType::Standalone
                | ServerType::RsPrimary
                | ServerType::Mongos
                | ServerType::LoadBalancer
        )
    }

    /// True for the types that hold data and answer reads.
    pub fn is_data_bearing(self) -> bool {
        matches!(
            self,
            ServerType::Standalone
                | ServerType::RsPrimary
                | ServerType::RsSecondary
                | ServerType::Mongos
                | ServerType::LoadBalancer
        )
    }

    /// A short description for messages, e.g. "a secondary".
    fn describe(self) -> &'static str {
        match self {
            ServerType::Standalone => "a standalone server",
            ServerType::RsPrimary => "the primary",
            ServerType::RsSecondary => "a secondary",
            ServerType::RsArbiter => "an arbiter",
            ServerType::RsOther => {
                "a member that is neither primary nor secondary (hidden, starting up or recovering)"
            }
            ServerType::RsGhost => "a replica set member that is not configured yet",
            ServerType::Mongos => "a mongos",
            ServerType::LoadBalancer => "a load balancer",
            ServerType::Unknown => "unknown",
        }
    }
}

/// What the client knows about one server, from its latest `hello` reply or error.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct ServerDescription {
    /// The server's address as the client knows it (the seed).
    pub address: ServerAddress,
    /// Its type.
    pub server_type: ServerType,
    /// `setName`: the replica set it belongs to.
    pub set_name: Option<String>,
    /// `hosts`: the data-bearing members it knows of.
    pub hosts: Vec<String>,
    /// `primary`: the primary it knows of, if any.
    pub primary: Option<String>,
    /// `me`: the name the server gives itself.
    pub me: Option<String>,
    /// `minWireVersion`.
    pub min_wire_version: i32,
    /// `maxWireVersion`.
    pub max_wire_version: i32,
    /// `maxBsonObjectSize` (default 16 MiB).
    pub max_bson_object_size: i64,
    /// `maxMessageSizeBytes` (default 48 MB).
    pub max_message_size_bytes: i64,
    /// `maxWriteBatchSize` (default 100 000).
    pub max_write_batch_size: i64,
    /// `logicalSessionTimeoutMinutes`.
    pub logical_session_timeout: Option<Duration>,
    /// Why the server is [`ServerType::Unknown`], when an attempt to reach it failed.
    pub error: Option<String>,
}

/// `maxBsonObjectSize` when the server does not say.
pub const DEFAULT_MAX_BSON_OBJECT_SIZE: i64 = 16 * 1024 * 1024;
/// `maxMessageSizeBytes` when the server does not say.
pub const DEFAULT_MAX_MESSAGE_SIZE_BYTES: i64 = 48_000_000;
/// `maxWriteBatchSize` when the server does not say.
pub const DEFAULT_MAX_WRITE_BATCH_SIZE: i64 = 100_000;

fn get_bool(doc: &Document, key: &str) -> bool {
    matches!(doc.get(key), Some(Bson::Boolean(true)))
}

fn get_i64(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        // Some servers send doubles; keep whole, finite values only.
        Bson::Double(v) if v.is_finite() && v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

fn get_str(doc: &Document, key: &str) -> Option<String> {
    match doc.get(key)? {
        Bson::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl ServerDescription {
    /// A server not contacted yet.
    pub fn unknown(address: ServerAddress) -> Self {
        Self {
            address,
            ..Self::with_defaults()
        }
    }

    /// A server that could not be reached or answered with an error.
    pub fn unknown_with_error(address: ServerAddress, error: impl Into<String>) -> Self {
        Self {
            address,
            error: Some(error.into()),
            ..Self::with_defaults()
        }
    }

    fn with_defaults() -> Self {
        Self {
            max_bson_object_size: DEFAULT_MAX_BSON_OBJECT_SIZE,
            max_message_size_bytes: DEFAULT_MAX_MESSAGE_SIZE_BYTES,
            max_write_batch_size: DEFAULT_MAX_WRITE_BATCH_SIZE,
            ..Self::default()
        }
    }

    /// Builds the description from a raw `hello` (or legacy `isMaster`) reply, following the
    /// server type rules of the SDAM specification. A reply without `ok: 1` gives
    /// [`ServerType::Unknown`].
    pub fn from_hello_document(address: ServerAddress, reply: &Document) -> Self {
        let ok = get_i64(reply, "ok") == Some(1)
            || matches!(reply.get("ok"), Some(Bson::Double(v)) if *v == 1.0)
            || get_bool(reply, "ok");
        let mut d = Self::unknown(address);
        if !ok {
            d.error = Some(
                get_str(reply, "errmsg").unwrap_or_else(|| "hello did not return ok: 1".into()),
            );
            return d;
        }
        let writable = get_bool(reply, "isWritablePrimary") || get_bool(reply, "ismaster");
        let set_name = get_str(reply, "setName");
        d.server_type = if get_bool(reply, "isreplicaset") {
            ServerType::RsGhost
        } else if reply.contains_key("serviceId") && get_str(reply, "msg").is_none() {
            // Only a load balancer adds serviceId without being a mongos; the client asks for it
            // only in load-balanced mode, so seeing it means exactly that.
            ServerType::LoadBalancer
        } else if get_str(reply, "msg").as_deref() == Some("isdbgrid") {
            ServerType::Mongos
        } else if set_name.is_some() {
            if get_bool(reply, "hidden") {
                ServerType::RsOther
            } else if writable {
                ServerType::RsPrimary
            } else if get_bool(reply, "secondary") {
                ServerType::RsSecondary
            } else if get_bool(reply, "arbiterOnly") {
                ServerType::RsArbiter
            } else {
                ServerType::RsOther
            }
        } else {
            ServerType::Standalone
        };
        d.set_name = set_name;
        d.hosts = match reply.get("hosts") {
            Some(Bson::Array(a)) => a
                .iter()
                .filter_map(|h| h.as_str().map(str::to_ascii_lowercase))
                .collect(),
            _ => Vec::new(),
        };
        d.primary = get_str(reply, "primary");
        d.me = get_str(reply, "me");
        d.min_wire_version = get_i64(reply, "minWireVersion")
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0);
        d.max_wire_version = get_i64(reply, "maxWireVersion")
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0);
        if let Some(v) = get_i64(reply, "maxBsonObjectSize").filter(|v| *v > 0) {
            d.max_bson_object_size = v;
        }
        if let Some(v) = get_i64(reply, "maxMessageSizeBytes").filter(|v| *v > 0) {
            d.max_message_size_bytes = v;
        }
        if let Some(v) = get_i64(reply, "maxWriteBatchSize").filter(|v| *v > 0) {
            d.max_write_batch_size = v;
        }
        d.logical_session_timeout = get_i64(reply, "logicalSessionTimeoutMinutes")
            .and_then(|m| u64::try_from(m).ok())
            .map(|m| Duration::from_secs(m.saturating_mul(60)));
        d
    }
}

/// The shape of the deployment, as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyType {
    /// One server used directly (`directConnection=true`, or a single seed that is not a
    /// replica set member).
    Single,
    /// A replica set whose primary is not known.
    ReplicaSetNoPrimary,
    /// A replica set with a known primary.
    ReplicaSetWithPrimary,
    /// A sharded cluster (mongos routers).
    Sharded,
    /// A load balancer.
    LoadBalanced,
    /// Not known yet.
    Unknown,
}

/// What the client knows about the deployment: its type and one description per server.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TopologyDescription {
    /// The deployment type.
    pub topology_type: TopologyType,
    /// `replicaSet` from the options, or the set name learnt from the servers.
    pub set_name: Option<String>,
    /// The servers, in seed order.
    pub servers: Vec<ServerDescription>,
    /// Whether `directConnection=true` was given.
    pub direct_connection: bool,
}

impl TopologyDescription {
    /// The initial description for a seed list.
    ///
    /// With `directConnection=true` (which allows one seed only) the topology is
    /// [`TopologyType::Single`]; with a `replicaSet` name it is a replica set; otherwise unknown.
    pub fn new(seeds: &[ServerAddress], direct_connection: bool, set_name: Option<String>) -> Self {
        let mut servers: Vec<ServerDescription> = Vec::with_capacity(seeds.len());
        for s in seeds {
            if !servers.iter().any(|d| &d.address == s) {
                servers.push(ServerDescription::unknown(s.clone()));
            }
        }
        let topology_type = if direct_connection {
            TopologyType::Single
        } else if set_name.is_some() {
            TopologyType::ReplicaSetNoPrimary
        } else {
            TopologyType::Unknown
        };
        Self {
            topology_type,
            set_name,
            servers,
            direct_connection,
        }
    }

    /// The description of `address`, if it is part of the topology.
    pub fn server(&self, address: &ServerAddress) -> Option<&ServerDescription> {
        self.servers.iter().find(|s| &s.address == address)
    }

    /// Applies a new description of one server (from a `hello` reply or an error).
    ///
    /// A subset of the SDAM transition table, enough for seeds without discovery: servers of a
    /// different replica set than the one named are marked unknown with an error that says so,
    /// and the topology type follows what the servers say. Servers the topology does not contain
    /// are ignored (discovery of new members comes later).
    pub fn update(&mut self, mut new: ServerDescription) {
        let Some(idx) = self.servers.iter().position(|s| s.address == new.address) else {
            return;
        };
        // A member of another replica set than the one asked for (or learnt) is never used.
        if let Some(want) = &self.set_name {
            let problem = match (&new.set_name, new.server_type) {
                (Some(got), _) if got != want => Some(format!(
                    "{} belongs to replica set {got:?}, not to {want:?}; check replicaSet and the host list",
                    new.address
                )),
                (None, ServerType::Standalone) => Some(format!(
                    "{} is a standalone server, not a member of replica set {want:?}; remove replicaSet from the options",
                    new.address
                )),
                _ => None,
            };
            if let Some(msg) = problem {
                new = ServerDescription::unknown_with_error(new.address, msg);
            }
        }
        if let Some(slot) = self.servers.get_mut(idx) {
            *slot = new.clone();
        }
        if self.direct_connection {
            self.topology_type = TopologyType::Single;
            return;
        }
        match new.server_type {
            ServerType::Mongos => self.topology_type = TopologyType::Sharded,
            ServerType::LoadBalancer => self.topology_type = TopologyType::LoadBalanced,
            ServerType::Standalone => {
                // A standalone is only usable as the sole seed (SDAM: removed otherwise).
                if self.servers.len() == 1 {
                    self.topology_type = TopologyType::Single;
                }
            }
            ServerType::RsPrimary
            | ServerType::RsSecondary
            | ServerType::RsArbiter
            | ServerType::RsOther => {
                if self.set_name.is_none() {
                    self.set_name.clone_from(&new.set_name);
                }
            }
            ServerType::RsGhost | ServerType::Unknown => {}
        }
        if matches!(
            self.topology_type,
            TopologyType::Unknown
                | TopologyType::ReplicaSetNoPrimary
                | TopologyType::ReplicaSetWithPrimary
        ) && self.set_name.is_some()
        {
            self.topology_type = if self
                .servers
                .iter()
                .any(|s| s.server_type == ServerType::RsPrimary)
            {
                TopologyType::ReplicaSetWithPrimary
            } else {
                TopologyType::ReplicaSetNoPrimary
            };
        }
    }

    /// Marks a server unknown after an error (network error, "not primary", shutdown).
    pub fn mark_unknown(&mut self, address: &ServerAddress, error: impl Into<String>) {
        if self.server(address).is_some() {
            self.update(ServerDescription::unknown_with_error(
                address.clone(),
                error.into(),
            ));
        }
    }

    /// True when at least one server has been contacted successfully.
    #[cfg(test)]
    pub fn has_known_servers(&self) -> bool {
        self.servers
            .iter()
            .any(|s| s.server_type != ServerType::Unknown)
    }
}

/// What an operation needs from a server.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SelectionCriteria {
    /// A write: a writable primary, standalone, mongos or load balancer.
    Write,
    /// A read with this read preference.
    Read(ReadPreference),
}

impl SelectionCriteria {
    /// A read from the primary (the default read preference).
    #[cfg(test)]
    pub fn primary_read() -> Self {
        SelectionCriteria::Read(ReadPreference::default())
    }

    fn mode(&self) -> ReadPreferenceMode {
        match self {
            SelectionCriteria::Write => ReadPreferenceMode::Primary,
            SelectionCriteria::Read(rp) => rp.mode,
        }
    }
}

/// Picks the server an operation goes to, or `None` when no known server is suitable.
///
/// - [`TopologyType::Single`]: the one server, if it is writable (standalone, primary, mongos);
///   reads with a non-primary read preference may also use a data-bearing secondary.
/// - Sharded / load balanced: the first known mongos or load balancer.
/// - Replica set: the primary for writes and `primary` reads; for other modes the primary or
///   a secondary as the mode says (tag sets are honoured; latency windows come with monitoring).
pub fn select_server(
    topology: &TopologyDescription,
    criteria: &SelectionCriteria,
) -> Option<ServerAddress> {
    let mode = criteria.mode();
    let known = topology
        .servers
        .iter()
        .filter(|s| s.server_type != ServerType::Unknown);
    match topology.topology_type {
        TopologyType::Unknown => None,
        TopologyType::Single => {
            let s = known.into_iter().next()?;
            if s.server_type.is_writable()
                || (mode != ReadPreferenceMode::Primary && s.server_type.is_data_bearing())
            {
                Some(s.address.clone())
            } else {
                None
            }
        }
        TopologyType::Sharded | TopologyType::LoadBalanced => known
            .into_iter()
            .find(|s| matches!(s.server_type, ServerType::Mongos | ServerType::LoadBalancer))
            .map(|s| s.address.clone()),
        TopologyType::ReplicaSetNoPrimary | TopologyType::ReplicaSetWithPrimary => {
            let primary = topology
                .servers
                .iter()
                .find(|s| s.server_type == ServerType::RsPrimary);
            let tags = match criteria {
                SelectionCriteria::Read(rp) => rp.tag_sets.as_slice(),
                SelectionCriteria::Write => &[],
            };
            // Secondaries with tags are not known without monitoring (hello carries `tags`, but
            // this client keeps no per-member tags yet), so a tag set matches only the empty set.
            let tags_ok = tags.is_empty() || tags.iter().any(|t| t.is_empty());
            let secondary = topology
                .servers
                .iter()
                .find(|s| s.server_type == ServerType::RsSecondary)
                .filter(|_| tags_ok);
            let pick = match mode {
                ReadPreferenceMode::Primary => primary,
                ReadPreferenceMode::PrimaryPreferred => primary.or(secondary),
                ReadPreferenceMode::Secondary => secondary,
                ReadPreferenceMode::SecondaryPreferred => secondary.or(primary),
                ReadPreferenceMode::Nearest => primary.or(secondary),
            };
            pick.map(|s| s.address.clone())
        }
    }
}

/// Explains why [`select_server`] found nothing, for the error message: what each server is and
/// what to do.
pub fn explain_no_suitable_server(
    topology: &TopologyDescription,
    criteria: &SelectionCriteria,
) -> String {
    let wants = match criteria {
        SelectionCriteria::Write => "writable primary".to_string(),
        SelectionCriteria::Read(rp) => {
            format!("server for readPreference {}", rp.mode.as_str())
        }
    };
    let mut parts = Vec::new();
    let mut hint_primary = None;
    for s in &topology.servers {
        let part = match s.server_type {
            ServerType::Unknown => match &s.error {
                Some(e) => format!("{} could not be used: {e}", s.address),
                None => format!("{} has not been reached yet", s.address),
            },
            t => {
                let set = s
                    .set_name
                    .as_deref()
                    .map(|n| format!(" of replica set {n}"))
                    .unwrap_or_default();
                if let Some(p) = &s.primary {
                    hint_primary = Some(p.clone());
                }
                format!("{} is {}{set}", s.address, t.describe())
            }
        };
        parts.push(part);
    }
    let mut msg = format!("no {wants} among the seeds: {}", parts.join("; "));
    let non_writable_member = topology.servers.iter().any(|s| {
        matches!(
            s.server_type,
            ServerType::RsSecondary
                | ServerType::RsArbiter
                | ServerType::RsOther
                | ServerType::RsGhost
        )
    });
    if topology.servers.len() > 1
        && topology
            .servers
            .iter()
            .any(|s| s.server_type == ServerType::Standalone)
    {
        msg.push_str(
            "; a standalone server can only be used as the only host (or with directConnection=true)",
        );
    }
    if non_writable_member {
        msg.push_str("; replica-set discovery is not supported yet: connect to the primary");
        if let Some(p) = hint_primary {
            msg.push_str(&format!(" ({p}, according to the member)"));
        }
        if matches!(criteria, SelectionCriteria::Read(rp) if rp.mode == ReadPreferenceMode::Primary)
            && topology.direct_connection
        {
            msg.push_str(", or read from this member with readPreference=secondaryPreferred");
        }
    }
    msg
}

/// Server error codes that mean the server is no longer (or not yet) a usable primary:
/// the server must be marked unknown and its pool cleared (SDAM "not writable primary" and
/// "node is recovering" errors).
pub fn is_state_change_error(code: i32, message: &str) -> bool {
    const CODES: [i32; 8] = [
        10107, // NotWritablePrimary
        13435, // NotPrimaryNoSecondaryOk
        10058, // LegacyNotPrimary
        11600, // InterruptedAtShutdown
        91,    // ShutdownInProgress
        11602, // InterruptedDueToReplStateChange
        13436, // NotPrimaryOrSecondary
        189,   // PrimarySteppedDown
    ];
    CODES.contains(&code)
        || message.contains("not master")
        || message.contains("node is recovering")
}

/// Codes of errors that mean the server is shutting down.
#[cfg(test)]
pub fn is_shutdown_error(code: i32) -> bool {
    matches!(code, 11600 | 91)
}

#[cfg(test)]
mod tests;
