//! Faults around the connection pools, against the scripted fake deployment
//! (tests/common/fake_deployment.rs): a member that answers its monitor but resets every
//! application connection, a member that leaves the replica set while operations wait for its
//! connections, and the memory idle connections keep after large replies.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fake_deployment::{FailAction, FakeOptions, FakeReplicaSet};
use mongo_x509::bson::{doc, Document};
use mongo_x509::pool::PoolStats;
use mongo_x509::{Client, ServerType};

const KEY: &str = "client-pkcs8-aes256.pem";
/// Bound on every wait: a hang is a failure, not a stuck CI job.
const WAIT: Duration = Duration::from_secs(10);

/// Waits (bounded) until `condition` holds for the client's pool statistics.
async fn wait_for_pools(client: &Client, what: &str, condition: impl Fn(&[PoolStats]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = client.pool_stats();
        if condition(&stats) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {stats:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A failed connect reaches SDAM: the member is marked Unknown (its pool cleared) and selection
/// waits for its monitor to find it again, instead of reconnecting in a tight loop until
/// `serverSelectionTimeoutMS`.
#[tokio::test]
async fn a_member_that_resets_application_connections_is_not_hammered() {
    let rs = FakeReplicaSet::start(
        "rs0",
        1,
        FakeOptions {
            speculative_auth: false,
            ..FakeOptions::default()
        },
    );
    // Monitors never authenticate: they are answered. Every pooled connection is reset in its
    // authentication step.
    rs.fail_always(0, "authenticate", FailAction::CloseConnection);
    let client = Client::with_uri_str(rs.uri(KEY, "serverSelectionTimeoutMS=2000"))
        .await
        .unwrap();
    let marked_unknown = Arc::new(AtomicBool::new(false));
    let mut watcher = client.watch_topology();
    let seen = Arc::clone(&marked_unknown);
    let watching = tokio::spawn(async move {
        while let Some(t) = watcher.changed().await {
            let failed = t.servers.values().any(|s| {
                s.server_type == ServerType::Unknown
                    && s.error.as_deref().is_some_and(|e| !e.is_empty())
            });
            if failed {
                seen.store(true, Ordering::SeqCst);
            }
        }
    });
    let items = client.database("shop").collection::<Document>("items");
    let err = items.find_one(doc! {}).await.unwrap_err();
    let attempts = rs.stats(0).count("authenticate");
    // One attempt per rediscovery: the monitor waits minHeartbeatFrequencyMS (500 ms) after
    // the failure, so 4 or 5 in 2 s (a few more if the read is retried). Without the report,
    // one after another as fast as connections open.
    assert!(
        (1..=12).contains(&attempts),
        "{attempts} connection attempts within 2 x serverSelectionTimeoutMS: {err}"
    );
    assert!(
        marked_unknown.load(Ordering::SeqCst),
        "the failed connects never marked the member Unknown"
    );
    // Once the member stops resetting, the client recovers.
    rs.clear_fail_always(0);
    items.find_one(doc! {}).await.unwrap();
    drop(client);
    watching.abort();
}

/// A member leaving the set (a new `hosts` list) sends the operations queued on its pool back
/// to selection; they run elsewhere instead of failing as if the client had shut down.
#[tokio::test]
async fn operations_waiting_on_a_removed_member_select_again() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    rs.set_tags(2, doc! { "dc": "east" });
    let client = Client::with_uri_str(rs.uri(
        KEY,
        "heartbeatFrequencyMS=500&maxPoolSize=1&readPreference=secondaryPreferred\
         &readPreferenceTags=dc:east",
    ))
    .await
    .unwrap();
    let items = client.database("shop").collection::<Document>("items");
    rs.seed("shop", "items", [doc! { "n": 1 }]);
    client
        .watch_topology()
        .wait_for(WAIT, |t| {
            t.servers.len() == 3 && t.servers.values().all(|s| s.server_type.is_known())
        })
        .await
        .expect("every member discovered");
    // Member 2, the only secondary tagged dc:east, serves these reads.
    items.find_one(doc! {}).await.unwrap();
    assert_eq!(rs.stats(2).count("find"), 1);
    let member2 = rs.address(2);
    let on_member2 = |stats: &[PoolStats]| {
        stats
            .iter()
            .find(|p| p.address.to_string() == member2)
            .cloned()
    };

    // Its only connection is held by a slow read; three more reads queue for it.
    rs.fail_next(2, "find", FailAction::Delay(Duration::from_millis(1500)));
    let read = |items: &mongo_x509::Collection<Document>| {
        let items = items.clone();
        tokio::spawn(async move { items.find_one(doc! {}).await })
    };
    let slow = read(&items);
    wait_for_pools(
        &client,
        "the slow read holding member 2's connection",
        |s| on_member2(s).is_some_and(|p| p.checked_out == 1),
    )
    .await;
    let queued: Vec<_> = (0..3).map(|_| read(&items)).collect();
    wait_for_pools(&client, "three reads waiting for member 2", |s| {
        on_member2(s).is_some_and(|p| p.waiting == 3)
    })
    .await;

    rs.remove_member(2);
    for q in queued {
        let found = tokio::time::timeout(WAIT, q)
            .await
            .expect("the queued read ends")
            .unwrap()
            .expect("the queued read selects another member");
        assert_eq!(found.and_then(|d| d.get_i32("n").ok()), Some(1));
    }
    assert_eq!(
        rs.stats(0).count("find"),
        3,
        "they ran on the primary (secondaryPreferred, no tagged secondary left)"
    );
    let slow = tokio::time::timeout(WAIT, slow)
        .await
        .expect("the slow read ends");
    assert!(
        slow.unwrap().unwrap().is_some(),
        "the read in flight finishes"
    );
    assert!(
        on_member2(&client.pool_stats()).is_none(),
        "member 2 is gone"
    );
}

/// Idle connections give back what large replies made their buffers grow to when they are
/// checked in, not only at their next read: many idle connections after large replies would
/// otherwise hold that much memory each.
#[tokio::test]
async fn idle_connections_release_large_read_buffers() {
    const BLOB: usize = 5 << 20;
    const CONNECTIONS: usize = 4;
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    rs.seed("shop", "big", [doc! { "blob": "x".repeat(BLOB) }]);
    let client = Client::with_uri_str(rs.uri(KEY, "maxPoolSize=8"))
        .await
        .unwrap();
    let big = client.database("shop").collection::<Document>("big");
    // Each read is held a moment, so that they run at once on connections of their own.
    for _ in 0..CONNECTIONS {
        rs.fail_next(0, "find", FailAction::Delay(Duration::from_millis(300)));
    }
    let reads = (0..CONNECTIONS).map(|_| {
        let big = big.clone();
        tokio::spawn(async move { big.find_one(doc! {}).await })
    });
    for read in futures_util::future::join_all(reads).await {
        let found = read.unwrap().unwrap().expect("the document");
        assert_eq!(found.get_str("blob").map(str::len), Ok(BLOB));
    }
    let stats = &client.pool_stats()[0];
    assert!(
        stats.idle >= 2,
        "the reads did not run on several connections: {stats:?}"
    );
    // What an idle connection keeps (up to 1 MiB per buffer), far below one reply each.
    let kept = u64::from(stats.idle) * (2 << 20);
    assert!(
        stats.idle_buffer_bytes <= kept,
        "{} idle connections hold {} bytes after {BLOB}-byte replies",
        stats.idle,
        stats.idle_buffer_bytes
    );
}
