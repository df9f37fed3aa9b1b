//! Load-balanced mode (`loadBalanced=true`) against the fake load balancer
//! (tests/common/fake_deployment.rs, `FakeLoadBalancer`): the handshake, no monitoring,
//! sessions, and cursors pinned to their connection.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FakeLoadBalancer, FakeMongos, FakeOptions};
use futures_util::{StreamExt, TryStreamExt};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::{Client, Collection, TopologyType};

const CERT: &str = "client-pkcs8.pem";
const WAIT: Duration = Duration::from_secs(10);
const LB: &str = "loadBalanced=true&serverSelectionTimeoutMS=5000";

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

/// A fake load balancer whose `db.c` holds `n` documents (`_id` 0 to n-1), a client through
/// it, and that collection.
async fn seeded(n: i32) -> (FakeLoadBalancer, Client, Collection<Document>) {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    lb.seed("db", "c", (0..n).map(|i| doc! { "_id": i }));
    let c = client(lb.uri(CERT, LB)).await;
    let coll = c.database("db").collection::<Document>("c");
    (lb, c, coll)
}

fn checked_out(c: &Client) -> u32 {
    c.pool_stats().iter().map(|s| s.checked_out).sum()
}

#[tokio::test]
async fn the_handshake_says_load_balanced_and_nothing_monitors() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    let c = client(lb.uri(CERT, LB)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    assert!(coll.find_one(doc! {}).await.unwrap().is_some());
    assert_eq!(
        c.topology_description().topology_type,
        TopologyType::LoadBalanced
    );
    let stats = lb.stats(0);
    let hellos: Vec<&Document> = stats
        .command_log
        .iter()
        .filter(|c| c.contains_key("hello"))
        .collect();
    assert!(!hellos.is_empty());
    assert!(hellos
        .iter()
        .all(|h| h.get_bool("loadBalanced") == Ok(true)));
    // Handshakes only: one per connection, no monitor.
    assert_eq!(stats.hellos(), stats.connections_accepted);
    // Sessions work through the load balancer.
    let insert = stats
        .command_log
        .iter()
        .find(|c| c.contains_key("insert"))
        .unwrap();
    assert!(insert.contains_key("lsid") && insert.contains_key("txnNumber"));
}

#[tokio::test]
async fn a_cursor_pins_its_connection_until_exhausted() {
    let (lb, c, coll) = seeded(10).await;
    let mut cursor = coll.find(doc! {}).batch_size(3).await.unwrap();
    assert!(cursor.next().await.unwrap().is_ok());
    assert_eq!(checked_out(&c), 1, "the cursor holds its connection");
    // Other operations meanwhile use another connection.
    assert!(coll.find_one(doc! { "_id": 5 }).await.unwrap().is_some());
    assert_eq!(checked_out(&c), 1);
    let rest: Vec<Document> = cursor.try_collect().await.unwrap();
    assert_eq!(rest.len(), 9);
    assert_eq!(checked_out(&c), 0, "released once exhausted");
    assert_eq!(lb.stats(0).count("getMore"), 3);
}

#[tokio::test]
async fn a_dropped_cursor_is_killed_on_its_pinned_connection() {
    let (lb, c, coll) = seeded(10).await;
    let mut cursor = coll.find(doc! {}).batch_size(2).await.unwrap();
    assert!(cursor.next().await.unwrap().is_ok());
    let opened = lb.stats(0).connections_accepted;
    drop(cursor);
    lb.wait_for("killCursors", WAIT, |d| {
        d.stats(0).count("killCursors") == 1
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while checked_out(&c) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        lb.stats(0).connections_accepted,
        opened,
        "no new connection to kill it"
    );
}

#[tokio::test]
async fn explicit_sessions_pin_cursors_too() {
    let (_lb, c, coll) = seeded(5).await;
    let mut s = c.start_session().await.unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut s)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(d) = cursor.next(&mut s).await {
        d.unwrap();
        n += 1;
        if n < 5 {
            assert_eq!(checked_out(&c), 1);
        }
    }
    assert_eq!(n, 5);
    assert_eq!(checked_out(&c), 0);
}

#[tokio::test]
async fn a_transaction_shares_its_connection_with_its_cursors() {
    let (lb, c, coll) = seeded(5).await;
    let mut s = c.start_session().await.unwrap();
    assert_eq!(
        lb.stats(0).connections_accepted,
        0,
        "starting a session checks out nothing"
    );
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 10 })
        .session(&mut s)
        .await
        .unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut s)
        .await
        .unwrap();
    assert!(cursor.next(&mut s).await.unwrap().is_ok());
    assert_eq!(checked_out(&c), 1, "one connection for both");
    // Dropped: killed in the background on the transaction's connection, which the next
    // command of the transaction waits for rather than failing.
    drop(cursor);
    coll.insert_one(doc! { "_id": 11 })
        .session(&mut s)
        .await
        .unwrap();
    lb.wait_for("killCursors", WAIT, |d| {
        d.stats(0).count("killCursors") == 1
    })
    .await;
    s.commit_transaction().await.unwrap();
    assert_eq!(
        lb.stats(0).connections_accepted,
        1,
        "the transaction, its cursor and the kill used one connection"
    );
    // Pinned until the session ends.
    assert_eq!(checked_out(&c), 1);
    drop(s);
    let deadline = tokio::time::Instant::now() + WAIT;
    while checked_out(&c) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_unreachable_load_balancer_fails_the_operation_at_once() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    let uri = lb.uri(CERT, LB);
    lb.stop(0).await;
    let c = client(uri).await;
    let started = tokio::time::Instant::now();
    let err = c
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_err();
    assert!(err.is_network_error(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "not after serverSelectionTimeoutMS"
    );
}

#[tokio::test]
async fn a_server_without_a_service_id_is_refused() {
    let mongos = FakeMongos::start(1, FakeOptions::default());
    let c = client(mongos.uri(CERT, LB)).await;
    let err = c
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::NotSupported { message } if message.contains("serviceId")),
        "{err}"
    );
}
