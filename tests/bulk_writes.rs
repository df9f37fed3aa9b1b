//! Bulk writes against the scripted fake deployment, which reports the size of every message it
//! receives: a 100,000-document `insert_many` of mixed sizes goes in the fewest messages, each
//! filled to `maxMessageSizeBytes` (no fixed allowance for the command around the documents).

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
