//! `timeoutMS` (Client Side Operations Timeout) end to end against the scripted fake
//! deployment: one deadline over selection, check-out, writing and reading, a typed timeout
//! error, and `maxTimeMS` sent from the time left.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::{Duration, Instant};

use common::fake_deployment::{FailAction, FakeOptions, FakeReplicaSet};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::{Client, ServerType};

const KEY: &str = "client-pkcs8-aes256.pem";
/// Bound on every test step: a hang is a failure.
const WAIT: Duration = Duration::from_secs(20);

async fn connect(rs: &FakeReplicaSet, extra: &str) -> Client {
    let client = Client::with_uri_str(rs.uri(KEY, extra)).await.unwrap();
    // Warm up without a deadline in play: discovery and the first connection are done.
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    client
}

fn assert_operation_timeout(e: &mongo_x509::error::Error) {
    assert!(
        matches!(&*e.kind, ErrorKind::OperationTimeout { .. }),
        "expected the typed timeout, got {e:?}"
    );
}

#[tokio::test]
async fn a_slow_reply_ends_with_the_typed_timeout_within_the_bound() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let client = connect(&rs, "timeoutMS=300").await;
    rs.fail_next(0, "find", FailAction::Delay(Duration::from_secs(5)));
    let coll = client.database("db").collection::<Document>("c");
    let started = Instant::now();
    let e = tokio::time::timeout(WAIT, coll.find_one(doc! {}))
        .await
        .expect("bounded")
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_operation_timeout(&e);
    assert!(e.to_string().contains("timeoutMS (300 ms)"), "{e}");
    // The read is retried only while time is left: none is, so one find went out.
    assert!(elapsed < Duration::from_millis(1_500), "{elapsed:?}");
    assert_eq!(rs.stats(0).count("find"), 1);
}

#[tokio::test]
async fn max_time_ms_is_sent_from_the_time_left() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let client = connect(&rs, "timeoutMS=2000").await;
    let coll = client.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "a": 1 }).await.unwrap();
    let _ = coll.find_one(doc! {}).await.unwrap();
    let log = rs.stats(0).command_log;
    for name in ["insert", "find"] {
        let cmd = log
            .iter()
            .rev()
            .find(|c| c.contains_key(name))
            .unwrap_or_else(|| panic!("no {name} in {log:?}"));
        let sent = cmd.get_i64("maxTimeMS").expect("maxTimeMS as an int64");
        assert!((1..2000).contains(&sent), "{name}: maxTimeMS {sent}");
    }
    // Without timeoutMS nothing is added.
    let plain = connect(&rs, "").await;
    plain
        .database("db")
        .collection::<Document>("c")
        .find_one(doc! {})
        .await
        .unwrap();
    let last = rs
        .stats(0)
        .command_log
        .into_iter()
        .rev()
        .find(|c| c.contains_key("find"));
    assert!(!last.unwrap().contains_key("maxTimeMS"));
}

#[tokio::test]
async fn a_write_to_a_frozen_primary_fails_within_the_deadline() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let client = connect(&rs, "timeoutMS=300&serverSelectionTimeoutMS=30000").await;
    rs.freeze(0);
    let coll = client.database("db").collection::<Document>("c");
    let started = Instant::now();
    let e = tokio::time::timeout(WAIT, coll.insert_one(doc! { "a": 1 }))
        .await
        .expect("bounded")
        .unwrap_err();
    assert_operation_timeout(&e);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    rs.unfreeze(0);
}

#[tokio::test]
async fn max_time_ms_expired_from_the_server_is_the_typed_timeout() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let client = connect(&rs, "timeoutMS=5000").await;
    rs.fail_next(
        0,
        "find",
        FailAction::error(50, "MaxTimeMSExpired", "operation exceeded time limit"),
    );
    let e = client
        .database("db")
        .collection::<Document>("c")
        .find_one(doc! {})
        .await
        .unwrap_err();
    assert_operation_timeout(&e);
    assert!(
        e.to_string().contains("operation exceeded time limit"),
        "{e}"
    );
}

#[tokio::test]
async fn server_selection_ends_at_the_deadline_not_at_server_selection_timeout() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let client = connect(&rs, "timeoutMS=300&serverSelectionTimeoutMS=30000").await;
    rs.set_primary(None);
    client
        .watch_topology()
        .wait_for(WAIT, |t| {
            !t.servers
                .values()
                .any(|s| s.server_type == ServerType::RsPrimary)
        })
        .await
        .expect("the primary is gone");
    let started = Instant::now();
    let e = tokio::time::timeout(
        WAIT,
        client
            .database("db")
            .collection::<Document>("c")
            .insert_one(doc! { "a": 1 }),
    )
    .await
    .expect("bounded")
    .unwrap_err();
    assert_operation_timeout(&e);
    assert!(e.to_string().contains("server selection"), "{e}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
}
