//! Bulk writes against the scripted fake deployment, which reports the size of every message it
//! receives: a 100,000-document `insert_many` of mixed sizes goes in the fewest messages, each
//! filled to `maxMessageSizeBytes` (no fixed allowance for the command around the documents);
//! a client bulk write follows its results cursor with `getMore` (scripted replies).

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use common::fake_deployment::{FakeOptions, FakeReplicaSet, MAX_MESSAGE_SIZE_BYTES};
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_insert_many_goes_in_the_fewest_full_messages() {
    let rs = FakeReplicaSet::start("bulk", 1, FakeOptions::default());
    let client = Client::with_uri_str(&rs.uri("client-pkcs8.pem", ""))
        .await
        .unwrap();
    let coll = client.database("bulk").collection::<Document>("items");

    // Sizes from 30 bytes to about 1.6 KB, in a deterministic pseudo-random order: about 80 MB.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let docs: Vec<Document> = (0..100_000_i64)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            doc! { "_id": i, "pad": "x".repeat((state % 1600) as usize) }
        })
        .collect();
    let sizes: Vec<usize> = docs
        .iter()
        .map(|d| mongo_x509::bson::to_vec(d).unwrap().len())
        .collect();
    let total: usize = sizes.iter().sum();

    let r = coll.insert_many(&docs).await.unwrap();
    assert_eq!(r.inserted_ids.len(), 100_000);
    assert_eq!(r.inserted_ids[&99_999], Bson::Int64(99_999));

    let stats = rs.stats(0);
    let messages = stats.wire("insert");
    let batches: Vec<usize> = stats
        .command_log
        .iter()
        .filter(|c| c.contains_key("insert"))
        .map(|c| c.get_array("documents").map_or(0, |d| d.len()))
        .collect();
    assert_eq!(messages.len(), batches.len());
    assert_eq!(
        batches.iter().sum::<usize>(),
        100_000,
        "every document sent once"
    );
    let max = MAX_MESSAGE_SIZE_BYTES as usize;
    let mut start = 0;
    for (i, (m, n)) in messages.iter().zip(&batches).enumerate() {
        assert!(m.uncompressed_size <= max, "message {i} is over the limit");
        let end = start + n;
        if end < sizes.len() {
            // Full: the next document would not have fit in this message.
            assert!(
                m.uncompressed_size + sizes[end] > max,
                "message {i} ({} bytes, {n} documents) had room for document {end} ({} bytes)",
                m.uncompressed_size,
                sizes[end]
            );
        }
        start = end;
    }
    // Every message but the last is full, so no fewer messages could carry the documents in
    // order; and more than one was needed.
    assert!(
        messages.len() >= total.div_ceil(max).max(2),
        "{} messages",
        messages.len()
    );

    let last = coll
        .find_one(doc! { "_id": 99_999 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last, docs[99_999]);
}

/// A client bulk write whose results cursor has more than its first batch: the rest comes
/// with `getMore` on the cursor's namespace (`admin.$cmd.bulkWrite`), in the bulk write's
/// session; a failed `getMore` ends it with the results so far, and the cursor is killed.
#[tokio::test]
async fn client_bulk_write_results_are_followed_with_get_more() {
    use common::fake_deployment::FailAction;
    use mongo_x509::error::{ErrorKind, PartialBulkWriteResult};
    use mongo_x509::options::{InsertOneModel, WriteModel};
    use mongo_x509::Namespace;

    let options = FakeOptions {
        max_wire_version: 25,
        ..FakeOptions::default()
    };
    let rs = FakeReplicaSet::start("bulk", 1, options);
    let client = Client::with_uri_str(&rs.uri("client-pkcs8.pem", ""))
        .await
        .unwrap();
    let ns = Namespace::new("db", "c");
    let models = || -> Vec<WriteModel> {
        (0..3)
            .map(|i| {
                InsertOneModel::builder()
                    .namespace(ns.clone())
                    .document(doc! { "_id": i })
                    .build()
                    .into()
            })
            .collect()
    };
    let first = doc! { "ok": 1, "nErrors": 0, "nInserted": 3, "nUpserted": 0, "nMatched": 0,
    "nModified": 0, "nDeleted": 0,
    "cursor": { "id": 77_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [
        { "ok": 1.0, "idx": 0, "n": 1 } ] } };
    rs.fail_next(0, "bulkWrite", FailAction::Error(first.clone()));
    rs.fail_next(
        0,
        "getMore",
        FailAction::Error(doc! { "ok": 1, "cursor": { "id": 0_i64,
        "ns": "admin.$cmd.bulkWrite", "nextBatch": [
            { "ok": 1.0, "idx": 1, "n": 1 }, { "ok": 1.0, "idx": 2, "n": 1 } ] } }),
    );
    let mut session = client.start_session().await.unwrap();
    let r = client
        .bulk_write(models())
        .verbose_results()
        .session(&mut session)
        .await
        .unwrap();
    let mut got: Vec<usize> = r.insert_results.keys().copied().collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    let log = rs.stats(0).command_log;
    let sent = |name: &str| log.iter().find(|c| c.contains_key(name)).cloned().unwrap();
    let (bulk, more) = (sent("bulkWrite"), sent("getMore"));
    assert_eq!(bulk.get_str("$db"), Ok("admin"));
    assert_eq!(bulk.get_array("ops").unwrap().len(), 3, "{bulk}");
    assert_eq!(more.get_i64("getMore"), Ok(77));
    assert_eq!(more.get_str("collection"), Ok("$cmd.bulkWrite"));
    assert_eq!(more.get_str("$db"), Ok("admin"));
    assert_eq!(more.get_document("lsid"), bulk.get_document("lsid"));
    assert_eq!(bulk.get_document("lsid"), Ok(session.id()));

    // The getMore fails: what the first batch reported is kept, the cursor is killed.
    rs.fail_next(0, "bulkWrite", FailAction::Error(first));
    rs.fail_next(
        0,
        "getMore",
        FailAction::error(8, "UnknownError", "getMore failed"),
    );
    let e = client
        .bulk_write(models())
        .verbose_results()
        .await
        .unwrap_err();
    let ErrorKind::BulkWrite(b) = &*e.kind else {
        panic!("{e:?}")
    };
    assert!(
        matches!(
            b.error.as_deref().map(|e| &*e.kind),
            Some(ErrorKind::Command { code: 8, .. })
        ),
        "{b:?}"
    );
    match &b.partial_result {
        Some(PartialBulkWriteResult::Verbose(v)) => {
            assert_eq!(v.insert_results.keys().copied().collect::<Vec<_>>(), [0])
        }
        other => panic!("{other:?}"),
    }
    rs.wait_for("killCursors", std::time::Duration::from_secs(10), |m| {
        m.stats(0).count("killCursors") == 1
    })
    .await;
}
