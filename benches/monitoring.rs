//! What monitoring costs per operation: `insert_one` then `find_one` against a local SecantusDB,
//! `MONITORING_BENCH_OPS` times (default 200), on a current-thread runtime and one pooled
//! connection, with `MONITORING_BENCH_MODE`:
//!
//! - `none`: no handler and no `tracing` subscriber (what an application that does not monitor
//!   pays);
//! - `handlers`: a callback handler for command, CMAP and SDAM events that counts them;
//! - `logs`: no handler, a `tracing` subscriber at `debug` on the crate's log targets writing
//!   to a sink.
//!
//! Instruction counts come from running it under callgrind twice with different op counts and
//! differencing (start-up, server included, cancels; the server is another process and is not
//! counted):
//!
//! ```text
//! for mode in none handlers logs; do for n in 100 300; do
//!   MONITORING_BENCH_MODE=$mode MONITORING_BENCH_OPS=$n valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null target/release/deps/monitoring-<hash> 2>&1 | grep refs
//! done; done
//! ```
//!
//! Without valgrind it prints the wall time per operation pair.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mongo_x509::bson::{doc, Document};
use mongo_x509::event::EventHandler;
use mongo_x509::options::ClientOptions;
use mongo_x509::Client;

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

fn main() {
    let mode = std::env::var("MONITORING_BENCH_MODE").unwrap_or_else(|_| "none".into());
    let ops: u32 = std::env::var("MONITORING_BENCH_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let server = common::server::server();
    let backend = common::backend_names()[0];
    // Heartbeats rare, so that a slower run (under valgrind) runs no more of them.
    let uri = server.uri(
        "client-pkcs8.pem",
        &format!("tlsBackend={backend}&maxPoolSize=1&heartbeatFrequencyMS=600000"),
    );
    let count = Arc::new(AtomicU64::new(0));
    let _guard = (mode == "logs").then(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::set_default(subscriber)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = rt.block_on(async {
        let mut options = ClientOptions::parse(&uri).await.unwrap();
        if mode == "handlers" {
            let c = Arc::clone(&count);
            options.command_event_handler = Some(EventHandler::callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            }));
            let c = Arc::clone(&count);
            options.cmap_event_handler = Some(EventHandler::callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            }));
            let c = Arc::clone(&count);
            options.sdam_event_handler = Some(EventHandler::callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let client = Client::with_options(options).unwrap();
        let coll = client
            .database("bench")
            .collection::<Document>("monitoring");
        let _ = coll.drop().await;
        let start = Instant::now();
        for i in 0..ops {
            coll.insert_one(doc! { "_id": i, "name": "widget", "qty": 1 })
                .await
                .unwrap();
            coll.find_one(doc! { "_id": i }).await.unwrap();
        }
        let took = start.elapsed();
        println!(
            "mode {mode}: {ops} insert_one + find_one in {took:?} ({:?} per pair)",
            took / ops
        );
        client.shutdown().await;
        count.load(Ordering::Relaxed)
    });
    println!("events delivered: {events}");
}
