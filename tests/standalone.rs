//! A standalone `mongod`, as the fake deployment's standalone role plays it: it supports
//! sessions (its `hello` reports `logicalSessionTimeoutMinutes`) but refuses every command with
//! a `txnNumber` (IllegalOperation, 20), as a real standalone does. With the default options
//! (`retryWrites=true`) every write must still succeed there: it carries an `lsid` and no
//! `txnNumber` (Retryable Writes specification: standalones do not support retryable writes).

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FailAction, FakeOptions, FakeStandalone};
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::options::ReturnDocument;
use mongo_x509::{Client, ServerType, TopologyType};

const CERT: &str = "client-pkcs8.pem";
/// Bounds every wait.
const WAIT: Duration = Duration::from_secs(10);

async fn client(uri: String) -> Client {
    Client::with_uri_str(uri).await.expect("client")
}

/// Every single-document and multi-document write of the API, each checked for its result.
/// Returns how many write commands they sent.
async fn every_write(c: &Client) -> usize {
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1, "n": 1 }).await.unwrap();
    let many = coll
        .insert_many(vec![
            doc! { "_id": 2, "n": 2 },
            doc! { "_id": 3, "n": 3 },
            doc! { "_id": 4, "n": 4 },
        ])
        .await
        .unwrap();
    assert_eq!(many.inserted_ids.len(), 3);
    let r = coll
        .update_one(doc! { "_id": 1 }, doc! { "$inc": { "n": 10 } })
        .await
        .unwrap();
    assert_eq!((r.matched_count, r.modified_count), (1, 1));
    let r = coll
        .update_many(
            doc! { "n": { "$gte": 2 } },
            doc! { "$set": { "seen": true } },
        )
        .await
        .unwrap();
    assert_eq!(r.modified_count, 4);
    let r = coll
        .replace_one(doc! { "_id": 2 }, doc! { "n": 20 })
        .await
        .unwrap();
    assert_eq!(r.modified_count, 1);
    let r = coll.delete_one(doc! { "_id": 3 }).await.unwrap();
    assert_eq!(r.deleted_count, 1);
    let after = coll
        .find_one_and_update(doc! { "_id": 1 }, doc! { "$inc": { "n": 1 } })
        .return_document(ReturnDocument::After)
        .await
        .unwrap();
    assert_eq!(after.and_then(|d| d.get_i32("n").ok()), Some(12));
    let before = coll
        .find_one_and_replace(doc! { "_id": 2 }, doc! { "n": 21 })
        .await
        .unwrap();
    assert_eq!(before.and_then(|d| d.get_i32("n").ok()), Some(20));
    let removed = coll.find_one_and_delete(doc! { "_id": 4 }).await.unwrap();
    assert_eq!(removed.and_then(|d| d.get_i32("n").ok()), Some(4));
    let r = coll
        .delete_many(doc! { "n": { "$lt": 100 } })
        .await
        .unwrap();
    assert_eq!(r.deleted_count, 2);
    assert!(coll.find_one(doc! {}).await.unwrap().is_none());
    // insert, insert_many (one batch), update ×3, delete, findAndModify ×3, delete.
    10
}

/// The standalone saw `writes` write commands, each with an `lsid` and none with a
/// `txnNumber`, and refused none.
fn assert_sessions_without_txn_numbers(fake: &FakeStandalone, writes: usize) {
    let sent = fake.stats(0).write_sessions;
    assert_eq!(sent.len(), writes, "{sent:#?}");
    for w in &sent {
        assert!(w.lsid.is_some(), "{} without lsid", w.command);
        assert_eq!(w.txn_number, None, "{} with a txnNumber", w.command);
    }
}

async fn assert_standalone(c: &Client, topology_type: TopologyType) {
    let t = c
        .watch_topology()
        .wait_for(WAIT, |t| {
            t.servers
                .values()
                .any(|s| s.server_type == ServerType::Standalone)
        })
        .await
        .expect("the standalone discovered");
    assert_eq!(t.topology_type, topology_type, "{t:#?}");
}

#[tokio::test]
async fn every_default_write_succeeds_over_a_direct_connection() {
    let fake = FakeStandalone::start(FakeOptions::default());
    let c = client(fake.uri(CERT, "directConnection=true&retryWrites=true")).await;
    let writes = every_write(&c).await;
    assert_sessions_without_txn_numbers(&fake, writes);
    assert_standalone(&c, TopologyType::Single).await;
}

#[tokio::test]
async fn every_default_write_succeeds_after_discovery_from_a_seed_list() {
    let fake = FakeStandalone::start(FakeOptions::default());
    // One seed, no directConnection: the topology starts Unknown and becomes Single.
    let c = client(fake.uri(CERT, "")).await;
    let writes = every_write(&c).await;
    assert_sessions_without_txn_numbers(&fake, writes);
    assert_standalone(&c, TopologyType::Single).await;
}

#[tokio::test]
async fn writes_in_an_explicit_session_carry_its_lsid_and_no_txn_number() {
    let fake = FakeStandalone::start(FakeOptions::default());
    let c = client(fake.uri(CERT, "")).await;
    let coll = c.database("db").collection::<Document>("c");
    let mut s = c.start_session().await.unwrap();
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut s)
        .await
        .unwrap();
    coll.find_one_and_update(doc! { "_id": 1 }, doc! { "$set": { "a": 1 } })
        .session(&mut s)
        .await
        .unwrap();
    let sent = fake.stats(0).write_sessions;
    assert_eq!(sent.len(), 2);
    for w in sent {
        assert_eq!(w.lsid.as_ref(), Some(s.id()), "{}", w.command);
        assert_eq!(w.txn_number, None, "{}", w.command);
    }
    // A standalone has no cluster time: nothing to gossip.
    assert!(s.cluster_time().is_none());
}

#[tokio::test]
async fn a_write_to_a_standalone_is_sent_once_even_after_a_network_error() {
    let fake = FakeStandalone::start(FakeOptions::default());
    let c = client(fake.uri(CERT, "")).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).await.unwrap();
    fake.reset_stats(0);
    fake.fail_next(0, "insert", FailAction::CloseConnection);
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    assert!(err.is_network_error(), "{err}");
    // Not retryable there: no txnNumber, so the write is not sent again.
    assert_eq!(fake.stats(0).count("insert"), 1);
    assert_eq!(
        fake.documents("db", "c")
            .into_iter()
            .map(|d| d.get("_id").cloned())
            .collect::<Vec<_>>(),
        [Some(Bson::Int32(0))]
    );
}
