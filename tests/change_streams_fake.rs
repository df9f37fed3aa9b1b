//! Change streams against the scripted fake deployment (tests/common/fake_deployment.rs), for
//! what one real server cannot show: load-balanced mode (the stream pinned to its connection,
//! a resume pinned to a new one), the resumable errors of servers before and after MongoDB 4.4,
//! what each resume's `$changeStream` asks for (startAfter until an event is handed out,
//! then resumeAfter), the same session across a resume, and a `next` dropped while its
//! `getMore` reply is held by the server.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{
    error_doc, FailAction, FakeDeployment, FakeLoadBalancer, FakeOptions, FakeReplicaSet,
    FakeStandalone,
};
use futures_util::StreamExt;
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::change_stream::event::ChangeStreamEvent;
use mongo_x509::change_stream::ChangeStream;
use mongo_x509::error::ErrorKind;
use mongo_x509::Client;

const CERT: &str = "client-pkcs8.pem";
const WAIT: Duration = Duration::from_secs(10);
const LB: &str = "loadBalanced=true&serverSelectionTimeoutMS=5000";
const FAST: &str = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=5000";

type Events = ChangeStream<ChangeStreamEvent<Document>>;

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

fn checked_out(c: &Client) -> u32 {
    c.pool_stats().iter().map(|s| s.checked_out).sum()
}

async fn next(s: &mut Events) -> ChangeStreamEvent<Document> {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("no event in time")
        .expect("the stream ended")
        .expect("an event")
}

fn x(e: &ChangeStreamEvent<Document>) -> i32 {
    e.full_document.as_ref().unwrap().get_i32("x").unwrap()
}

/// The `$changeStream` stage of each `aggregate` member 0 received, in order.
fn stages(d: &FakeDeployment) -> Vec<Document> {
    commands(d, "aggregate")
        .iter()
        .map(|c| {
            let first = c.get_array("pipeline").unwrap()[0].as_document().unwrap();
            first.get_document("$changeStream").unwrap().clone()
        })
        .collect()
}

/// The bodies of the `name` commands member 0 received, in order.
fn commands(d: &FakeDeployment, name: &str) -> Vec<Document> {
    d.stats(0)
        .command_log
        .into_iter()
        .filter(|c| c.keys().next().map(String::as_str) == Some(name))
        .collect()
}

/// The connection each `name` command came on, in order.
fn connections(d: &FakeDeployment, name: &str) -> Vec<i32> {
    d.stats(0)
        .wire(name)
        .into_iter()
        .map(|r| r.connection_id)
        .collect()
}

/// The token the fake gives its change log entry `k` (0-based): the place after it.
fn token(k: usize) -> Document {
    doc! { "_data": format!("{:016X}", k + 1) }
}

#[tokio::test]
async fn a_load_balanced_stream_is_pinned_and_its_resume_pins_a_new_connection() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    let c = client(lb.uri(CERT, LB)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = coll.watch().batch_size(2).await.unwrap();
    assert_eq!(checked_out(&c), 1, "the stream holds its connection");
    coll.insert_many((0..3).map(|x| doc! { "x": x }))
        .await
        .unwrap();
    for want in 0..3 {
        assert_eq!(x(&next(&mut s).await), want);
    }
    assert_eq!(
        checked_out(&c),
        1,
        "other operations used other connections"
    );
    let first = connections(&lb, "aggregate")[0];
    let get_mores = connections(&lb, "getMore");
    assert!(get_mores.len() >= 2);
    assert!(
        get_mores.iter().all(|c| *c == first),
        "{get_mores:?} on {first}"
    );

    // The pinned connection is closed under the next getMore: resumed after event 2, on a
    // connection of its own.
    lb.fail_next(0, "getMore", FailAction::CloseConnection);
    coll.insert_one(doc! { "x": 3 }).await.unwrap();
    assert_eq!(x(&next(&mut s).await), 3);
    let stages = stages(&lb);
    assert_eq!(stages.len(), 2, "one resume");
    assert_eq!(stages[1], doc! { "resumeAfter": token(2) });
    let second = connections(&lb, "aggregate")[1];
    assert_ne!(second, first, "the closed connection is not reused");
    let after: Vec<i32> = connections(&lb, "getMore")
        .into_iter()
        .skip(get_mores.len() + 1)
        .collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|c| *c == second), "{after:?} on {second}");
    assert_eq!(checked_out(&c), 1, "only the new connection is pinned");

    // Dropped: killed on its pinned connection, which is then released.
    drop(s);
    lb.wait_for("killCursors", WAIT, |d| {
        d.stats(0).count("killCursors") >= 1
    })
    .await;
    let kills = connections(&lb, "killCursors");
    assert_eq!(kills.last(), Some(&second));
    let deadline = tokio::time::Instant::now() + WAIT;
    while checked_out(&c) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether a stream on a server of `wire_version` resumes after its getMore fails with
/// `error`: it resumes (a second aggregate) and hands out the event, or returns the error.
async fn resumes(wire_version: i32, error: Document) -> bool {
    let options = FakeOptions {
        max_wire_version: wire_version,
        ..FakeOptions::default()
    };
    let rs = FakeReplicaSet::start("rs", 1, options);
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = coll.watch().await.unwrap();
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    rs.fail_next(0, "getMore", FailAction::Error(error));
    let outcome = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("in time")
        .expect("an item");
    let aggregates = commands(&rs, "aggregate").len();
    match outcome {
        Ok(e) => {
            assert_eq!(x(&e), 1);
            assert_eq!(aggregates, 2, "resumed once");
            assert!(s.is_alive());
            true
        }
        Err(e) => {
            assert!(matches!(*e.kind, ErrorKind::Command { .. }), "{e}");
            assert_eq!(aggregates, 1, "not resumed");
            assert!(!s.is_alive());
            false
        }
    }
}

fn labelled(code: i32, labels: &[&str]) -> Document {
    let mut d = error_doc(code, "Failed", "the fake's error");
    d.insert("errorLabels", labels.to_vec());
    d
}

#[tokio::test]
async fn before_4_4_the_codes_decide_and_from_4_4_the_label() {
    const WIRE_4_2: i32 = 8;
    const WIRE_7_0: i32 = 21;
    // ShutdownInProgress: on the old list, and unlabelled.
    assert!(resumes(WIRE_4_2, labelled(91, &[])).await);
    assert!(!resumes(WIRE_7_0, labelled(91, &[])).await);
    // The label, whatever the code, from 4.4 on only.
    assert!(resumes(WIRE_7_0, labelled(280, &["ResumableChangeStreamError"])).await);
    assert!(!resumes(WIRE_4_2, labelled(280, &["ResumableChangeStreamError"])).await);
    // CursorNotFound always; an ordinary error never.
    assert!(resumes(WIRE_4_2, labelled(43, &[])).await);
    assert!(resumes(WIRE_7_0, labelled(43, &[])).await);
    assert!(!resumes(WIRE_7_0, labelled(2, &[])).await);
}

#[tokio::test]
async fn start_after_is_kept_until_an_event_then_resume_after_in_the_same_session() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "x": 0 }).await.unwrap();
    let start: mongo_x509::change_stream::event::ResumeToken =
        mongo_x509::bson::from_document(token(0)).unwrap();
    let mut s = coll.watch().start_after(start).await.unwrap();
    // Nothing handed out yet: the resume starts after the (cached) place again.
    rs.fail_next(0, "getMore", FailAction::CloseConnection);
    assert!(
        s.next_if_any().await.unwrap().is_none(),
        "resumed, nothing new"
    );
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    assert_eq!(x(&next(&mut s).await), 1);
    // An event handed out: resumeAfter from now on, startAfter gone.
    rs.fail_next(0, "getMore", FailAction::CloseConnection);
    coll.insert_one(doc! { "x": 2 }).await.unwrap();
    assert_eq!(x(&next(&mut s).await), 2);
    let stages = stages(&rs);
    assert_eq!(
        stages,
        [
            doc! { "startAfter": token(0) },
            doc! { "startAfter": token(0) },
            doc! { "resumeAfter": token(1) },
        ]
    );
    // Every aggregate and getMore of the stream ran in one (implicit) session.
    let mut lsids: Vec<Bson> = commands(&rs, "aggregate")
        .into_iter()
        .chain(commands(&rs, "getMore"))
        .map(|c| c.get("lsid").cloned().expect("an lsid"))
        .collect();
    lsids.dedup();
    assert_eq!(lsids.len(), 1, "{lsids:?}");
}

#[tokio::test]
async fn a_session_stream_runs_its_get_mores_and_resumes_in_the_session() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut session = c.start_session().await.unwrap();
    let mut s = coll.watch().session(&mut session).await.unwrap();
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    rs.fail_next(0, "getMore", FailAction::CloseConnection);
    let mut got = None;
    for _ in 0..3 {
        if let Some(e) = s.next_if_any(&mut session).await.unwrap() {
            got = Some(e);
            break;
        }
    }
    assert_eq!(x(&got.expect("the event after the resume")), 1);
    let id = Bson::from(session.id().clone());
    for c in commands(&rs, "aggregate")
        .into_iter()
        .chain(commands(&rs, "getMore"))
    {
        assert_eq!(c.get("lsid"), Some(&id), "{c}");
    }
    assert_eq!(commands(&rs, "aggregate").len(), 2);
}

#[tokio::test]
async fn a_next_dropped_while_its_get_more_reply_is_held_skips_nothing() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = coll.watch().await.unwrap();
    coll.insert_many([doc! { "x": 1 }, doc! { "x": 2 }])
        .await
        .unwrap();
    let before = rs.stats(0).count("getMore");
    rs.fail_next(
        0,
        "getMore",
        FailAction::DelayReply(Duration::from_millis(300)),
    );
    tokio::select! {
        r = s.next() => panic!("the getMore reply is held, yet next returned {r:?}"),
        _ = rs.wait_for("the getMore", WAIT, |d| d.stats(0).count("getMore") == before + 1) => {}
    }
    // The fake's cursor has moved past both events; the held reply carries them.
    assert_eq!(x(&next(&mut s).await), 1);
    assert_eq!(x(&next(&mut s).await), 2);
    assert_eq!(
        rs.stats(0).count("getMore"),
        before + 1,
        "no getMore was lost or repeated"
    );
    assert_eq!(
        commands(&rs, "aggregate").len(),
        1,
        "and no resume was needed"
    );
}

#[tokio::test]
async fn a_standalone_refuses_with_its_own_error() {
    let m = FakeStandalone::start(FakeOptions::default());
    let c = client(m.uri(CERT, "directConnection=true&serverSelectionTimeoutMS=5000")).await;
    let err = c
        .database("db")
        .collection::<Document>("c")
        .watch()
        .await
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::Command { code: 40573, .. }),
        "the server's error, not the client's: {err}"
    );
}
