//! Sessions and retryability against SecantusDB (tests/common/server.rs), with the
//! `failCommand` fail point. Each test names its client (`appName`) and its fail points
//! target only that name; the tests still take turns (`FAIL_POINT`), as a connection the
//! server closes for one test was seen to disturb the others.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use common::server::server;
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::Client;

const KEY: &str = "client-pkcs8-aes256.pem";

/// One fail-point test at a time.
static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client(app: &str, extra: &str) -> Client {
    let uri = server().uri(
        KEY,
        &format!("appName={app}&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=10000{extra}"),
    );
    Client::with_uri_str(uri).await.expect("client")
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

fn code(e: &mongo_x509::error::Error) -> i32 {
    match &*e.kind {
        ErrorKind::Command { code, .. } => *code,
        _ => panic!("not a command error: {e}"),
    }
}

#[tokio::test]
async fn a_write_after_a_closed_connection_succeeds_once() {
    let app = "sess_close";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    fail(&c, app, 1, &["insert"], doc! { "closeConnection": true }).await;
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_retryable_code_is_retried_once_on_a_write() {
    let app = "sess_write_code";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    // No errorLabels given: the server labels the error RetryableWriteError only because the
    // insert carried an lsid and a txnNumber.
    fail(&c, app, 1, &["insert"], doc! { "errorCode": 91 }).await;
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    // Twice: the retry fails too, and its error is the one returned.
    fail(&c, app, 2, &["insert"], doc! { "errorCode": 91 }).await;
    let err = coll.insert_one(doc! { "_id": 2 }).await.unwrap_err();
    assert_eq!(code(&err), 91, "{err}");
    assert!(err.contains_label("RetryableWriteError"));
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_retryable_code_is_retried_once_on_a_find() {
    let app = "sess_find_code";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    fail(&c, app, 1, &["find"], doc! { "errorCode": 91 }).await;
    assert!(coll.find_one(doc! {}).await.unwrap().is_some());
    fail(&c, app, 2, &["find"], doc! { "errorCode": 91 }).await;
    let err = coll.find_one(doc! {}).await.unwrap_err();
    assert_eq!(code(&err), 91);
    // The fail point is used up: exactly two attempts were made.
    assert!(coll.find_one(doc! {}).await.unwrap().is_some());
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_non_retryable_code_is_not_retried() {
    let app = "sess_not_retryable";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    fail(&c, app, 1, &["insert", "find"], doc! { "errorCode": 2 }).await;
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert_eq!(code(&err), 2);
    fail(&c, app, 1, &["find"], doc! { "errorCode": 2 }).await;
    assert_eq!(code(&coll.find_one(doc! {}).await.unwrap_err()), 2);
    // One attempt each: the next ones go through.
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    assert!(coll.find_one(doc! {}).await.unwrap().is_some());
    // runCommand is never retried.
    fail(&c, app, 1, &["ping"], doc! { "closeConnection": true }).await;
    let err = c
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_err();
    assert!(err.is_network_error(), "{err}");
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn retry_writes_false_is_honoured() {
    let app = "sess_no_retry";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "&retryWrites=false&retryReads=false").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    fail(&c, app, 1, &["insert"], doc! { "closeConnection": true }).await;
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.is_network_error(), "{err}");
    fail(
        &c,
        app,
        1,
        &["insert"],
        doc! { "errorCode": 91, "errorLabels": ["RetryableWriteError"] },
    )
    .await;
    assert_eq!(
        code(&coll.insert_one(doc! { "_id": 1 }).await.unwrap_err()),
        91
    );
    fail(&c, app, 1, &["find"], doc! { "errorCode": 91 }).await;
    assert_eq!(code(&coll.find_one(doc! {}).await.unwrap_err()), 91);
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn an_explicit_session_reads_its_writes_and_gossips_time() {
    let app = "sess_explicit";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app, "").await;
    let coll = c.database("e2e_sessions").collection::<Document>(app);
    coll.drop().await.unwrap();
    let mut s = c.start_session().await.unwrap();
    assert_eq!(s.id().len(), 1);
    let docs: Vec<Document> = (0..5).map(|i| doc! { "_id": i }).collect();
    coll.insert_many(docs).session(&mut s).await.unwrap();
    assert!(s.operation_time().is_some(), "operationTime from the reply");
    assert!(s.cluster_time().is_some(), "$clusterTime from the reply");
    // afterClusterTime is accepted, and the reads see the writes.
    assert_eq!(
        coll.count_documents(doc! {}).session(&mut s).await.unwrap(),
        5
    );
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
    assert_eq!(n, 5);
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "x": 1 } })
        .session(&mut s)
        .await
        .unwrap();
    let updated = coll
        .find_one_and_update(doc! { "_id": 1 }, doc! { "$inc": { "x": 1 } })
        .session(&mut s)
        .await
        .unwrap();
    assert!(updated.is_some());
    coll.delete_one(doc! { "_id": 0 })
        .session(&mut s)
        .await
        .unwrap();
    let agg: Vec<Document> = {
        let mut cursor = coll
            .aggregate(vec![doc! { "$match": { "x": 2 } }])
            .session(&mut s)
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(d) = cursor.next(&mut s).await {
            out.push(d.unwrap());
        }
        out
    };
    assert_eq!(agg.len(), 1);
    c.database("e2e_sessions")
        .run_command(doc! { "ping": 1 })
        .session(&mut s)
        .await
        .unwrap();
    // Implicit sessions and plain cursors keep working alongside.
    let all: Vec<Document> = coll
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    drop(s);
    coll.drop().await.unwrap();
    c.shutdown().await;
}
