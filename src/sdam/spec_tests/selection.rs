//! Server Selection scenarios: suitable servers and the latency window, the round-trip
//! average, and the choice by operation count within the window (a statistical test).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{
    address, is_skipped, json_files, millis_f64, read_json, relative, selection_server,
    topology_type,
};
use crate::options::{ReadPreference, ReadPreferenceMode, TagSet};
use crate::sdam::{
    choose_by_operation_count, in_latency_window, suitable_servers, RttAverage, SelectionCriteria,
    ServerDescription, TopologyDescription, XorShift64,
};

/// Runs one scenario file.
type Runner = fn(&Path);

/// Runs every selection file; returns how many were run.
pub(super) fn run_all() -> usize {
    let mut run = 0;
    let groups: [(&str, usize, Runner); 3] = [
        ("server-selection/server_selection", 88, run_selection),
        ("server-selection/rtt", 7, run_rtt),
        ("server-selection/in_window", 8, run_in_window),
    ];
    for (dir, count, runner) in groups {
        let files = json_files(dir);
        assert_eq!(files.len(), count, "{dir}");
        for f in files.iter().filter(|f| !is_skipped(f)) {
            runner(f);
            run += 1;
        }
    }
    run
}

fn topology(v: &Value) -> TopologyDescription {
    let mut t = TopologyDescription::new(&[], None, None, false);
    t.topology_type = topology_type(v["type"].as_str().expect("type"));
    for s in v["servers"].as_array().expect("servers") {
        let d = selection_server(s);
        t.servers.insert(d.address.to_string(), d);
    }
    t
}

fn mode(name: &str) -> ReadPreferenceMode {
    match name {
        "Primary" => ReadPreferenceMode::Primary,
        "PrimaryPreferred" => ReadPreferenceMode::PrimaryPreferred,
        "Secondary" => ReadPreferenceMode::Secondary,
        "SecondaryPreferred" => ReadPreferenceMode::SecondaryPreferred,
        "Nearest" => ReadPreferenceMode::Nearest,
        other => panic!("mode {other}"),
    }
}

fn read_preference(v: &Value) -> ReadPreference {
    let tag_sets = v
        .get("tag_sets")
        .and_then(Value::as_array)
        .map(|sets| {
            sets.iter()
                .map(|set| {
                    set.as_object()
                        .expect("tag set")
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().expect("tag").to_string()))
                        .collect::<TagSet>()
                })
                .collect()
        })
        .unwrap_or_default();
    ReadPreference {
        mode: v
            .get("mode")
            .and_then(Value::as_str)
            .map_or(ReadPreferenceMode::Primary, mode),
        tag_sets,
        max_staleness: v
            .get("maxStalenessSeconds")
            .and_then(Value::as_u64)
            .map(Duration::from_secs),
    }
}

fn addresses(servers: &[&ServerDescription]) -> Vec<String> {
    let mut v: Vec<String> = servers.iter().map(|s| s.address.to_string()).collect();
    v.sort();
    v
}

fn expected_addresses(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("server list")
        .iter()
        .map(|s| address(s["address"].as_str().expect("address")).to_string())
        .collect();
    out.sort();
    out
}

fn run_selection(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let t = topology(&test["topology_description"]);
    let criteria = match test["operation"].as_str() {
        Some("write") => SelectionCriteria::Write,
        Some("read") => SelectionCriteria::Read(read_preference(&test["read_preference"])),
        other => panic!("{name}: operation {other:?}"),
    };
    let deprioritized: Vec<_> = test
        .get("deprioritized_servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| address(s["address"].as_str().expect("address")))
        .collect();
    let suitable =
        suitable_servers(&t, &criteria, &deprioritized).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        addresses(&suitable),
        expected_addresses(&test["suitable_servers"]),
        "{name}: suitable servers"
    );
    let window = in_latency_window(&suitable, t.local_threshold);
    assert_eq!(
        addresses(&window),
        expected_addresses(&test["in_latency_window"]),
        "{name}: latency window"
    );
}

fn run_rtt(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let mut avg = RttAverage::new();
    if test["avg_rtt_ms"] != Value::String("NULL".into()) {
        avg.add_sample(millis_f64(&test["avg_rtt_ms"]));
    }
    let got = avg.add_sample(millis_f64(&test["new_rtt_ms"]));
    let want = test["new_avg_rtt"].as_f64().expect("new_avg_rtt");
    let got_ms = got.as_secs_f64() * 1000.0;
    assert!((got_ms - want).abs() < 1e-6, "{name}: {got_ms} != {want}");
}

fn run_in_window(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let t = topology(&test["topology_description"]);
    let counts: HashMap<String, usize> = test["mocked_topology_state"]
        .as_array()
        .expect("mocked_topology_state")
        .iter()
        .map(|s| {
            let a = address(s["address"].as_str().expect("address")).to_string();
            let n = s["operation_count"].as_u64().expect("operation_count");
            (a, usize::try_from(n).expect("count"))
        })
        .collect();
    let criteria = SelectionCriteria::Read(ReadPreference {
        mode: ReadPreferenceMode::Nearest,
        ..Default::default()
    });
    let suitable = suitable_servers(&t, &criteria, &[]).expect("suitable");
    let window = in_latency_window(&suitable, t.local_threshold);
    let iterations = test["iterations"].as_u64().expect("iterations");
    // A fixed seed: the frequencies are checked against the spec's tolerance, reproducibly.
    let mut rng = XorShift64::new(0x5eed_1234_abcd_0001);
    let mut chosen: HashMap<String, u64> = HashMap::new();
    for _ in 0..iterations {
        let s = choose_by_operation_count(
            &window,
            |a| counts.get(&a.to_string()).copied().unwrap_or(0),
            &mut |n| rng.below(n),
        )
        .unwrap_or_else(|| panic!("{name}: nothing chosen"));
        *chosen.entry(s.address.to_string()).or_default() += 1;
    }
    let outcome = &test["outcome"];
    let tolerance = outcome["tolerance"].as_f64().expect("tolerance");
    for (addr, freq) in outcome["expected_frequencies"]
        .as_object()
        .expect("frequencies")
    {
        let want = freq.as_f64().expect("frequency");
        let got =
            chosen.get(&address(addr).to_string()).copied().unwrap_or(0) as f64 / iterations as f64;
        assert!(
            (got - want).abs() <= tolerance,
            "{name}: {addr} chosen {got}, expected {want} ± {tolerance}"
        );
    }
}
