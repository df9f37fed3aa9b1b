//! The runtime of a blocking client lives as long as its handles, and no longer: its threads
//! (named `mongo-x509-sync`, counted in /proc) run while any handle of the client is alive (a
//! cursor alone keeps fetching batches after the client, database and collection are
//! dropped), and have ended when the last handle's drop (or `shutdown().run()`) returns,
//! also when it is dropped inside async code, and promptly. An async handle kept past them
//! does not keep the runtime: its `.run()` then fails with `ErrorKind::Shutdown`.
//!
//! One test in this binary, so that no other client's threads are counted.

#![cfg(all(
    feature = "sync",
    target_os = "linux",
    any(feature = "openssl", feature = "native-tls")
))]

mod common;

use std::time::{Duration, Instant};

use common::server::server;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{ClientOptions, ServerAddress};
use mongo_x509::sync::Client;

/// How many threads of this process carry the runtime's name.
fn runtime_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "mongo-x509-sync")
        .count()
}

/// Asserts that no runtime thread is left. A joined thread can still be listed for a moment:
/// `pthread_join` returns when the thread has cleared its tid, a little before the kernel removes
/// its `/proc` entry (seen on a loaded 2-core machine), so this allows it up to a second to go.
#[track_caller]
fn assert_no_runtime_thread(what: &str) {
    let started = Instant::now();
    while runtime_threads() != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: {} runtime thread(s) still running",
            runtime_threads()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Drops `value`, checking that it was quick.
fn timed_drop<T>(value: T, what: &str) {
    let started = Instant::now();
    drop(value);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{what}: drop took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_runtime_ends_with_the_last_handle() {
    let s = server();
    let backend = common::backend_names()[0];
    assert_eq!(runtime_threads(), 0, "no client yet");

    // A connected client with its monitor, the certificate-file watch and an open cursor.
    let uri = s.uri(
        "client-pkcs8-aes256.pem",
        &format!("tlsBackend={backend}&tlsCertificateKeyFileWatchIntervalMS=100"),
    );
    let client = Client::with_uri_str(uri).unwrap();
    let db = client.database("sync_shutdown");
    let coll = db.collection::<Document>("items");
    coll.drop().run().unwrap();
    coll.insert_many((0..10).map(|n| doc! { "_id": n }))
        .run()
        .unwrap();
    let mut cursor = coll
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .batch_size(2)
        .run()
        .unwrap();
    assert_eq!(cursor.next().unwrap().unwrap().get_i32("_id"), Ok(0));
    assert!(runtime_threads() >= 1, "the runtime runs");
    // An async handle reached through the blocking one does not keep the runtime.
    let kept: mongo_x509::Client = (*client).clone();

    // The cursor alone keeps the runtime: its getMores still run.
    drop((client, db, coll));
    assert!(runtime_threads() >= 1, "a cursor is still alive");
    let rest: Vec<i32> = cursor
        .by_ref()
        .map(|d| d.unwrap().get_i32("_id").unwrap())
        .collect();
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
    timed_drop(cursor, "the last handle, a cursor");
    assert_no_runtime_thread("the runtime ended with its last handle");
    let err = kept
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Shutdown), "{err}");
    drop(kept);

    // shutdown().run() on the last handle.
    let client = Client::with_uri_str(s.uri("client-pkcs8-aes256.pem", "")).unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    let session = client.start_session().run().unwrap();
    drop(session);
    let started = Instant::now();
    client.shutdown().run();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_no_runtime_thread("after shutdown().run()");

    // A client that never connected.
    let options = ClientOptions::builder()
        .hosts(vec![ServerAddress::Tcp {
            // An IP literal: no name lookup on a blocking thread that could outlive the drop.
            host: "127.0.0.1".into(),
            port: Some(1),
        }])
        .build();
    let client = Client::with_options(options).unwrap();
    // The new thread names itself once it runs.
    let started = Instant::now();
    while runtime_threads() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no runtime thread"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    timed_drop(client, "an idle client");
    assert_no_runtime_thread("after dropping an idle client");

    // Made, used and dropped inside async code: no panic, and the runtime ends too.
    let outer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    outer.block_on(async {
        let client = Client::with_uri_str(s.uri("client-pkcs8-aes256.pem", "")).unwrap();
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .run()
            .unwrap();
        timed_drop(client, "inside async code");
    });
    assert_no_runtime_thread("after a drop inside async code");
}
