//! Instructions per operation, mongo-x509 against the official `mongodb` crate, counted with
//! valgrind's callgrind so that the figures repeat on a shared machine (wall and CPU time do not).
//!
//! Run it with `scripts/bench.sh callgrind`, which makes the certificates, starts SecantusDB
//! (outside valgrind) and calls, in turn:
//!
//! ```text
//! callgrind_ops prepare --uri URI
//! callgrind_ops table --uri URI [--before BIN --before-label TEXT] [--runs 3] [--out FILE]
//!     [--only connect,ping,insert_one,find_one,update_one,find] [--work DIR]
//! ```
//!
//! `table` runs this same binary as `callgrind_ops one --driver x509|official --op OP --ops N
//! --uri URI` under `valgrind --tool=callgrind`, reads `Collected :` from valgrind's output and
//! writes a Markdown table. How the count is made to repeat:
//!
//! - The client runs on a current-thread Tokio runtime: idle workers of a multi-thread runtime
//!   look for work while a reply is on its way, so their instructions would grow with the server's
//!   latency rather than with the client's work.
//! - Two runs per figure, differing only in the work measured: set-up only (runtime, connect,
//!   first `ping`, one warm-up operation, shutdown) and set-up plus N operations. Their difference
//!   over N is the cost of one operation; start-up, TLS, the handshake and authentication cancel.
//! - One pooled connection and a long heartbeat (`maxPoolSize=1&heartbeatFrequencyMS=60000`), so
//!   neither run opens more connections or checks the server more often than the other.
//! - Each count is the least of `--runs` runs (3): what disturbs a run only adds instructions.
//!
//! `--before BIN` adds a column from another build of this program (the same source built
//! against an older mongo-x509), run against the same server in the same session.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use bson::{doc, Document};
use futures_util::TryStreamExt;

#[path = "../item.rs"]
mod item;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const DB: &str = "bench_cg";
/// Documents in the collection the cursor reads (`find` reads them all).
const SCAN_DOCS: i64 = 100;
/// The cursor's batch size: a `find` and two `getMore`s for `SCAN_DOCS`, the last exhausting it.
const BATCH: u32 = 40;

/// The operations measured; `ops` is N per measured run. Differencing removes start-up, but each
/// TLS handshake's big-number work varies a little from run to run (random nonces): enough
/// operations per run keep that variation a small part of the figure.
const OPS: [(&str, &str, u64); 6] = [
    (
        "connect",
        "new client to first `ping` answered, then `shutdown`",
        2,
    ),
    ("ping", "`run_command({ping: 1})`", 100),
    ("insert_one", "`insert_one` (document of ~200 bytes)", 100),
    ("find_one", "`find_one` by `_id`", 100),
    ("update_one", "`update_one` by `_id` (`$inc`)", 100),
    (
        "find",
        "`find` over a cursor of 100 documents (batches of 40)",
        10,
    ),
];

#[derive(Clone, Copy, PartialEq)]
enum Driver {
    X509,
    Official,
}

impl Driver {
    fn parse(s: &str) -> Res<Driver> {
        match s {
            "x509" => Ok(Driver::X509),
            "official" => Ok(Driver::Official),
            _ => Err(format!("--driver {s:?}: expected x509 or official").into()),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Driver::X509 => "x509",
            Driver::Official => "official",
        }
    }
}

enum Client {
    X(mongo_x509::Client),
    O(mongodb::Client),
}

enum Coll {
    X(mongo_x509::Collection<Document>),
    O(mongodb::Collection<Document>),
}

impl Client {
    async fn connect(driver: Driver, uri: &str) -> Res<Client> {
        Ok(match driver {
            Driver::X509 => {
                // This crate's own option: the OpenSSL backend, as the official crate uses.
                let uri = format!("{uri}&tlsBackend=openssl");
                Client::X(mongo_x509::Client::with_uri_str(uri).await?)
            }
            Driver::Official => Client::O(mongodb::Client::with_uri_str(uri).await?),
        })
    }

    async fn ping(&self) -> Res<()> {
        let reply = match self {
            Client::X(c) => c.database("admin").run_command(doc! {"ping": 1}).await?,
            Client::O(c) => c.database("admin").run_command(doc! {"ping": 1}).await?,
        };
        if !matches!(reply.get("ok"), Some(bson::Bson::Double(x)) if *x == 1.0)
            && !matches!(reply.get("ok"), Some(bson::Bson::Int32(1)))
        {
            return Err(format!("ping: unexpected reply {reply}").into());
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
            return Err(format!("find_one: _id {id} not found (run `prepare` first)").into());
        }
        Ok(())
    }

    async fn update_one(&self, id: i64) -> Res<()> {
        let matched = match self {
            Coll::X(c) => {
                c.update_one(doc! {"_id": id}, doc! {"$inc": {"qty": 1}})
                    .await?
                    .matched_count
            }
            Coll::O(c) => {
                c.update_one(doc! {"_id": id}, doc! {"$inc": {"qty": 1}})
                    .await?
                    .matched_count
            }
        };
        if matched != 1 {
            return Err(format!("update_one: _id {id} not found (run `prepare` first)").into());
        }
        Ok(())
    }

    /// `find({})` in batches of `BATCH`, read to the end; the number of documents.
    async fn scan(&self) -> Res<i64> {
        let mut n = 0;
        match self {
            Coll::X(c) => {
                let mut cur = c.find(doc! {}).batch_size(BATCH).await?;
                while cur.try_next().await?.is_some() {
                    n += 1;
                }
            }
            Coll::O(c) => {
                let mut cur = c.find(doc! {}).batch_size(BATCH).await?;
                while cur.try_next().await?.is_some() {
                    n += 1;
                }
            }
        }
        if n != SCAN_DOCS {
            return Err(format!("find: {n} documents, expected {SCAN_DOCS}").into());
        }
        Ok(n)
    }

    async fn drop_coll(&self) -> Res<()> {
        match self {
            Coll::X(c) => c.drop().await?,
            Coll::O(c) => c.drop().await?,
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
}

/// One operation of kind `op` on an open client.
async fn op_once(client: &Client, op: &str, doc: &Document) -> Res<()> {
    match op {
        "ping" => client.ping().await,
        "insert_one" => client.coll("insert").insert_one(doc).await,
        "find_one" => client.coll("scan").find_one(7).await,
        "update_one" => client.coll("update").update_one(1).await,
        "find" => client.coll("scan").scan().await.map(drop),
        _ => Err(format!("unknown operation {op:?}").into()),
    }
}

/// The client process measured under callgrind: set-up, one warm-up operation, `ops` operations.
async fn one(driver: Driver, op: &str, ops: u64, uri: &str) -> Res<()> {
    let doc = item::item(7, None);
    if op == "connect" {
        // Set-up: one cycle, so that what happens once per process (OpenSSL's initialisation,
        // lazily built tables) is in both runs.
        for _ in 0..=ops {
            let c = Client::connect(driver, uri).await?;
            c.ping().await?;
            c.shutdown().await;
        }
        return Ok(());
    }
    let c = Client::connect(driver, uri).await?;
    c.ping().await?;
    op_once(&c, op, &doc).await?;
    for _ in 0..ops {
        op_once(&c, op, &doc).await?;
    }
    c.shutdown().await;
    Ok(())
}

/// The collections the operations read and update, made with the official crate.
async fn prepare(uri: &str) -> Res<()> {
    let c = Client::connect(Driver::Official, uri).await?;
    let scan = c.coll("scan");
    scan.drop_coll().await?;
    let docs: Vec<Document> = (0..SCAN_DOCS).map(|i| item::item(i, Some(i))).collect();
    scan.insert_many(&docs).await?;
    let update = c.coll("update");
    update.drop_coll().await?;
    update.insert_many(&[item::item(1, Some(1))]).await?;
    c.coll("insert").drop_coll().await?;
    c.shutdown().await;
    Ok(())
}

/// Runs `bin one ...` under callgrind; the instructions it collected.
fn collected(bin: &Path, driver: Driver, op: &str, ops: u64, uri: &str, out: &Path) -> Res<u64> {
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(bin)
        .args(["one", "--driver", driver.name(), "--op", op, "--uri", uri])
        .args(["--ops", &ops.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e} (install it: apt-get install valgrind)"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{} {op} {ops} under callgrind failed:\n{stderr}",
            driver.name()
        )
        .into());
    }
    stderr
        .lines()
        .find_map(|l| {
            l.split_once("Collected :")
                .map(|(_, n)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no `Collected :` line in valgrind's output:\n{stderr}").into())
}

/// Instructions per operation: (least of `runs` with `ops` - least of `runs` set-up only) / ops.
fn per_op(bin: &Path, driver: Driver, op: &str, ops: u64, a: &Args) -> Res<f64> {
    let tag = bin
        .file_name()
        .map_or("bin".into(), |f| f.to_string_lossy());
    let mut least = [u64::MAX; 2];
    for run in 0..a.runs {
        for (i, n) in [0, ops].into_iter().enumerate() {
            let out = a
                .work
                .join(format!("{tag}.{}.{op}.{n}.{run}.out", driver.name()));
            let c = collected(bin, driver, op, n, &a.uri, &out)?;
            eprintln!(
                "  {tag} {:<8} {op:<10} ops={n:<3} run {run}: {c}",
                driver.name()
            );
            least[i] = least[i].min(c);
        }
    }
    Ok((least[1] as f64 - least[0] as f64) / ops as f64)
}

struct Args {
    uri: String,
    runs: usize,
    work: std::path::PathBuf,
    /// `--only a,b`: these operations only.
    only: Option<Vec<String>>,
}

fn fmt_count(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else {
        format!("{:.0} k", x / 1e3)
    }
}

fn table(a: &Args, before: Option<(&Path, &str)>, out: Option<&str>) -> Res<()> {
    let me = std::env::current_exe()?;
    std::fs::create_dir_all(&a.work)?;
    let mut md = String::new();
    let official = env!("MONGODB_CRATE_VERSION");
    let _ = writeln!(md, "## Client instructions per operation (callgrind)\n");
    let _ = writeln!(
        md,
        "mongo-x509 (`openssl` backend) and the official `mongodb` {official} (`openssl-tls`), \
         each client process under `valgrind --tool=callgrind` on a current-thread Tokio \
         runtime, against one local SecantusDB with TLS and MONGODB-X509 outside valgrind; \
         `maxPoolSize=1&heartbeatFrequencyMS=60000&directConnection=true`. Per operation: \
         (instructions of a run with N operations − of a run with set-up only) / N, each the \
         least of {} runs. Ratio = mongo-x509 / official.\n",
        a.runs
    );
    let before_col = before.map_or(String::new(), |(_, l)| format!(" {l} |"));
    let before_sep = if before.is_some() { "---:|---:|" } else { "" };
    let before_ratio = if before.is_some() {
        " now / before |"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "| operation | N | mongo-x509 | official | ratio |{before_col}{before_ratio}"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|{before_sep}");
    for (op, what, ops) in OPS {
        if a.only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|o| o == op))
        {
            continue;
        }
        let x = per_op(&me, Driver::X509, op, ops, a)?;
        let o = per_op(&me, Driver::Official, op, ops, a)?;
        let mut row = format!(
            "| {what} | {ops} | {} | {} | {:.2} |",
            fmt_count(x),
            fmt_count(o),
            x / o
        );
        if let Some((bin, _)) = before {
            let b = per_op(bin, Driver::X509, op, ops, a)?;
            let _ = write!(row, " {} | {:.2} |", fmt_count(b), x / b);
        }
        eprintln!("{row}");
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\nThe `find` row is per cursor of {SCAN_DOCS} documents (decoded as `Document`) read \
         to the end: one `find` and two `getMore`s."
    );
    println!("{md}");
    if let Some(out) = out {
        std::fs::write(out, &md)?;
        eprintln!("callgrind_ops: written to {out}");
    }
    Ok(())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: callgrind_ops prepare|table|one --uri URI [see the module docs]";
    let uri = arg(&args, "--uri").ok_or(usage)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("prepare") => rt.block_on(prepare(&uri)),
        Some("one") => {
            let driver = Driver::parse(&arg(&args, "--driver").ok_or(usage)?)?;
            let op = arg(&args, "--op").ok_or(usage)?;
            let ops = arg(&args, "--ops").ok_or(usage)?.parse()?;
            rt.block_on(one(driver, &op, ops, &uri))
        }
        Some("table") => {
            let a = Args {
                uri,
                runs: arg(&args, "--runs").map_or(Ok(3), |r| r.parse())?,
                work: arg(&args, "--work")
                    .unwrap_or_else(|| "target/callgrind".into())
                    .into(),
                only: arg(&args, "--only").map(|o| o.split(',').map(str::to_owned).collect()),
            };
            let before = arg(&args, "--before");
            let label = arg(&args, "--before-label").unwrap_or_else(|| "before".into());
            table(
                &a,
                before.as_deref().map(|b| (Path::new(b), label.as_str())),
                arg(&args, "--out").as_deref(),
            )
        }
        _ => Err(usage.into()),
    }
}
