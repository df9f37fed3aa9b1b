//! Change streams against SecantusDB (tests/common/server.rs), a one-member replica set: the
//! events of inserts, updates, replacements and deletes with their documents; a stream
//! resumed after its `getMore`'s connection is closed (`failCommand`), losing and repeating
//! nothing; `start_after` past an invalidate; errors that are not resumable end the stream,
//! labelled ones are resumed; a `next` dropped mid-`getMore` loses nothing; database, client and
//! explicit-session streams. Fail points target each test's own `appName`, one test at a time.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::server;
use futures_util::{StreamExt, TryStreamExt};
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::change_stream::event::{ChangeStreamEvent, OperationType};
use mongo_x509::change_stream::ChangeStream;
use mongo_x509::error::ErrorKind;
use mongo_x509::options::FullDocumentType;
use mongo_x509::{Client, Collection};

const KEY: &str = "client-pkcs8.pem";
/// Bounds every wait for an event.
const WAIT: Duration = Duration::from_secs(15);
/// How long each `getMore` waits on the server for events.
const AWAIT: Duration = Duration::from_millis(200);

type Events = ChangeStream<ChangeStreamEvent<Document>>;

/// One fail-point test at a time.
static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client(app: &str) -> Client {
    let uri = server().uri(
        KEY,
        &format!("appName={app}&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=10000"),
    );
    Client::with_uri_str(uri).await.expect("client")
}

/// A fresh, existing, empty collection `e2e_change_streams.<name>`.
async fn collection(c: &Client, name: &str) -> Collection<Document> {
    let db = c.database("e2e_change_streams");
    let coll = db.collection::<Document>(name);
    coll.drop().await.expect("drop");
    db.create_collection(name).await.expect("create");
    coll
}

/// Fails the next `times` `commands` of client `app` as `data` says.
async fn fail(c: &Client, app: &str, times: i32, commands: &[&str], data: Document) {
    let mut d = doc! { "failCommands": commands, "appName": app };
    d.extend(data);
    c.database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": d,
        })
        .await
        .expect("configureFailPoint");
}

async fn next(s: &mut Events) -> ChangeStreamEvent<Document> {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("no event in time")
        .expect("the stream ended")
        .expect("an event")
}

fn x(e: &ChangeStreamEvent<Document>) -> i32 {
    e.full_document
        .as_ref()
        .and_then(|d| d.get_i32("x").ok())
        .unwrap_or_else(|| panic!("no full document with x: {e:?}"))
}

fn code(e: &mongo_x509::error::Error) -> i32 {
    match &*e.kind {
        ErrorKind::Command { code, .. } => *code,
        _ => panic!("not a command error: {e}"),
    }
}

#[tokio::test]
async fn inserts_updates_replacements_and_deletes_arrive_with_their_documents() {
    let c = client("cs_crud").await;
    let coll = collection(&c, "crud").await;
    let mut s = coll
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .max_await_time(AWAIT)
        .await
        .unwrap();
    assert!(s.is_alive());
    coll.insert_one(doc! { "_id": 1, "x": 1 }).await.unwrap();
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "x": 2, "y": "new" } })
        .await
        .unwrap();

    let e = next(&mut s).await;
    assert_eq!(e.operation_type, OperationType::Insert);
    assert_eq!(e.full_document, Some(doc! { "_id": 1, "x": 1 }));
    assert_eq!(e.document_key, Some(doc! { "_id": 1 }));
    let ns = e.ns.clone().expect("ns");
    assert_eq!(
        (ns.db.as_str(), ns.coll.as_deref()),
        ("e2e_change_streams", Some("crud"))
    );
    assert!(e.cluster_time.is_some());

    let e = next(&mut s).await;
    assert_eq!(e.operation_type, OperationType::Update);
    let u = e.update_description.clone().expect("updateDescription");
    assert_eq!(u.updated_fields, doc! { "x": 2, "y": "new" });
    // updateLookup: the document as it is now (read before it changes again).
    assert_eq!(e.full_document, Some(doc! { "_id": 1, "x": 2, "y": "new" }));

    coll.replace_one(doc! { "_id": 1 }, doc! { "x": 3 })
        .await
        .unwrap();
    coll.delete_one(doc! { "_id": 1 }).await.unwrap();
    let e = next(&mut s).await;
    assert_eq!(e.operation_type, OperationType::Replace);
    assert_eq!(e.full_document, Some(doc! { "_id": 1, "x": 3 }));

    let e = next(&mut s).await;
    assert_eq!(e.operation_type, OperationType::Delete);
    assert_eq!(e.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(e.full_document, None);
    // Nothing more happened: one empty getMore, and still a token to resume from.
    assert!(s.next_if_any().await.unwrap().is_none());
    assert!(s.resume_token().is_some());
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_stream_resumes_after_its_get_more_connection_closes_losing_and_repeating_nothing() {
    let app = "cs_resume_close";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let coll = collection(&c, "resume_close").await;
    let mut s = coll
        .watch()
        .batch_size(2)
        .max_await_time(AWAIT)
        .await
        .unwrap();
    for x in 1..=5 {
        coll.insert_one(doc! { "x": x }).await.unwrap();
    }
    assert_eq!(x(&next(&mut s).await), 1);
    let second = next(&mut s).await;
    assert_eq!(x(&second), 2);
    // The next getMore's connection is closed by the server: a network error, resumed from
    // the token of event 2.
    fail(&c, app, 1, &["getMore"], doc! { "closeConnection": true }).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(x(&next(&mut s).await));
    }
    assert_eq!(seen, [3, 4, 5], "each event once, in order");
    assert!(s.is_alive());
    coll.insert_one(doc! { "x": 6 }).await.unwrap();
    let sixth = next(&mut s).await;
    assert_eq!(x(&sixth), 6);
    assert_ne!(sixth.id, second.id);
    assert!(s.next_if_any().await.unwrap().is_none(), "nothing repeated");

    // The fail point was used up by the stream's getMore: another getMore goes through.
    coll.insert_many((0..3).map(|i| doc! { "i": i }))
        .await
        .unwrap();
    let all: Vec<Document> = coll
        .find(doc! {})
        .batch_size(1)
        .await
        .unwrap()
        .try_collect()
        .await
        .expect("the fail point was left for this find's getMore: the stream never hit it");
    assert_eq!(all.len(), 9);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_labelled_error_is_resumed_and_an_unlabelled_one_ends_the_stream() {
    let app = "cs_labels";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let coll = collection(&c, "labels").await;
    let mut s = coll.watch().max_await_time(AWAIT).await.unwrap();
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    assert_eq!(x(&next(&mut s).await), 1);

    // 4.4+: the label makes an error resumable, whatever its code.
    fail(
        &c,
        app,
        1,
        &["getMore"],
        doc! { "errorCode": 280, "errorLabels": ["ResumableChangeStreamError"] },
    )
    .await;
    coll.insert_one(doc! { "x": 2 }).await.unwrap();
    assert_eq!(x(&next(&mut s).await), 2);

    // Without it, even a code that once was resumable is not: the error, and the end.
    fail(&c, app, 1, &["getMore"], doc! { "errorCode": 91 }).await;
    coll.insert_one(doc! { "x": 3 }).await.unwrap();
    let err = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("in time")
        .expect("an item")
        .expect_err("the getMore's error");
    assert_eq!(code(&err), 91, "{err}");
    assert!(!s.is_alive());
    assert!(s.next().await.is_none(), "the stream has ended");
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_non_resumable_error_is_returned_not_resumed() {
    let app = "cs_not_resumable";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let coll = collection(&c, "not_resumable").await;
    let mut s = coll.watch().max_await_time(AWAIT).await.unwrap();
    fail(&c, app, 1, &["getMore"], doc! { "errorCode": 2 }).await;
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    let err = s.next_if_any().await.expect_err("BadValue");
    assert_eq!(code(&err), 2);
    assert!(!s.is_alive());
    assert!(s.next_if_any().await.unwrap().is_none());
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn start_after_an_invalidate_continues_on_the_new_collection() {
    let c = client("cs_invalidate").await;
    let coll = collection(&c, "invalidate").await;
    let mut s = coll.watch().max_await_time(AWAIT).await.unwrap();
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    coll.drop().await.unwrap();
    assert_eq!(x(&next(&mut s).await), 1);
    assert_eq!(next(&mut s).await.operation_type, OperationType::Drop);
    let invalidate = next(&mut s).await;
    assert_eq!(invalidate.operation_type, OperationType::Invalidate);
    // The server closed the cursor: the stream has ended.
    assert!(s.next().await.is_none());
    assert!(!s.is_alive());

    let mut after = coll
        .watch()
        .start_after(invalidate.id.clone())
        .max_await_time(AWAIT)
        .await
        .unwrap();
    coll.insert_one(doc! { "x": 2 }).await.unwrap();
    let e = next(&mut after).await;
    assert_eq!(e.operation_type, OperationType::Insert);
    assert_eq!(x(&e), 2);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn resume_after_a_saved_token_gives_the_events_that_followed() {
    let c = client("cs_resume_after").await;
    let coll = collection(&c, "resume_after").await;
    let mut s = coll.watch().max_await_time(AWAIT).await.unwrap();
    coll.insert_many((1..=3).map(|x| doc! { "x": x }))
        .await
        .unwrap();
    let first = next(&mut s).await;
    assert_eq!(x(&first), 1);
    drop(s);
    // A token stored as BSON and read back.
    let stored: Bson = mongo_x509::bson::to_bson(&first.id).unwrap();
    let token = mongo_x509::bson::from_bson(stored).unwrap();
    let mut again = coll
        .watch()
        .resume_after(token)
        .max_await_time(AWAIT)
        .await
        .unwrap();
    assert_eq!(x(&next(&mut again).await), 2);
    assert_eq!(x(&next(&mut again).await), 3);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_next_dropped_mid_get_more_loses_no_event() {
    let c = client("cs_cancel").await;
    let coll = collection(&c, "cancel").await;
    // Each getMore waits two seconds on the server for an event.
    let mut s = coll
        .watch()
        .max_await_time(Duration::from_secs(2))
        .await
        .unwrap();
    for round in 1..=3 {
        // Dropped while its getMore waits on the server.
        let r = tokio::time::timeout(Duration::from_millis(100), s.next()).await;
        assert!(r.is_err(), "no event yet: {r:?}");
        // The event arrives while that getMore is still waiting: its reply carries it.
        coll.insert_one(doc! { "x": round }).await.unwrap();
        assert_eq!(x(&next(&mut s).await), round);
    }
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn database_client_and_session_streams_see_their_changes() {
    let c = client("cs_scopes").await;
    let coll = collection(&c, "scopes").await;
    let db = c.database("e2e_change_streams");
    let mut on_db = db.watch().max_await_time(AWAIT).await.unwrap();
    let mut on_client = c
        .watch()
        .pipeline([doc! { "$match": { "ns.coll": "scopes" } }])
        .max_await_time(AWAIT)
        .await
        .unwrap();
    let mut session = c.start_session().await.unwrap();
    let mut in_session = coll
        .watch()
        .max_await_time(AWAIT)
        .session(&mut session)
        .await
        .unwrap();
    coll.insert_one(doc! { "x": 7 }).await.unwrap();
    assert_eq!(x(&next(&mut on_db).await), 7);
    assert_eq!(x(&next(&mut on_client).await), 7);
    let e = tokio::time::timeout(WAIT, in_session.next(&mut session))
        .await
        .expect("in time")
        .unwrap()
        .expect("an event");
    assert_eq!(x(&e), 7);
    assert!(in_session
        .next_if_any(&mut session)
        .await
        .unwrap()
        .is_none());
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn an_id_projected_out_is_the_servers_fatal_error_and_ends_the_stream() {
    let c = client("cs_no_id").await;
    let coll = collection(&c, "no_id").await;
    let mut s = coll
        .watch()
        .pipeline([doc! { "$project": { "_id": 0 } }])
        .max_await_time(AWAIT)
        .await
        .unwrap()
        .with_type::<Document>();
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    // The server checks the events (as MongoDB 4.2+ does): ChangeStreamFatalError, labelled
    // NonResumableChangeStreamError, on the getMore. Not resumed.
    let err = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("in time")
        .expect("an item")
        .expect_err("no resume token");
    assert_eq!(code(&err), 280, "{err}");
    assert!(!s.is_alive());
    assert!(s.next().await.is_none());
    coll.drop().await.unwrap();
}
