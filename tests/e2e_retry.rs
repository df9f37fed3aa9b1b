//! Sessions and retryable writes against the scripted fake deployment
//! (tests/common/fake_deployment.rs): what the client sends (`lsid`, `txnNumber`,
//! `$clusterTime`), retries across step-downs and dropped connections, deprioritized mongos,
//! `endSessions` at shutdown; a retry never re-sent without its `txnNumber`, and the error
//! returned when the retry fails.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FailAction, FakeMongos, FakeOptions, FakeReplicaSet};
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{Acknowledgment, WriteConcern};
use mongo_x509::Client;

const CERT: &str = "client-pkcs8.pem";
/// Bounds every wait.
const WAIT: Duration = Duration::from_secs(10);
/// Fast failover: short heartbeats and selection timeouts.
const FAST: &str = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=5000";

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

/// The commands (not hello/authenticate/endSessions) member `i` received.
fn commands(rs: &FakeReplicaSet, i: usize) -> Vec<Document> {
    rs.stats(i)
        .command_log
        .into_iter()
        .filter(|c| {
            let name = c.keys().next().map(String::as_str).unwrap_or("");
            !matches!(
                name,
                "hello" | "isMaster" | "ismaster" | "authenticate" | "endSessions"
            )
        })
        .collect()
}

#[tokio::test]
async fn every_command_carries_an_lsid_and_the_cluster_time() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1, "a": 1 }).await.unwrap();
    coll.insert_many(vec![doc! { "_id": 2 }, doc! { "_id": 3 }])
        .await
        .unwrap();
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "a": 2 } })
        .await
        .unwrap();
    let counted: Vec<Document> = coll
        .aggregate(vec![doc! { "$count": "n" }])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(counted, [doc! { "n": 3 }]);
    assert!(coll.find_one(doc! { "_id": 1 }).await.unwrap().is_some());
    coll.delete_one(doc! { "_id": 3 }).await.unwrap();

    let sent = commands(&rs, 0);
    assert_eq!(sent.len(), 6, "{sent:?}");
    let first_lsid = sent[0].get_document("lsid").expect("lsid").clone();
    for (n, cmd) in sent.iter().enumerate() {
        // One operation at a time: the pool hands back the same session (LIFO).
        assert_eq!(cmd.get_document("lsid").ok(), Some(&first_lsid), "{cmd}");
        if n > 0 {
            assert!(cmd.contains_key("$clusterTime"), "gossiped: {cmd}");
        }
    }
    // txnNumber on the retryable writes only, increasing.
    let txns: Vec<Option<i64>> = sent.iter().map(|c| c.get_i64("txnNumber").ok()).collect();
    assert_eq!(txns, [Some(1), Some(2), Some(3), None, None, Some(4)]);
}

#[tokio::test]
async fn a_write_loop_survives_three_step_downs() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("loop");
    let mut primary = 0;
    for n in 0..60 {
        if [10, 25, 40].contains(&n) {
            primary = (primary + 1) % 3;
            rs.step_down(primary);
        }
        coll.insert_one(doc! { "_id": n })
            .await
            .unwrap_or_else(|e| panic!("insert {n} failed: {e}"));
    }
    let ids: Vec<Bson> = rs
        .documents("db", "loop")
        .into_iter()
        .filter_map(|d| d.get("_id").cloned())
        .collect();
    let expected: Vec<Bson> = (0..60).map(Bson::Int32).collect();
    assert_eq!(ids, expected, "every acknowledged write is there, once");
    // Each refused write was retried on the new primary with the same lsid and txnNumber:
    // 63 inserts sent for 60 writes, 60 distinct (lsid, txnNumber) pairs.
    let all: Vec<_> = (0..3).flat_map(|m| rs.stats(m).write_sessions).collect();
    assert_eq!(all.len(), 63, "one retry per step-down");
    let mut pairs: Vec<String> = all
        .iter()
        .map(|w| format!("{:?}/{:?}", w.lsid, w.txn_number))
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 60);
}

#[tokio::test]
async fn a_write_retried_after_a_dropped_connection_keeps_its_txn_number() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.reset_stats(0);
    rs.fail_next(0, "insert", FailAction::CloseConnection);
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    let writes = rs.stats(0).write_sessions;
    assert_eq!(writes.len(), 2, "sent, then retried: {writes:?}");
    assert_eq!(writes[0].lsid, writes[1].lsid);
    assert_eq!(writes[0].txn_number, writes[1].txn_number);
    assert!(writes[0].txn_number.is_some());
    assert_eq!(rs.documents("db", "c").len(), 2);
}

#[tokio::test]
async fn a_write_concern_error_labelled_retryable_is_retried_and_its_labels_kept() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    // `ok: 1` with a writeConcernError, labelled as MongoDB 4.4+ labels it.
    let shutting_down = |labels: Vec<&str>| {
        FailAction::Error(doc! {
            "ok": 1, "n": 1,
            "writeConcernError": { "code": 91, "errmsg": "Replication is being shut down" },
            "errorLabels": labels,
        })
    };
    rs.reset_stats(0);
    rs.fail_next(0, "insert", shutting_down(vec!["RetryableWriteError"]));
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    let inserts: Vec<Document> = commands(&rs, 0)
        .into_iter()
        .filter(|c| c.contains_key("insert"))
        .collect();
    assert_eq!(inserts.len(), 2, "answered, then retried: {inserts:?}");
    assert_eq!(inserts[0].get("txnNumber"), inserts[1].get("txnNumber"));
    assert_eq!(rs.documents("db", "c").len(), 2);

    // Twice: the second answer is the error, with its label.
    rs.fail_next(0, "update", shutting_down(vec!["RetryableWriteError"]));
    rs.fail_next(0, "update", shutting_down(vec!["RetryableWriteError"]));
    let e = coll
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "a": 1 } })
        .await
        .unwrap_err();
    assert!(e.contains_label("RetryableWriteError"), "{e:?}");
    assert!(
        matches!(&*e.kind, ErrorKind::Write { write_concern_error: Some(w), .. } if w.contains("code 91")),
        "{e:?}"
    );
    // Without the label: not retried.
    rs.reset_stats(0);
    rs.fail_next(0, "insert", shutting_down(vec![]));
    coll.insert_one(doc! { "_id": 3 }).await.unwrap_err();
    assert_eq!(
        commands(&rs, 0)
            .iter()
            .filter(|c| c.contains_key("insert"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_failed_retry_reports_the_retry_error_and_multi_writes_are_not_retried() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.reset_stats(0);
    rs.fail_next(
        0,
        "insert",
        FailAction::error(91, "ShutdownInProgress", "first"),
    );
    rs.fail_next(
        0,
        "insert",
        FailAction::error(189, "PrimarySteppedDown", "second"),
    );
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.to_string().contains("second"), "{err}");
    assert!(err.contains_label("RetryableWriteError"));
    assert_eq!(rs.stats(0).count("insert"), 2, "retried once, not more");

    // update_many: no txnNumber, no retry.
    rs.reset_stats(0);
    rs.fail_next(0, "update", FailAction::CloseConnection);
    let err = coll
        .update_many(doc! {}, doc! { "$set": { "x": 1 } })
        .await
        .unwrap_err();
    assert!(err.is_network_error(), "{err}");
    let writes = rs.stats(0).write_sessions;
    assert_eq!(writes.len(), 1);
    assert!(writes[0].lsid.is_some() && writes[0].txn_number.is_none());
}

#[tokio::test]
async fn retry_writes_false_and_unacknowledged_writes() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, &format!("{FAST}&retryWrites=false"))).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.fail_next(0, "insert", FailAction::CloseConnection);
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.is_network_error(), "{err}");
    let writes = rs.stats(0).write_sessions;
    assert_eq!(writes.len(), 2);
    assert!(writes
        .iter()
        .all(|w| w.lsid.is_some() && w.txn_number.is_none()));

    // w: 0 carries neither lsid nor txnNumber, even with retryWrites on.
    let c = client(rs.uri(CERT, FAST)).await;
    rs.reset_stats(0);
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 2 })
        .write_concern(WriteConcern::builder().w(Acknowledgment::Nodes(0)).build())
        .await
        .unwrap();
    // Sent with moreToCome: the call returns before the server has read it.
    rs.wait_for("the unacknowledged insert", WAIT, |d| {
        !d.stats(0).write_sessions.is_empty()
    })
    .await;
    let writes = rs.stats(0).write_sessions;
    assert_eq!(writes.len(), 1);
    assert_eq!((writes[0].lsid.clone(), writes[0].txn_number), (None, None));
}

#[tokio::test]
async fn no_sessions_without_logical_session_timeout() {
    let options = FakeOptions {
        logical_session_timeout_minutes: None,
        ..FakeOptions::default()
    };
    let rs = FakeReplicaSet::start("rs", 3, options);
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    let writes = rs.stats(0).write_sessions;
    assert_eq!((writes[0].lsid.clone(), writes[0].txn_number), (None, None));
    let err = c.start_session().await.unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::NotSupported { .. }), "{err}");
}

#[tokio::test]
async fn a_retry_on_a_sharded_cluster_goes_to_another_mongos() {
    let mongos = FakeMongos::start(2, FakeOptions::default());
    let c = client(mongos.uri(CERT, FAST)).await;
    c.database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    for i in 0..2 {
        mongos.fail_next(
            i,
            "insert",
            FailAction::error(91, "ShutdownInProgress", "x"),
        );
    }
    // Wait until both routers are known, so that either may be picked first.
    let deadline = tokio::time::Instant::now() + WAIT;
    while c
        .topology_description()
        .servers
        .values()
        .filter(|s| s.server_type == mongo_x509::ServerType::Mongos)
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "routers not discovered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let coll = c.database("db").collection::<Document>("c");
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.contains_label("RetryableWriteError"), "{err}");
    assert_eq!(
        (
            mongos.stats(0).count("insert"),
            mongos.stats(1).count("insert")
        ),
        (1, 1),
        "the retry avoided the router that failed"
    );
}

#[tokio::test]
async fn explicit_sessions_are_causally_consistent() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    rs.seed("db", "c", (0..5).map(|i| doc! { "_id": i }));
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let lsid = s.id().clone();
    assert!(s.operation_time().is_none());
    coll.insert_one(doc! { "_id": 10 })
        .session(&mut s)
        .await
        .unwrap();
    let op_time = s.operation_time().expect("operationTime recorded");
    assert!(s.cluster_time().is_some());
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
    }
    assert_eq!(n, 6);
    let mut agg = coll
        .aggregate(vec![doc! { "$count": "n" }])
        .session(&mut s)
        .await
        .unwrap();
    let counted = agg.next(&mut s).await.unwrap().unwrap();
    assert_eq!(counted.get_i32("n").ok(), Some(6), "{counted}");

    let sent = commands(&rs, 0);
    let find = sent.iter().find(|c| c.contains_key("find")).unwrap();
    assert_eq!(find.get_document("lsid").unwrap(), &lsid);
    let after = find
        .get_document("readConcern")
        .and_then(|rc| rc.get_timestamp("afterClusterTime"))
        .expect("afterClusterTime");
    assert_eq!(after, op_time);
    let get_mores: Vec<&Document> = sent.iter().filter(|c| c.contains_key("getMore")).collect();
    assert_eq!(get_mores.len(), 2);
    assert!(get_mores
        .iter()
        .all(|g| g.get_document("lsid").ok() == Some(&lsid)));
    // Implicit sessions never send afterClusterTime.
    drop(s);
    rs.reset_stats(0);
    coll.find_one(doc! {}).await.unwrap();
    let find = commands(&rs, 0).remove(0);
    assert!(!find.contains_key("readConcern"), "{find}");

    // A session belongs to the client that started it.
    let other = client(rs.uri(CERT, FAST)).await;
    let mut foreign = other.start_session().await.unwrap();
    let err = coll
        .find_one(doc! {})
        .session(&mut foreign)
        .await
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );

    // Causal consistency off.
    let mut s = c.start_session().causal_consistency(false).await.unwrap();
    coll.insert_one(doc! { "_id": 11 })
        .session(&mut s)
        .await
        .unwrap();
    rs.reset_stats(0);
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    assert!(!commands(&rs, 0)[0].contains_key("readConcern"));
}

#[tokio::test]
async fn shutdown_ends_the_pooled_sessions() {
    let rs = FakeReplicaSet::start("rs", 3, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    let lsid = commands(&rs, 0)[0].get_document("lsid").unwrap().clone();
    c.shutdown().await;
    let ends: Vec<Document> = rs
        .stats(0)
        .command_log
        .into_iter()
        .filter(|c| c.contains_key("endSessions"))
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(
        ends[0].get_array("endSessions").unwrap(),
        &vec![Bson::Document(lsid)]
    );
    assert!(!ends[0].contains_key("lsid"));
}

/// The write's `_id`s the deployment holds.
fn ids(rs: &FakeReplicaSet) -> Vec<Bson> {
    rs.documents("db", "c")
        .into_iter()
        .filter_map(|d| d.get("_id").cloned())
        .collect()
}

fn code_of(err: &mongo_x509::error::Error) -> Option<i32> {
    match &*err.kind {
        ErrorKind::Command { code, .. } => Some(*code),
        _ => None,
    }
}

/// The primary refuses the write as it steps down; the member elected instead reports no
/// `logicalSessionTimeoutMinutes` (no sessions, so no retryable writes). The retry cannot carry
/// the `txnNumber` there: the write is not sent again (as a plain write it could be applied
/// twice), and the first error is returned.
#[tokio::test]
async fn a_retry_is_not_sent_to_a_primary_without_retryable_writes() {
    let rs = FakeReplicaSet::start("rs", 2, FakeOptions::default());
    rs.set_logical_session_timeout(1, None);
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.reset_stats(0);
    rs.reset_stats(1);

    // The write reaches member 0 while it is frozen; meanwhile member 1 is elected and the
    // client learns it. Unfrozen, member 0 answers as the secondary it now is.
    rs.freeze(0);
    let insert = tokio::spawn({
        let coll = coll.clone();
        async move { coll.insert_one(doc! { "_id": 1 }).await }
    });
    rs.wait_for("the insert to reach member 0", WAIT, |d| {
        d.stats(0).count("insert") == 1
    })
    .await;
    rs.step_down(1);
    c.watch_topology()
        .wait_for(WAIT, |t| {
            t.servers.values().any(|s| {
                s.server_type == mongo_x509::ServerType::RsPrimary
                    && s.address.to_string() == rs.address(1)
            })
        })
        .await
        .expect("member 1 known as the primary");
    rs.unfreeze(0);
    let err = tokio::time::timeout(WAIT, insert)
        .await
        .expect("the insert ended")
        .expect("the task ran")
        .unwrap_err();

    assert_eq!(code_of(&err), Some(10107), "the first error: {err}");
    assert!(err.contains_label("RetryableWriteError"), "{err}");
    let first = &rs.stats(0).write_sessions;
    assert!(first[0].lsid.is_some() && first[0].txn_number.is_some());
    assert_eq!(
        rs.stats(1).count("insert"),
        0,
        "re-sent without its txnNumber: {:?}",
        rs.stats(1).write_sessions
    );
    assert_eq!(ids(&rs), [Bson::Int32(0)]);
}

/// The retry fails before anything reaches a server (the new connection it needs cannot be
/// opened: its authentication is refused): the first error, which says what happened to the
/// write, is returned, not the connect error.
#[tokio::test]
async fn a_retry_that_cannot_connect_returns_the_first_error() {
    // No speculative authentication: each new connection sends `authenticate`, monitors don't.
    let options = FakeOptions {
        speculative_auth: false,
        ..FakeOptions::default()
    };
    let rs = FakeReplicaSet::start("rs", 1, options);
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.reset_stats(0);
    // The connection drops mid-write: the pool is cleared, so the retry needs a new
    // connection, and that one is refused.
    rs.fail_next(0, "insert", FailAction::CloseConnection);
    // (A connect that fails on the network is retried by server selection itself; a refused
    // authentication reaches the operation.)
    rs.fail_next(
        0,
        "authenticate",
        FailAction::error(18, "AuthenticationFailed", "second: refused"),
    );
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.is_network_error(), "the first error: {err}");
    assert!(err.contains_label("RetryableWriteError"), "{err}");
    let stats = rs.stats(0);
    assert_eq!(stats.count("insert"), 1, "the retry was never sent");
    assert_eq!(
        stats.count("authenticate"),
        1,
        "one connect attempt for the retry"
    );
    assert_eq!(ids(&rs), [Bson::Int32(0)]);
}

/// The retry reached the server but wrote nothing (`NoWritesPerformed`): the first error.
#[tokio::test]
async fn a_retry_that_wrote_nothing_returns_the_first_error() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    rs.reset_stats(0);
    rs.fail_next(
        0,
        "insert",
        FailAction::error(91, "ShutdownInProgress", "first"),
    );
    let mut no_writes = common::fake_deployment::error_doc(10107, "NotWritablePrimary", "second");
    no_writes.insert(
        "errorLabels",
        vec!["RetryableWriteError", "NoWritesPerformed"],
    );
    rs.fail_next(0, "insert", FailAction::Error(no_writes));
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert_eq!(code_of(&err), Some(91), "{err}");
    assert_eq!(rs.stats(0).count("insert"), 2, "sent and retried");
}

/// A deployment that refuses `txnNumber` although it reports sessions (IllegalOperation, 20)
/// gets an error that says what to do.
#[tokio::test]
async fn a_refused_txn_number_says_to_turn_retry_writes_off() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    rs.fail_next(
        0,
        "insert",
        FailAction::error(
            20,
            "IllegalOperation",
            "Transaction numbers are only allowed on storage engines that support document-level locking",
        ),
    );
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert_eq!(code_of(&err), Some(20), "{err}");
    assert!(err.to_string().contains("retryWrites=false"), "{err}");
    assert_eq!(rs.stats(0).count("insert"), 1, "not retried");
}
