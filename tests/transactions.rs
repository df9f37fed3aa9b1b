//! Transactions against the scripted fake deployment (tests/common/fake_deployment.rs), which
//! keeps and refuses transactions as mongod, mongos and a load balancer do: the fields each
//! command carries on the wire, the transaction's read preference and concerns, pinning to one
//! mongos (and to one connection behind the load balancer), `recoveryToken`, commit retries
//! with `w: majority`, error labels, the convenient API's retry loop, `getMore` inside a
//! transaction, and the abort of a dropped session.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::fake_deployment::{
    FailAction, FakeDeployment, FakeLoadBalancer, FakeMongos, FakeOptions, FakeReplicaSet,
    FakeStandalone,
};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::{
    ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongo_x509::options::{
    Acknowledgment, ReadConcern, ReadPreference, ReadPreferenceMode, SessionOptions,
    TransactionOptions, WriteConcern,
};
use mongo_x509::{Client, ClientSession, TransactionState};

const CERT: &str = "client-pkcs8.pem";
const WAIT: Duration = Duration::from_secs(10);
const FAST: &str = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=5000";

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

/// The commands named `name` member `i` received.
fn sent(d: &FakeDeployment, i: usize, name: &str) -> Vec<Document> {
    d.stats(i)
        .command_log
        .into_iter()
        .filter(|c| c.keys().next().map(String::as_str) == Some(name))
        .collect()
}

/// The commands of session `lsid` member `i` received, hello and the like left out.
fn of_session(d: &FakeDeployment, i: usize, lsid: &Document) -> Vec<Document> {
    d.stats(i)
        .command_log
        .into_iter()
        .filter(|c| c.get_document("lsid").ok() == Some(lsid))
        .collect()
}

fn name(cmd: &Document) -> &str {
    cmd.keys().next().map(String::as_str).unwrap_or("")
}

fn transaction_message(e: &mongo_x509::error::Error) -> String {
    match &*e.kind {
        ErrorKind::Transaction { message } => message.clone(),
        other => panic!("not a transaction error: {other:?}"),
    }
}

#[tokio::test]
async fn each_command_carries_the_transaction_fields_and_only_the_first_its_read_concern() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    // The handles' concerns are not sent inside a transaction.
    let c = client(rs.uri(CERT, &format!("{FAST}&w=1&readConcernLevel=local"))).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    coll.find_one(doc! { "_id": 0 })
        .session(&mut s)
        .await
        .unwrap();
    let seen = s.operation_time().expect("an operation time");
    s.start_transaction()
        .read_concern(ReadConcern::majority())
        .write_concern(WriteConcern::majority())
        .max_commit_time(Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(s.transaction_state(), TransactionState::Starting);
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    assert_eq!(s.transaction_state(), TransactionState::InProgress);
    let mut counted = coll
        .aggregate(vec![doc! { "$count": "n" }])
        .session(&mut s)
        .await
        .unwrap();
    let n = counted.next(&mut s).await.unwrap().unwrap();
    assert_eq!(n, doc! { "n": 2 });
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "x": 1 } })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
    assert_eq!(s.transaction_state(), TransactionState::Committed);

    let cmds = of_session(&rs, 0, s.id());
    let names: Vec<&str> = cmds.iter().map(name).collect();
    assert_eq!(
        names,
        ["find", "insert", "aggregate", "update", "commitTransaction"]
    );
    let (before, txn) = cmds.split_first().unwrap();
    assert!(!before.contains_key("autocommit"));
    let number = txn[0].get_i64("txnNumber").unwrap();
    for cmd in txn {
        assert_eq!(cmd.get_i64("txnNumber"), Ok(number), "{cmd}");
        assert_eq!(cmd.get_bool("autocommit"), Ok(false), "{cmd}");
    }
    assert_eq!(txn[0].get_bool("startTransaction"), Ok(true));
    assert_eq!(
        txn[0].get_document("readConcern").unwrap(),
        &doc! { "level": "majority", "afterClusterTime": seen },
        "the transaction's read concern, causally after the session's last read"
    );
    assert!(!txn[0].contains_key("writeConcern"), "{}", txn[0]);
    for cmd in &txn[1..] {
        for key in ["startTransaction", "readConcern", "writeConcern"] {
            assert!(
                !cmd.contains_key(key) || name(cmd) == "commitTransaction" && key == "writeConcern",
                "{key} in {cmd}"
            );
        }
    }
    let commit = txn.last().unwrap();
    assert_eq!(commit.get_str("$db"), Ok("admin"));
    assert_eq!(
        commit.get_document("writeConcern").unwrap(),
        &doc! { "w": "majority" }
    );
    assert_eq!(commit.get_i64("maxTimeMS"), Ok(1500));

    // The next transaction has the next number; after it, operations are on their own again.
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    let cmds = of_session(&rs, 0, s.id());
    let n = cmds.len();
    assert_eq!(cmds[n - 3].get_i64("txnNumber"), Ok(number + 1));
    assert_eq!(
        cmds[n - 3]
            .get_document("readConcern")
            .unwrap()
            .get_str("level"),
        Ok("local"),
        "without its own, the transaction takes the client's read concern: {}",
        cmds[n - 3]
    );
    assert!(!cmds[n - 1].contains_key("txnNumber"), "{}", cmds[n - 1]);
    assert!(!cmds[n - 1].contains_key("autocommit"));
    assert_eq!(rs.documents("db", "c").len(), 3);
}

#[tokio::test]
async fn nothing_is_visible_before_the_commit_and_nothing_stays_after_an_abort() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let a = c.database("db").collection::<Document>("a");
    let b = c.database("db").collection::<Document>("b");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    b.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    assert!(a.find_one(doc! {}).await.unwrap().is_none(), "not outside");
    assert!(
        b.find_one(doc! {}).session(&mut s).await.unwrap().is_some(),
        "inside"
    );
    s.commit_transaction().await.unwrap();
    assert_eq!(rs.documents("db", "a").len(), 1);
    assert_eq!(rs.documents("db", "b").len(), 1);

    s.start_transaction().await.unwrap();
    a.insert_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap();
    s.abort_transaction().await.unwrap();
    assert_eq!(s.transaction_state(), TransactionState::Aborted);
    assert_eq!(rs.documents("db", "a"), [doc! { "_id": 1 }]);
    assert_eq!(sent(&rs, 0, "abortTransaction").len(), 1);
    // Commit and abort of a transaction that sent nothing send nothing.
    s.start_transaction().await.unwrap();
    s.commit_transaction().await.unwrap();
    s.commit_transaction().await.unwrap();
    s.start_transaction().await.unwrap();
    s.abort_transaction().await.unwrap();
    assert_eq!(sent(&rs, 0, "commitTransaction").len(), 1);
    assert_eq!(sent(&rs, 0, "abortTransaction").len(), 1);
}

#[tokio::test]
async fn misuse_is_refused_without_changing_the_state() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let e = s.commit_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("No transaction started"));
    let e = s.abort_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("No transaction started"));
    let e = s
        .start_transaction()
        .write_concern(WriteConcern::builder().w(Acknowledgment::Nodes(0)).build())
        .await
        .unwrap_err();
    assert!(transaction_message(&e).contains("unacknowledged write concerns"));
    assert_eq!(s.transaction_state(), TransactionState::None);

    s.start_transaction().await.unwrap();
    let e = s.start_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("Transaction already in progress"));
    // A write concern on an operation inside a transaction: refused before sending.
    let e = coll
        .insert_one(doc! { "_id": 1 })
        .write_concern(WriteConcern::majority())
        .session(&mut s)
        .await
        .unwrap_err();
    assert!(
        transaction_message(&e).contains("Cannot set write concern"),
        "{e}"
    );
    let e = coll
        .insert_one(doc! { "_id": 1 })
        .write_concern(WriteConcern::builder().w(Acknowledgment::Nodes(0)).build())
        .session(&mut s)
        .await
        .unwrap_err();
    assert!(
        transaction_message(&e).contains("Cannot set write concern"),
        "{e}"
    );
    assert_eq!(s.transaction_state(), TransactionState::Starting);
    assert!(sent(&rs, 0, "insert").is_empty(), "nothing was sent");
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
    let e = s.abort_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("after calling commitTransaction"));
    assert_eq!(s.transaction_state(), TransactionState::Committed);

    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap();
    s.abort_transaction().await.unwrap();
    let e = s.abort_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("twice"));
    let e = s.commit_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("after calling abortTransaction"));
    assert_eq!(s.transaction_state(), TransactionState::Aborted);
    assert_eq!(rs.documents("db", "c"), [doc! { "_id": 1 }]);
}

#[tokio::test]
async fn an_inherited_unacknowledged_write_concern_is_refused_at_start_and_ignored_inside() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, &format!("{FAST}&w=0"))).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let e = s.start_transaction().await.unwrap_err();
    assert!(
        transaction_message(&e).contains("unacknowledged write concerns"),
        "{e}"
    );
    // With its own write concern the transaction runs; the collection's w: 0 is not sent.
    s.start_transaction()
        .write_concern(WriteConcern::majority())
        .await
        .unwrap();
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    coll.delete_many(doc! { "_id": 9 })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
    for cmd in of_session(&rs, 0, s.id()) {
        if name(&cmd) == "commitTransaction" {
            assert_eq!(
                cmd.get_document("writeConcern").unwrap(),
                &doc! { "w": "majority" }
            );
        } else {
            assert!(!cmd.contains_key("writeConcern"), "{cmd}");
        }
    }
    assert_eq!(rs.documents("db", "c"), [doc! { "_id": 1 }]);
}

#[tokio::test]
async fn reads_in_a_transaction_use_its_read_preference_which_must_be_primary() {
    let rs = FakeReplicaSet::start("rs", 2, FakeOptions::default());
    // The client reads from secondaries; a transaction inherits that unless told otherwise.
    let c = client(rs.uri(CERT, &format!("{FAST}&readPreference=secondaryPreferred"))).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    // A write is not checked.
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    let e = coll.find_one(doc! {}).session(&mut s).await.unwrap_err();
    assert!(
        transaction_message(&e).contains("read preference in a transaction must be primary"),
        "{e}"
    );
    let e = c
        .database("db")
        .run_command(doc! { "find": "c" })
        .session(&mut s)
        .await
        .unwrap_err();
    assert!(transaction_message(&e).contains("must be primary"), "{e}");
    s.abort_transaction().await.unwrap();

    // The transaction's primary read preference overrides the client's.
    let primary = ReadPreference::builder()
        .mode(ReadPreferenceMode::Primary)
        .build();
    s.start_transaction()
        .read_preference(primary)
        .await
        .unwrap();
    coll.insert_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap();
    assert!(coll
        .find_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap()
        .is_some());
    c.database("db")
        .run_command(doc! { "find": "c" })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
    // Through the session's defaults too.
    let defaults = TransactionOptions::builder()
        .read_preference(ReadPreference::default())
        .build();
    let mut d = c
        .start_session()
        .default_transaction_options(defaults)
        .await
        .unwrap();
    d.start_transaction().await.unwrap();
    coll.find_one(doc! {}).session(&mut d).await.unwrap();
    d.commit_transaction().await.unwrap();
    assert!(
        sent(&rs, 1, "find").is_empty(),
        "no read of the transactions reached the secondary"
    );
}

#[tokio::test]
async fn a_session_starts_when_the_client_reads_from_secondaries_the_set_lacks() {
    // One member: no secondary for the client's read preference to find.
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(
        CERT,
        "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=1000&readPreference=secondary",
    ))
    .await;
    // Any data-bearing server tells whether sessions are supported.
    let mut s = c
        .start_session()
        .await
        .expect("a session without a secondary");
    let primary = ReadPreference::from(ReadPreferenceMode::Primary);
    s.start_transaction()
        .read_preference(primary)
        .await
        .unwrap();
    c.database("db")
        .run_command(doc! { "find": "c" })
        .session(&mut s)
        .await
        .unwrap();
    s.commit_transaction().await.unwrap();
}

#[tokio::test]
async fn a_cursor_in_a_transaction_sends_its_get_mores_in_it() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    rs.seed("db", "c", (0..7).map(|i| doc! { "_id": i }));
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 7 })
        .session(&mut s)
        .await
        .unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(3)
        .session(&mut s)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(d) = cursor.next(&mut s).await {
        d.unwrap();
        n += 1;
    }
    assert_eq!(n, 8, "the transaction's own insert is seen");
    s.commit_transaction().await.unwrap();
    let get_mores = sent(&rs, 0, "getMore");
    assert_eq!(get_mores.len(), 2);
    let number = sent(&rs, 0, "find")[0].get_i64("txnNumber").unwrap();
    for g in get_mores {
        assert_eq!(g.get_i64("txnNumber"), Ok(number), "{g}");
        assert_eq!(g.get_bool("autocommit"), Ok(false), "{g}");
        assert!(!g.contains_key("startTransaction") && !g.contains_key("readConcern"));
    }
}

#[tokio::test]
async fn a_sharded_transaction_stays_on_one_mongos_until_the_next_operation() {
    let mongos = FakeMongos::start(2, FakeOptions::default());
    let c = client(mongos.uri(CERT, &format!("{FAST}&localThresholdMS=1000"))).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    for round in 0..3 {
        s.start_transaction().await.unwrap();
        assert!(!s.is_pinned());
        for i in 0..8 {
            coll.insert_one(doc! { "round": round, "i": i })
                .session(&mut s)
                .await
                .unwrap();
            assert!(s.is_pinned());
            coll.find_one(doc! { "i": i })
                .session(&mut s)
                .await
                .unwrap();
        }
        s.commit_transaction().await.unwrap();
        assert!(s.is_pinned(), "a commit may be retried where it ran");
        // Each router knows only its own transactions: every command went to one of them.
        let routers: BTreeSet<usize> = (0..2)
            .filter(|i| {
                of_session(&mongos, *i, s.id())
                    .iter()
                    .any(|c| c.get_i64("txnNumber") == Ok(round + 1))
            })
            .collect();
        assert_eq!(routers.len(), 1, "round {round}: {routers:?}");
        let router = *routers.iter().next().unwrap();
        let commit = sent(&mongos, router, "commitTransaction")
            .into_iter()
            .last()
            .unwrap();
        assert_eq!(
            commit.get_document("recoveryToken").unwrap(),
            &doc! { "recoveryShardId": format!("shard-via-router-{router}") }
        );
        coll.find_one(doc! {}).session(&mut s).await.unwrap();
        assert!(
            !s.is_pinned(),
            "an operation outside the transaction unpins"
        );
    }
    assert_eq!(mongos.documents("db", "c").len(), 24);
}

/// A client of the two routers `mongos` with a session whose transaction inserted `{_id: 1}`
/// into `db.c`, and the router it is pinned to.
async fn transaction_pinned_by_an_insert(mongos: &FakeMongos) -> (Client, ClientSession, usize) {
    let c = client(mongos.uri(CERT, &format!("{FAST}&localThresholdMS=1000"))).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    let pinned = (0..2)
        .find(|i| !sent(mongos, *i, "insert").is_empty())
        .unwrap();
    (c, s, pinned)
}

#[tokio::test]
async fn a_commit_whose_reply_is_lost_is_recovered_on_the_other_mongos() {
    let mongos = FakeMongos::start(2, FakeOptions::default());
    let (_c, mut s, pinned) = transaction_pinned_by_an_insert(&mongos).await;
    let other = 1 - pinned;
    // The pinned router commits, then the connection drops before the reply.
    mongos.fail_next(pinned, "commitTransaction", FailAction::RunThenClose);
    s.commit_transaction().await.unwrap();
    assert!(!s.is_pinned(), "unpinned for the retry");
    let first = &sent(&mongos, pinned, "commitTransaction")[0];
    assert!(!first.contains_key("writeConcern"), "{first}");
    let retry = sent(&mongos, other, "commitTransaction");
    assert_eq!(retry.len(), 1, "retried once, on the other router");
    assert_eq!(
        retry[0].get_document("writeConcern").unwrap(),
        &doc! { "w": "majority", "wtimeout": 10_000_i64 }
    );
    assert!(retry[0].contains_key("recoveryToken"));
    assert_eq!(mongos.documents("db", "c"), [doc! { "_id": 1 }]);
}

#[tokio::test]
async fn a_commit_retried_before_it_ran_fails_transient_and_unpinned() {
    let mongos = FakeMongos::start(2, FakeOptions::default());
    let (_c, mut s, pinned) = transaction_pinned_by_an_insert(&mongos).await;
    mongos.fail_next(pinned, "commitTransaction", FailAction::CloseConnection);
    let e = s.commit_transaction().await.unwrap_err();
    // The other router could not recover a commit that never started.
    assert!(
        matches!(*e.kind, ErrorKind::Command { code: 251, .. }),
        "{e}"
    );
    assert!(e.contains_label(TRANSIENT_TRANSACTION_ERROR), "{e:?}");
    assert!(!s.is_pinned());
    assert_eq!(sent(&mongos, 1 - pinned, "commitTransaction").len(), 1);
    assert!(mongos.documents("db", "c").is_empty());
}

#[tokio::test]
async fn errors_in_a_transaction_are_labelled_not_retried_and_transient_ones_unpin() {
    let mongos = FakeMongos::start(1, FakeOptions::default());
    let c = client(mongos.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    assert!(s.is_pinned());
    // A network error: TransientTransactionError, not RetryableWriteError, not retried.
    mongos.fail_next(0, "insert", FailAction::CloseConnection);
    let e = coll
        .insert_one(doc! { "_id": 2 })
        .session(&mut s)
        .await
        .unwrap_err();
    assert!(e.is_network_error());
    assert!(e.contains_label(TRANSIENT_TRANSACTION_ERROR), "{e:?}");
    assert!(!e.contains_label("RetryableWriteError"), "{e:?}");
    assert_eq!(sent(&mongos, 0, "insert").len(), 2, "not retried");
    assert!(!s.is_pinned());
    s.abort_transaction().await.unwrap();

    // A non-transient server error keeps the pin.
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 3 })
        .session(&mut s)
        .await
        .unwrap();
    mongos.fail_next(
        0,
        "find",
        FailAction::error(11601, "Interrupted", "interrupted"),
    );
    let e = coll.find_one(doc! {}).session(&mut s).await.unwrap_err();
    assert!(e.labels().is_empty(), "{e:?}");
    assert!(s.is_pinned());
    s.abort_transaction().await.unwrap();
    assert!(!s.is_pinned(), "an abort unpins");
}

#[tokio::test]
async fn commit_write_concern_errors_say_whether_the_outcome_is_unknown() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    for (code, unknown) in [(64, true), (100, false), (79, false)] {
        s.start_transaction().await.unwrap();
        coll.insert_one(doc! { "code": code })
            .session(&mut s)
            .await
            .unwrap();
        rs.fail_next(
            0,
            "commitTransaction",
            FailAction::Error(doc! {
                "ok": 1,
                "writeConcernError": { "code": code, "codeName": "X", "errmsg": "wc" },
            }),
        );
        let before = sent(&rs, 0, "commitTransaction").len();
        let e = s.commit_transaction().await.unwrap_err();
        assert!(
            matches!(*e.kind, ErrorKind::WriteConcern { code: c, .. } if c == code),
            "{e:?}"
        );
        assert_eq!(
            e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT),
            unknown,
            "{code}: {e:?}"
        );
        assert!(!e.contains_label(TRANSIENT_TRANSACTION_ERROR));
        assert_eq!(
            sent(&rs, 0, "commitTransaction").len(),
            before + 1,
            "a write concern error is not retried by the driver"
        );
        // Committing again is allowed, with w: majority.
        s.commit_transaction().await.unwrap();
        let again = sent(&rs, 0, "commitTransaction").pop().unwrap();
        assert_eq!(
            again.get_document("writeConcern").unwrap(),
            &doc! { "w": "majority", "wtimeout": 10_000_i64 }
        );
    }
}

#[tokio::test]
async fn and_run_retries_the_whole_transaction_after_a_transient_error() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let mut fail = doc! { "ok": 0, "code": 112, "codeName": "WriteConflict", "errmsg": "conflict" };
    fail.insert("errorLabels", vec![TRANSIENT_TRANSACTION_ERROR]);
    // The first insert of the first run fails as a write conflict does.
    rs.fail_next(0, "insert", FailAction::Error(fail));
    let mut runs = 0;
    let value = s
        .start_transaction()
        .and_run((&coll, &mut runs), |session, (coll, runs)| {
            Box::pin(async move {
                **runs += 1;
                coll.insert_one(doc! { "_id": 1 })
                    .session(&mut *session)
                    .await?;
                coll.insert_one(doc! { "_id": 2 })
                    .session(&mut *session)
                    .await?;
                Ok("done")
            })
        })
        .await
        .unwrap();
    assert_eq!(value, "done");
    assert_eq!(runs, 2);
    assert_eq!(s.transaction_state(), TransactionState::Committed);
    assert_eq!(
        sent(&rs, 0, "abortTransaction").len(),
        1,
        "the failed run is aborted (its command reached the server)"
    );
    assert_eq!(sent(&rs, 0, "commitTransaction").len(), 1);
    let numbers: BTreeSet<i64> = sent(&rs, 0, "insert")
        .iter()
        .map(|c| c.get_i64("txnNumber").unwrap())
        .collect();
    assert_eq!(numbers.len(), 2, "a new transaction for the retry");
    assert_eq!(rs.documents("db", "c").len(), 2);
}

#[tokio::test]
async fn and_run_returns_other_errors_after_aborting() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    let mut runs = 0;
    let e = s
        .start_transaction()
        .and_run((&coll, &mut runs), |session, (coll, runs)| {
            Box::pin(async move {
                **runs += 1;
                coll.insert_one(doc! { "_id": 1 })
                    .session(&mut *session)
                    .await?;
                Err::<(), _>(mongo_x509::error::Error::invalid_argument("mine"))
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(*e.kind, ErrorKind::InvalidArgument { .. }), "{e}");
    assert_eq!(runs, 1, "not retried");
    assert_eq!(s.transaction_state(), TransactionState::Aborted);
    assert_eq!(sent(&rs, 0, "abortTransaction").len(), 1);
    assert!(rs.documents("db", "c").is_empty());

    // A callback that commits by itself: nothing more is sent.
    let value = s
        .start_transaction()
        .and_run(&coll, |session, coll| {
            Box::pin(async move {
                coll.insert_one(doc! { "_id": 5 })
                    .session(&mut *session)
                    .await?;
                session.commit_transaction().await?;
                Ok(5)
            })
        })
        .await
        .unwrap();
    assert_eq!(value, 5);
    assert_eq!(sent(&rs, 0, "commitTransaction").len(), 1);
}

#[tokio::test]
async fn and_run_commits_again_after_unknown_results_and_restarts_after_no_such_transaction() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    // Twice: the driver's own retry, then the convenient API's commit again.
    rs.fail_next(0, "commitTransaction", FailAction::CloseConnection);
    rs.fail_next(0, "commitTransaction", FailAction::CloseConnection);
    let mut runs = 0;
    s.start_transaction()
        .and_run((&coll, &mut runs), |session, (coll, runs)| {
            Box::pin(async move {
                **runs += 1;
                coll.insert_one(doc! { "x": 1 }).session(session).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let commits = sent(&rs, 0, "commitTransaction");
    assert_eq!(commits.len(), 3);
    assert!(!commits[0].contains_key("writeConcern"));
    for again in &commits[1..] {
        assert_eq!(
            again.get_document("writeConcern").unwrap(),
            &doc! { "w": "majority", "wtimeout": 10_000_i64 }
        );
    }
    // NoSuchTransaction on commit (transient): everything again.
    let mut no_such =
        doc! { "ok": 0, "code": 251, "codeName": "NoSuchTransaction", "errmsg": "gone" };
    no_such.insert("errorLabels", vec![TRANSIENT_TRANSACTION_ERROR]);
    rs.fail_next(0, "commitTransaction", FailAction::Error(no_such));
    let mut runs = 0;
    s.start_transaction()
        .and_run((&coll, &mut runs), |session, (coll, runs)| {
            Box::pin(async move {
                **runs += 1;
                coll.insert_one(doc! { "x": 2 }).session(session).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(
        rs.documents("db", "c").len(),
        2,
        "one x: 2, the committed run's"
    );
}

#[tokio::test]
async fn and_run_futures_can_be_spawned() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let task = tokio::spawn(async move {
        let mut s = c.start_session().await?;
        s.start_transaction()
            .and_run(coll, |session, coll| {
                Box::pin(async move {
                    coll.insert_one(doc! { "_id": 1 }).session(session).await?;
                    Ok(())
                })
            })
            .await
    });
    task.await.unwrap().unwrap();
    assert_eq!(rs.documents("db", "c").len(), 1);
}

#[tokio::test]
async fn a_session_dropped_mid_transaction_aborts_it() {
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    let lsid = s.id().clone();
    drop(s);
    rs.wait_for("abortTransaction", WAIT, |d| {
        d.stats(0).count("abortTransaction") == 1
    })
    .await;
    let abort = sent(&rs, 0, "abortTransaction").pop().unwrap();
    assert_eq!(abort.get_document("lsid").unwrap(), &lsid);
    assert_eq!(abort.get_bool("autocommit"), Ok(false));
    // A session whose transaction never ran a command sends nothing.
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    drop(s);
    coll.find_one(doc! {}).await.unwrap();
    assert_eq!(rs.stats(0).count("abortTransaction"), 1);
    assert!(rs.documents("db", "c").is_empty());
}

#[tokio::test]
async fn behind_a_load_balancer_the_transaction_keeps_its_connection() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    lb.seed("db", "c", (0..5).map(|i| doc! { "_id": i }));
    let c = client(lb.uri(CERT, "loadBalanced=true&serverSelectionTimeoutMS=5000")).await;
    let coll = c.database("db").collection::<Document>("c");
    let checked_out = |c: &Client| c.pool_stats().iter().map(|s| s.checked_out).sum::<u32>();
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    coll.insert_one(doc! { "_id": 10 })
        .session(&mut s)
        .await
        .unwrap();
    assert!(s.is_pinned());
    assert_eq!(checked_out(&c), 1, "the session holds the connection");
    // Other work meanwhile takes other connections; the transaction's stay on its own (the
    // fake keeps a transaction on the connection that started it).
    let others: Vec<_> = (0..4)
        .map(|i| {
            let coll = coll.clone();
            tokio::spawn(async move { coll.insert_one(doc! { "_id": 100 + i }).await })
        })
        .collect();
    for i in 0..4 {
        coll.update_one(doc! { "_id": i }, doc! { "$set": { "t": 1 } })
            .session(&mut s)
            .await
            .unwrap();
    }
    for o in others {
        o.await.unwrap().unwrap();
    }
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
    assert!(n >= 6);
    s.commit_transaction().await.unwrap();
    let stats = lb.stats(0);
    let conns: BTreeSet<i32> = stats
        .wire_log
        .iter()
        .zip(stats.command_log.iter())
        .filter(|(_, cmd)| cmd.get_document("lsid").ok() == Some(s.id()))
        .map(|(w, _)| w.connection_id)
        .collect();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert!(lb
        .documents("db", "c")
        .iter()
        .any(|d| d.get_i32("_id") == Ok(10)));
    // The next operation outside a transaction releases it.
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    assert!(!s.is_pinned());
    assert_eq!(checked_out(&c), 0);
}

#[tokio::test]
async fn a_standalone_refuses_transactions_and_snapshot_sessions_refuse_them_too() {
    let standalone = FakeStandalone::start(FakeOptions::default());
    let c =
        client(standalone.uri(CERT, "directConnection=true&serverSelectionTimeoutMS=5000")).await;
    let mut s = c.start_session().await.unwrap();
    let e = s.start_transaction().await.unwrap_err();
    assert!(matches!(*e.kind, ErrorKind::NotSupported { .. }), "{e}");
    assert_eq!(s.transaction_state(), TransactionState::None);

    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    let c = client(rs.uri(CERT, FAST)).await;
    let mut s = c.start_session().snapshot(true).await.unwrap();
    let e = s.start_transaction().await.unwrap_err();
    assert!(transaction_message(&e).contains("snapshot sessions"), "{e}");
    let both = c
        .start_session()
        .with_options(
            SessionOptions::builder()
                .snapshot(true)
                .causal_consistency(true)
                .build(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(*both.kind, ErrorKind::InvalidArgument { .. }),
        "{both}"
    );
}

#[tokio::test]
async fn snapshot_reads_carry_the_first_reads_time() {
    // The fake answers without atClusterTime, so the session takes it from the options here;
    // against a server the first read's reply gives it (unit-tested in the session module).
    let rs = FakeReplicaSet::start("rs", 1, FakeOptions::default());
    rs.seed("db", "c", [doc! { "_id": 1 }]);
    let c = client(rs.uri(CERT, FAST)).await;
    let coll = c.database("db").collection::<Document>("c");
    let at = mongo_x509::bson::Timestamp {
        time: 77,
        increment: 1,
    };
    let mut s = c
        .start_session()
        .snapshot(true)
        .snapshot_time(at)
        .await
        .unwrap();
    coll.find_one(doc! {}).session(&mut s).await.unwrap();
    let mut counted = coll
        .aggregate(vec![doc! { "$count": "n" }])
        .session(&mut s)
        .await
        .unwrap();
    assert_eq!(
        counted.next(&mut s).await.unwrap().unwrap(),
        doc! { "n": 1 }
    );
    assert_eq!(s.snapshot_time(), Some(at));
    for cmd in of_session(&rs, 0, s.id()) {
        assert_eq!(
            cmd.get_document("readConcern").unwrap(),
            &doc! { "level": "snapshot", "atClusterTime": at },
            "{cmd}"
        );
        assert!(!cmd.contains_key("txnNumber"));
    }
}

#[tokio::test]
async fn a_commit_does_not_wait_for_a_get_more_a_cancelled_next_left_in_flight() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    lb.seed("db", "c", (0..4).map(|i| doc! { "_id": i }));
    let c = client(lb.uri(CERT, "loadBalanced=true&serverSelectionTimeoutMS=5000")).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut s)
        .await
        .unwrap();
    for _ in 0..2 {
        cursor.next(&mut s).await.unwrap().unwrap();
    }
    lb.fail_next(
        0,
        "getMore",
        FailAction::DelayReply(Duration::from_millis(500)),
    );
    // The getMore stays in flight inside the cursor, on the transaction's connection.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), cursor.next(&mut s))
            .await
            .is_err()
    );
    let e = tokio::time::timeout(WAIT, s.commit_transaction())
        .await
        .expect("the commit does not hang")
        .unwrap_err();
    assert!(transaction_message(&e).contains("getMore"), "{e}");
    assert_eq!(s.transaction_state(), TransactionState::Committed);
    // Resumed, the getMore (the last: it exhausts the cursor) finishes; committing again
    // then goes through.
    let mut n = 2;
    while let Some(d) = cursor.next(&mut s).await {
        d.unwrap();
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(lb.stats(0).count("getMore"), 1);
    s.commit_transaction().await.unwrap();
    assert_eq!(lb.stats(0).count("commitTransaction"), 1);
}
