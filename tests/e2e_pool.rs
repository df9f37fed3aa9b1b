//! The connection pool against SecantusDB: a bounded pool under load, and a connection the
//! server closes is replaced.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::server;
use mongo_x509::bson::{doc, Document};
use mongo_x509::Client;

/// The server has one failCommand fail point at a time: tests that set one take turns.
static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn backend() -> &'static str {
    if cfg!(feature = "openssl") {
        "openssl"
    } else {
        "native-tls"
    }
}

async fn client(extra: &str) -> Client {
    let uri = server().uri(
        "client-pkcs8-aes256.pem",
        &format!(
            "tlsBackend={}&serverSelectionTimeoutMS=20000&{extra}",
            backend()
        ),
    );
    Client::with_uri_str(&uri).await.unwrap()
}

async fn fail_point(admin: &Client, cmd: Document) {
    admin
        .database("admin")
        .run_command(cmd)
        .await
        .expect("configureFailPoint (the test server runs with --enable-test-commands)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_share_eight_connections() {
    let _turn = FAIL_POINT.lock().await;
    let admin = client("appName=pool-admin").await;
    let app = "pool-64";
    let c = client(&format!("appName={app}&maxPoolSize=8")).await;
    let coll = c.database("e2e_pool").collection::<Document>("items");
    coll.drop().await.unwrap();
    coll.insert_one(doc! { "k": 1 }).await.unwrap();
    // Each find holds its connection for a while, so the pool has to grow to its limit.
    fail_point(
        &admin,
        doc! {
            "configureFailPoint": "failCommand", "mode": { "times": 64 },
            "data": { "failCommands": ["find"], "blockConnection": true, "blockTimeMS": 100, "appName": app },
        },
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let coll = coll.clone();
        tasks.push(tokio::spawn(
            async move { coll.find_one(doc! { "k": 1 }).await },
        ));
    }
    for t in tasks {
        let found = t.await.unwrap().unwrap();
        assert!(found.is_some());
    }
    fail_point(
        &admin,
        doc! { "configureFailPoint": "failCommand", "mode": "off" },
    )
    .await;
    let stats = c.pool_stats();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert!(s.peak_open <= 8, "more than maxPoolSize open: {s:?}");
    assert!(s.connections_created <= 8, "{s:?}");
    // blockConnection holds each find for 100 ms: the pool grows to its limit and no further.
    assert_eq!(s.peak_open, 8, "{s:?}");
    assert_eq!(s.checked_out, 0, "{s:?}");
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_connection_closed_by_the_server_is_replaced() {
    let _turn = FAIL_POINT.lock().await;
    let admin = client("appName=pool-admin2").await;
    let app = "pool-close";
    // retryReads=false: the failure is seen, not retried away.
    let c = client(&format!("appName={app}&maxPoolSize=1&retryReads=false")).await;
    let coll = c.database("e2e_pool").collection::<Document>("close");
    coll.find_one(doc! {}).await.unwrap();
    let before = c.pool_stats()[0].clone();
    assert_eq!(before.open, 1);
    fail_point(
        &admin,
        doc! {
            "configureFailPoint": "failCommand", "mode": { "times": 1 },
            "data": { "failCommands": ["find"], "closeConnection": true, "appName": app },
        },
    )
    .await;
    let err = coll.find_one(doc! {}).await.unwrap_err();
    assert!(err.is_network_error(), "{err}");
    let after_error = c.pool_stats()[0].clone();
    assert_eq!(
        after_error.open, 0,
        "the broken connection is not returned: {after_error:?}"
    );
    assert_eq!(
        after_error.connections_closed,
        before.connections_closed + 1
    );
    // The next operation gets a new connection.
    coll.find_one(doc! {}).await.unwrap();
    let after = c.pool_stats()[0].clone();
    assert_eq!(
        after.connections_created,
        before.connections_created + 1,
        "{after:?}"
    );
    assert_eq!(after.open, 1);
}

#[tokio::test]
async fn retryable_reads_hide_a_closed_connection() {
    let _turn = FAIL_POINT.lock().await;
    let admin = client("appName=pool-admin3").await;
    let app = "pool-retry";
    let c = client(&format!("appName={app}")).await;
    let coll = c.database("e2e_pool").collection::<Document>("retry");
    coll.find_one(doc! {}).await.unwrap();
    fail_point(
        &admin,
        doc! {
            "configureFailPoint": "failCommand", "mode": { "times": 1 },
            "data": { "failCommands": ["find"], "closeConnection": true, "appName": app },
        },
    )
    .await;
    tokio::time::timeout(Duration::from_secs(30), coll.find_one(doc! {}))
        .await
        .expect("no hang")
        .expect("retried once on a new connection");
    assert!(c.pool_stats()[0].connections_closed >= 1);
}

#[tokio::test]
async fn min_pool_size_opens_connections_in_the_background() {
    // No operation: the pool fills once the monitor's first check marks it ready (CMAP).
    let c = client("minPoolSize=3&appName=pool-min").await;
    let mut open = 0;
    for _ in 0..100 {
        open = c.pool_stats()[0].open;
        if open >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, 3);
}
