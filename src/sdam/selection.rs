//! Server selection: which servers suit an operation, the latency window, the final choice by
//! operation count, and the `$readPreference` sent with a read.

use std::time::Duration;

use bson::{doc, Bson, Document};

use super::server::{address_key, ServerDescription, ServerType};
use super::topology::{TopologyDescription, TopologyType};
use crate::error::{Error, Result};
use crate::options::{ReadPreference, ReadPreferenceMode, ServerAddress, TagSet};

/// The idle write period of a replica set primary (max staleness cannot be shorter than one
/// heartbeat plus this).
const IDLE_WRITE_PERIOD: Duration = Duration::from_secs(10);
/// The smallest `maxStalenessSeconds` the spec allows.
const SMALLEST_MAX_STALENESS: Duration = Duration::from_secs(90);

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
}

/// Checks `maxStalenessSeconds`: not with mode primary, and at least 90 seconds and at least
/// one heartbeat plus the primary's 10-second idle write period.
pub fn validate_max_staleness(rp: &ReadPreference, heartbeat_frequency: Duration) -> Result<()> {
    let Some(max) = rp.max_staleness else {
        return Ok(());
    };
    if rp.mode == ReadPreferenceMode::Primary {
        return Err(Error::invalid_argument(
            "maxStalenessSeconds cannot be used with readPreference primary; use another mode or remove maxStalenessSeconds",
        ));
    }
    let smallest =
        SMALLEST_MAX_STALENESS.max(heartbeat_frequency.saturating_add(IDLE_WRITE_PERIOD));
    if max < smallest {
        return Err(Error::invalid_argument(format!(
            "maxStalenessSeconds is {} s but must be at least {} s (90 s, and heartbeatFrequencyMS plus the 10 s idle write period)",
            max.as_secs(),
            smallest.as_secs()
        )));
    }
    Ok(())
}

/// The servers suitable for `criteria`, before the latency window.
///
/// Servers in `deprioritized` (those a retried operation already failed on) are left out
/// unless nothing else is suitable. Errors only for an invalid `maxStalenessSeconds`.
pub fn suitable_servers<'a>(
    topology: &'a TopologyDescription,
    criteria: &SelectionCriteria,
    deprioritized: &[ServerAddress],
) -> Result<Vec<&'a ServerDescription>> {
    if let SelectionCriteria::Read(rp) = criteria {
        validate_max_staleness(rp, topology.heartbeat_frequency)?;
    }
    let all: Vec<&ServerDescription> = topology.servers.values().collect();
    if !deprioritized.is_empty() {
        let skip: Vec<String> = deprioritized.iter().map(address_key).collect();
        let preferred: Vec<&ServerDescription> = all
            .iter()
            .copied()
            .filter(|s| !skip.contains(&address_key(&s.address)))
            .collect();
        let found = suitable_among(topology, &preferred, criteria);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(suitable_among(topology, &all, criteria))
}

fn of_type<'a>(servers: &[&'a ServerDescription], t: ServerType) -> Vec<&'a ServerDescription> {
    servers
        .iter()
        .copied()
        .filter(|s| s.server_type == t)
        .collect()
}

fn suitable_among<'a>(
    topology: &TopologyDescription,
    servers: &[&'a ServerDescription],
    criteria: &SelectionCriteria,
) -> Vec<&'a ServerDescription> {
    match topology.topology_type {
        TopologyType::Unknown => Vec::new(),
        // A direct connection: read preference is ignored (it is sent to the server instead).
        TopologyType::Single => servers
            .iter()
            .copied()
            .filter(|s| s.server_type.is_known())
            .collect(),
        TopologyType::LoadBalanced => of_type(servers, ServerType::LoadBalancer),
        TopologyType::Sharded => of_type(servers, ServerType::Mongos),
        TopologyType::ReplicaSetNoPrimary | TopologyType::ReplicaSetWithPrimary => {
            let rp = match criteria {
                SelectionCriteria::Write => return of_type(servers, ServerType::RsPrimary),
                SelectionCriteria::Read(rp) => rp,
            };
            let primaries = of_type(servers, ServerType::RsPrimary);
            let secondaries = || {
                let fresh = not_stale(topology, of_type(servers, ServerType::RsSecondary), rp);
                matching_tags(fresh, &rp.tag_sets)
            };
            match rp.mode {
                ReadPreferenceMode::Primary => primaries,
                ReadPreferenceMode::Secondary => secondaries(),
                ReadPreferenceMode::PrimaryPreferred if !primaries.is_empty() => primaries,
                ReadPreferenceMode::PrimaryPreferred => secondaries(),
                ReadPreferenceMode::SecondaryPreferred => {
                    let found = secondaries();
                    if found.is_empty() {
                        primaries
                    } else {
                        found
                    }
                }
                _ => {
                    let mut candidates = primaries;
                    candidates.extend(of_type(servers, ServerType::RsSecondary));
                    matching_tags(not_stale(topology, candidates, rp), &rp.tag_sets)
                }
            }
        }
    }
}

/// Staleness of a secondary in milliseconds, per the max staleness formulas; `None` when it
/// cannot be computed (no `lastWriteDate`).
fn staleness_ms(topology: &TopologyDescription, s: &ServerDescription) -> Option<i64> {
    if s.server_type != ServerType::RsSecondary {
        return Some(0);
    }
    let heartbeat = millis(topology.heartbeat_frequency);
    let s_write = s.last_write_date?;
    let servers = topology.servers.values();
    if topology.topology_type == TopologyType::ReplicaSetWithPrimary {
        let p = topology
            .servers
            .values()
            .find(|p| p.server_type == ServerType::RsPrimary)?;
        let p_write = p.last_write_date?;
        // Saturating: the dates come from the servers and may be anything.
        let s_lag = millis(s.last_update_time).saturating_sub(s_write);
        let p_lag = millis(p.last_update_time).saturating_sub(p_write);
        Some(s_lag.saturating_sub(p_lag).saturating_add(heartbeat))
    } else {
        let max_write = servers
            .filter(|x| x.server_type == ServerType::RsSecondary)
            .filter_map(|x| x.last_write_date)
            .max()?;
        Some(max_write.saturating_sub(s_write).saturating_add(heartbeat))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn not_stale<'a>(
    topology: &TopologyDescription,
    candidates: Vec<&'a ServerDescription>,
    rp: &ReadPreference,
) -> Vec<&'a ServerDescription> {
    let Some(max) = rp.max_staleness else {
        return candidates;
    };
    let max = millis(max);
    candidates
        .into_iter()
        // A server whose staleness cannot be computed is not known to be stale.
        .filter(|s| staleness_ms(topology, s).is_none_or(|st| st <= max))
        .collect()
}

fn tags_match(set: &TagSet, server: &ServerDescription) -> bool {
    set.iter().all(|(k, v)| server.tags.get(k) == Some(v))
}

fn matching_tags<'a>(
    candidates: Vec<&'a ServerDescription>,
    tag_sets: &[TagSet],
) -> Vec<&'a ServerDescription> {
    if tag_sets.is_empty() {
        return candidates;
    }
    for set in tag_sets {
        let found: Vec<_> = candidates
            .iter()
            .copied()
            .filter(|s| tags_match(set, s))
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// The suitable servers whose average round trip is within `local_threshold` of the fastest.
/// A server without a measured round trip counts as the fastest (it has not been timed yet).
pub fn in_latency_window<'a>(
    suitable: &[&'a ServerDescription],
    local_threshold: Duration,
) -> Vec<&'a ServerDescription> {
    let rtt = |s: &ServerDescription| s.round_trip_time.unwrap_or(Duration::ZERO);
    let Some(fastest) = suitable.iter().map(|s| rtt(s)).min() else {
        return Vec::new();
    };
    let limit = fastest.saturating_add(local_threshold);
    suitable
        .iter()
        .copied()
        .filter(|s| rtt(s) <= limit)
        .collect()
}

/// The final choice among the servers in the latency window: two picked at random, the one
/// running fewer operations wins (the first of the two on a tie).
///
/// `operation_count` gives a server's in-flight operations; `random(n)` returns an index
/// below `n` (the caller's random source, so tests are deterministic).
pub fn choose_by_operation_count<'a>(
    window: &[&'a ServerDescription],
    operation_count: impl Fn(&ServerAddress) -> usize,
    random: &mut impl FnMut(usize) -> usize,
) -> Option<&'a ServerDescription> {
    match window.len() {
        0 => None,
        1 => window.first().copied(),
        n => {
            let i = random(n) % n;
            // A second, different index: pick among the other n-1 and skip over i.
            let mut j = random(n - 1) % (n - 1);
            if j >= i {
                j += 1;
            }
            let (a, b) = (window.get(i)?, window.get(j)?);
            if operation_count(&b.address) < operation_count(&a.address) {
                Some(*b)
            } else {
                Some(*a)
            }
        }
    }
}

/// Selects a server: suitable servers, the latency window, then the choice by operation count.
/// `Ok(None)` when nothing is suitable now (see [`explain_no_suitable_server`]).
pub fn select_server(
    topology: &TopologyDescription,
    criteria: &SelectionCriteria,
    deprioritized: &[ServerAddress],
    operation_count: impl Fn(&ServerAddress) -> usize,
    random: &mut impl FnMut(usize) -> usize,
) -> Result<Option<ServerAddress>> {
    if let Some(e) = &topology.compatibility_error {
        return Err(Error::invalid_response(e.clone()));
    }
    let suitable = suitable_servers(topology, criteria, deprioritized)?;
    let window = in_latency_window(&suitable, topology.local_threshold);
    Ok(choose_by_operation_count(&window, operation_count, random).map(|s| s.address.clone()))
}

/// The `$readPreference` to send with an operation to a server of `server_type` in a topology
/// of `topology_type`, or `None` when none must be sent (Server Selection, "passing read
/// preference", OP_MSG rules).
///
/// - writes, and a primary read preference outside a direct connection: none;
/// - a standalone: none (it ignores read preference);
/// - a direct connection to a replica set member: `primary` becomes `primaryPreferred`, so a
///   secondary answers too;
/// - otherwise (mongos, load balancer, replica set member): the read preference as given.
pub fn read_preference_document(
    topology_type: TopologyType,
    server_type: ServerType,
    criteria: &SelectionCriteria,
) -> Option<Document> {
    let SelectionCriteria::Read(rp) = criteria else {
        return None;
    };
    let via_router = matches!(server_type, ServerType::Mongos | ServerType::LoadBalancer);
    if server_type == ServerType::Standalone {
        return None;
    }
    if rp.mode == ReadPreferenceMode::Primary {
        return (topology_type == TopologyType::Single && !via_router)
            .then(|| doc! { "mode": ReadPreferenceMode::PrimaryPreferred.as_str() });
    }
    let mut d = doc! { "mode": rp.mode.as_str() };
    if !rp.tag_sets.is_empty() {
        let tags: Vec<Bson> = rp
            .tag_sets
            .iter()
            .map(|set| {
                // Sorted keys: the same read preference always gives the same document.
                let mut pairs: Vec<_> = set.iter().collect();
                pairs.sort();
                Bson::Document(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
                        .collect(),
                )
            })
            .collect();
        d.insert("tags", tags);
    }
    if let Some(max) = rp.max_staleness {
        d.insert(
            "maxStalenessSeconds",
            i64::try_from(max.as_secs()).unwrap_or(i64::MAX),
        );
    }
    Some(d)
}

/// Explains why selection found nothing, for the error message: what each server is, its last
/// error, and what to do.
pub fn explain_no_suitable_server(
    topology: &TopologyDescription,
    criteria: &SelectionCriteria,
) -> String {
    let wants = match criteria {
        SelectionCriteria::Write => "writable server".to_string(),
        SelectionCriteria::Read(rp) => {
            let mut w = format!("server for readPreference {}", rp.mode.as_str());
            if !rp.tag_sets.is_empty() {
                w.push_str(&format!(" with tag sets {:?}", rp.tag_sets));
            }
            if let Some(m) = rp.max_staleness {
                w.push_str(&format!(" and maxStalenessSeconds {}", m.as_secs()));
            }
            w
        }
    };
    let mut parts = Vec::new();
    let mut hint_primary = None;
    for s in topology.servers.values() {
        let part = match s.server_type {
            ServerType::Unknown | ServerType::PossiblePrimary => match &s.error {
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
    let mut msg = format!(
        "no {wants} in the {:?} topology: {}",
        topology.topology_type,
        if parts.is_empty() {
            "no servers are left (check the host list and replicaSet)".to_string()
        } else {
            parts.join("; ")
        }
    );
    if let Some(e) = &topology.compatibility_error {
        msg.push_str(&format!("; {e}"));
    }
    let member_only = topology.servers.values().any(|s| {
        matches!(
            s.server_type,
            ServerType::RsSecondary
                | ServerType::RsArbiter
                | ServerType::RsOther
                | ServerType::RsGhost
        )
    }) && !topology
        .servers
        .values()
        .any(|s| s.server_type == ServerType::RsPrimary);
    if member_only {
        msg.push_str("; no primary is known");
        if let Some(p) = hint_primary {
            msg.push_str(&format!(" (a member names {p} as primary)"));
        }
        if matches!(criteria, SelectionCriteria::Read(rp) if rp.mode == ReadPreferenceMode::Primary)
        {
            msg.push_str("; to read from a secondary use readPreference=secondaryPreferred");
        }
    }
    msg
}
