//! A server session involved in a network error, a timeout or a cancelled command is never
//! reused (Driver Sessions specification: "dirty" sessions are discarded when returned to the
//! pool), against the scripted fake deployment: the server may still hold state for that
//! `lsid` (a command running, a transaction number) that the client no longer knows.
//!
//! Each test reads which `lsid` the fake saw on every `find`: a discarded session shows up as a
//! new `lsid` on the next operation; a reused one as the same.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FailAction, FakeOptions, FakeReplicaSet};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::{Client, Collection};

const CERT: &str = "client-pkcs8.pem";
/// Bounds every wait.
const WAIT: Duration = Duration::from_secs(10);
/// Longer than any test waits: a delayed reply never arrives while it matters.
const NEVER: Duration = Duration::from_secs(30);

async fn setup(extra: &str) -> (FakeReplicaSet, Client, Collection<Document>) {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    rs.seed("db", "c", [doc! { "_id": 1 }]);
    let c = Client::with_uri_str(rs.uri(CERT, extra))
        .await
        .expect("client");
    let coll = c.database("db").collection::<Document>("c");
    (rs, c, coll)
}

/// The `lsid` of every `find` the member received, in order.
fn find_lsids(rs: &FakeReplicaSet) -> Vec<Document> {
    rs.stats(0)
        .command_log
        .into_iter()
        .filter(|c| c.contains_key("find"))
        .map(|c| c.get_document("lsid").expect("find with an lsid").clone())
        .collect()
}

/// Waits until the member has received `n` finds: the last one is in flight.
async fn until_finds(rs: &FakeReplicaSet, n: u64) {
    rs.wait_for("the find to reach the server", WAIT, |d| {
        d.stats(0).count("find") == n
    })
    .await;
}

#[tokio::test]
async fn a_network_error_discards_the_session_after_its_retry() {
    let (rs, _c, coll) = setup("").await;
    coll.find_one(doc! {}).await.unwrap();
    rs.fail_next(0, "find", FailAction::CloseConnection);
    // Retried (a retryable read) in the same session, which stays dirty.
    coll.find_one(doc! {}).await.unwrap();
    coll.find_one(doc! {}).await.unwrap();
    let lsids = find_lsids(&rs);
    assert_eq!(lsids.len(), 4, "{lsids:?}");
    assert_eq!(lsids[1], lsids[0], "clean before: reused");
    assert_eq!(lsids[2], lsids[1], "the retry keeps its session");
    assert_ne!(
        lsids[3], lsids[2],
        "dirty after the network error: not reused"
    );
}

#[tokio::test]
async fn a_timeout_ms_expiry_discards_the_session() {
    let (rs, _c, coll) = setup("timeoutMS=300").await;
    coll.find_one(doc! {}).await.unwrap();
    rs.fail_next(0, "find", FailAction::Delay(NEVER));
    let err = coll.find_one(doc! {}).await.unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::OperationTimeout { .. }),
        "{err}"
    );
    coll.find_one(doc! {}).await.unwrap();
    let lsids = find_lsids(&rs);
    assert_eq!(
        lsids.len(),
        3,
        "the timed-out find is not retried: {lsids:?}"
    );
    assert_eq!(lsids[1], lsids[0]);
    assert_ne!(lsids[2], lsids[1], "dirty after the timeout: not reused");
}

#[tokio::test]
async fn a_socket_timeout_discards_an_explicit_session() {
    let (rs, c, coll) = setup("socketTimeoutMS=300&retryReads=false").await;
    let mut s = c.start_session().await.unwrap();
    let id = s.id().clone();
    rs.fail_next(0, "find", FailAction::Delay(NEVER));
    let err = coll.find_one(doc! {}).session(&mut s).await.unwrap_err();
    assert!(err.is_network_error(), "{err}");
    // Still usable, with the same lsid…
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    assert_eq!(find_lsids(&rs), [id.clone(), id.clone()]);
    // …but not handed out again once ended.
    drop(s);
    let next = c.start_session().await.unwrap();
    assert_ne!(next.id(), &id);
}

#[tokio::test]
async fn an_operation_dropped_mid_command_discards_its_implicit_session() {
    let (rs, _c, coll) = setup("").await;
    coll.find_one(doc! {}).await.unwrap();
    rs.fail_next(0, "find", FailAction::Delay(NEVER));
    // Dropped once the server has the command: the reply never read.
    let find = coll.find_one(doc! {});
    tokio::select! {
        r = find => panic!("the delayed find finished: {r:?}"),
        () = until_finds(&rs, 2) => {}
    }
    coll.find_one(doc! {}).await.unwrap();
    let lsids = find_lsids(&rs);
    assert_eq!(lsids.len(), 3, "{lsids:?}");
    assert_eq!(lsids[1], lsids[0]);
    assert_ne!(
        lsids[2], lsids[1],
        "the cancelled operation's session came back to the pool"
    );
}

#[tokio::test]
async fn an_operation_timed_out_by_the_caller_discards_its_explicit_session() {
    let (rs, c, coll) = setup("").await;
    let mut s = c.start_session().await.unwrap();
    let id = s.id().clone();
    rs.fail_next(0, "find", FailAction::Delay(NEVER));
    let cancelled = tokio::time::timeout(
        Duration::from_secs(1),
        coll.find_one(doc! {}).session(&mut s),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the delayed find finished: {cancelled:?}"
    );
    assert_eq!(
        rs.stats(0).count("find"),
        1,
        "the find was in flight when the caller gave up"
    );
    // The session may go on being used, and is discarded when ended.
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    assert_eq!(find_lsids(&rs), [id.clone(), id.clone()]);
    drop(s);
    let next = c.start_session().await.unwrap();
    assert_ne!(next.id(), &id, "the cancelled session was handed out again");
    // And the pool is not emptied for nothing: a clean session is reused.
    let next_id = next.id().clone();
    drop(next);
    assert_eq!(c.start_session().await.unwrap().id(), &next_id);
}
