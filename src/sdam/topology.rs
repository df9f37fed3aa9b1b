//! The deployment as the client knows it, and the SDAM transitions that keep it up to date.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bson::oid::ObjectId;

use super::server::{address_key, member_key, ServerDescription, ServerType, TopologyVersion};
use crate::options::ServerAddress;

/// The oldest wire version this client speaks (MongoDB 3.6).
pub const MIN_SUPPORTED_WIRE_VERSION: i32 = 6;
/// The newest wire version this client speaks.
pub const MAX_SUPPORTED_WIRE_VERSION: i32 = 25;
/// `heartbeatFrequencyMS` default.
pub const DEFAULT_HEARTBEAT_FREQUENCY: Duration = Duration::from_secs(10);
/// `localThresholdMS` default.
pub const DEFAULT_LOCAL_THRESHOLD: Duration = Duration::from_millis(15);

/// The shape of the deployment, as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyType {
    /// One server used directly (`directConnection=true`, or a single standalone seed).
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

/// Which servers an update added to or removed from the topology, and what the I/O layer must
/// do about servers whose state it invalidated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopologyChange {
    /// New servers: start monitoring them.
    pub added: Vec<ServerAddress>,
    /// Removed servers: stop their monitors and close their pools.
    pub removed: Vec<ServerAddress>,
    /// Servers whose connection pool must be cleared (a demoted pre-4.2 primary).
    pub clear_pools: Vec<ServerAddress>,
    /// Servers to check as soon as possible (a demoted primary).
    pub check_now: Vec<ServerAddress>,
}

impl TopologyChange {
    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.clear_pools.is_empty()
            && self.check_now.is_empty()
    }
}

/// What an update may change besides the servers it adds, removes or demotes.
struct Snapshot {
    topology_type: TopologyType,
    set_name: Option<String>,
    max_set_version: Option<i64>,
    max_election_id: Option<ObjectId>,
    compatibility_error: Option<String>,
    logical_session_timeout: Option<Duration>,
    /// The updated server's description.
    server: Option<ServerDescription>,
}

impl Snapshot {
    fn of(t: &TopologyDescription, key: &str) -> Self {
        Self {
            topology_type: t.topology_type,
            set_name: t.set_name.clone(),
            max_set_version: t.max_set_version,
            max_election_id: t.max_election_id,
            compatibility_error: t.compatibility_error.clone(),
            logical_session_timeout: t.logical_session_timeout,
            server: t.servers.get(key).cloned(),
        }
    }

    fn differs_from(&self, t: &TopologyDescription, key: &str) -> bool {
        let server_same = match (&self.server, t.servers.get(key)) {
            (Some(a), Some(b)) => a.same_state(b),
            (None, None) => true,
            _ => false,
        };
        !server_same
            || self.topology_type != t.topology_type
            || self.set_name != t.set_name
            || self.max_set_version != t.max_set_version
            || self.max_election_id != t.max_election_id
            || self.compatibility_error != t.compatibility_error
            || self.logical_session_timeout != t.logical_session_timeout
    }
}

/// What the client knows about the deployment: its type and one description per server.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TopologyDescription {
    /// The deployment type.
    pub topology_type: TopologyType,
    /// `replicaSet` from the options, or the set name learnt from the servers.
    pub set_name: Option<String>,
    /// The highest `setVersion` seen from a primary.
    pub max_set_version: Option<i64>,
    /// The highest `electionId` seen from a primary.
    pub max_election_id: Option<ObjectId>,
    /// The servers, keyed and ordered by lower-cased `host:port`. Change them through the
    /// methods ([`update`](Self::update) skips the transitions for a reply that says nothing
    /// new, and knows what is new only from its own changes).
    pub servers: BTreeMap<String, ServerDescription>,
    /// Why the client cannot talk to this deployment (wire versions out of range), if so.
    pub compatibility_error: Option<String>,
    /// The smallest `logicalSessionTimeoutMinutes` among data-bearing servers; `None` if any
    /// of them lacks one (sessions are then not supported).
    pub logical_session_timeout: Option<Duration>,
    /// Whether `directConnection=true` was given.
    pub direct_connection: bool,
    /// `heartbeatFrequencyMS` (max staleness depends on it).
    pub heartbeat_frequency: Duration,
    /// `localThresholdMS`: the latency window of server selection.
    pub local_threshold: Duration,
    /// How many seeds the client started with (a standalone among several is removed).
    seed_count: usize,
    /// Counts the updates that changed anything beyond a server's timings.
    revision: u64,
    /// Per server, the [`revision`](Self::revision) at which its description, applied in full,
    /// changed nothing: while that is still the current one, the same description again would
    /// not either.
    settled: BTreeMap<String, u64>,
}

impl TopologyDescription {
    /// The initial description for a seed list.
    ///
    /// `load_balanced` gives [`TopologyType::LoadBalanced`] (its one seed is the load
    /// balancer); `directConnection=true` gives [`TopologyType::Single`]; a `replicaSet` name
    /// gives [`TopologyType::ReplicaSetNoPrimary`]; otherwise the type is unknown until a
    /// server answers.
    pub fn new(
        seeds: &[ServerAddress],
        direct_connection: Option<bool>,
        replica_set: Option<String>,
        load_balanced: bool,
    ) -> Self {
        let mut servers = BTreeMap::new();
        for s in seeds {
            let mut d = ServerDescription::unknown(s.clone());
            if load_balanced {
                d.server_type = ServerType::LoadBalancer;
            }
            servers.entry(address_key(s)).or_insert(d);
        }
        let direct = direct_connection == Some(true);
        let topology_type = if load_balanced {
            TopologyType::LoadBalanced
        } else if direct {
            TopologyType::Single
        } else if replica_set.is_some() {
            TopologyType::ReplicaSetNoPrimary
        } else {
            TopologyType::Unknown
        };
        Self {
            topology_type,
            set_name: replica_set,
            max_set_version: None,
            max_election_id: None,
            seed_count: servers.len(),
            servers,
            compatibility_error: None,
            logical_session_timeout: None,
            direct_connection: direct,
            heartbeat_frequency: DEFAULT_HEARTBEAT_FREQUENCY,
            local_threshold: DEFAULT_LOCAL_THRESHOLD,
            revision: 0,
            settled: BTreeMap::new(),
        }
    }

    /// The description of `address`, if it is part of the topology.
    pub fn server(&self, address: &ServerAddress) -> Option<&ServerDescription> {
        self.servers.get(&address_key(address))
    }

    /// True when the topology has a known primary.
    fn has_primary(&self) -> bool {
        self.servers
            .values()
            .any(|s| s.server_type == ServerType::RsPrimary)
    }

    /// Applies a new description of one server (from a `hello` reply or a failed check),
    /// following every transition of the SDAM specification, and says which servers were added
    /// or removed.
    ///
    /// A description of a server the topology does not contain (removed meanwhile) is ignored,
    /// and so is one whose `topologyVersion` is older than the one already known.
    ///
    /// A reply that says nothing new (the description already held, but for its round-trip
    /// time, last-write date and update time) only refreshes those three fields, with no work
    /// that grows with the number of members, as long as nothing else changed the topology
    /// since that server's description was last applied in full. Heartbeats of a steady
    /// deployment are such replies.
    pub fn update(&mut self, new: ServerDescription) -> TopologyChange {
        let key = address_key(&new.address);
        let Some(current) = self.servers.get_mut(&key) else {
            return TopologyChange::default();
        };
        let order = TopologyVersion::compare(
            current.topology_version.as_ref(),
            new.topology_version.as_ref(),
        );
        if order == Ordering::Greater {
            return TopologyChange::default();
        }
        // Applying the same description to the topology it produced changes nothing.
        if self.settled.get(&key) == Some(&self.revision) && current.same_state(&new) {
            current.refresh_timings(&new);
            return TopologyChange::default();
        }
        let revision = self.revision;
        let before = Snapshot::of(self, &key);
        let change = self.apply(&key, new);
        if self.revision != revision || !change.is_empty() || before.differs_from(self, &key) {
            // The transitions depend on the state they start from (the topology type above
            // all): the same reply again may still change something, so it runs them again.
            self.revision += 1;
            self.settled.remove(&key);
        } else if self.servers.contains_key(&key) {
            // It changed nothing: the same reply again, in the same topology, would not either.
            self.settled.insert(key, self.revision);
        }
        change
    }

    /// Every SDAM transition for `new`, a description of the server at `key`.
    fn apply(&mut self, key: &str, new: ServerDescription) -> TopologyChange {
        let key = key.to_owned();
        let new = self.check_single_set_name(new);
        self.servers.insert(key.clone(), new.clone());
        let mut change = TopologyChange::default();
        use ServerType as S;
        use TopologyType as T;
        match (self.topology_type, new.server_type) {
            (T::Single | T::LoadBalanced, _) => {}
            (T::Unknown, S::Standalone) => {
                if self.seed_count != 1 {
                    self.remove(&key, &mut change);
                } else {
                    self.topology_type = T::Single;
                }
            }
            (T::Unknown, S::Mongos) => self.topology_type = T::Sharded,
            (T::Unknown | T::ReplicaSetNoPrimary | T::ReplicaSetWithPrimary, S::RsPrimary) => {
                self.topology_type = T::ReplicaSetWithPrimary;
                self.update_rs_from_primary(&new, &mut change);
            }
            (T::Unknown | T::ReplicaSetNoPrimary, S::RsSecondary | S::RsArbiter | S::RsOther) => {
                self.topology_type = T::ReplicaSetNoPrimary;
                self.update_rs_without_primary(&new, &mut change);
            }
            (T::ReplicaSetWithPrimary, S::RsSecondary | S::RsArbiter | S::RsOther) => {
                self.update_rs_with_primary_from_member(&new, &mut change);
            }
            (T::Sharded, S::Unknown | S::Mongos) => {}
            (T::Sharded, _) => self.remove(&key, &mut change),
            (T::ReplicaSetNoPrimary | T::ReplicaSetWithPrimary, S::Standalone | S::Mongos) => {
                self.remove(&key, &mut change);
                self.check_if_has_primary();
            }
            (T::ReplicaSetWithPrimary, _) => self.check_if_has_primary(),
            // Unknown, RSGhost (and types a hello never yields) keep the topology as it is.
            _ => {}
        }
        self.update_compatibility();
        self.update_logical_session_timeout();
        change
    }

    /// With `directConnection` and a `replicaSet` name, a server of another set (or none) is
    /// not the one asked for: it is recorded as unknown with an error saying so.
    fn check_single_set_name(&self, new: ServerDescription) -> ServerDescription {
        let (TopologyType::Single, Some(want)) = (self.topology_type, &self.set_name) else {
            return new;
        };
        if !new.server_type.is_known() || new.set_name.as_ref() == Some(want) {
            return new;
        }
        let msg = match &new.set_name {
            Some(got) => format!(
                "{} belongs to replica set {got:?}, not to {want:?}; check replicaSet and the host list",
                new.address
            ),
            None => format!(
                "{} is {}, not a member of replica set {want:?}; remove replicaSet from the options",
                new.address,
                new.server_type.describe()
            ),
        };
        ServerDescription::unknown_with_error(new.address, msg)
    }

    /// Replaces the hosts after an SRV rescan (Polling SRV Records for mongos Discovery): hosts
    /// no longer listed are removed, new ones added as Unknown, the others left as they are.
    /// Only a Sharded or Unknown topology is rescanned; any other is left alone.
    pub fn set_srv_hosts(&mut self, hosts: &[ServerAddress]) -> TopologyChange {
        let mut change = TopologyChange::default();
        if !matches!(
            self.topology_type,
            TopologyType::Sharded | TopologyType::Unknown
        ) {
            return change;
        }
        let keep: Vec<String> = hosts.iter().map(address_key).collect();
        let gone: Vec<String> = self
            .servers
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for key in gone {
            self.remove(&key, &mut change);
        }
        for host in hosts {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.servers.entry(address_key(host))
            {
                slot.insert(ServerDescription::unknown(host.clone()));
                change.added.push(host.clone());
            }
        }
        self.update_logical_session_timeout();
        if !change.is_empty() {
            self.revision += 1;
        }
        change
    }

    fn remove(&mut self, key: &str, change: &mut TopologyChange) {
        self.settled.remove(key);
        if let Some(old) = self.servers.remove(key) {
            change.removed.push(old.address);
        }
    }

    fn check_if_has_primary(&mut self) {
        self.topology_type = if self.has_primary() {
            TopologyType::ReplicaSetWithPrimary
        } else {
            TopologyType::ReplicaSetNoPrimary
        };
    }

    /// Adds every member `new` lists that the topology lacks.
    fn add_members(&mut self, new: &ServerDescription, change: &mut TopologyChange) {
        for member in new.members() {
            let key = member_key(member);
            if self.servers.contains_key(&key) {
                continue;
            }
            // A name that is not a valid address cannot be monitored; skip it.
            if let Ok(address) = ServerAddress::parse(member) {
                self.servers
                    .insert(key, ServerDescription::unknown(address.clone()));
                change.added.push(address);
            }
        }
    }

    fn mark_possible_primary(&mut self, new: &ServerDescription) {
        if let Some(primary) = &new.primary {
            if let Some(s) = self.servers.get_mut(&member_key(primary)) {
                if s.server_type == ServerType::Unknown {
                    s.server_type = ServerType::PossiblePrimary;
                    self.revision += 1;
                }
            }
        }
    }

    /// Records the set name, or says the server belongs to another set.
    fn adopt_set_name(&mut self, new: &ServerDescription) -> bool {
        match &self.set_name {
            None => {
                self.set_name.clone_from(&new.set_name);
                true
            }
            Some(name) => new.set_name.as_ref() == Some(name),
        }
    }

    fn update_rs_without_primary(&mut self, new: &ServerDescription, change: &mut TopologyChange) {
        let key = address_key(&new.address);
        if !self.adopt_set_name(new) {
            self.remove(&key, change);
            return;
        }
        self.add_members(new, change);
        self.mark_possible_primary(new);
        if !new.me_matches_address() {
            self.remove(&key, change);
        }
    }

    fn update_rs_with_primary_from_member(
        &mut self,
        new: &ServerDescription,
        change: &mut TopologyChange,
    ) {
        let key = address_key(&new.address);
        if self.set_name != new.set_name || !new.me_matches_address() {
            self.remove(&key, change);
            self.check_if_has_primary();
            return;
        }
        if !self.has_primary() {
            self.topology_type = TopologyType::ReplicaSetNoPrimary;
            self.mark_possible_primary(new);
        }
    }

    /// Whether a primary's (electionId, setVersion) is older than the newest seen: the
    /// version-aware rule of SDAM (electionId first from MongoDB 6.0, setVersion first before).
    fn stale_primary_reason(&mut self, new: &ServerDescription) -> Option<&'static str> {
        if new.max_wire_version >= 17 {
            match new.election_id.cmp(&self.max_election_id) {
                Ordering::Less => return Some("electionId"),
                Ordering::Equal if new.set_version < self.max_set_version => {
                    return Some("setVersion")
                }
                _ => {}
            }
            self.max_election_id = new.election_id;
            self.max_set_version = new.set_version;
            return None;
        }
        if let (Some(sv), Some(eid)) = (new.set_version, new.election_id) {
            if let (Some(max_sv), Some(max_eid)) = (self.max_set_version, self.max_election_id) {
                if max_sv > sv {
                    return Some("setVersion");
                }
                if max_sv == sv && max_eid > eid {
                    return Some("electionId");
                }
            }
            self.max_election_id = Some(eid);
        }
        if let Some(sv) = new.set_version {
            if self.max_set_version.is_none_or(|max| sv > max) {
                self.max_set_version = Some(sv);
            }
        }
        None
    }

    fn update_rs_from_primary(&mut self, new: &ServerDescription, change: &mut TopologyChange) {
        let key = address_key(&new.address);
        if !self.adopt_set_name(new) {
            self.remove(&key, change);
            self.check_if_has_primary();
            return;
        }
        if let Some(field) = self.stale_primary_reason(new) {
            let msg = format!(
                "primary marked stale due to electionId/setVersion mismatch (its {field} is older than the newest seen)"
            );
            self.servers.insert(
                key,
                ServerDescription::unknown_with_error(new.address.clone(), msg),
            );
            self.check_if_has_primary();
            return;
        }
        let old_primaries: Vec<String> = self
            .servers
            .iter()
            .filter(|(k, s)| **k != key && s.server_type == ServerType::RsPrimary)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old_primaries {
            if let Some(old) = self.servers.get_mut(&k) {
                let address = old.address.clone();
                // Servers before 4.2 close their connections when they step down.
                if old.max_wire_version < 8 {
                    change.clear_pools.push(address.clone());
                }
                change.check_now.push(address.clone());
                *old = ServerDescription::unknown_with_error(
                    address,
                    "primary marked stale due to discovery of newer primary",
                );
            }
        }
        self.add_members(new, change);
        let members: BTreeSet<String> = new.members().map(|m| member_key(m)).collect();
        let gone: Vec<String> = self
            .servers
            .keys()
            .filter(|k| !members.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.remove(&k, change);
        }
        self.check_if_has_primary();
    }

    /// Sets or clears [`TopologyDescription::compatibility_error`] from the wire versions of
    /// the servers that answered.
    fn update_compatibility(&mut self) {
        self.compatibility_error = self.servers.values().find_map(|s| {
            if !s.server_type.is_known() || s.server_type == ServerType::LoadBalancer {
                None
            } else if s.min_wire_version > MAX_SUPPORTED_WIRE_VERSION {
                Some(format!(
                    "Server at {} requires wire version {}, but this version of mongo-x509 only supports up to {MAX_SUPPORTED_WIRE_VERSION}.",
                    s.address, s.min_wire_version
                ))
            } else if s.max_wire_version < MIN_SUPPORTED_WIRE_VERSION {
                Some(format!(
                    "Server at {} reports wire version {}, but this version of mongo-x509 requires at least {MIN_SUPPORTED_WIRE_VERSION} (MongoDB 3.6).",
                    s.address, s.max_wire_version
                ))
            } else {
                None
            }
        });
    }

    fn update_logical_session_timeout(&mut self) {
        let mut min: Option<Duration> = None;
        for s in self.servers.values() {
            if !s.server_type.is_data_bearing() {
                continue;
            }
            let Some(t) = s.logical_session_timeout else {
                self.logical_session_timeout = None;
                return;
            };
            min = Some(min.map_or(t, |m| m.min(t)));
        }
        self.logical_session_timeout = min;
    }

    /// Marks a server unknown (a failed check), with the error that says why.
    pub fn mark_unknown(
        &mut self,
        address: &ServerAddress,
        error: impl Into<String>,
    ) -> TopologyChange {
        if self.server(address).is_none() {
            return TopologyChange::default();
        }
        self.update(ServerDescription::unknown_with_error(
            address.clone(),
            error,
        ))
    }

    /// Forgets which descriptions were applied in full, so that the next update of every server
    /// runs every transition again (tests compare the two paths).
    #[cfg(test)]
    pub(crate) fn forget_settled(&mut self) {
        self.settled.clear();
    }

    /// True when an unchanged description of `address` would take the short path.
    #[cfg(test)]
    pub(crate) fn is_settled(&self, address: &ServerAddress) -> bool {
        self.settled.get(&address_key(address)) == Some(&self.revision)
    }

    /// True when at least one server has been contacted successfully.
    #[cfg(test)]
    pub fn has_known_servers(&self) -> bool {
        self.servers.values().any(|s| s.server_type.is_known())
    }
}
