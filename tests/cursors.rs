//! Cursors against the scripted fake deployment (tests/common/fake_deployment.rs): a `next`
//! dropped while its `getMore` is in flight skips nothing (in an explicit session and without),
//! the session learns the cluster time of that `getMore`, and a dropped cursor's `killCursors`
//! does not keep a dropped client alive; `close` kills the server cursor before it returns.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FailAction, FakeDeployment, FakeMongos, FakeOptions};
use futures_util::StreamExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::{Client, ClientSession, SessionCursor};

const CERT: &str = "client-pkcs8.pem";
/// Bounds every wait.
const WAIT: Duration = Duration::from_secs(10);
const FAST: &str = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=5000";
/// How long the fake holds a delayed `getMore` reply: well past the timeouts below.
const HELD: Duration = Duration::from_millis(300);

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

/// One router with `db.c` holding `{_id: 0..n}`.
fn mongos(n: i32) -> FakeMongos {
    let m = FakeMongos::start(1, FakeOptions::default());
    m.seed("db", "c", (0..n).map(|i| doc! { "_id": i }));
    m
}

fn id(d: &Document) -> i32 {
    d.get_i32("_id").expect("_id")
}

fn get_mores(m: &FakeDeployment) -> u64 {
    m.stats(0).count("getMore")
}

/// Starts `next` on a cursor whose next `getMore` reply the fake holds, and drops it once the
/// fake has run that `getMore` (its cursor has moved on; the reply is on its way).
async fn drop_next_mid_get_more(
    m: &FakeMongos,
    cursor: &mut SessionCursor<Document>,
    s: &mut ClientSession,
) {
    let before = get_mores(m);
    m.fail_next(0, "getMore", FailAction::DelayReply(HELD));
    tokio::select! {
        r = cursor.next(s) => panic!("the getMore reply is held, yet next returned {r:?}"),
        _ = m.wait_for("the getMore", WAIT, |m| get_mores(m) == before + 1) => {}
    }
}

#[tokio::test]
async fn a_session_cursor_next_dropped_mid_get_more_skips_nothing() {
    let m = mongos(10);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(3)
        .session(&mut s)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(id(&cursor.next(&mut s).await.unwrap().unwrap()));
    }
    // Dropped by a select! once the server has produced the batch.
    drop_next_mid_get_more(&m, &mut cursor, &mut s).await;
    seen.push(id(&cursor.next(&mut s).await.unwrap().unwrap()));
    // Dropped by a timeout that expires.
    while seen.len() < 6 {
        seen.push(id(&cursor.next(&mut s).await.unwrap().unwrap()));
    }
    m.fail_next(0, "getMore", FailAction::DelayReply(HELD));
    let timed_out = tokio::time::timeout(Duration::from_millis(30), cursor.next(&mut s)).await;
    assert!(timed_out.is_err(), "the reply is held: {timed_out:?}");
    while let Some(d) = cursor.next(&mut s).await {
        seen.push(id(&d.unwrap()));
    }
    assert_eq!(
        seen,
        (0..10).collect::<Vec<_>>(),
        "in order, none missing or repeated"
    );
    assert_eq!(get_mores(&m), 3, "one getMore per batch, none sent twice");
    let lsid = s.id().clone();
    let sent = m.stats(0).command_log;
    assert!(sent
        .iter()
        .filter(|c| c.contains_key("getMore"))
        .all(|c| c.get_document("lsid") == Ok(&lsid)));
}

#[tokio::test]
async fn a_cursor_next_dropped_mid_get_more_skips_nothing() {
    let m = mongos(10);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut cursor = coll.find(doc! {}).batch_size(3).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(id(&cursor.next().await.unwrap().unwrap()));
    }
    m.fail_next(0, "getMore", FailAction::DelayReply(HELD));
    tokio::select! {
        r = cursor.next() => panic!("the getMore reply is held, yet next returned {r:?}"),
        _ = m.wait_for("the getMore", WAIT, |m| get_mores(m) == 1) => {}
    }
    m.fail_next(0, "getMore", FailAction::DelayReply(HELD));
    // The first getMore's batch, then a timeout on the second.
    for _ in 0..3 {
        seen.push(id(&cursor.next().await.unwrap().unwrap()));
    }
    let timed_out = tokio::time::timeout(Duration::from_millis(30), cursor.next()).await;
    assert!(timed_out.is_err(), "the reply is held: {timed_out:?}");
    while let Some(d) = cursor.next().await {
        seen.push(id(&d.unwrap()));
    }
    assert_eq!(
        seen,
        (0..10).collect::<Vec<_>>(),
        "in order, none missing or repeated"
    );
    assert_eq!(get_mores(&m), 3);
}

#[tokio::test]
async fn the_session_learns_the_cluster_time_of_a_get_more_whose_next_was_dropped() {
    let m = mongos(6);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut s)
        .await
        .unwrap();
    let opened = s.cluster_time().expect("from the find reply").timestamp();
    // A write outside the session moves the deployment's clock on.
    c.database("db")
        .collection::<Document>("other")
        .insert_one(doc! { "x": 1 })
        .await
        .unwrap();
    let later = m.cluster_time();
    assert!(later > opened);
    for i in 0..2 {
        assert_eq!(id(&cursor.next(&mut s).await.unwrap().unwrap()), i);
    }
    drop_next_mid_get_more(&m, &mut cursor, &mut s).await;
    assert_eq!(
        s.cluster_time().unwrap().timestamp(),
        opened,
        "the reply has not arrived yet"
    );
    assert_eq!(id(&cursor.next(&mut s).await.unwrap().unwrap()), 2);
    assert_eq!(
        get_mores(&m),
        1,
        "the held reply was used, not another getMore"
    );
    assert_eq!(s.cluster_time().unwrap().timestamp(), later);
    assert_eq!(s.operation_time(), Some(later));
}

#[tokio::test]
async fn a_dropped_cursor_is_killed_in_its_session() {
    let m = mongos(10);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut cursor = coll.find(doc! {}).batch_size(2).await.unwrap();
    assert!(cursor.next().await.unwrap().is_ok());
    let cursor_id = cursor.id();
    assert_ne!(cursor_id, 0);
    drop(cursor);
    m.wait_for("killCursors", WAIT, |m| {
        m.stats(0).count("killCursors") == 1
    })
    .await;
    let sent = m.stats(0).command_log;
    let find = sent.iter().find(|c| c.contains_key("find")).unwrap();
    let kill = sent.iter().find(|c| c.contains_key("killCursors")).unwrap();
    assert_eq!(kill.get_array("cursors").unwrap(), &vec![cursor_id.into()]);
    assert_eq!(kill.get_document("lsid"), find.get_document("lsid"));
}

#[tokio::test]
async fn a_cursor_dropped_after_its_client_keeps_nothing_alive() {
    let m = mongos(10);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut cursor = coll.find(doc! {}).batch_size(2).await.unwrap();
    assert!(cursor.next().await.unwrap().is_ok());
    // A killCursors that reached the server would hold its client for a minute.
    m.fail_next(
        0,
        "killCursors",
        FailAction::DelayReply(Duration::from_secs(60)),
    );
    drop(coll);
    drop(c);
    assert!(m.connections_open() > 0, "the cursor keeps the client");
    drop(cursor);
    m.wait_for("every socket closed", Duration::from_secs(3), |m| {
        m.connections_open() == 0
    })
    .await;
    assert_eq!(
        m.stats(0).count("killCursors"),
        0,
        "nothing sent for a client that is gone"
    );
}

/// The `getMore`s of a cursor repeat what the opening command asked for: `maxAwaitTimeMS` as
/// `maxTimeMS` (tailable-await `find` and `aggregate` only) and the comment (CRUD spec), and
/// a `batchSize` of 0 shapes the first batch only.
#[tokio::test]
async fn get_mores_carry_max_await_time_and_the_comment() {
    let m = mongos(6);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let wait = Duration::from_millis(70);
    let get_more_sent = |m: &FakeMongos| {
        let log = m.stats(0).command_log;
        log.into_iter()
            .rev()
            .find(|c| c.contains_key("getMore"))
            .expect("a getMore was sent")
    };
    use mongo_x509::options::CursorType;
    for (cursor_type, max_time) in [
        (CursorType::TailableAwait, Some(70_i64)),
        (CursorType::Tailable, None),
        (CursorType::NonTailable, None),
    ] {
        let mut cursor = coll
            .find(doc! {})
            .batch_size(2)
            .cursor_type(cursor_type)
            .max_await_time(wait)
            .comment(doc! { "why": "test" })
            .await
            .unwrap();
        for _ in 0..3 {
            cursor.next().await.unwrap().unwrap();
        }
        let sent = get_more_sent(&m);
        assert_eq!(sent.get_i64("maxTimeMS").ok(), max_time, "{cursor_type:?}");
        assert_eq!(
            sent.get_document("comment").unwrap(),
            &doc! { "why": "test" }
        );
    }
    let mut cursor = coll
        .aggregate([doc! { "$match": {} }])
        .batch_size(0)
        .max_await_time(wait)
        .comment("agg")
        .await
        .unwrap();
    cursor.next().await.unwrap().unwrap();
    let sent = get_more_sent(&m);
    assert_eq!(sent.get_i64("maxTimeMS"), Ok(70));
    assert_eq!(sent.get_str("comment"), Ok("agg"));
    assert!(
        !sent.contains_key("batchSize"),
        "a getMore never asks for 0: {sent}"
    );
}

#[tokio::test]
async fn a_closed_cursor_is_killed_before_close_returns() {
    let m = mongos(10);
    let c = client(m.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    // The kill's reply is held a moment: close waits for it, a drop would not.
    m.fail_next(0, "killCursors", FailAction::DelayReply(HELD));
    let mut cursor = coll.find(doc! {}).batch_size(2).await.unwrap();
    assert!(cursor.next().await.unwrap().is_ok());
    let cursor_id = cursor.id();
    let started = std::time::Instant::now();
    cursor.close().await;
    assert!(
        started.elapsed() >= HELD,
        "close returned before the killCursors reply"
    );
    let kill = m
        .stats(0)
        .command_log
        .into_iter()
        .find(|c| c.contains_key("killCursors"))
        .expect("killCursors sent by close");
    assert_eq!(kill.get_array("cursors").unwrap(), &vec![cursor_id.into()]);

    // An exhausted cursor sends nothing.
    let mut s = c.start_session().await.unwrap();
    let mut cursor = coll.find(doc! {}).session(&mut s).await.unwrap();
    while cursor.next(&mut s).await.is_some() {}
    cursor.close().await;
    assert_eq!(m.stats(0).count("killCursors"), 1);
}
