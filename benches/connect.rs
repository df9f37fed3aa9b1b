//! Connection and operation cost against a local SecantusDB (TLS, client certificates, X.509).
//!
//! - `connect_first_ping/<backend>`: from `Client::with_options` (key decryption included) to the
//!   first `ping` answered: TCP + TLS + `hello` + `authenticate`.
//! - `find_one/<backend>/<tasks>` and `insert_one/<backend>/<tasks>`: throughput at 1 and 16
//!   concurrent tasks on one client.
//! - After each throughput group, the client's own CPU time per operation (user + system time of
//!   this process, which does not include the server's) is printed as `client-cpu: ...` lines.
//!
//! Run with `scripts/bench.sh` (it installs the server) or `cargo bench --bench connect`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mongo_x509::bson::{doc, Document};
use mongo_x509::options::ClientOptions;
use mongo_x509::Client;

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

/// This process's user + system CPU time, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    Duration::from_millis(ticks * 10)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = common::server::server();

    let mut group = c.benchmark_group("connect_first_ping");
    group.sample_size(20);
    for backend in common::backend_names() {
        let uri = server.uri("client-pkcs8-aes256.pem", &format!("tlsBackend={backend}"));
        let opts = rt.block_on(ClientOptions::parse(&uri)).unwrap();
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.to_async(&rt).iter(|| async {
                let client = Client::with_options(opts.clone()).unwrap();
                client
                    .database("admin")
                    .run_command(doc! { "ping": 1 })
                    .await
                    .unwrap();
            })
        });
    }
    group.finish();

    for op in ["find_one", "insert_one"] {
        let mut group = c.benchmark_group(op);
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        for backend in common::backend_names() {
            let uri = server.uri(
                "client-pkcs8.pem",
                &format!("tlsBackend={backend}&maxPoolSize=16"),
            );
            let client = rt.block_on(Client::with_uri_str(&uri)).unwrap();
            let coll = client
                .database("bench")
                .collection::<Document>(&format!("items_{}", backend.replace('-', "_")));
            rt.block_on(async {
                let _ = coll.drop().await;
                coll.insert_one(doc! { "_id": 1, "name": "widget", "qty": 1 })
                    .await
                    .unwrap();
            });
            for tasks in [1usize, 16] {
                group.throughput(Throughput::Elements(tasks as u64));
                let cpu = Cell::new(Duration::ZERO);
                let ops = Cell::new(0u64);
                group.bench_function(BenchmarkId::new(backend, tasks), |b| {
                    b.to_async(&rt).iter_custom(|iters| {
                        let coll = coll.clone();
                        let (cpu, ops) = (&cpu, &ops);
                        async move {
                            let cpu0 = cpu_time();
                            let start = Instant::now();
                            let mut handles = Vec::with_capacity(tasks);
                            for _ in 0..tasks {
                                let coll = coll.clone();
                                handles.push(tokio::spawn(async move {
                                    for _ in 0..iters {
                                        if op == "find_one" {
                                            coll.find_one(doc! { "_id": 1 }).await.unwrap();
                                        } else {
                                            coll.insert_one(doc! { "name": "w", "qty": 2 })
                                                .await
                                                .unwrap();
                                        }
                                    }
                                }));
                            }
                            for h in handles {
                                h.await.unwrap();
                            }
                            let elapsed = start.elapsed();
                            cpu.set(cpu.get() + cpu_time().saturating_sub(cpu0));
                            ops.set(ops.get() + iters * tasks as u64);
                            elapsed
                        }
                    })
                });
                let (cpu, ops) = (cpu.get(), ops.get());
                if ops > 0 {
                    println!(
                        "client-cpu: {op}/{backend}/{tasks}: {:.1} µs per operation over {ops} operations",
                        cpu.as_secs_f64() * 1e6 / ops as f64
                    );
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
