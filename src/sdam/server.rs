//! One server's description, and how a `hello` reply becomes one.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{Bson, Document};

use crate::error::{Error, Result};
use crate::options::ServerAddress;

/// `maxBsonObjectSize` when the server does not say (16 MiB).
pub const DEFAULT_MAX_BSON_OBJECT_SIZE: i64 = 16 * 1024 * 1024;
/// `maxMessageSizeBytes` when the server does not say.
pub const DEFAULT_MAX_MESSAGE_SIZE_BYTES: i64 = crate::wire::DEFAULT_MAX_MESSAGE_SIZE as i64;
/// `maxWriteBatchSize` when the server does not say.
pub const DEFAULT_MAX_WRITE_BATCH_SIZE: i64 = 100_000;
/// The largest message this client sends or accepts (64 MiB), whatever a server's
/// `maxMessageSizeBytes` says: servers say 48,000,000 today, and a larger claim must not let a
/// reply header make the client reserve gigabytes. `maxBsonObjectSize` is capped at it too.
pub const MAX_MESSAGE_SIZE_CEILING: i64 = crate::wire::MAX_MESSAGE_SIZE_CEILING as i64;
/// The largest `maxWriteBatchSize` taken from a server (servers say 100,000); more only means
/// larger batches, which the message size bounds anyway.
pub const MAX_WRITE_BATCH_SIZE_CEILING: i64 = 1_000_000;
/// The largest `logicalSessionTimeoutMinutes` accepted (the server keeps it in an int32); a
/// larger or negative value makes the reply invalid.
pub const MAX_LOGICAL_SESSION_TIMEOUT_MINUTES: i64 = i32::MAX as i64;
/// The most members a `hello` reply may list in `hosts`, `passives` and `arbiters` together: a
/// replica set has at most 50 members. A reply that lists more is invalid (the server is
/// marked Unknown with an error saying so, and a warning is logged), so that no reply can make
/// the client monitor and pool thousands of servers.
pub const MAX_REPLICA_SET_MEMBERS: usize = 50;

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
    /// Not checked yet, but a member named it as the primary.
    PossiblePrimary,
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

    /// True for the types that hold data and answer reads (SDAM's "data-bearing" types).
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

    /// True for a server that answered (not [`ServerType::Unknown`] or
    /// [`ServerType::PossiblePrimary`]).
    pub fn is_known(self) -> bool {
        !matches!(self, ServerType::Unknown | ServerType::PossiblePrimary)
    }

    /// A short description for messages, e.g. "a secondary".
    pub(crate) fn describe(self) -> &'static str {
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
            ServerType::PossiblePrimary => "not checked yet (named as primary by a member)",
            ServerType::Unknown => "unknown",
        }
    }
}

/// A server's `topologyVersion`: which process answered and how many state changes it has had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopologyVersion {
    /// Changes when the server process restarts.
    pub process_id: ObjectId,
    /// Grows with every state change of that process.
    pub counter: i64,
}

impl TopologyVersion {
    /// Parses a `topologyVersion` sub-document (strict types).
    pub fn from_document(doc: &Document) -> Result<Self> {
        let process_id = match doc.get("processId") {
            Some(Bson::ObjectId(o)) => *o,
            other => {
                return Err(wrong_type(
                    "topologyVersion.processId",
                    "an ObjectId",
                    other,
                ))
            }
        };
        let counter = match doc.get("counter") {
            Some(Bson::Int64(c)) => *c,
            Some(Bson::Int32(c)) => i64::from(*c),
            other => return Err(wrong_type("topologyVersion.counter", "an integer", other)),
        };
        Ok(Self {
            process_id,
            counter,
        })
    }

    /// The SDAM comparison of a current version with a new one: `Less` when `new` is newer (or
    /// either is missing, or the process changed), `Equal` when the same, `Greater` when `new`
    /// is older than what the client already knows.
    pub fn compare(current: Option<&Self>, new: Option<&Self>) -> Ordering {
        match (current, new) {
            (Some(c), Some(n)) if c.process_id == n.process_id => c.counter.cmp(&n.counter),
            _ => Ordering::Less,
        }
    }
}

/// What the client knows about one server, from its latest `hello` reply or error.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct ServerDescription {
    /// The server's address as the client knows it (seed or host list entry).
    pub address: ServerAddress,
    /// Its type.
    pub server_type: ServerType,
    /// `setName`: the replica set it belongs to.
    pub set_name: Option<String>,
    /// `setVersion`: the replica set configuration version.
    pub set_version: Option<i64>,
    /// `electionId` (primaries only).
    pub election_id: Option<ObjectId>,
    /// `primary`: the primary it knows of, lower-cased.
    pub primary: Option<String>,
    /// `me`: the name the server gives itself, lower-cased.
    pub me: Option<String>,
    /// `hosts`: the data-bearing members it knows of, lower-cased. With `passives` and
    /// `arbiters`, at most [`MAX_REPLICA_SET_MEMBERS`], and never a Unix socket path
    /// ([`from_hello`](Self::from_hello) refuses a reply that lists more, or one).
    pub hosts: Vec<String>,
    /// `passives`: priority-0 members, lower-cased.
    pub passives: Vec<String>,
    /// `arbiters`, lower-cased.
    pub arbiters: Vec<String>,
    /// `tags` of a replica set member (read preference tag sets match them).
    pub tags: HashMap<String, String>,
    /// `minWireVersion`.
    pub min_wire_version: i32,
    /// `maxWireVersion`.
    pub max_wire_version: i32,
    /// `maxBsonObjectSize` (default 16 MiB).
    pub max_bson_object_size: i64,
    /// `maxMessageSizeBytes` (default 48,000,000).
    pub max_message_size_bytes: i64,
    /// `maxWriteBatchSize` (default 100,000).
    pub max_write_batch_size: i64,
    /// `logicalSessionTimeoutMinutes`, as a duration.
    pub logical_session_timeout: Option<Duration>,
    /// `topologyVersion`.
    pub topology_version: Option<TopologyVersion>,
    /// Average round-trip time of the checks, when measured.
    pub round_trip_time: Option<Duration>,
    /// `lastWrite.lastWriteDate`, in milliseconds since the Unix epoch (for max staleness).
    pub last_write_date: Option<i64>,
    /// When the description was made, on the caller's clock (any fixed epoch): max staleness
    /// compares these between servers.
    pub last_update_time: Duration,
    /// `helloOk`: the server understands `hello` (not only legacy `isMaster`).
    pub hello_ok: bool,
    /// `serviceId` (load-balanced mode).
    pub service_id: Option<ObjectId>,
    /// Why the server is [`ServerType::Unknown`], when an attempt to reach it failed.
    pub error: Option<String>,
}

/// A server's size limits as sizes: what operations are built against and what the wire layer
/// is given. [`ServerDescription::from_hello`] has already defaulted and capped them, so they
/// are taken as they are, once, here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SizeLimits {
    /// `maxMessageSizeBytes`.
    pub(crate) max_message_size: usize,
    /// `maxBsonObjectSize`: the largest document.
    pub(crate) max_bson_object_size: usize,
    /// `maxWriteBatchSize`: the most statements in one write command (at least 1).
    pub(crate) max_write_batch_size: usize,
}

impl ServerDescription {
    /// The size limits its `hello` gave (the defaults before one arrives).
    pub(crate) fn size_limits(&self) -> SizeLimits {
        let size = |v: i64| usize::try_from(v).unwrap_or(1).max(1);
        SizeLimits {
            max_message_size: size(self.max_message_size_bytes),
            max_bson_object_size: size(self.max_bson_object_size),
            max_write_batch_size: size(self.max_write_batch_size),
        }
    }

    /// A server not contacted yet.
    pub fn unknown(address: ServerAddress) -> Self {
        Self {
            address,
            max_bson_object_size: DEFAULT_MAX_BSON_OBJECT_SIZE,
            max_message_size_bytes: DEFAULT_MAX_MESSAGE_SIZE_BYTES,
            max_write_batch_size: DEFAULT_MAX_WRITE_BATCH_SIZE,
            ..Self::default()
        }
    }

    /// A server that could not be reached or answered with an error.
    pub fn unknown_with_error(address: ServerAddress, error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::unknown(address)
        }
    }

    /// Builds the description from a raw `hello` (or legacy `isMaster`) reply, following the
    /// SDAM parsing rules.
    ///
    /// A reply without a true `ok` gives [`ServerType::Unknown`] with its `errmsg`. A field of
    /// the wrong type is an [`Error::invalid_response`]: a server that sends one is not trusted
    /// to be what it claims. So is a reply that lists more than [`MAX_REPLICA_SET_MEMBERS`]
    /// members, or that names a Unix socket path (`/…/x.sock`) in `hosts`, `passives`,
    /// `arbiters`, `primary` or `me`: only the user's own seed list may name sockets, so that a
    /// remote server cannot make the client open local ones. `rtt` is the measured round trip of this check (the caller
    /// averages it, as the SDAM specification says); `now` is the caller's clock.
    pub fn from_hello(
        address: ServerAddress,
        reply: &Document,
        rtt: Option<Duration>,
        now: Duration,
    ) -> Result<Self> {
        let mut d = Self::unknown(address);
        d.last_update_time = now;
        let ok = reply.get("ok").is_some_and(truthy);
        if !ok {
            d.error = Some(
                get_str(reply, "errmsg")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "hello did not return ok: 1".into()),
            );
            return Ok(d);
        }
        d.round_trip_time = rtt;
        let writable = match get_bool(reply, "isWritablePrimary")? {
            Some(b) => b,
            None => get_bool(reply, "ismaster")?.unwrap_or(false),
        };
        let msg = get_str(reply, "msg")?;
        d.set_name = get_str(reply, "setName")?;
        d.service_id = match reply.get("serviceId") {
            None | Some(Bson::Null) => None,
            Some(Bson::ObjectId(o)) => Some(*o),
            other => return Err(wrong_type("serviceId", "an ObjectId", other)),
        };
        d.server_type = if get_bool(reply, "isreplicaset")?.unwrap_or(false) {
            ServerType::RsGhost
        } else if msg.as_deref() == Some("isdbgrid") {
            ServerType::Mongos
        } else if d.set_name.is_some() {
            if get_bool(reply, "hidden")?.unwrap_or(false) {
                ServerType::RsOther
            } else if writable {
                ServerType::RsPrimary
            } else if get_bool(reply, "secondary")?.unwrap_or(false) {
                ServerType::RsSecondary
            } else if get_bool(reply, "arbiterOnly")?.unwrap_or(false) {
                ServerType::RsArbiter
            } else {
                ServerType::RsOther
            }
        } else {
            ServerType::Standalone
        };
        d.set_version = get_int(reply, "setVersion")?;
        d.election_id = match reply.get("electionId") {
            None | Some(Bson::Null) => None,
            Some(Bson::ObjectId(o)) => Some(*o),
            other => return Err(wrong_type("electionId", "an ObjectId", other)),
        };
        d.primary = get_host(reply, "primary")?;
        d.me = get_host(reply, "me")?;
        check_member_count(reply)?;
        d.hosts = get_host_list(reply, "hosts")?;
        d.passives = get_host_list(reply, "passives")?;
        d.arbiters = get_host_list(reply, "arbiters")?;
        d.tags = match reply.get("tags") {
            None | Some(Bson::Null) => HashMap::new(),
            Some(Bson::Document(t)) => t
                .iter()
                .map(|(k, v)| match v {
                    Bson::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(wrong_type("tags", "a document of strings", Some(other))),
                })
                .collect::<Result<_>>()?,
            other => return Err(wrong_type("tags", "a document", other)),
        };
        d.min_wire_version = get_wire_version(reply, "minWireVersion")?;
        d.max_wire_version = get_wire_version(reply, "maxWireVersion")?;
        // A non-positive limit cannot be honoured (the default is the safe choice); one above
        // the ceiling is capped, so that no reply can make the client reserve more.
        let limit = |v: Option<i64>, default: i64, ceiling: i64| {
            v.filter(|v| *v > 0).unwrap_or(default).min(ceiling)
        };
        d.max_message_size_bytes = limit(
            get_int(reply, "maxMessageSizeBytes")?,
            DEFAULT_MAX_MESSAGE_SIZE_BYTES,
            MAX_MESSAGE_SIZE_CEILING,
        );
        d.max_bson_object_size = limit(
            get_int(reply, "maxBsonObjectSize")?,
            DEFAULT_MAX_BSON_OBJECT_SIZE,
            d.max_message_size_bytes,
        );
        d.max_write_batch_size = limit(
            get_int(reply, "maxWriteBatchSize")?,
            DEFAULT_MAX_WRITE_BATCH_SIZE,
            MAX_WRITE_BATCH_SIZE_CEILING,
        );
        d.logical_session_timeout = match get_int(reply, "logicalSessionTimeoutMinutes")? {
            None => None,
            Some(m @ 0..=MAX_LOGICAL_SESSION_TIMEOUT_MINUTES) => {
                Some(Duration::from_secs(m.unsigned_abs() * 60))
            }
            Some(m) => {
                return Err(Error::invalid_response(format!(
                    "hello reply field logicalSessionTimeoutMinutes is {m}, outside 0 to \
                     {MAX_LOGICAL_SESSION_TIMEOUT_MINUTES}"
                )))
            }
        };
        d.topology_version = match reply.get("topologyVersion") {
            None | Some(Bson::Null) => None,
            Some(Bson::Document(t)) => Some(TopologyVersion::from_document(t)?),
            other => return Err(wrong_type("topologyVersion", "a document", other)),
        };
        d.last_write_date = match reply.get("lastWrite") {
            None | Some(Bson::Null) => None,
            Some(Bson::Document(lw)) => match lw.get("lastWriteDate") {
                None | Some(Bson::Null) => None,
                Some(Bson::DateTime(t)) => Some(t.timestamp_millis()),
                other => return Err(wrong_type("lastWrite.lastWriteDate", "a date", other)),
            },
            other => return Err(wrong_type("lastWrite", "a document", other)),
        };
        d.hello_ok = get_bool(reply, "helloOk")?.unwrap_or(false);
        Ok(d)
    }

    /// True when this server's address is the `me` it reports (or it reports none).
    pub(crate) fn me_matches_address(&self) -> bool {
        self.me
            .as_deref()
            .is_none_or(|me| member_key(me) == address_key(&self.address))
    }

    /// True when `other` says the same about the server as `self` does: every field but the
    /// round-trip time, the last-write date and the update time, which change with every
    /// check and which no topology transition reads. No allocation.
    pub(crate) fn same_state(&self, other: &Self) -> bool {
        // Destructured in full: a new field must be placed on one side or the other.
        let Self {
            address,
            server_type,
            set_name,
            set_version,
            election_id,
            primary,
            me,
            hosts,
            passives,
            arbiters,
            tags,
            min_wire_version,
            max_wire_version,
            max_bson_object_size,
            max_message_size_bytes,
            max_write_batch_size,
            logical_session_timeout,
            topology_version,
            round_trip_time: _,
            last_write_date: _,
            last_update_time: _,
            hello_ok,
            service_id,
            error,
        } = self;
        *address == other.address
            && *server_type == other.server_type
            && *set_name == other.set_name
            && *set_version == other.set_version
            && *election_id == other.election_id
            && *primary == other.primary
            && *me == other.me
            && *hosts == other.hosts
            && *passives == other.passives
            && *arbiters == other.arbiters
            && *tags == other.tags
            && *min_wire_version == other.min_wire_version
            && *max_wire_version == other.max_wire_version
            && *max_bson_object_size == other.max_bson_object_size
            && *max_message_size_bytes == other.max_message_size_bytes
            && *max_write_batch_size == other.max_write_batch_size
            && *logical_session_timeout == other.logical_session_timeout
            && *topology_version == other.topology_version
            && *hello_ok == other.hello_ok
            && *service_id == other.service_id
            && *error == other.error
    }

    /// Takes the fields [`same_state`](Self::same_state) leaves out from `newer`.
    pub(crate) fn refresh_timings(&mut self, newer: &Self) {
        self.round_trip_time = newer.round_trip_time;
        self.last_write_date = newer.last_write_date;
        self.last_update_time = newer.last_update_time;
    }

    /// Every member this server lists: hosts, passives and arbiters.
    pub(crate) fn members(&self) -> impl Iterator<Item = &String> {
        self.hosts
            .iter()
            .chain(self.passives.iter())
            .chain(self.arbiters.iter())
    }
}

/// The lower-cased `host:port` form members are compared in.
pub(crate) fn address_key(address: &ServerAddress) -> String {
    address.to_string().to_ascii_lowercase()
}

/// The key of a member named in a reply (`host` or `host:port`), in [`address_key`] form.
pub(crate) fn member_key(member: &str) -> String {
    ServerAddress::parse(member).map_or_else(|_| member.to_ascii_lowercase(), |a| address_key(&a))
}

/// [`crate::wire::truthy`] for a decoded value.
pub(crate) fn truthy(v: &Bson) -> bool {
    bson::RawBson::try_from(v.clone()).is_ok_and(|r| crate::wire::truthy(r.as_raw_bson_ref()))
}

fn wrong_type(key: &str, expected: &str, got: Option<&Bson>) -> Error {
    match got {
        Some(v) => Error::invalid_response(format!(
            "hello reply field {key} should be {expected}, got {:?}",
            v.element_type()
        )),
        None => Error::invalid_response(format!("hello reply lacks {key} ({expected})")),
    }
}

fn get_bool(d: &Document, key: &str) -> Result<Option<bool>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        // Some servers have sent 0/1 for booleans.
        Some(Bson::Int32(i)) => Ok(Some(*i != 0)),
        Some(Bson::Int64(i)) => Ok(Some(*i != 0)),
        Some(Bson::Double(f)) => Ok(Some(*f != 0.0)),
        other => Err(wrong_type(key, "a boolean", other)),
    }
}

fn get_int(d: &Document, key: &str) -> Result<Option<i64>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int32(i)) => Ok(Some(i64::from(*i))),
        Some(Bson::Int64(i)) => Ok(Some(*i)),
        // Only doubles that are exact integers within i64's range (no saturating cast).
        Some(Bson::Double(f))
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(f) =>
        {
            Ok(Some(*f as i64))
        }
        other => Err(wrong_type(key, "an integer", other)),
    }
}

/// A wire version is a non-negative int32; anything else makes the reply invalid.
fn get_wire_version(d: &Document, key: &str) -> Result<i32> {
    match get_int(d, key)? {
        None => Ok(0),
        Some(v) => i32::try_from(v).ok().filter(|v| *v >= 0).ok_or_else(|| {
            Error::invalid_response(format!(
                "hello reply field {key} is {v}, not a non-negative 32-bit integer"
            ))
        }),
    }
}

fn get_str(d: &Document, key: &str) -> Result<Option<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        other => Err(wrong_type(key, "a string", other)),
    }
}

/// A host named by the server (`primary`, `me`), lower-cased; a socket path is refused.
fn get_host(d: &Document, key: &str) -> Result<Option<String>> {
    get_str(d, key)?
        .map(|s| not_a_socket(key, s.to_ascii_lowercase()))
        .transpose()
}

fn get_host_list(d: &Document, key: &str) -> Result<Vec<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(a)) => a
            .iter()
            .map(|v| match v {
                Bson::String(s) => not_a_socket(key, s.to_ascii_lowercase()),
                other => Err(wrong_type(key, "an array of strings", Some(other))),
            })
            .collect(),
        other => Err(wrong_type(key, "an array of strings", other)),
    }
}

/// A member list longer than a replica set can be makes the reply invalid; counted before any
/// entry is copied.
fn check_member_count(d: &Document) -> Result<()> {
    let count: usize = ["hosts", "passives", "arbiters"]
        .iter()
        .map(|key| match d.get(key) {
            Some(Bson::Array(a)) => a.len(),
            _ => 0,
        })
        .sum();
    if count <= MAX_REPLICA_SET_MEMBERS {
        return Ok(());
    }
    tracing::warn!(
        members = count,
        limit = MAX_REPLICA_SET_MEMBERS,
        "a hello reply lists more members than a replica set can have; the reply is refused"
    );
    Err(Error::invalid_response(format!(
        "the hello reply lists {count} members in hosts, passives and arbiters, more than the \
         {MAX_REPLICA_SET_MEMBERS} a replica set can have"
    )))
}

/// Refuses a host that would be a Unix socket: a server's word must not make the client open
/// a local socket (only the seed list may name one).
fn not_a_socket(key: &str, host: String) -> Result<String> {
    if !matches!(ServerAddress::parse(&host), Ok(ServerAddress::Unix { .. })) {
        return Ok(host);
    }
    tracing::warn!(
        field = key,
        host = %host,
        "a hello reply names a Unix socket; the reply is refused"
    );
    Err(Error::invalid_response(format!(
        "the hello reply field {key} names the Unix socket {host:?}; only the seed list may name \
         sockets, a server's member list must be host:port"
    )))
}
