//! Runs the specification files of the events: the CMAP format tests
//! (`connection-monitoring-and-pooling/cmap-format`) against the pool with a scripted connector,
//! and the SDAM monitoring scenarios (`server-discovery-and-monitoring/monitoring`) against the
//! topology events. Every vendored file is either run or named in [`SKIP`] with the reason.

use std::path::Path;

use serde_json::Value;

// The spec files are found and read as the SDAM runner does.
use crate::sdam::spec_tests::{json_files, read_json, relative};

mod cmap;
mod monitoring;

/// Files of these directories that are not run, relative to `tests/spec/json`, with the
/// reason. Empty today: every vendored file is run.
const SKIP: &[(&str, &str)] = &[];

/// The directories this runner owns, with how many files each holds (a missing file fails).
const DIRS: &[(&str, usize)] = &[
    ("connection-monitoring-and-pooling/cmap-format", 33),
    ("server-discovery-and-monitoring/monitoring", 8),
];

fn is_skipped(path: &Path) -> bool {
    let rel = relative(path);
    SKIP.iter().any(|(f, _)| *f == rel)
}

/// The specification's MATCH: `expected` is a subset of `actual`; `42` and `"42"` stand for
/// any value that exists.
fn matches(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match expected {
        Value::Number(n) if n.as_i64() == Some(42) => {
            if actual.is_null() {
                return Err(format!("{at}: expected a value, found none"));
            }
            Ok(())
        }
        Value::String(s) if s == "42" => {
            if actual.is_null() {
                return Err(format!("{at}: expected a value, found none"));
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map {
                let a = actual.get(k).unwrap_or(&Value::Null);
                matches(v, a, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let Some(actual_items) = actual.as_array() else {
                return Err(format!("{at}: expected an array, found {actual}"));
            };
            if items.len() != actual_items.len() {
                return Err(format!("{at}: expected {expected}, found {actual}"));
            }
            for (i, (e, a)) in items.iter().zip(actual_items).enumerate() {
                matches(e, a, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Value::Number(e) => match actual.as_f64() {
            Some(a) if Some(a) == e.as_f64() => Ok(()),
            _ => Err(format!("{at}: expected {expected}, found {actual}")),
        },
        _ if expected == actual => Ok(()),
        _ => Err(format!("{at}: expected {expected}, found {actual}")),
    }
}

#[test]
fn every_event_specification_file_is_run_or_skipped_with_a_reason() {
    let mut total = 0;
    for (dir, count) in DIRS {
        let files = json_files(dir);
        assert_eq!(
            files.len(),
            *count,
            "{dir}: the vendored file count changed"
        );
        total += files.len();
    }
    let run = cmap::run_all() + monitoring::run_all();
    assert_eq!(
        run + SKIP.len(),
        total,
        "every file of {DIRS:?} must be run or listed in SKIP"
    );
}
