//! Wire compression (OP_COMPRESSED, the MongoDB "Compression" specification) end to end.
//!
//! SecantusDB does not negotiate compression, so these run against the scripted fake deployment
//! (tests/common/fake_deployment.rs), which decompresses requests and compresses replies with
//! the codec crates themselves (tests/common/compression.rs), not with mongo-x509's code, and
//! records how each request arrived on the wire. Each codec is tested when its cargo feature is
//! compiled in; without any, what is left checks that asking for one is a typed error.

mod common;

use mongo_x509::error::ErrorKind;
use mongo_x509::options::ClientOptions;
use mongo_x509::Client;

/// `compressors=` naming a codec whose cargo feature is off: the connection string parses (the
/// URI specification's tests need that), but creating the client says which feature to enable.
#[tokio::test]
async fn a_compressor_not_compiled_in_is_a_typed_error_naming_its_feature() {
    for (name, feature) in [
        ("snappy", "snappy-compression"),
        ("zlib", "zlib-compression"),
        ("zstd", "zstd-compression"),
    ] {
        let options = ClientOptions::parse(format!("mongodb://127.0.0.1:1/?compressors={name}"))
            .await
            .expect("the connection string parses with any known compressor");
        let compiled = common::compression::id_of(name).is_some();
        match Client::with_options(options) {
            Ok(_) => assert!(compiled, "{name} is not compiled in but was accepted"),
            Err(err) => {
                assert!(!compiled, "{name} is compiled in but refused: {err}");
                assert!(
                    matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
                    "{err}"
                );
                assert!(err.to_string().contains(feature), "{err}");
            }
        }
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
mod fake {
    use std::time::Duration;

    use futures_util::TryStreamExt;
    use mongo_x509::bson::{doc, Bson, Document};
    use mongo_x509::error::ErrorKind;
    use mongo_x509::Client;

    use crate::common::compression::{self, compiled, NOOP, OP_COMPRESSED};
    use crate::common::fake_deployment::{FailAction, FakeMongos, FakeOptions, OpMsg, WireRecord};

    const KEY: &str = "client-pkcs8.pem";
    const WAIT: Duration = Duration::from_secs(10);

    /// A mongos that accepts `compressors` and has no speculative authentication (so that the
    /// client sends `authenticate`, which must go uncompressed).
    fn fake(compressors: &[&str]) -> FakeMongos {
        FakeMongos::start(
            1,
            FakeOptions {
                compressors: compressors.iter().map(|s| s.to_string()).collect(),
                speculative_auth: false,
                ..FakeOptions::default()
            },
        )
    }

    async fn client(fake: &FakeMongos, extra: &str) -> Client {
        client_with_heartbeat(fake, 60_000, extra).await
    }

    async fn client_with_heartbeat(fake: &FakeMongos, heartbeat_ms: u64, extra: &str) -> Client {
        let uri = fake.uri(KEY, &format!("heartbeatFrequencyMS={heartbeat_ms}&{extra}"));
        Client::with_uri_str(&uri).await.unwrap()
    }

    fn all_names() -> Vec<&'static str> {
        compiled().into_iter().map(|(n, _)| n).collect()
    }

    fn ids(records: &[WireRecord]) -> Vec<Option<u8>> {
        records.iter().map(|r| r.compressor_id).collect()
    }

    /// Insert, find, aggregate: the CRUD round trip, replies compressed by the fake.
    async fn crud(client: &Client, doc: Document) {
        let coll = client.database("shop").collection::<Document>("items");
        coll.insert_one(doc.clone()).await.unwrap();
        let id = doc.get("_id").unwrap().clone();
        let found = coll.find_one(doc! {"_id": id.clone()}).await.unwrap();
        assert_eq!(found.as_ref(), Some(&doc));
        let out: Vec<Document> = coll
            .aggregate([doc! {"$match": {"_id": id}}])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out, [doc]);
    }

    #[tokio::test]
    async fn crud_requests_are_compressed_but_never_the_handshake_or_authentication() {
        for (name, id) in compiled() {
            let fake = fake(&["snappy", "zlib", "zstd"]);
            let client = client(&fake, &format!("compressors={name}")).await;
            crud(&client, doc! {"_id": 1, "name": name}).await;
            let stats = fake.stats(0);
            for cmd in ["insert", "find", "aggregate"] {
                let records = stats.wire(cmd);
                assert!(!records.is_empty(), "{name}: no {cmd}");
                assert!(
                    records
                        .iter()
                        .all(|r| r.compressor_id == Some(id)
                            && r.wire_size < r.uncompressed_size + 25),
                    "{name}: {cmd} {records:?}"
                );
            }
            // Decompressed by the codec crate, the insert is the command the client meant.
            let insert = stats
                .command_log
                .iter()
                .find(|c| c.contains_key("insert"))
                .unwrap();
            assert_eq!(insert.get_str("insert").unwrap(), "items");
            assert_eq!(
                insert.get_array("documents").unwrap(),
                &vec![Bson::Document(doc! {"_id": 1, "name": name})]
            );
            for cmd in ["hello", "authenticate"] {
                let records = stats.wire(cmd);
                assert!(!records.is_empty(), "{name}: no {cmd}");
                assert!(
                    records.iter().all(|r| r.compressor_id.is_none()),
                    "{name}: {cmd} was compressed: {records:?}"
                );
            }
            // The handshake offered exactly what the client was configured with.
            let hello = stats
                .command_log
                .iter()
                .find(|c| c.contains_key("hello"))
                .unwrap();
            assert_eq!(
                hello.get_array("compression").unwrap(),
                &vec![Bson::from(name)]
            );
        }
    }

    #[tokio::test]
    async fn a_large_repetitive_document_is_much_smaller_on_the_wire() {
        for (name, id) in compiled() {
            let fake = fake(&[name]);
            let client = client(&fake, &format!("compressors={name}")).await;
            let big = doc! {"_id": 7, "s": "abcdefgh".repeat(12_500)}; // 100 KB
            crud(&client, big).await;
            let insert = fake.stats(0).wire("insert").pop().unwrap();
            assert_eq!(insert.compressor_id, Some(id));
            assert!(insert.uncompressed_size > 100_000, "{insert:?}");
            assert!(
                insert.wire_size * 10 < insert.uncompressed_size,
                "{name}: {} bytes on the wire for {}",
                insert.wire_size,
                insert.uncompressed_size
            );
        }
    }

    // A preference needs two codecs: compiled only when at least two are.
    #[cfg(any(
        all(feature = "zstd-compression", feature = "zlib-compression"),
        all(feature = "zstd-compression", feature = "snappy-compression"),
        all(feature = "zlib-compression", feature = "snappy-compression"),
    ))]
    #[tokio::test]
    async fn the_first_compressor_of_the_client_list_that_the_server_accepts_is_used() {
        let names = all_names();
        assert!(names.len() >= 2, "two codecs are compiled in: {names:?}");
        let reversed: Vec<&str> = names.iter().rev().copied().collect();
        // The server's order does not matter; the client's does.
        let fake = fake(&names);
        let client = client(&fake, &format!("compressors={}", reversed.join(","))).await;
        crud(&client, doc! {"_id": 1}).await;
        let first = compression::id_of(reversed[0]);
        assert!(ids(&fake.stats(0).wire("insert"))
            .iter()
            .all(|i| *i == first));

        // The client's first choice refused: the next one it listed that the server accepts.
        let fake = self::fake(&[names[0]]);
        let client = self::client(&fake, &format!("compressors={}", reversed.join(","))).await;
        crud(&client, doc! {"_id": 1}).await;
        let accepted = compression::id_of(names[0]);
        assert!(ids(&fake.stats(0).wire("find"))
            .iter()
            .all(|i| *i == accepted));
    }

    #[tokio::test]
    async fn a_server_accepting_none_gets_plain_op_msg() {
        let names = all_names();
        if names.is_empty() {
            return;
        }
        let fake = fake(&[]);
        let client = client(&fake, &format!("compressors={}", names.join(","))).await;
        crud(&client, doc! {"_id": 1}).await;
        let stats = fake.stats(0);
        assert!(
            stats.wire_log.iter().all(|r| r.compressor_id.is_none()),
            "{:?}",
            stats.wire_log
        );
        let hello = stats
            .command_log
            .iter()
            .find(|c| c.contains_key("hello"))
            .unwrap();
        assert_eq!(hello.get_array("compression").unwrap().len(), names.len());
    }

    /// Compression specification (SHOULD): with no compressor configured the handshake says so
    /// with an empty `compression` list, and nothing is compressed.
    #[tokio::test]
    async fn without_compressors_an_empty_list_is_offered_and_nothing_compressed() {
        let fake = fake(&["snappy", "zlib", "zstd"]);
        let client = client(&fake, "").await;
        crud(&client, doc! {"_id": 1}).await;
        let stats = fake.stats(0);
        assert!(stats.wire_log.iter().all(|r| r.compressor_id.is_none()));
        // Every handshake (the first hello of a connection, with the client metadata: the
        // monitor's and the pool's), and nothing else, carries the field.
        let (handshakes, others): (Vec<&Document>, Vec<&Document>) = stats
            .command_log
            .iter()
            .partition(|c| c.contains_key("hello") && c.contains_key("client"));
        assert!(handshakes.len() >= 2, "monitor and pool: {handshakes:?}");
        for hello in handshakes {
            assert_eq!(
                hello.get("compression"),
                Some(&Bson::Array(Vec::new())),
                "{hello}"
            );
        }
        assert!(others.iter().all(|c| !c.contains_key("compression")));
    }

    #[cfg(feature = "zlib-compression")]
    #[tokio::test]
    async fn zlib_compression_level_changes_the_bytes_on_the_wire() {
        let fake = fake(&["zlib"]);
        let mut sizes = Vec::new();
        for level in [0, 9] {
            let client = client(
                &fake,
                &format!("compressors=zlib&zlibCompressionLevel={level}"),
            )
            .await;
            let coll = client.database("shop").collection::<Document>("items");
            coll.insert_one(doc! {"_id": level, "s": "abcdefgh".repeat(12_500)})
                .await
                .unwrap();
            let insert = fake.stats(0).wire("insert").pop().unwrap();
            assert_eq!(insert.compressor_id, Some(compression::ZLIB));
            sizes.push((insert.wire_size, insert.uncompressed_size));
        }
        let ((stored, plain), (best, _)) = (sizes[0], sizes[1]);
        assert!(stored > plain, "level 0 stores: {sizes:?}");
        assert!(best * 50 < plain, "level 9 compresses: {sizes:?}");
    }

    /// Replies compressed whatever the request (as MongoDB 3.4 did), the handshake's and the
    /// monitor's streamed `hello` replies included.
    #[tokio::test]
    async fn replies_are_accepted_compressed_everywhere_even_the_streaming_hello() {
        for (name, id) in compiled() {
            let fake = FakeMongos::start(
                1,
                FakeOptions {
                    compressors: vec![name.to_owned()],
                    compress_all_replies: true,
                    ..FakeOptions::default()
                },
            );
            let client = client(&fake, &format!("compressors={name}")).await;
            crud(&client, doc! {"_id": 1}).await;
            assert!(ids(&fake.stats(0).wire("find"))
                .iter()
                .all(|i| *i == Some(id)));
            // A streamed reply (compressed) that tells the monitor of a new topologyVersion.
            fake.bump_topology_version(0);
            let counter = fake.topology_version(0).get_i64("counter").unwrap();
            client
                .watch_topology()
                .wait_for(WAIT, |t| {
                    t.servers
                        .values()
                        .any(|s| s.topology_version.as_ref().map(|v| v.counter) == Some(counter))
                })
                .await
                .unwrap_or_else(|| panic!("{name}: the streamed hello was not read"));
            crud(&client, doc! {"_id": 2}).await;
        }
    }

    /// A reply body (`{ok: 1, cursor: …}` as OP_MSG without its header) for hostile wrappers.
    fn reply_body() -> Vec<u8> {
        let body = doc! {"ok": 1.0, "cursor": {"id": 0i64, "ns": "shop.items", "firstBatch": []}};
        OpMsg::new(1, 0, 0, body).encode()[16..].to_vec()
    }

    #[tokio::test]
    async fn hostile_compressed_replies_are_invalid_and_the_connection_is_dropped() {
        let body = reply_body();
        let n = body.len() as i32;
        let mut cases = vec![
            (
                "size lie",
                compression::raw(1, 0, 2013, n + 100, NOOP, &body),
            ),
            (
                "size past the maximum",
                compression::raw(1, 0, 2013, 100_000_000, NOOP, &body),
            ),
            (
                "negative size",
                compression::raw(1, 0, 2013, -5, NOOP, &body),
            ),
            (
                "unknown compressor",
                compression::raw(1, 0, 2013, n, 9, &body),
            ),
            (
                "wrapped OP_REPLY",
                compression::raw(1, 0, 1, n, NOOP, &body),
            ),
            (
                "truncated",
                compression::raw(1, 0, 2013, n, NOOP, &[])[..25].to_vec(),
            ),
        ];
        for (name, id) in compiled() {
            // 4 MiB of zeros in a few KB, claimed to be 1000 bytes.
            let bomb = compression::compress(id, &vec![0u8; 4 << 20]);
            cases.push((name, compression::raw(1, 0, 2013, 1000, id, &bomb)));
        }
        let fake = fake(&all_names());
        let names = all_names();
        let extra = if names.is_empty() {
            "retryReads=false".to_owned()
        } else {
            format!("retryReads=false&compressors={}", names.join(","))
        };
        // Heartbeats of 500 ms: the server is Unknown after each bad reply until checked again.
        let client = client_with_heartbeat(&fake, 500, &extra).await;
        let coll = client.database("shop").collection::<Document>("items");
        for (case, bytes) in cases {
            assert_eq!(
                i32::from_le_bytes(bytes[12..16].try_into().unwrap()),
                OP_COMPRESSED
            );
            fake.fail_next(0, "find", FailAction::RawReply(bytes));
            let started = std::time::Instant::now();
            let err = coll.find_one(doc! {}).await.unwrap_err();
            assert!(
                matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
                "{case}: {err}"
            );
            assert!(started.elapsed() < Duration::from_secs(5), "{case}: slow");
            // The next find works, on another connection.
            assert_eq!(coll.find_one(doc! {}).await.unwrap(), None, "{case}");
            let finds = fake.stats(0).wire("find");
            let [.., bad, next] = &finds[..] else {
                panic!("{case}: {finds:?}")
            };
            assert_ne!(
                bad.connection_id, next.connection_id,
                "{case}: the connection that got the bad reply was reused"
            );
        }
    }
}
