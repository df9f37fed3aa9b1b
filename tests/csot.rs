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
    // Warm up without a deadline in play (zero: no limit): discovery and the first connection
    // (TLS, X.509) are done, however slow a loaded machine makes them.
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .timeout(Duration::ZERO)
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

/// `timeoutMS` per database, per collection and per operation: the nearest one set wins
/// (zero: no limit), and a cursor's getMores run under the timeout of the operation that
/// opened it.
#[tokio::test]
async fn the_operation_and_handle_timeouts_win_over_the_clients() {
    use mongo_x509::options::{CollectionOptions, DatabaseOptions};
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    rs.seed("db", "c", (0..4).map(|i| doc! { "_id": i }));
    let client = connect(&rs, "timeoutMS=5000").await;
    let slow = || rs.fail_next(0, "find", FailAction::Delay(Duration::from_secs(3)));
    let bounded = |started: Instant| {
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(1_500), "{elapsed:?}");
    };

    // The operation's own.
    let coll = client.database("db").collection::<Document>("c");
    slow();
    let started = Instant::now();
    let e = coll
        .find_one(doc! {})
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_operation_timeout(&e);
    assert!(e.to_string().contains("timeoutMS (200 ms)"), "{e}");
    bounded(started);

    // The database's, then the collection's over it.
    let db = client.database_with_options(
        "db",
        DatabaseOptions::builder()
            .timeout(Duration::from_millis(250))
            .build(),
    );
    slow();
    let started = Instant::now();
    let e = db
        .collection::<Document>("c")
        .find_one(doc! {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("timeoutMS (250 ms)"), "{e}");
    bounded(started);
    let coll = db.collection_with_options::<Document>(
        "c",
        CollectionOptions::builder()
            .timeout(Duration::from_millis(150))
            .build(),
    );
    slow();
    let e = coll.find_one(doc! {}).await.unwrap_err();
    assert!(e.to_string().contains("timeoutMS (150 ms)"), "{e}");
    // Zero on the operation: no limit, the slow find completes.
    rs.fail_next(0, "find", FailAction::Delay(Duration::from_millis(400)));
    let found = coll
        .find_one(doc! {})
        .timeout(Duration::ZERO)
        .await
        .unwrap();
    assert!(found.is_some());
    let sent = rs.stats(0).command_log;
    let last_find = sent.iter().rev().find(|c| c.contains_key("find")).unwrap();
    assert!(!last_find.contains_key("maxTimeMS"), "{last_find}");

    // A getMore runs under the timeout of the find that opened its cursor.
    use futures_util::StreamExt;
    let mut cursor = client
        .database("db")
        .collection::<Document>("c")
        .find(doc! {})
        .batch_size(2)
        .timeout(Duration::from_millis(200))
        .await
        .unwrap();
    cursor.next().await.unwrap().unwrap();
    cursor.next().await.unwrap().unwrap();
    rs.fail_next(0, "getMore", FailAction::Delay(Duration::from_secs(3)));
    let started = Instant::now();
    let e = cursor.next().await.unwrap().unwrap_err();
    assert!(e.to_string().contains("timeoutMS (200 ms)"), "{e}");
    bounded(started);
}
