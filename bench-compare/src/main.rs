//! Side-by-side benchmark: mongo-x509 (both TLS backends) against the official `mongodb` crate,
//! the same workloads against the same local SecantusDB in one run (issue 12, item 5).
//!
//! Run it with `scripts/bench.sh compare`, which makes the certificates, starts the servers and the
//! compressing proxy and passes their ports:
//!
//! ```text
//! bench-compare --certs DIR --tls-port P [--proxy-port Q --proxy-stats S] [--out FILE]
//! ```
//!
//! - `--tls-port`: SecantusDB with TLS, required client certificates and `--auth`, with an X.509
//!   user for `DIR/client-pkcs8.pem` (an unencrypted PKCS#8 PEM that both crates read).
//! - `--proxy-port`/`--proxy-stats`: `compress_proxy` in front of a plain SecantusDB (the
//!   compression rows; skipped without them).
//!
//! Environment: `BENCH_REPS` (measured runs per workload and driver, default 5),
//! `BENCH_COMPRESSORS` (compressors measured through the proxy, default `zstd,zlib,snappy`).
//!
//! Client CPU is user + system time of this process (`getrusage(RUSAGE_SELF)`), measured as a
//! delta around each run; the servers and the proxy are other processes. Each figure is the
//! median of the measured runs, after a warm-up run; drivers take turns run by run so that load
//! from other processes on a shared machine falls on all of them alike.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bson::{doc, Document, RawDocumentBuf};
use futures_util::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;

mod item;
use item::item;

/// Counts every allocation (and reallocation) of the process: calls and bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const OFFICIAL_VERSION: &str = env!("MONGODB_CRATE_VERSION");
const DOCS: usize = 10_000;
/// URI options of every client, both drivers (see `Setup::uri`).
const COMMON: &str = "directConnection=true&retryWrites=false";
const DB: &str = "bench";

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// User + system CPU time of this process.
fn cpu_now() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// One measured run: wall, CPU and allocations over `ops` operations.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    allocs: u64,
    bytes: u64,
    ops: u64,
}

struct Meter(Instant, Duration, u64, u64);

impl Meter {
    fn start() -> Self {
        Meter(
            Instant::now(),
            cpu_now(),
            ALLOCS.load(Relaxed),
            ALLOC_BYTES.load(Relaxed),
        )
    }
    fn stop(self, ops: u64) -> Sample {
        Sample {
            wall: self.0.elapsed(),
            cpu: cpu_now().saturating_sub(self.1),
            allocs: ALLOCS.load(Relaxed) - self.2,
            bytes: ALLOC_BYTES.load(Relaxed) - self.3,
            ops,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Driver {
    X509Openssl,
    X509Native,
    Official,
}

const DRIVERS: [Driver; 3] = [Driver::X509Openssl, Driver::X509Native, Driver::Official];

impl Driver {
    fn label(self) -> String {
        match self {
            Driver::X509Openssl => "mongo-x509 openssl".into(),
            Driver::X509Native => "mongo-x509 native-tls".into(),
            Driver::Official => format!("official {OFFICIAL_VERSION} (openssl-tls)"),
        }
    }
}

/// Where a client connects: the TLS + X.509 server, or the proxy (plain) with these compressors.
#[derive(Clone)]
enum Target {
    Tls,
    Proxy(Option<String>),
}

impl Target {
    fn suffix(&self) -> String {
        match self {
            Target::Tls => String::new(),
            Target::Proxy(None) => ", proxy, no compression".into(),
            Target::Proxy(Some(c)) => format!(", proxy, compressors={c}"),
        }
    }
}

struct Setup {
    certs: String,
    tls_port: u16,
    proxy: Option<(u16, u16)>,
}

/// Percent-encodes everything but ASCII letters and digits.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Setup {
    fn uri(&self, driver: Driver, target: &Target) -> String {
        let backend = match driver {
            Driver::X509Openssl => "&tlsBackend=openssl",
            Driver::X509Native => "&tlsBackend=native-tls",
            Driver::Official => "",
        };
        match target {
            // directConnection: SecantusDB calls itself a one-member replica set; both drivers
            // talk to this one address (and through the proxy, never around it).
            // retryWrites=false: SecantusDB scans its whole table of retryable-write records on
            // every write with a `txnNumber`, so it would slow down run after run.
            Target::Tls => format!(
                "mongodb://127.0.0.1:{}/?{COMMON}&tls=true&tlsCAFile={}\
                 &tlsCertificateKeyFile={}&authMechanism=MONGODB-X509{backend}",
                self.tls_port,
                enc(&format!("{}/ca.pem", self.certs)),
                enc(&format!("{}/client-pkcs8.pem", self.certs)),
            ),
            Target::Proxy(c) => {
                let (port, _) = self.proxy.expect("proxy target without a proxy");
                let mut uri = format!("mongodb://127.0.0.1:{port}/?{COMMON}");
                if let Some(c) = c {
                    uri += &format!("&compressors={c}");
                }
                uri
            }
        }
    }

    /// The proxy's cumulative counters.
    fn proxy_stats(&self) -> HashMap<String, u64> {
        let Some((_, port)) = self.proxy else {
            return HashMap::new();
        };
        let mut line = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.read_to_string(&mut line);
        }
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }
}

enum Client {
    X(mongo_x509::Client),
    O(mongodb::Client),
}

#[derive(Clone)]
enum Coll {
    X(mongo_x509::Collection<Document>),
    O(mongodb::Collection<Document>),
}

impl Client {
    async fn connect(driver: Driver, uri: &str) -> Res<Client> {
        Ok(match driver {
            Driver::Official => Client::O(mongodb::Client::with_uri_str(uri).await?),
            _ => Client::X(mongo_x509::Client::with_uri_str(uri).await?),
        })
    }

    async fn ping(&self) -> Res<()> {
        match self {
            Client::X(c) => drop(c.database("admin").run_command(doc! {"ping": 1}).await?),
            Client::O(c) => drop(c.database("admin").run_command(doc! {"ping": 1}).await?),
        }
        Ok(())
    }

    fn coll(&self, name: &str) -> Coll {
        match self {
            Client::X(c) => Coll::X(c.database(DB).collection(name)),
            Client::O(c) => Coll::O(c.database(DB).collection(name)),
        }
    }

    async fn shutdown(self) {
        match self {
            Client::X(c) => c.shutdown().await,
            Client::O(c) => c.shutdown().await,
        }
    }
}

impl Coll {
    async fn drop_coll(&self) -> Res<()> {
        match self {
            Coll::X(c) => c.drop().await?,
            Coll::O(c) => c.drop().await?,
        }
        Ok(())
    }

    async fn insert_one(&self, d: &Document) -> Res<()> {
        match self {
            Coll::X(c) => drop(c.insert_one(d).await?),
            Coll::O(c) => drop(c.insert_one(d).await?),
        }
        Ok(())
    }

    async fn find_one(&self, id: i64) -> Res<()> {
        let found = match self {
            Coll::X(c) => c.find_one(doc! {"_id": id}).await?.is_some(),
            Coll::O(c) => c.find_one(doc! {"_id": id}).await?.is_some(),
        };
        if !found {
            return Err(format!("find_one: _id {id} not found").into());
        }
        Ok(())
    }

    async fn insert_many(&self, docs: &[Document]) -> Res<()> {
        match self {
            Coll::X(c) => drop(c.insert_many(docs).await?),
            Coll::O(c) => drop(c.insert_many(docs).await?),
        }
        Ok(())
    }

    /// `find({})` with one large batch, iterated to the end as `T`; returns the count.
    async fn scan<T>(&self) -> Res<usize>
    where
        T: DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        let mut n = 0;
        match self {
            Coll::X(c) => {
                let mut cur = c
                    .clone_with_type::<T>()
                    .find(doc! {})
                    .batch_size(DOCS as u32)
                    .await?;
                while cur.try_next().await?.is_some() {
                    n += 1;
                }
            }
            Coll::O(c) => {
                let mut cur = c
                    .clone_with_type::<T>()
                    .find(doc! {})
                    .batch_size(DOCS as u32)
                    .await?;
                while cur.try_next().await?.is_some() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// The typed read: a small struct deserialized straight from each document.
#[derive(Deserialize)]
#[allow(dead_code)] // read only by the deserializer: the point is what decoding costs
struct Item {
    #[serde(rename = "_id")]
    id: i64,
    name: String,
    qty: i32,
    price: f64,
    tags: Vec<String>,
    note: String,
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by_key(|s| s.cpu);
    let mid = v[v.len() / 2];
    let mut walls: Vec<Duration> = v.iter().map(|s| s.wall).collect();
    walls.sort();
    Sample {
        wall: walls[walls.len() / 2],
        ..mid
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Connect,
    Single { tasks: usize },
    Bulk,
}

struct Row {
    workload: String,
    kind: Kind,
    driver: Driver,
    docs_per_op: u64,
    s: Sample,
    wire: String,
}

impl Row {
    fn cpu_op(&self) -> f64 {
        self.s.cpu.as_secs_f64() * 1e6 / self.s.ops as f64
    }
    fn wall_op(&self) -> f64 {
        self.s.wall.as_secs_f64() * 1e6 / self.s.ops as f64
    }
    fn target(&self) -> Option<f64> {
        match self.kind {
            Kind::Connect => None,
            Kind::Single { tasks: 1 } => Some(0.5),
            Kind::Single { .. } | Kind::Bulk => Some(0.8),
        }
    }
}

struct Bench {
    setup: Setup,
    reps: usize,
    doc_size: usize,
    rows: Vec<Row>,
}

impl Bench {
    fn record(
        &mut self,
        workload: &str,
        kind: Kind,
        docs: u64,
        samples: HashMap<Driver, Vec<Sample>>,
        wire: HashMap<Driver, String>,
    ) {
        for d in DRIVERS {
            let s = median(samples[&d].clone());
            let r = Row {
                workload: workload.into(),
                kind,
                driver: d,
                docs_per_op: docs,
                s,
                wire: wire.get(&d).cloned().unwrap_or_default(),
            };
            eprintln!(
                "  {:<50} {:<32} wall {:>9.1} µs/op  cpu {:>9.1} µs/op",
                workload,
                d.label(),
                r.wall_op(),
                r.cpu_op()
            );
            self.rows.push(r);
        }
    }

    /// Fresh client to first `ping`, per driver; the shutdown is not measured.
    async fn connect(&mut self) -> Res<()> {
        let mut samples: HashMap<Driver, Vec<Sample>> = HashMap::new();
        let runs = 2 + 4 * self.reps;
        for i in 0..runs {
            for d in DRIVERS {
                let uri = self.setup.uri(d, &Target::Tls);
                let m = Meter::start();
                let c = Client::connect(d, &uri).await?;
                c.ping().await?;
                let s = m.stop(1);
                c.shutdown().await;
                if i >= 2 {
                    samples.entry(d).or_default().push(s);
                }
            }
        }
        self.record(
            "fresh client to first ping",
            Kind::Connect,
            1,
            samples,
            HashMap::new(),
        );
        Ok(())
    }

    /// `insert_one` or `find_one` by `_id` from `tasks` concurrent tasks on one client.
    async fn single(&mut self, find: bool, tasks: usize) -> Res<()> {
        let per_task = if tasks == 1 { 1000 } else { 125 };
        let mut samples: HashMap<Driver, Vec<Sample>> = HashMap::new();
        let doc = item(7, None);
        for _ in 0..self.reps {
            for d in DRIVERS {
                let c = Client::connect(d, &self.setup.uri(d, &Target::Tls)).await?;
                let coll = c.coll(if find { "scan" } else { "single" });
                if !find {
                    coll.drop_coll().await?;
                }
                // Warm-up: opens the connections the measured run needs.
                run_tasks(&coll, find, tasks, 20, &doc).await?;
                let m = Meter::start();
                run_tasks(&coll, find, tasks, per_task, &doc).await?;
                samples
                    .entry(d)
                    .or_default()
                    .push(m.stop((tasks * per_task) as u64));
                c.shutdown().await;
            }
        }
        let name = format!(
            "{} ({} task{})",
            if find {
                "find_one by _id"
            } else {
                "insert_one"
            },
            tasks,
            if tasks == 1 { "" } else { "s" }
        );
        self.record(&name, Kind::Single { tasks }, 1, samples, HashMap::new());
        Ok(())
    }

    /// `insert_many` of 10,000 documents into an emptied collection.
    async fn insert_many(&mut self, target: Target, docs: &[Document]) -> Res<()> {
        let mut samples: HashMap<Driver, Vec<Sample>> = HashMap::new();
        let mut wire = HashMap::new();
        for rep in 0..=self.reps {
            for d in DRIVERS {
                let c = Client::connect(d, &self.setup.uri(d, &target)).await?;
                let coll = c.coll("many");
                coll.drop_coll().await?;
                let before = self.setup.proxy_stats();
                let m = Meter::start();
                coll.insert_many(docs).await?;
                let s = m.stop(1);
                let after = self.setup.proxy_stats();
                c.shutdown().await;
                if rep > 0 {
                    samples.entry(d).or_default().push(s);
                    wire.insert(d, wire_note(&target, &before, &after));
                }
            }
        }
        let name = format!("insert_many 10,000 docs{}", target.suffix());
        self.record(&name, Kind::Bulk, DOCS as u64, samples, wire);
        Ok(())
    }

    /// A cursor over the 10,000 documents of `scan`, each decoded as `T`.
    async fn cursor<T>(&mut self, target: Target, type_name: &str, drivers: &[Driver]) -> Res<()>
    where
        T: DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        let mut samples: HashMap<Driver, Vec<Sample>> = HashMap::new();
        let mut wire = HashMap::new();
        for rep in 0..=self.reps {
            for &d in drivers {
                let c = Client::connect(d, &self.setup.uri(d, &target)).await?;
                let coll = c.coll("scan");
                c.ping().await?;
                let before = self.setup.proxy_stats();
                let m = Meter::start();
                let n = coll.scan::<T>().await?;
                let s = m.stop(1);
                let after = self.setup.proxy_stats();
                c.shutdown().await;
                if n != DOCS {
                    return Err(format!("cursor returned {n} documents, expected {DOCS}").into());
                }
                if rep > 0 {
                    samples.entry(d).or_default().push(s);
                    wire.insert(d, wire_note(&target, &before, &after));
                }
            }
        }
        let name = format!("cursor 10,000 docs as {type_name}{}", target.suffix());
        if drivers.len() == DRIVERS.len() {
            self.record(&name, Kind::Bulk, DOCS as u64, samples, wire);
        } else {
            // Not every driver ran it: record what there is (no ratio without the official).
            for d in drivers {
                let s = median(samples[d].clone());
                eprintln!(
                    "  {name:<50} {:<32} cpu {:>9.1} µs/op",
                    d.label(),
                    s.cpu.as_secs_f64() * 1e6
                );
                self.rows.push(Row {
                    workload: name.clone(),
                    kind: Kind::Bulk,
                    driver: *d,
                    docs_per_op: DOCS as u64,
                    s,
                    wire: String::new(),
                });
            }
        }
        Ok(())
    }
}

async fn run_tasks(
    coll: &Coll,
    find: bool,
    tasks: usize,
    per_task: usize,
    doc: &Document,
) -> Res<()> {
    let one = |coll: Coll, doc: Document| async move {
        for _ in 0..per_task {
            if find {
                coll.find_one(1).await?;
            } else {
                coll.insert_one(&doc).await?;
            }
        }
        Res::Ok(())
    };
    if tasks == 1 {
        return one(coll.clone(), doc.clone()).await;
    }
    let handles: Vec<_> = (0..tasks)
        .map(|_| tokio::spawn(one(coll.clone(), doc.clone())))
        .collect();
    for h in handles {
        h.await??;
    }
    Ok(())
}

/// What crossed the proxy during one run: compressed requests and replies, bytes on the wire.
fn wire_note(
    target: &Target,
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> String {
    if matches!(target, Target::Tls) {
        return String::new();
    }
    let d = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let sum = |dir: &str| {
        ["zstd", "zlib", "snappy"]
            .iter()
            .map(|c| d(&format!("{dir}_{c}")))
            .sum::<u64>()
    };
    let used: Vec<&str> = ["zstd", "zlib", "snappy"]
        .into_iter()
        .filter(|c| d(&format!("requests_{c}")) + d(&format!("replies_{c}")) > 0)
        .collect();
    format!(
        "{}: {}/{} req, {}/{} replies compressed; {:.0}/{:.0} kB",
        if used.is_empty() {
            "none".to_string()
        } else {
            used.join("+")
        },
        sum("requests"),
        d("requests"),
        sum("replies"),
        d("replies"),
        d("wire_bytes") as f64 / 1e3,
        d("raw_bytes") as f64 / 1e3,
    )
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn report(b: &Bench, started: &str, load_start: &str, elapsed: Duration) -> String {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(md, "## mongo-x509 vs the official `mongodb` crate\n");
    let _ = writeln!(
        md,
        "{started}; {nproc} cores ({cpu_model}); load average at start {}, at end {}; {}; \
         mongo-x509 at {}; run took {:.0} s.\n",
        load_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        cmd_out("rustc", &["--version"]),
        cmd_out("git", &["rev-parse", "--short", "HEAD"]),
        elapsed.as_secs_f64(),
    );
    let _ = writeln!(
        md,
        "Official crate: `mongodb` {OFFICIAL_VERSION} with `openssl-tls` (OpenSSL, like mongo-x509's \
         `openssl` backend: same TLS library, so the difference is the driver) and bson 2. One local \
         SecantusDB with TLS, a required client certificate and MONGODB-X509 (unencrypted PKCS#8 \
         PEM key; `directConnection=true&retryWrites=false` for both, as SecantusDB slows down with \
         every retryable write it records). Rows marked *proxy* go through `compress_proxy` to a \
         second, plain SecantusDB (no TLS, no auth): it negotiates compression as mongod does; \
         \"on the wire\" says what it saw. Client CPU = user + system time of the bench process; \
         the servers and the proxy are other processes. Documents of {} bytes (BSON). Medians of {} \
         runs after a warm-up, drivers taking turns, a fresh client per run; 16-task figures are \
         total time / operations. Ratio = mongo-x509 / official; target per issue 12 (on CPU).\n",
        b.doc_size, b.reps
    );
    let _ = writeln!(
        md,
        "| workload | driver | wall µs/op | CPU µs/op | CPU µs/doc | CPU × official | wall × official | target | met | on the wire |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---|---|---|");
    for r in &b.rows {
        let official = b
            .rows
            .iter()
            .find(|o| o.workload == r.workload && o.driver == Driver::Official);
        let (ratio, wall_ratio) = match official {
            Some(o) if r.driver != Driver::Official => (
                Some(r.cpu_op() / o.cpu_op()),
                Some(r.wall_op() / o.wall_op()),
            ),
            _ => (None, None),
        };
        // A compression row where mongo-x509 sent nothing compressed compares unequal work.
        let uncompressed = r.wire.starts_with("none")
            && official.is_some_and(|o| !o.wire.is_empty() && !o.wire.starts_with("none"));
        let (target, met) = match (r.target(), ratio) {
            (Some(t), Some(_)) if uncompressed => {
                (format!("≤ {t}×"), "n/a: mongo-x509 did not compress".into())
            }
            (Some(t), Some(x)) => (
                format!("≤ {t}×"),
                if x <= t { "met" } else { "not met" }.to_string(),
            ),
            _ => (String::new(), String::new()),
        };
        let per_doc = if r.docs_per_op > 1 {
            format!("{:.2}", r.cpu_op() / r.docs_per_op as f64)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.driver.label(),
            r.wall_op(),
            r.cpu_op(),
            per_doc,
            ratio.map_or(String::new(), |x| format!("{x:.2}")),
            wall_ratio.map_or(String::new(), |x| format!("{x:.2}")),
            target,
            met,
            r.wire,
        );
    }
    let _ = writeln!(
        md,
        "\nAllocations per operation (counting global allocator, single task, median run; \
         includes whatever the driver's background tasks allocated meanwhile; OpenSSL's own \
         allocations, made by C `malloc`, are not seen by it, for any driver):\n"
    );
    let _ = writeln!(
        md,
        "| driver | find_one allocs | find_one bytes | insert_one allocs | insert_one bytes |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for d in DRIVERS {
        let per = |w: &str| {
            b.rows
                .iter()
                .find(|r| r.workload == w && r.driver == d)
                .map_or((0.0, 0.0), |r| {
                    (
                        r.s.allocs as f64 / r.s.ops as f64,
                        r.s.bytes as f64 / r.s.ops as f64,
                    )
                })
        };
        let (fa, fb) = per("find_one by _id (1 task)");
        let (ia, ib) = per("insert_one (1 task)");
        let _ = writeln!(
            md,
            "| {} | {fa:.0} | {fb:.0} | {ia:.0} | {ib:.0} |",
            d.label()
        );
    }
    md
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn run(setup: Setup, out: Option<String>) -> Res<()> {
    let started = cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let t0 = Instant::now();
    let reps = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let compressors =
        std::env::var("BENCH_COMPRESSORS").unwrap_or_else(|_| "zstd,zlib,snappy".into());
    let mut b = Bench {
        setup,
        reps,
        doc_size: 0,
        rows: Vec::new(),
    };

    // The documents to read: the same 10,000 on both servers.
    let scan_docs: Vec<Document> = (0..DOCS as i64).map(|i| item(i, Some(i))).collect();
    let mut targets = vec![Target::Tls];
    if b.setup.proxy.is_some() {
        targets.push(Target::Proxy(None));
    }
    for t in &targets {
        let c = Client::connect(Driver::Official, &b.setup.uri(Driver::Official, t)).await?;
        let coll = c.coll("scan");
        coll.drop_coll().await?;
        coll.insert_many(&scan_docs).await?;
        c.shutdown().await;
    }
    let many_docs: Vec<Document> = (0..DOCS as i64).map(|i| item(i, None)).collect();
    let size = bson::to_vec(&scan_docs[0])?.len();
    b.doc_size = size;
    eprintln!("bench-compare: documents of {size} bytes (BSON), {reps} measured runs per workload");

    b.connect().await?;
    for find in [false, true] {
        for tasks in [1, 16] {
            b.single(find, tasks).await?;
        }
    }
    b.insert_many(Target::Tls, &many_docs).await?;
    b.cursor::<Document>(Target::Tls, "Document", &DRIVERS)
        .await?;
    b.cursor::<Item>(Target::Tls, "struct", &DRIVERS).await?;
    b.cursor::<RawDocumentBuf>(Target::Tls, "RawDocumentBuf", &DRIVERS)
        .await?;
    if b.setup.proxy.is_some() {
        let mut proxied = vec![Target::Proxy(None)];
        proxied.extend(
            compressors
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| Target::Proxy(Some(c.to_string()))),
        );
        for t in proxied {
            b.insert_many(t.clone(), &many_docs).await?;
            b.cursor::<Document>(t, "Document", &DRIVERS).await?;
        }
    } else {
        eprintln!("bench-compare: no --proxy-port, so no compression rows");
    }

    let md = report(&b, &started, &load_start, t0.elapsed());
    println!("{md}");
    if let Some(out) = out {
        std::fs::write(&out, &md)?;
        eprintln!("bench-compare: written to {out}");
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench-compare --certs DIR --tls-port P [--proxy-port Q --proxy-stats S] [--out FILE]";
    let certs = arg(&args, "--certs").ok_or(usage)?;
    let tls_port = arg(&args, "--tls-port").ok_or(usage)?.parse()?;
    let proxy = match (arg(&args, "--proxy-port"), arg(&args, "--proxy-stats")) {
        (Some(p), Some(s)) => Some((p.parse()?, s.parse()?)),
        _ => None,
    };
    let certs = std::fs::canonicalize(certs)?.to_string_lossy().into_owned();
    // Two workers, like the machine's two cores; both drivers share this runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(
        Setup {
            certs,
            tls_port,
            proxy,
        },
        arg(&args, "--out"),
    ))
}
