//! SDAM monitoring scenarios: `hello` replies in, the topology events out, phase by phase.

use std::path::Path;
use std::time::Duration;

use bson::oid::ObjectId;
use serde_json::{json, Value};

use super::{is_skipped, json_files, matches, read_json, relative};
use crate::event::sdam::{opening_events, update_events, SdamEvent};
use crate::options::ServerAddress;
use crate::sdam::spec_tests::{phase_descriptions, phases};
use crate::sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType};

const DIR: &str = "server-discovery-and-monitoring/monitoring";

/// Runs every file; returns how many were run.
pub(super) fn run_all() -> usize {
    let mut run = 0;
    for f in json_files(DIR).iter().filter(|f| !is_skipped(f)) {
        run_file(f);
        run += 1;
    }
    run
}

fn address(s: &str) -> ServerAddress {
    ServerAddress::parse(s).unwrap_or_else(|e| panic!("address {s}: {e}"))
}

fn run_file(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let uri = test["uri"].as_str().expect("uri");
    let rest = uri.strip_prefix("mongodb://").expect("mongodb:// URI");
    let (hosts, query) = rest.split_once('/').unwrap_or((rest, ""));
    let seeds: Vec<ServerAddress> = hosts.split(',').map(address).collect();
    let (mut direct, mut set, mut lb) = (None, None, false);
    for pair in query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=').expect("key=value") {
            ("directConnection", v) => direct = Some(v == "true"),
            ("replicaSet", v) => set = Some(v.to_owned()),
            ("loadBalanced", v) => lb = v == "true",
            (k, _) => panic!("{name}: URI option {k} not handled by the runner"),
        }
    }
    let id = ObjectId::new();
    let mut topology = TopologyDescription::new(&seeds, direct, set, lb);
    let mut events = opening_events(id, &topology);
    let mut clock = Duration::ZERO;
    for (ctx, phase) in phases(&name, &test) {
        for d in phase_descriptions(&ctx, phase, &mut clock) {
            let before = topology.clone();
            topology.update(d.clone());
            events.extend(update_events(id, &before, &topology, Some(&d)));
        }
        let expected = phase["outcome"]["events"].as_array().expect("events");
        let actual: Vec<Value> = events.drain(..).map(|e| to_json(&e)).collect();
        assert_eq!(
            actual.len(),
            expected.len(),
            "{ctx}: expected {expected:#?}\nfound {actual:#?}"
        );
        for (j, (e, a)) in expected.iter().zip(&actual).enumerate() {
            if let Err(m) = matches(e, a, &format!("events[{j}]")) {
                panic!("{ctx}: {m}\nexpected {e:#}\nfound {a:#}");
            }
        }
    }
}

fn type_name(t: ServerType) -> &'static str {
    match t {
        ServerType::Standalone => "Standalone",
        ServerType::Mongos => "Mongos",
        ServerType::RsPrimary => "RSPrimary",
        ServerType::RsSecondary => "RSSecondary",
        ServerType::RsArbiter => "RSArbiter",
        ServerType::RsOther => "RSOther",
        ServerType::RsGhost => "RSGhost",
        ServerType::LoadBalancer => "LoadBalancer",
        ServerType::PossiblePrimary => "PossiblePrimary",
        _ => "Unknown",
    }
}

fn topology_type_name(t: TopologyType) -> &'static str {
    match t {
        TopologyType::Single => "Single",
        TopologyType::ReplicaSetNoPrimary => "ReplicaSetNoPrimary",
        TopologyType::ReplicaSetWithPrimary => "ReplicaSetWithPrimary",
        TopologyType::Sharded => "Sharded",
        TopologyType::LoadBalanced => "LoadBalanced",
        _ => "Unknown",
    }
}

/// A server description in the test files' shape.
pub(super) fn server_json(d: &ServerDescription) -> Value {
    let mut v = json!({
        "address": d.address.to_string(),
        "arbiters": d.arbiters,
        "hosts": d.hosts,
        "passives": d.passives,
        "type": type_name(d.server_type),
    });
    if let Some(p) = &d.primary {
        v["primary"] = json!(p);
    }
    if let Some(s) = &d.set_name {
        v["setName"] = json!(s);
    }
    v
}

/// A topology description in the test files' shape.
pub(super) fn topology_json(d: &TopologyDescription) -> Value {
    let mut v = json!({
        "topologyType": topology_type_name(d.topology_type),
        "servers": d.servers.values().map(server_json).collect::<Vec<_>>(),
    });
    if let Some(s) = &d.set_name {
        v["setName"] = json!(s);
    }
    v
}

fn to_json(e: &SdamEvent) -> Value {
    let id = |i: &ObjectId| json!(i.to_hex());
    match e {
        SdamEvent::TopologyOpening(e) => {
            json!({"topology_opening_event": {"topologyId": id(&e.topology_id)}})
        }
        SdamEvent::TopologyClosed(e) => {
            json!({"topology_closed_event": {"topologyId": id(&e.topology_id)}})
        }
        SdamEvent::ServerOpening(e) => json!({"server_opening_event": {
            "topologyId": id(&e.topology_id), "address": e.address.to_string()}}),
        SdamEvent::ServerClosed(e) => json!({"server_closed_event": {
            "topologyId": id(&e.topology_id), "address": e.address.to_string()}}),
        SdamEvent::ServerDescriptionChanged(e) => json!({"server_description_changed_event": {
            "topologyId": id(&e.topology_id),
            "address": e.address.to_string(),
            "previousDescription": server_json(&e.previous_description),
            "newDescription": server_json(&e.new_description),
        }}),
        SdamEvent::TopologyDescriptionChanged(e) => json!({"topology_description_changed_event": {
            "topologyId": id(&e.topology_id),
            "previousDescription": topology_json(&e.previous_description),
            "newDescription": topology_json(&e.new_description),
        }}),
        other => json!({"unexpected": format!("{other:?}")}),
    }
}
