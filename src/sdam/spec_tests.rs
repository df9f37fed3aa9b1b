//! Runs the specification scenario files under `tests/spec/json` against the pure SDAM and
//! server selection code. Every file is either run or named in [`SKIP`] with a reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bson::{Bson, Document};
use serde_json::Value;

use super::{ServerDescription, ServerType, TopologyType};
use crate::options::ServerAddress;

mod sdam;
mod selection;

/// Scenario files the runner does not run, relative to `tests/spec/json`, with the reason.
/// Empty today: every vendored file is run.
const SKIP: &[(&str, &str)] = &[];

/// The root of the vendored specification files.
pub(crate) fn spec_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/json")
}

/// The `.json` files under `dir` (relative to the spec root), recursively, sorted.
pub(crate) fn json_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&spec_root().join(dir), &mut out);
    out.sort();
    out
}

/// `path` relative to the spec root, with `/` separators (as skip lists name files).
pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(spec_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn is_skipped(path: &Path) -> bool {
    let rel = relative(path);
    SKIP.iter().any(|(f, _)| *f == rel)
}

/// A spec file's JSON (a file that does not parse fails the test).
pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Extended JSON (`$oid`, `$numberLong`, …) to BSON.
fn to_bson(v: &Value) -> Bson {
    Bson::try_from(v.clone()).unwrap_or_else(|e| panic!("extended JSON {v}: {e}"))
}

fn to_document(v: &Value) -> Document {
    match to_bson(v) {
        Bson::Document(d) => d,
        other => panic!("expected a document, got {other:?}"),
    }
}

fn address(s: &str) -> ServerAddress {
    ServerAddress::parse(s).unwrap_or_else(|e| panic!("address {s}: {e}"))
}

/// The phases of an SDAM scenario, each with the name to report it by (`"{name} phase {i}"`).
pub(crate) fn phases<'a>(
    name: &'a str,
    test: &'a Value,
) -> impl Iterator<Item = (String, &'a Value)> + 'a {
    let phases = test["phases"].as_array().expect("phases").iter();
    phases
        .enumerate()
        .map(move |(i, phase)| (format!("{name} phase {i}"), phase))
}

/// The descriptions a phase's `responses` make of their servers, one millisecond apart on
/// `clock` (the time the checks took).
pub(crate) fn phase_descriptions(
    ctx: &str,
    phase: &Value,
    clock: &mut Duration,
) -> Vec<ServerDescription> {
    let responses = phase["responses"].as_array().into_iter().flatten();
    responses
        .map(|response| {
            *clock += Duration::from_millis(1);
            let addr = address(response[0].as_str().expect("address"));
            let reply = to_document(&response[1]);
            ServerDescription::from_hello(addr, &reply, None, *clock)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"))
        })
        .collect()
}

fn server_type(name: &str) -> ServerType {
    match name {
        "Standalone" => ServerType::Standalone,
        "Mongos" => ServerType::Mongos,
        "RSPrimary" => ServerType::RsPrimary,
        "RSSecondary" => ServerType::RsSecondary,
        "RSArbiter" => ServerType::RsArbiter,
        "RSOther" => ServerType::RsOther,
        "RSGhost" => ServerType::RsGhost,
        "LoadBalancer" => ServerType::LoadBalancer,
        "PossiblePrimary" => ServerType::PossiblePrimary,
        "Unknown" => ServerType::Unknown,
        other => panic!("unknown server type {other}"),
    }
}

fn topology_type(name: &str) -> TopologyType {
    match name {
        "Single" => TopologyType::Single,
        "ReplicaSetNoPrimary" => TopologyType::ReplicaSetNoPrimary,
        "ReplicaSetWithPrimary" => TopologyType::ReplicaSetWithPrimary,
        "Sharded" => TopologyType::Sharded,
        "LoadBalanced" => TopologyType::LoadBalanced,
        "Unknown" => TopologyType::Unknown,
        other => panic!("unknown topology type {other}"),
    }
}

fn millis_f64(v: &Value) -> Duration {
    Duration::from_secs_f64(v.as_f64().expect("a number of milliseconds") / 1000.0)
}

/// A server description as the selection files give one.
fn selection_server(v: &Value) -> ServerDescription {
    let mut d = ServerDescription::unknown(address(v["address"].as_str().expect("address")));
    d.server_type = server_type(v["type"].as_str().expect("type"));
    if let Some(rtt) = v.get("avg_rtt_ms") {
        d.round_trip_time = Some(millis_f64(rtt));
    }
    if let Some(Value::Object(tags)) = v.get("tags") {
        d.tags = tags
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("tag value").to_string()))
            .collect::<HashMap<_, _>>();
    }
    d
}

/// The directories this runner owns; the others under `tests/spec/json` belong to the events
/// runner (`src/event/spec_tests`: SDAM `monitoring/`, CMAP) and the unified runner.
const OWNED: &[&str] = &[
    "server-discovery-and-monitoring/single/",
    "server-discovery-and-monitoring/rs/",
    "server-discovery-and-monitoring/sharded/",
    "server-discovery-and-monitoring/load-balanced/",
    "server-discovery-and-monitoring/errors/",
    "server-selection/",
];

#[test]
fn every_scenario_file_is_run_or_skipped_with_a_reason() {
    let all: Vec<PathBuf> = json_files("")
        .into_iter()
        .filter(|p| OWNED.iter().any(|d| relative(p).starts_with(d)))
        .collect();
    let run = sdam::run_all() + selection::run_all();
    assert_eq!(
        run + SKIP.len(),
        all.len(),
        "every file under tests/spec/json must be run or listed in SKIP"
    );
    // A silently empty or missing directory must fail.
    assert_eq!(all.len(), 281, "the vendored scenario count changed");
}
