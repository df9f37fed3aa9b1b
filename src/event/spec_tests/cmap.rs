//! The CMAP format tests, run against the pool with a scripted connector.
//!
//! "Threads" are Tokio tasks, each running its operations in order; the runtime's clock is
//! paused, so waits and timeouts take no real time and every run is the same. The files of
//! style `integration` run too: their fail point (a `hello` held for `blockTimeMS`, or failing
//! with `errorCode`) is what the scripted connector does to each connection it opens, and an
//! error while opening one clears the pool as SDAM would. An expected error is matched by its
//! type (`PoolClosedError`, `WaitQueueTimeoutError`); the messages are this client's own.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use super::{is_skipped, json_files, matches, read_json, relative};
use crate::error::{Error, ErrorKind, Result};
use crate::event::cmap::{
    CmapEmitter, CmapEvent, ConnectionCheckoutFailedReason, ConnectionClosedReason,
    ConnectionPoolOptions,
};
use crate::event::EventHandler;
use crate::options::ServerAddress;
use crate::pool::{Connector, Pool, PoolConnection, PoolOptions, PooledConnection};

const DIR: &str = "connection-monitoring-and-pooling/cmap-format";

/// Runs every file; returns how many were run.
pub(super) fn run_all() -> usize {
    let mut run = 0;
    for f in json_files(DIR).iter().filter(|f| !is_skipped(f)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(run_file(f));
        run += 1;
    }
    run
}

struct FakeConn(u32);

impl PoolConnection for FakeConn {
    fn id(&self) -> u32 {
        self.0
    }

    fn is_broken(&self) -> bool {
        false
    }
}

/// The `failCommand` fail point of an integration file, applied to each `hello`.
#[derive(Clone, Default)]
struct FailPoint {
    block: Option<Duration>,
    error_code: Option<i32>,
    /// `mode: {times: n}`: how many more times it applies (`None`: always).
    times: Option<Arc<Mutex<u32>>>,
}

/// Opens fake connections, doing to each `hello` what the fail point says.
#[derive(Clone)]
struct Scripted {
    fail_point: FailPoint,
    /// The pool, for the clear SDAM makes after an error while opening a connection.
    pool: Arc<Mutex<Option<Pool<Scripted>>>>,
}

impl Connector for Scripted {
    type Conn = FakeConn;
    fn connect(
        &self,
        _address: &ServerAddress,
        id: u32,
        generation: u32,
    ) -> impl Future<Output = Result<FakeConn>> + Send {
        let this = self.clone();
        async move {
            let fp = &this.fail_point;
            let applies = match &fp.times {
                None => fp.block.is_some() || fp.error_code.is_some(),
                Some(left) => {
                    let mut left = left.lock().unwrap();
                    let applies = *left > 0;
                    *left = left.saturating_sub(1);
                    applies
                }
            };
            if !applies {
                return Ok(FakeConn(id));
            }
            if let Some(block) = fp.block {
                tokio::time::sleep(block).await;
            }
            if let Some(code) = fp.error_code {
                let pool = this.pool.lock().unwrap().clone();
                if let Some(pool) = pool {
                    // SDAM: an error in the handshake marks the server Unknown and clears the
                    // pool (at the generation the attempt started in).
                    drop(pool.clear_with(generation, false));
                }
                return Err(Error::new(ErrorKind::Command {
                    code,
                    code_name: "ShutdownInProgress".into(),
                    message: "fail point".into(),
                }));
            }
            Ok(FakeConn(id))
        }
    }
}

/// What the operations share: the pool, the events, the checked-out connections.
struct Context {
    pool: Pool<Scripted>,
    events: Arc<Mutex<Vec<CmapEvent>>>,
    event_added: Arc<Notify>,
    labels: Mutex<HashMap<String, PooledConnection<Scripted>>>,
    unlabelled: Mutex<Vec<PooledConnection<Scripted>>>,
}

fn type_name(e: &CmapEvent) -> &'static str {
    match e {
        CmapEvent::PoolCreated(_) => "ConnectionPoolCreated",
        CmapEvent::PoolReady(_) => "ConnectionPoolReady",
        CmapEvent::PoolCleared(_) => "ConnectionPoolCleared",
        CmapEvent::PoolClosed(_) => "ConnectionPoolClosed",
        CmapEvent::ConnectionCreated(_) => "ConnectionCreated",
        CmapEvent::ConnectionReady(_) => "ConnectionReady",
        CmapEvent::ConnectionClosed(_) => "ConnectionClosed",
        CmapEvent::ConnectionCheckoutStarted(_) => "ConnectionCheckOutStarted",
        CmapEvent::ConnectionCheckoutFailed(_) => "ConnectionCheckOutFailed",
        CmapEvent::ConnectionCheckedOut(_) => "ConnectionCheckedOut",
        CmapEvent::ConnectionCheckedIn(_) => "ConnectionCheckedIn",
    }
}

fn millis(d: Duration) -> Value {
    json!(d.as_secs_f64() * 1000.0)
}

/// An event in the test files' shape.
fn to_json(e: &CmapEvent) -> Value {
    let mut v = json!({ "type": type_name(e), "address": e.address().to_string() });
    match e {
        CmapEvent::PoolCreated(e) => {
            let o = e.options.clone().unwrap_or_default();
            let mut options = json!({});
            if let Some(d) = o.max_idle_time {
                options["maxIdleTimeMS"] = json!(d.as_millis() as u64);
            }
            if let Some(n) = o.max_pool_size {
                options["maxPoolSize"] = json!(n);
            }
            if let Some(n) = o.min_pool_size {
                options["minPoolSize"] = json!(n);
            }
            if let Some(n) = o.max_connecting {
                options["maxConnecting"] = json!(n);
            }
            if let Some(d) = o.wait_queue_timeout {
                options["waitQueueTimeoutMS"] = json!(d.as_millis() as u64);
            }
            v["options"] = options;
        }
        CmapEvent::PoolCleared(e) => {
            v["interruptInUseConnections"] = json!(e.interrupt_in_use_connections);
            if let Some(s) = e.service_id {
                v["serviceId"] = json!(s.to_hex());
            }
        }
        CmapEvent::ConnectionCreated(e) => v["connectionId"] = json!(e.connection_id),
        CmapEvent::ConnectionReady(e) => {
            v["connectionId"] = json!(e.connection_id);
            v["duration"] = millis(e.duration);
        }
        CmapEvent::ConnectionClosed(e) => {
            v["connectionId"] = json!(e.connection_id);
            v["reason"] = json!(match e.reason {
                ConnectionClosedReason::Stale => "stale",
                ConnectionClosedReason::Idle => "idle",
                ConnectionClosedReason::Error => "error",
                ConnectionClosedReason::PoolClosed => "poolClosed",
            });
        }
        CmapEvent::ConnectionCheckoutFailed(e) => {
            v["duration"] = millis(e.duration);
            v["reason"] = json!(match e.reason {
                ConnectionCheckoutFailedReason::Timeout => "timeout",
                ConnectionCheckoutFailedReason::ConnectionError => "connectionError",
                ConnectionCheckoutFailedReason::PoolClosed => "poolClosed",
            });
        }
        CmapEvent::ConnectionCheckedOut(e) => {
            v["connectionId"] = json!(e.connection_id);
            v["duration"] = millis(e.duration);
        }
        CmapEvent::ConnectionCheckedIn(e) => v["connectionId"] = json!(e.connection_id),
        _ => {}
    }
    v
}

/// The error type names of the files, for this client's errors.
fn error_type(e: &Error) -> &'static str {
    match &*e.kind {
        ErrorKind::Shutdown => "PoolClosedError",
        ErrorKind::WaitQueueTimeout { .. } => "WaitQueueTimeoutError",
        ErrorKind::PoolCleared { .. } => "PoolClearedError",
        _ => "OtherError",
    }
}

fn pool_options(v: &Value) -> (PoolOptions, ConnectionPoolOptions) {
    let ms = |k: &str| v.get(k).and_then(Value::as_i64);
    let n = |k: &str| ms(k).map(|n| u32::try_from(n).expect("a count"));
    let user = ConnectionPoolOptions {
        max_idle_time: ms("maxIdleTimeMS").map(|m| Duration::from_millis(m as u64)),
        max_pool_size: n("maxPoolSize"),
        min_pool_size: n("minPoolSize"),
        max_connecting: n("maxConnecting"),
        wait_queue_timeout: ms("waitQueueTimeoutMS").map(|m| Duration::from_millis(m as u64)),
    };
    let defaults = PoolOptions::default();
    let options = PoolOptions {
        max_pool_size: user.max_pool_size.unwrap_or(defaults.max_pool_size),
        min_pool_size: user.min_pool_size.unwrap_or(0),
        max_idle_time: user.max_idle_time.filter(|d| !d.is_zero()),
        max_connecting: user.max_connecting.unwrap_or(defaults.max_connecting),
        wait_queue_timeout: user
            .wait_queue_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(3600)),
        wait_queue_timeout_option: "waitQueueTimeoutMS",
        // A negative interval: never (an hour is never for these tests).
        maintenance_interval: match ms("backgroundThreadIntervalMS") {
            Some(m) if m > 0 => Duration::from_millis(m as u64),
            Some(_) => Duration::from_secs(3600),
            None => defaults.maintenance_interval,
        },
        ..defaults
    };
    (options, user)
}

fn fail_point(test: &Value) -> FailPoint {
    let Some(fp) = test.get("failPoint") else {
        return FailPoint::default();
    };
    let data = &fp["data"];
    let commands: Vec<&str> = data["failCommands"]
        .as_array()
        .expect("failCommands")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        commands.contains(&"hello"),
        "the runner emulates fail points on hello only"
    );
    let block = (data["blockConnection"] == json!(true))
        .then(|| Duration::from_millis(data["blockTimeMS"].as_u64().expect("blockTimeMS")));
    let times = fp["mode"]
        .get("times")
        .and_then(Value::as_u64)
        .map(|t| Arc::new(Mutex::new(u32::try_from(t).expect("times"))));
    FailPoint {
        block,
        error_code: data["errorCode"].as_i64().map(|c| c as i32),
        times,
    }
}

async fn run_file(path: &Path) {
    let name = relative(path);
    let test = read_json(path);
    let (mut options, user) = pool_options(&test["poolOptions"]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let event_added = Arc::new(Notify::new());
    let (sink, added) = (Arc::clone(&events), Arc::clone(&event_added));
    options.events = CmapEmitter {
        handler: Some(EventHandler::callback(move |e: CmapEvent| {
            sink.lock().unwrap().push(e);
            added.notify_waiters();
        })),
        options: user,
        topology_id: None,
    };
    let connector = Scripted {
        fail_point: fail_point(&test),
        pool: Arc::new(Mutex::new(None)),
    };
    let pool_slot = Arc::clone(&connector.pool);
    let address = ServerAddress::Tcp {
        host: "cmap-test".into(),
        port: Some(27017),
    };
    let pool = Pool::new(address, connector, options);
    drop(pool.announce());
    *pool_slot.lock().unwrap() = Some(pool.clone());
    let ctx = Arc::new(Context {
        pool,
        events: Arc::clone(&events),
        event_added,
        labels: Mutex::new(HashMap::new()),
        unlabelled: Mutex::new(Vec::new()),
    });

    let mut threads: HashMap<String, Thread> = HashMap::new();
    let mut main_error: Option<Error> = None;
    for op in test["operations"].as_array().expect("operations") {
        let op_name = op["name"].as_str().expect("operation name");
        if let Some(thread) = op.get("thread").and_then(Value::as_str) {
            let t = threads
                .get(thread)
                .unwrap_or_else(|| panic!("{name}: thread {thread} not started"));
            t.ops.send(op.clone()).expect("thread alive");
            continue;
        }
        let result = match op_name {
            "start" => {
                let target = op["target"].as_str().expect("target").to_owned();
                threads.insert(target, Thread::start(Arc::clone(&ctx)));
                Ok(())
            }
            "waitForThread" => {
                let target = op["target"].as_str().expect("target");
                let t = threads
                    .remove(target)
                    .unwrap_or_else(|| panic!("{name}: no thread {target}"));
                t.finish().await
            }
            _ => run_op(&ctx, op, &name).await,
        };
        if let Err(e) = result {
            // The main thread stops at its first error.
            main_error = Some(e);
            break;
        }
    }
    match (&test["error"], &main_error) {
        (Value::Null, None) => {}
        (Value::Null, Some(e)) => panic!("{name}: unexpected error {e}"),
        (expected, Some(e)) => {
            let expected = expected["type"].as_str().expect("error type");
            assert_eq!(error_type(e), expected, "{name}: {e}");
        }
        (expected, None) => panic!("{name}: expected the error {expected}, got none"),
    }
    let ignore: Vec<&str> = test["ignore"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let actual: Vec<Value> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| !ignore.contains(&type_name(e)))
        .map(to_json)
        .collect();
    for (i, expected) in test["events"]
        .as_array()
        .expect("events")
        .iter()
        .enumerate()
    {
        let Some(a) = actual.get(i) else {
            panic!("{name}: event {i} missing: expected {expected}\nall: {actual:#?}");
        };
        if let Err(m) = matches(expected, a, &format!("events[{i}]")) {
            panic!("{name}: {m}\nexpected {expected}\nall: {actual:#?}");
        }
    }
    // Break the cycle connector -> pool, and end the threads.
    *pool_slot.lock().unwrap() = None;
    for (_, t) in threads {
        t.task.abort();
    }
}

/// A named "thread" of a file: a task running the operations sent to it, in order.
struct Thread {
    ops: mpsc::UnboundedSender<Value>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Thread {
    fn start(ctx: Arc<Context>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let task = tokio::spawn(async move {
            let mut first_error = None;
            while let Some(op) = rx.recv().await {
                if first_error.is_some() {
                    continue;
                }
                if let Err(e) = run_op(&ctx, &op, "thread").await {
                    first_error = Some(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        });
        Self { ops: tx, task }
    }

    /// Waits until the thread has run everything sent to it; its error, if it had one.
    async fn finish(self) -> Result<()> {
        drop(self.ops);
        self.task.await.expect("thread task")
    }
}

async fn run_op(ctx: &Context, op: &Value, file: &str) -> Result<()> {
    match op["name"].as_str().expect("name") {
        "wait" => {
            tokio::time::sleep(Duration::from_millis(op["ms"].as_u64().expect("ms"))).await;
        }
        "waitForEvent" => {
            let event = op["event"].as_str().expect("event");
            let count = op["count"].as_u64().expect("count") as usize;
            let timeout = Duration::from_millis(op["timeout"].as_u64().unwrap_or(10_000));
            let seen = || {
                ctx.events
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|e| type_name(e) == event)
                    .count()
            };
            let wait = async {
                loop {
                    let added = ctx.event_added.notified();
                    if seen() >= count {
                        return;
                    }
                    added.await;
                }
            };
            if tokio::time::timeout(timeout, wait).await.is_err() {
                panic!(
                    "{file}: waited {timeout:?} for {count} {event} events, saw {}",
                    seen()
                );
            }
        }
        "checkOut" => {
            let conn = ctx.pool.check_out().await?;
            match op.get("label").and_then(Value::as_str) {
                Some(label) => {
                    ctx.labels.lock().unwrap().insert(label.to_owned(), conn);
                }
                None => ctx.unlabelled.lock().unwrap().push(conn),
            }
        }
        "checkIn" => {
            let label = op["connection"].as_str().expect("connection");
            let conn = ctx.labels.lock().unwrap().remove(label);
            drop(conn.unwrap_or_else(|| panic!("{file}: no connection {label}")));
        }
        "clear" => {
            let interrupt = op["interruptInUseConnections"].as_bool().unwrap_or(false);
            drop(ctx.pool.clear_with(ctx.pool.generation(), interrupt));
        }
        "close" => ctx.pool.close(),
        "ready" => drop(ctx.pool.ready()),
        other => panic!("{file}: operation {other} not handled by the runner"),
    }
    Ok(())
}
