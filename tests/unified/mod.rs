//! A runner for the Unified Test Format specification, and the suites it runs.
//!
//! Each suite is one `#[test]` that runs every vendored file of its directories
//! (`tests/spec/json/...`) against a SecantusDB test server, test by test. Two suites run at
//! once, each on a server it holds alone (fail points are server-wide). A test either runs
//! (and passes or fails), is not applicable (its `runOnRequirements` are not met by this
//! server: the reason says which), or is in the skip list ([`skips`]) with the server's reason.
//! Nothing else is left out: every file of a suite's directories is read, and a skip-list entry
//! that matches nothing is itself a failure. While the crate reports no events
//! ([`monitor::AVAILABLE`]), a test whose only failures are event assertions still fails, and
//! the report counts it apart ("only on expected events").
//!
//! The report of each suite (counts, reasons, failures) is printed and written to
//! `target/unified-report/<suite>.txt`. Iterate on a subset with `UNIFIED_FILTER=<text>` (a
//! substring of `file: test description`; the unmatched-skip check is off then);
//! `UNIFIED_VERBOSE=1` prints each test's verdict as it ends (with `--nocapture`).

pub mod entities;
pub mod env;
pub mod errors;
// The event kinds are built once the crate reports events (see monitor.rs).
#[allow(dead_code)]
pub mod events;
pub mod logs;
pub mod matching;
pub mod monitor;
pub mod ops;
pub mod runner;
pub mod skips;
pub mod spec;
pub mod threads;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use env::{Deployment, Env};

/// One test's longest run (the slowest CSOT tests block for a few seconds).
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The suites: `name: [directories under tests/spec/json] (on Deployment) (=> fail);`.
/// Adding a suite is one line.
macro_rules! suites {
    ($($(#[$meta:meta])* $name:ident: [$($dir:literal),+] $(on $deployment:ident)? $(=> $expect:ident)?;)*) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            run_suite(
                stringify!($name),
                &[$($dir),+],
                suites!(@on $($deployment)?),
                suites!(@expect $($expect)?),
            );
        }
    )*};
    (@on) => { Deployment::Server };
    (@on $d:ident) => { Deployment::$d };
    (@expect) => { Expect::Pass };
    (@expect fail) => { Expect::Fail };
    (@expect timed) => { Expect::PassTimed };
}

suites! {
    crud: ["crud/unified"];
    retryable_reads: ["retryable-reads/unified"];
    retryable_writes: ["retryable-writes/unified"];
    sessions: ["sessions"];
    command_logging_and_monitoring: ["command-logging-and-monitoring/monitoring", "command-logging-and-monitoring/logging"];
    collection_management: ["collection-management"];
    index_management: ["index-management"];
    run_command: ["run-command/unified"];
    versioned_api: ["versioned-api"];
    read_write_concern: ["read-write-concern/operation"];
    // Timeouts of 10 to 200 ms on a shared 2-core machine: a failed test runs once more.
    client_side_operations_timeout: ["client-side-operations-timeout"] => timed;
    load_balancers: ["load-balancers"] on LoadBalancer;
    transactions: ["transactions/unified"];
    transactions_convenient_api: ["transactions-convenient-api/unified"];
    change_streams: ["change-streams/unified"];
    gridfs: ["gridfs"];
    sdam_unified: ["server-discovery-and-monitoring/unified"];
    unified_format_valid_pass: ["unified-test-format/valid-pass"];
    unified_format_valid_fail: ["unified-test-format/valid-fail"] => fail;
}

/// What the tests of a suite must do: pass, or (the format's `valid-fail` files) fail.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Pass,
    Fail,
    /// Pass, and a test that fails is run once more (fresh entities, same server): the CSOT
    /// files' budgets of 10 to 200 ms include connection set-up, which a loaded machine can
    /// overrun (the specifications' DRIVERS-3134). A test passes only if that run passes; the
    /// report names every test that needed it, with its first failure.
    PassTimed,
}

/// What happened to one test.
enum Verdict {
    Passed,
    /// Passed when run again after this failure (suites that allow it: [`Expect::PassTimed`]).
    PassedOnRerun(String),
    Failed(String),
    /// Failed on event assertions alone (the crate reports no events yet).
    EventsOnly(String),
    Skipped(String),
    NotApplicable(String),
}

fn spec_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/json")
}

fn run_suite(name: &str, dirs: &[&str], deployment: Deployment, expect: Expect) {
    let filter = std::env::var("UNIFIED_FILTER").ok();
    let lease = env::lease_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let results = rt.block_on(async {
        let env = Arc::new(
            Env::start(deployment, lease.server)
                .await
                .unwrap_or_else(|e| panic!("{name}: cannot reach the test deployment: {e}")),
        );
        let mut results: Vec<(String, String, Verdict)> = Vec::new();
        for dir in dirs {
            for path in json_files(&spec_root().join(dir)) {
                let rel = path
                    .strip_prefix(spec_root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                run_file(&env, &rel, &path, expect, filter.as_deref(), &mut results).await;
            }
        }
        results
    });
    drop(rt);
    drop(lease);
    let unused = if filter.is_none() {
        skips::unused(
            dirs,
            &results
                .iter()
                .map(|(f, t, _)| (f.as_str(), t.as_str()))
                .collect::<Vec<_>>(),
        )
    } else {
        Vec::new()
    };
    let report = report(name, &results, &unused, started.elapsed());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/unified-report");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.txt")), &report);
    println!("{report}");
    let failed = results
        .iter()
        .filter(|(_, _, v)| matches!(v, Verdict::Failed(_) | Verdict::EventsOnly(_)))
        .count();
    assert!(
        failed == 0 && unused.is_empty(),
        "{name}: {failed} tests failed, {} skip-list entries match nothing (report above and in \
         target/unified-report/{name}.txt)",
        unused.len()
    );
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no test files in {}", dir.display());
    v
}

async fn run_file(
    env: &Arc<Env>,
    rel: &str,
    path: &Path,
    expect: Expect,
    filter: Option<&str>,
    results: &mut Vec<(String, String, Verdict)>,
) {
    let file = match spec::load(path) {
        Ok(f) => f,
        Err(e) => {
            let v = match expect {
                Expect::Pass | Expect::PassTimed => {
                    Verdict::Failed(format!("cannot load the file: {e}"))
                }
                Expect::Fail => Verdict::Passed,
            };
            results.push((rel.to_owned(), "(the file)".to_owned(), v));
            return;
        }
    };
    for test in &file.tests {
        let id = format!("{rel}: {}", test.description);
        if filter.is_some_and(|f| !id.contains(f)) {
            continue;
        }
        let began = Instant::now();
        let verdict = if let Some(reason) = skips::reason(rel, &test.description) {
            Verdict::Skipped(reason.to_owned())
        } else if !spec::schema_supported(&file.schema_version) {
            Verdict::Failed(format!(
                "schema version {} is newer than this runner's {}.{}",
                file.schema_version,
                spec::SUPPORTED_SCHEMA.0,
                spec::SUPPORTED_SCHEMA.1
            ))
        } else if let Some(reason) = &test.skip_reason {
            Verdict::NotApplicable(format!("the file's own skipReason: {reason}"))
        } else if let Err(why) = env.check(&file.run_on_requirements).await {
            Verdict::NotApplicable(why)
        } else if let Err(why) = env.check(&test.run_on_requirements).await {
            Verdict::NotApplicable(why)
        } else {
            let first = run_one(env, &file, test).await;
            match first {
                Verdict::Failed(e) if expect == Expect::PassTimed => {
                    match run_one(env, &file, test).await {
                        Verdict::Passed => Verdict::PassedOnRerun(e),
                        again => again,
                    }
                }
                v => v,
            }
        };
        if std::env::var_os("UNIFIED_VERBOSE").is_some() {
            let v = match &verdict {
                Verdict::Passed => "ok".to_owned(),
                Verdict::PassedOnRerun(e) => format!("ok on a second run; first: {e}"),
                Verdict::Failed(e) | Verdict::EventsOnly(e) => format!("FAILED {e}"),
                Verdict::Skipped(r) => format!("skipped: {r}"),
                Verdict::NotApplicable(r) => format!("n/a: {r}"),
            };
            eprintln!("[{} ms] {id}: {v}", began.elapsed().as_millis());
        }
        let verdict = match (expect, verdict) {
            (Expect::Fail, Verdict::Failed(_) | Verdict::EventsOnly(_)) => Verdict::Passed,
            (Expect::Fail, Verdict::Passed) => {
                Verdict::Failed("a valid-fail test must fail, and it passed".into())
            }
            (_, v) => v,
        };
        results.push((rel.to_owned(), test.description.clone(), verdict));
    }
}

/// Runs one test within [`TEST_TIMEOUT`].
async fn run_one(env: &Arc<Env>, file: &spec::TestFile, test: &spec::TestCase) -> Verdict {
    match tokio::time::timeout(TEST_TIMEOUT, runner::run_test(env, file, test)).await {
        Ok(Ok(())) => Verdict::Passed,
        Ok(Err(e)) if e.starts_with(runner::EVENTS_ONLY) => Verdict::EventsOnly(e),
        Ok(Err(e)) => Verdict::Failed(e),
        Err(_) => Verdict::Failed(format!("did not finish within {TEST_TIMEOUT:?}")),
    }
}

fn report(
    name: &str,
    results: &[(String, String, Verdict)],
    unused: &[String],
    took: Duration,
) -> String {
    let mut passed = 0;
    let mut reruns = Vec::new();
    let mut failed = Vec::new();
    let mut events_only = Vec::new();
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut not_applicable: BTreeMap<&str, usize> = BTreeMap::new();
    for (file, test, v) in results {
        match v {
            Verdict::Passed => passed += 1,
            Verdict::PassedOnRerun(e) => {
                passed += 1;
                reruns.push(format!("{file}: {test}\n      first run: {e}"));
            }
            Verdict::Failed(e) => failed.push(format!("{file}: {test}\n      {e}")),
            Verdict::EventsOnly(_) => events_only.push(format!("{file}: {test}")),
            Verdict::Skipped(r) => *skipped.entry(r).or_default() += 1,
            Verdict::NotApplicable(r) => *not_applicable.entry(r).or_default() += 1,
        }
    }
    let run = passed + failed.len() + events_only.len();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "unified suite {name}: {} tests, {run} run, {passed} passed, {} failed ({} of them only \
         on expected events), {} skipped (skip list), {} not applicable (runOnRequirements), in \
         {:.1} s",
        results.len(),
        failed.len() + events_only.len(),
        events_only.len(),
        skipped.values().sum::<usize>(),
        not_applicable.values().sum::<usize>(),
        took.as_secs_f64()
    );
    for (r, n) in &skipped {
        let _ = writeln!(out, "  skipped {n}: {r}");
    }
    for (r, n) in &not_applicable {
        let _ = writeln!(out, "  not applicable {n}: {r}");
    }
    for r in &reruns {
        let _ = writeln!(out, "  passed on a second run {r}");
    }
    for f in &failed {
        let _ = writeln!(out, "  FAILED {f}");
    }
    for f in &events_only {
        let _ = writeln!(out, "  FAILED (events only) {f}");
    }
    for u in unused {
        let _ = writeln!(out, "  UNUSED skip-list entry: {u}");
    }
    out
}
