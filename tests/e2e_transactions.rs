//! Transactions against SecantusDB (tests/common/server.rs): a transaction over two
//! collections is invisible until committed and leaves nothing when aborted; the convenient
//! API runs the whole transaction again after a `TransientTransactionError`; a commit whose
//! connection is closed is retried; an explicit commit retry is answered. Fail points target
//! each test's own `appName`, and the fail-point tests take turns.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use common::server::server;
use futures_util::{FutureExt, TryStreamExt};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::TRANSIENT_TRANSACTION_ERROR;
use mongo_x509::options::{ReadConcern, WriteConcern};
use mongo_x509::{Client, Collection, TransactionState};

const KEY: &str = "client-pkcs8-aes256.pem";

/// One fail-point test at a time.
static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client(app: &str) -> Client {
    let uri = server().uri(
        KEY,
        &format!("appName={app}&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=10000"),
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

/// Two fresh collections named after the test.
async fn collections(c: &Client, app: &str) -> (Collection<Document>, Collection<Document>) {
    let db = c.database("e2e_transactions");
    let a = db.collection::<Document>(&format!("{app}_a"));
    let b = db.collection::<Document>(&format!("{app}_b"));
    a.drop().await.unwrap();
    b.drop().await.unwrap();
    // Created outside the transaction, as older servers need.
    a.insert_one(doc! { "_id": "seed" }).await.unwrap();
    b.insert_one(doc! { "_id": "seed" }).await.unwrap();
    (a, b)
}

async fn ids(coll: &Collection<Document>) -> Vec<i32> {
    let docs: Vec<Document> = coll
        .find(doc! { "n": { "$exists": true } })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: Vec<i32> = docs.iter().map(|d| d.get_i32("n").unwrap()).collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn a_transaction_over_two_collections_is_seen_whole_once_committed() {
    let app = "txn_commit";
    let c = client(app).await;
    let (a, b) = collections(&c, app).await;
    let mut s = c.start_session().await.unwrap();
    s.start_transaction()
        .read_concern(ReadConcern::snapshot())
        .write_concern(WriteConcern::majority())
        .await
        .unwrap();
    a.insert_one(doc! { "n": 1 }).session(&mut s).await.unwrap();
    b.insert_one(doc! { "n": 2 }).session(&mut s).await.unwrap();
    a.update_one(doc! { "n": 1 }, doc! { "$set": { "seen": true } })
        .session(&mut s)
        .await
        .unwrap();
    // The transaction sees its writes; another session sees neither.
    assert_eq!(
        a.count_documents(doc! { "n": 1, "seen": true })
            .session(&mut s)
            .await
            .unwrap(),
        1
    );
    let mut other = c.start_session().await.unwrap();
    for coll in [&a, &b] {
        assert_eq!(
            coll.count_documents(doc! { "n": { "$exists": true } })
                .session(&mut other)
                .await
                .unwrap(),
            0
        );
    }
    s.commit_transaction().await.unwrap();
    assert_eq!(s.transaction_state(), TransactionState::Committed);
    assert_eq!(ids(&a).await, [1]);
    assert_eq!(ids(&b).await, [2]);
    // Committing again is allowed and changes nothing.
    s.commit_transaction().await.unwrap();
    assert_eq!(ids(&a).await, [1]);
}

#[tokio::test]
async fn an_aborted_transaction_leaves_nothing() {
    let app = "txn_abort";
    let c = client(app).await;
    let (a, b) = collections(&c, app).await;
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "n": 1 }).session(&mut s).await.unwrap();
    b.insert_one(doc! { "n": 2 }).session(&mut s).await.unwrap();
    b.delete_one(doc! { "_id": "seed" })
        .session(&mut s)
        .await
        .unwrap();
    s.abort_transaction().await.unwrap();
    assert!(ids(&a).await.is_empty());
    assert!(ids(&b).await.is_empty());
    assert_eq!(b.count_documents(doc! { "_id": "seed" }).await.unwrap(), 1);
    // The session runs the next transaction.
    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "n": 3 }).session(&mut s).await.unwrap();
    s.commit_transaction().await.unwrap();
    assert_eq!(ids(&a).await, [3]);
}

#[tokio::test]
async fn the_convenient_api_runs_the_transaction_again_after_a_transient_error() {
    let app = "txn_and_run";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let (a, b) = collections(&c, app).await;
    fail(
        &c,
        app,
        1,
        &["insert"],
        doc! { "errorCode": 112, "errorLabels": [TRANSIENT_TRANSACTION_ERROR] },
    )
    .await;
    let mut s = c.start_session().await.unwrap();
    let mut runs = 0;
    let value = s
        .start_transaction()
        .and_run((&a, &b, &mut runs), |session, (a, b, runs)| {
            async move {
                **runs += 1;
                a.insert_one(doc! { "n": 1 }).session(&mut *session).await?;
                b.insert_one(doc! { "n": 2 }).session(&mut *session).await?;
                Ok("both")
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(value, "both");
    assert_eq!(runs, 2, "the first run failed on its first insert");
    assert_eq!(ids(&a).await, [1]);
    assert_eq!(ids(&b).await, [2]);
}

#[tokio::test]
async fn the_convenient_api_with_an_async_closure() {
    let app = "txn_and_run2";
    let c = client(app).await;
    let (a, b) = collections(&c, app).await;
    let mut s = c.start_session().await.unwrap();
    let n = s
        .start_transaction()
        .and_run2(async |session| {
            a.insert_one(doc! { "n": 5 }).session(&mut *session).await?;
            b.insert_one(doc! { "n": 6 }).session(&mut *session).await?;
            a.count_documents(doc! { "n": 5 }).session(session).await
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(ids(&a).await, [5]);
    assert_eq!(ids(&b).await, [6]);
}

#[tokio::test]
async fn a_commit_whose_connection_is_closed_is_retried() {
    let app = "txn_commit_retry";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let (a, b) = collections(&c, app).await;
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "n": 1 }).session(&mut s).await.unwrap();
    b.insert_one(doc! { "n": 2 }).session(&mut s).await.unwrap();
    fail(
        &c,
        app,
        1,
        &["commitTransaction"],
        doc! { "closeConnection": true },
    )
    .await;
    s.commit_transaction().await.unwrap();
    assert_eq!(ids(&a).await, [1]);
    assert_eq!(ids(&b).await, [2]);
}

#[tokio::test]
async fn a_commit_failing_twice_is_unknown_and_can_be_committed_again() {
    let app = "txn_commit_unknown";
    let _turn = FAIL_POINT.lock().await;
    let c = client(app).await;
    let (a, _) = collections(&c, app).await;
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "n": 1 }).session(&mut s).await.unwrap();
    fail(
        &c,
        app,
        2,
        &["commitTransaction"],
        doc! { "closeConnection": true },
    )
    .await;
    let e = s.commit_transaction().await.unwrap_err();
    assert!(e.is_network_error(), "{e}");
    assert!(
        e.contains_label(mongo_x509::error::UNKNOWN_TRANSACTION_COMMIT_RESULT),
        "{e:?}"
    );
    assert!(!e.contains_label(TRANSIENT_TRANSACTION_ERROR), "{e:?}");
    s.commit_transaction().await.unwrap();
    assert_eq!(ids(&a).await, [1]);
}

#[tokio::test]
async fn a_snapshot_session_reads_at_its_first_reads_time_and_the_server_refuses_its_writes() {
    let app = "txn_snapshot";
    let c = client(app).await;
    let (a, _) = collections(&c, app).await;
    let mut s = c.start_session().snapshot(true).await.unwrap();
    assert_eq!(s.snapshot_time(), None);
    assert!(a.find_one(doc! {}).session(&mut s).await.unwrap().is_some());
    let at = s.snapshot_time().expect("atClusterTime of the first read");
    a.insert_one(doc! { "n": 1 }).await.unwrap();
    // (SecantusDB ignores atClusterTime, so what this read sees is not asserted.)
    a.count_documents(doc! {}).session(&mut s).await.unwrap();
    assert_eq!(s.snapshot_time(), Some(at), "kept for every later read");
    // A write in a snapshot session carries the snapshot read concern: the server refuses it.
    let e = a
        .insert_one(doc! { "n": 2 })
        .session(&mut s)
        .await
        .unwrap_err();
    assert!(
        matches!(*e.kind, mongo_x509::error::ErrorKind::Command { .. }),
        "{e}"
    );
    assert_eq!(ids(&a).await, [1]);
    // No transactions in a snapshot session.
    let e = s.start_transaction().await.unwrap_err();
    assert!(
        matches!(*e.kind, mongo_x509::error::ErrorKind::Transaction { .. }),
        "{e}"
    );
}
