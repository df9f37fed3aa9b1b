//! Server Discovery and Monitoring scenarios: `hello` replies and application errors in,
//! topology description out.

use std::collections::HashMap;
use std::path::Path;

use bson::oid::ObjectId;
use bson::Bson;
use serde_json::Value;

use super::{
    address, is_skipped, json_files, phase_descriptions, phases, read_json, relative, to_bson,
    to_document,
};
use crate::sdam::{
    ApplicationError, ApplicationErrorKind, ErrorPhase, TopologyDescription, TopologyVersion,
};

/// Directories and how many files each holds, so a missing file fails loudly.
const DIRS: &[(&str, usize)] = &[
    ("server-discovery-and-monitoring/single", 19),
    ("server-discovery-and-monitoring/rs", 77),
    ("server-discovery-and-monitoring/sharded", 9),
    ("server-discovery-and-monitoring/load-balanced", 1),
    ("server-discovery-and-monitoring/errors", 72),
];

/// Runs every SDAM file; returns how many were run.
pub(super) fn run_all() -> usize {
    let mut run = 0;
    for (dir, count) in DIRS {
        let files = json_files(dir);
        assert_eq!(files.len(), *count, "{dir}");
        for f in files.iter().filter(|f| !is_skipped(f)) {
            run_file(f);
            run += 1;
        }
    }
    run
}

struct Uri {
    seeds: Vec<crate::options::ServerAddress>,
    replica_set: Option<String>,
    direct_connection: Option<bool>,
    load_balanced: bool,
}

/// The few URI forms the scenario files use: hosts and three options.
fn parse_uri(uri: &str) -> Uri {
    let rest = uri.strip_prefix("mongodb://").expect("mongodb:// URI");
    let (hosts, query) = match rest.split_once('/') {
        Some((h, q)) => (h, q.trim_start_matches('?')),
        None => (rest, ""),
    };
    let mut u = Uri {
        seeds: hosts.split(',').map(address).collect(),
        replica_set: None,
        direct_connection: None,
        load_balanced: false,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').expect("key=value");
        match k {
            "replicaSet" => u.replica_set = Some(v.to_string()),
            "directConnection" => u.direct_connection = Some(v == "true"),
            "loadBalanced" => u.load_balanced = v == "true",
            other => panic!("URI option {other} not handled by the runner"),
        }
    }
    u
}

fn run_file(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let uri = parse_uri(test["uri"].as_str().expect("uri"));
    let mut topology = TopologyDescription::new(
        &uri.seeds,
        uri.direct_connection,
        uri.replica_set.clone(),
        uri.load_balanced,
    );
    // The pool generation of each server, as the I/O layer would keep it.
    let mut generations: HashMap<String, u32> = HashMap::new();
    let mut clock = std::time::Duration::ZERO;
    for (ctx, phase) in phases(&name, &test) {
        for d in phase_descriptions(&ctx, phase, &mut clock) {
            let change = topology.update(d);
            for a in change.clear_pools {
                *generations.entry(key(&a)).or_default() += 1;
            }
        }
        for e in phase["applicationErrors"].as_array().into_iter().flatten() {
            let addr = address(e["address"].as_str().expect("address"));
            let current = generations.get(&key(&addr)).copied().unwrap_or(0);
            let err = application_error(e, current);
            let outcome = topology.handle_application_error(&addr, &err, current);
            if outcome.clear_pool {
                *generations.entry(key(&addr)).or_default() += 1;
            }
        }
        check_outcome(&ctx, &topology, &generations, &phase["outcome"]);
    }
}

fn key(a: &crate::options::ServerAddress) -> String {
    a.to_string()
}

fn application_error(e: &Value, current_generation: u32) -> ApplicationError {
    let generation = e
        .get("generation")
        .and_then(Value::as_u64)
        .map_or(current_generation, |g| {
            u32::try_from(g).expect("generation")
        });
    let phase = match e["when"].as_str() {
        Some("beforeHandshakeCompletes") => ErrorPhase::BeforeHandshake,
        Some("afterHandshakeCompletes") => ErrorPhase::AfterHandshake,
        other => panic!("when: {other:?}"),
    };
    let kind = match e["type"].as_str() {
        Some("network") => ApplicationErrorKind::Network("connection closed".into()),
        Some("timeout") => ApplicationErrorKind::NetworkTimeout("timed out".into()),
        Some("command") => {
            let reply = to_document(&e["response"]);
            let code = match reply.get("code") {
                Some(Bson::Int32(c)) => Some(*c),
                Some(Bson::Int64(c)) => Some(i32::try_from(*c).expect("code")),
                Some(Bson::Double(c)) => Some(*c as i32),
                _ => None,
            };
            let topology_version = match reply.get("topologyVersion") {
                Some(Bson::Document(t)) => {
                    Some(TopologyVersion::from_document(t).expect("topologyVersion"))
                }
                _ => None,
            };
            ApplicationErrorKind::Command {
                code,
                message: reply.get_str("errmsg").unwrap_or_default().to_string(),
                topology_version,
            }
        }
        other => panic!("type: {other:?}"),
    };
    let max_wire_version = e["maxWireVersion"]
        .as_i64()
        .map_or(0, |v| i32::try_from(v).expect("maxWireVersion"));
    ApplicationError::new(generation, phase, kind, max_wire_version)
}

fn oid(v: &Value) -> Option<ObjectId> {
    match v {
        Value::Null => None,
        other => match to_bson(other) {
            Bson::ObjectId(o) => Some(o),
            b => panic!("expected an ObjectId, got {b:?}"),
        },
    }
}

fn opt_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        other => match to_bson(other) {
            Bson::Int32(i) => Some(i64::from(i)),
            Bson::Int64(i) => Some(i),
            b => panic!("expected an integer, got {b:?}"),
        },
    }
}

fn topology_version(v: &Value) -> Option<TopologyVersion> {
    match v {
        Value::Null => None,
        other => {
            Some(TopologyVersion::from_document(&to_document(other)).expect("topologyVersion"))
        }
    }
}

fn minutes(d: Option<std::time::Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_secs() / 60).expect("minutes"))
}

fn check_outcome(
    ctx: &str,
    t: &TopologyDescription,
    generations: &HashMap<String, u32>,
    outcome: &Value,
) {
    let expected = outcome["servers"].as_object().expect("servers");
    let mut want: Vec<String> = expected.keys().map(|k| key(&address(k))).collect();
    want.sort();
    let got: Vec<String> = t.servers.values().map(|s| key(&s.address)).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want, "{ctx}: servers");
    for (addr, exp) in expected {
        let s = t
            .server(&address(addr))
            .unwrap_or_else(|| panic!("{ctx}: no {addr}"));
        let ctx = format!("{ctx}, server {addr}");
        let exp = exp.as_object().expect("server outcome");
        for (field, v) in exp {
            match field.as_str() {
                "type" => assert_eq!(
                    s.server_type,
                    super::server_type(v.as_str().expect("type")),
                    "{ctx}: type"
                ),
                "setName" => assert_eq!(s.set_name.as_deref(), v.as_str(), "{ctx}: setName"),
                "setVersion" => assert_eq!(s.set_version, opt_i64(v), "{ctx}: setVersion"),
                "electionId" => assert_eq!(s.election_id, oid(v), "{ctx}: electionId"),
                "topologyVersion" => assert_eq!(
                    s.topology_version,
                    topology_version(v),
                    "{ctx}: topologyVersion"
                ),
                "logicalSessionTimeoutMinutes" => assert_eq!(
                    minutes(s.logical_session_timeout),
                    opt_i64(v),
                    "{ctx}: logicalSessionTimeoutMinutes"
                ),
                "minWireVersion" => {
                    assert_eq!(
                        opt_i64(v).unwrap_or(0),
                        i64::from(s.min_wire_version),
                        "{ctx}: minWireVersion"
                    )
                }
                "maxWireVersion" => {
                    assert_eq!(
                        opt_i64(v).unwrap_or(0),
                        i64::from(s.max_wire_version),
                        "{ctx}: maxWireVersion"
                    )
                }
                "pool" => assert_eq!(
                    u64::from(generations.get(&key(&s.address)).copied().unwrap_or(0)),
                    v["generation"].as_u64().expect("generation"),
                    "{ctx}: pool generation"
                ),
                "error" => {
                    let want = v.as_str().expect("error");
                    let got = s.error.as_deref().unwrap_or_default();
                    assert!(got.contains(want), "{ctx}: error {got:?} lacks {want:?}");
                }
                other => panic!("{ctx}: outcome field {other} not checked by the runner"),
            }
        }
    }
    for (field, v) in outcome.as_object().expect("outcome") {
        match field.as_str() {
            "servers" => {}
            "topologyType" => assert_eq!(
                t.topology_type,
                super::topology_type(v.as_str().expect("topologyType")),
                "{ctx}: topologyType"
            ),
            "setName" => assert_eq!(t.set_name.as_deref(), v.as_str(), "{ctx}: setName"),
            "logicalSessionTimeoutMinutes" => assert_eq!(
                minutes(t.logical_session_timeout),
                opt_i64(v),
                "{ctx}: logicalSessionTimeoutMinutes"
            ),
            "maxSetVersion" => assert_eq!(t.max_set_version, opt_i64(v), "{ctx}: maxSetVersion"),
            "maxElectionId" => assert_eq!(t.max_election_id, oid(v), "{ctx}: maxElectionId"),
            "compatible" => assert_eq!(
                t.compatibility_error.is_none(),
                v.as_bool().expect("compatible"),
                "{ctx}: compatible ({:?})",
                t.compatibility_error
            ),
            other => panic!("{ctx}: outcome field {other} not checked by the runner"),
        }
    }
}
