//! Replica sets and sharded clusters the single-node test server cannot show, against the
//! scripted fake deployment (tests/common/fake_deployment.rs: members over TLS with required
//! client certificates, answering as the SDAM specification says a real mongod does):
//! discovery from a secondary, a stepdown, a member removed or stopped, no primary, tag sets
//! and `nearest`, several mongos routers, and no task or socket left after the client is
//! dropped.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FailAction, FakeMongos, FakeOptions, FakeReplicaSet};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::ClientOptions;
use mongo_x509::{Client, ServerType, TopologyDescription, TopologyType};

const KEY: &str = "client-pkcs8-aes256.pem";
/// Bound on every wait for the topology: a hang is a failure, not a stuck CI job.
const WAIT: Duration = Duration::from_secs(10);

/// A client of `fake` seeded with members `seeds` only (no `replicaSet` unless in `extra`).
async fn connect(fake: &FakeReplicaSet, seeds: &[usize], extra: &str) -> Client {
    let full = fake.uri(KEY, extra);
    let (_, options) = full.split_once('?').expect("the fake's URI has options");
    let options = options.replacen(&format!("replicaSet={}&", fake.name()), "", 1);
    let hosts: Vec<String> = seeds.iter().map(|i| fake.address(*i)).collect();
    let uri = format!("mongodb://{}/?{options}", hosts.join(","));
    Client::with_uri_str(&uri).await.unwrap()
}

fn primary_of(t: &TopologyDescription) -> Option<String> {
    t.servers
        .values()
        .find(|s| s.server_type == ServerType::RsPrimary)
        .map(|s| s.address.to_string())
}

async fn wait_for(
    client: &Client,
    what: &str,
    condition: impl FnMut(&TopologyDescription) -> bool,
) -> TopologyDescription {
    client
        .watch_topology()
        .wait_for(WAIT, condition)
        .await
        .unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; topology: {:#?}",
                client.topology_description()
            )
        })
}

#[tokio::test]
async fn seeded_with_a_secondary_the_client_finds_the_primary_and_the_set() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let client = connect(&rs, &[1], "heartbeatFrequencyMS=500").await;
    let items = client.database("shop").collection::<Document>("items");
    items.insert_one(doc! { "n": 1 }).await.unwrap();
    assert_eq!(
        rs.stats(0).count("insert"),
        1,
        "the write went to the primary"
    );
    assert_eq!(rs.stats(1).count("insert"), 0);

    let t = client.topology_description();
    assert_eq!(t.topology_type, TopologyType::ReplicaSetWithPrimary);
    assert_eq!(t.set_name.as_deref(), Some("rs0"));
    assert_eq!(t.servers.len(), 3, "all members discovered: {t:#?}");
    assert_eq!(primary_of(&t), Some(rs.address(0)));
    let t = wait_for(&client, "every member monitored", |t| {
        t.servers.values().all(|s| s.server_type.is_known())
    })
    .await;
    assert!(t
        .servers
        .values()
        .all(|s| s.round_trip_time.is_some() && s.error.is_none()));
}

#[tokio::test]
async fn after_a_stepdown_writes_reach_the_new_primary() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    // A long heartbeat: the change must come from the streaming monitor (the server answers
    // the awaitable hello as soon as its topologyVersion changes), not from polling.
    let client = connect(&rs, &[0, 1, 2], "replicaSet=rs0&heartbeatFrequencyMS=60000").await;
    let items = client.database("shop").collection::<Document>("items");
    items.insert_one(doc! { "n": 1 }).await.unwrap();
    wait_for(&client, "streaming on every member", |t| {
        t.servers.values().all(|s| s.topology_version.is_some())
    })
    .await;

    rs.step_down(1);
    let t = wait_for(&client, "the new primary", |t| {
        primary_of(t) == Some(rs.address(1))
    })
    .await;
    assert_eq!(
        t.servers.len(),
        3,
        "the old primary is a secondary now, still a member"
    );
    items.insert_one(doc! { "n": 2 }).await.unwrap();
    assert_eq!(rs.stats(1).count("insert"), 1, "the write reached member 1");
    assert_eq!(rs.documents("shop", "items").len(), 2);
}

#[tokio::test]
async fn a_not_writable_primary_error_marks_the_server_unknown_at_once() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    // retryWrites=false: the error itself is under test, not the retry that would hide it.
    let client = connect(
        &rs,
        &[0, 1],
        "replicaSet=rs0&heartbeatFrequencyMS=60000&retryWrites=false",
    )
    .await;
    let items = client.database("shop").collection::<Document>("items");
    items.insert_one(doc! { "n": 1 }).await.unwrap();
    // What a stepping-down server answers: the error carries its new topologyVersion (an
    // error with the current one would be stale, and ignored, per SDAM).
    let mut tv = rs.topology_version(0);
    let counter = tv.get_i64("counter").unwrap();
    tv.insert("counter", counter + 1);
    rs.fail_next(
        0,
        "insert",
        FailAction::Error(doc! {
            "ok": 0, "code": 10107, "codeName": "NotWritablePrimary", "errmsg": "not primary",
            "topologyVersion": tv,
        }),
    );
    let err = items.insert_one(doc! { "n": 2 }).await.unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::Command { code: 10107, .. }),
        "{err}"
    );
    // SDAM: the server is Unknown right after the error. Its monitor (streaming, heartbeat
    // 60 s) hears of the server's new topologyVersion at once and finds it primary again.
    let t = client.topology_description();
    let member0 = t
        .servers
        .values()
        .find(|s| s.address.to_string() == rs.address(0));
    assert_eq!(
        member0.map(|s| s.server_type),
        Some(ServerType::Unknown),
        "{t:#?}"
    );
    rs.bump_topology_version(0);
    wait_for(&client, "the primary checked again", |t| {
        primary_of(t) == Some(rs.address(0))
    })
    .await;
    items.insert_one(doc! { "n": 3 }).await.unwrap();
}

#[tokio::test]
async fn a_member_dropped_from_hosts_loses_its_monitor_and_pool() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    rs.set_tags(2, doc! { "dc": "east" });
    let client = connect(
        &rs,
        &[0],
        "heartbeatFrequencyMS=500&readPreference=secondary&readPreferenceTags=dc:east",
    )
    .await;
    // A read on member 2, so that it has a pooled connection besides its monitor.
    let items = client.database("shop").collection::<Document>("items");
    items.find_one(doc! {}).await.unwrap();
    assert_eq!(rs.stats(2).count("find"), 1);
    let removed = rs.address(2);
    rs.remove_member(2);
    wait_for(&client, "member 2 removed", |t| {
        t.servers.values().all(|s| s.address.to_string() != removed)
    })
    .await;
    assert!(client
        .pool_stats()
        .iter()
        .all(|p| p.address.to_string() != removed));
    rs.wait_for("member 2's sockets closed", WAIT, |d| {
        d.stats(2).connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn a_member_that_stops_answering_is_marked_unknown_and_its_pool_cleared() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    rs.set_tags(2, doc! { "dc": "east" });
    let client = connect(
        &rs,
        &[0, 1, 2],
        "replicaSet=rs0&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=1000\
         &readPreference=secondary&readPreferenceTags=dc:east",
    )
    .await;
    let items = client.database("shop").collection::<Document>("items");
    items.find_one(doc! {}).await.unwrap();
    assert_eq!(
        rs.stats(2).count("find"),
        1,
        "the tagged secondary served it"
    );
    let member2 = rs.address(2);
    let generation = |c: &Client| {
        c.pool_stats()
            .into_iter()
            .find(|p| p.address.to_string() == member2)
            .map(|p| p.generation)
    };
    assert_eq!(generation(&client), Some(0));

    rs.stop(2).await;
    let t = wait_for(&client, "member 2 unknown", |t| {
        t.servers
            .values()
            .any(|s| s.address.to_string() == member2 && s.server_type == ServerType::Unknown)
    })
    .await;
    let d = t
        .servers
        .values()
        .find(|s| s.address.to_string() == member2)
        .unwrap();
    assert!(d.error.is_some(), "the last error is kept: {d:?}");
    assert!(generation(&client) >= Some(1), "its pool was cleared");

    let err = items.find_one(doc! {}).await.unwrap_err();
    let ErrorKind::ServerSelection { message } = &*err.kind else {
        panic!("{err}");
    };
    assert!(message.contains(&member2), "{message}");
}

#[tokio::test]
async fn with_no_primary_selection_times_out_listing_each_server() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    rs.set_primary(None);
    let client = connect(
        &rs,
        &[0, 1, 2],
        "replicaSet=rs0&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=800",
    )
    .await;
    let started = std::time::Instant::now();
    let err = client
        .database("shop")
        .collection::<Document>("items")
        .insert_one(doc! { "n": 1 })
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(800));
    let ErrorKind::ServerSelection { message } = &*err.kind else {
        panic!("{err}");
    };
    for i in 0..3 {
        assert!(message.contains(&rs.address(i)), "{message}");
    }
    assert!(message.contains("800"), "names the timeout: {message}");
    // Reads that allow secondaries still work.
    let reader = client_reading_secondaries(&rs).await;
    reader
        .database("shop")
        .collection::<Document>("items")
        .find_one(doc! {})
        .await
        .unwrap();
}

async fn client_reading_secondaries(rs: &FakeReplicaSet) -> Client {
    connect(
        rs,
        &[0, 1, 2],
        "replicaSet=rs0&heartbeatFrequencyMS=500&readPreference=secondaryPreferred",
    )
    .await
}

#[tokio::test]
async fn nearest_and_tag_sets_pick_the_right_members() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    rs.set_tags(0, doc! { "dc": "west" });
    rs.set_tags(1, doc! { "dc": "east", "rack": "1" });
    rs.set_tags(2, doc! { "dc": "east", "rack": "2" });
    let client = connect(
        &rs,
        &[0],
        "heartbeatFrequencyMS=500&localThresholdMS=10000&readPreference=nearest\
         &readPreferenceTags=dc:east,rack:2&readPreferenceTags=dc:west",
    )
    .await;
    wait_for(&client, "all three tagged", |t| {
        t.servers.len() == 3 && t.servers.values().all(|s| !s.tags.is_empty())
    })
    .await;
    let items = client.database("shop").collection::<Document>("items");
    for _ in 0..10 {
        items.find_one(doc! {}).await.unwrap();
    }
    assert_eq!(
        rs.stats(2).count("find"),
        10,
        "the first tag set that matches wins"
    );
    assert_eq!(rs.stats(0).count("find") + rs.stats(1).count("find"), 0);

    // Without tags, `nearest` spreads reads over every member in the latency window.
    let spread = connect(
        &rs,
        &[0],
        "heartbeatFrequencyMS=500&localThresholdMS=10000&readPreference=nearest",
    )
    .await;
    wait_for(&spread, "all three known", |t| {
        t.servers.len() == 3 && t.servers.values().all(|s| s.server_type.is_known())
    })
    .await;
    let before: Vec<u64> = (0..3).map(|i| rs.stats(i).count("find")).collect();
    let coll = spread.database("shop").collection::<Document>("items");
    for _ in 0..60 {
        coll.find_one(doc! {}).await.unwrap();
    }
    for (i, b) in before.iter().enumerate() {
        assert!(
            rs.stats(i).count("find") > *b,
            "member {i} got none of 60 reads"
        );
    }
}

#[tokio::test]
async fn several_mongos_routers_are_all_monitored_and_used() {
    let routers = FakeMongos::start(2, FakeOptions::default());
    let uri = routers.uri(KEY, "heartbeatFrequencyMS=500&localThresholdMS=10000");
    let client = Client::with_uri_str(&uri).await.unwrap();
    let items = client.database("shop").collection::<Document>("items");
    for n in 0..40 {
        items.insert_one(doc! { "n": n }).await.unwrap();
    }
    let t = client.topology_description();
    assert_eq!(t.topology_type, TopologyType::Sharded);
    assert_eq!(t.servers.len(), 2);
    assert!(routers.stats(0).count("insert") > 0 && routers.stats(1).count("insert") > 0);
    assert_eq!(routers.documents("shop", "items").len(), 40);
}

#[tokio::test]
async fn dropping_the_client_closes_every_socket_and_stops_every_task() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let client = connect(&rs, &[0], "heartbeatFrequencyMS=500").await;
    let items = client.database("shop").collection::<Document>("items");
    items.insert_one(doc! { "n": 1 }).await.unwrap();
    wait_for(&client, "all three monitored", |t| {
        t.servers.len() == 3 && t.servers.values().all(|s| s.server_type.is_known())
    })
    .await;
    let mut watcher = client.watch_topology();
    assert!(
        rs.connections_open() >= 3,
        "monitors and a pooled connection"
    );
    drop(items);
    drop(client);
    rs.wait_for("every socket closed", WAIT, |d| d.connections_open() == 0)
        .await;
    assert!(
        watcher.changed().await.is_none(),
        "the watcher sees the client gone"
    );
    let hellos: Vec<u64> = (0..3).map(|i| rs.stats(i).hellos()).collect();
    // Nothing to wait for but time: more than a heartbeat.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after: Vec<u64> = (0..3).map(|i| rs.stats(i).hellos()).collect();
    assert_eq!(
        hellos, after,
        "no monitor still checks after the client is gone"
    );
}

#[tokio::test]
async fn options_from_code_discover_the_same_way() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let mut options = ClientOptions::parse(rs.uri(KEY, "")).await.unwrap();
    options.hosts.truncate(1);
    options.heartbeat_freq = Some(Duration::from_millis(500));
    let client = tokio::task::spawn_blocking(move || Client::with_options(options))
        .await
        .unwrap()
        .unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    let t = wait_for(&client, "both members", |t| t.servers.len() == 2).await;
    assert_eq!(t.set_name.as_deref(), Some("rs0"));
}
