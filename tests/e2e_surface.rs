//! The application surface against SecantusDB (TLS, client certificates, --auth): cursor
//! options (tailable-await with `maxAwaitTimeMS`), read preference, read and write concern and
//! `timeoutMS` per database, collection and operation, and the CRUD options of the specs.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::server;
use futures_util::StreamExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::options::CursorType;
use mongo_x509::Client;

async fn client(extra: &str) -> Client {
    Client::with_uri_str(server().uri("client-pkcs8-aes256.pem", extra))
        .await
        .expect("client")
}

#[tokio::test]
async fn a_tailable_await_cursor_waits_for_new_documents() {
    let client = client("").await;
    let db = client.database("e2e_surface");
    let coll = db.collection::<Document>("tail");
    coll.drop().await.unwrap();
    db.create_collection("tail")
        .capped(true)
        .size(100_000_u64)
        .await
        .unwrap();
    coll.insert_one(doc! { "i": 0 }).await.unwrap();
    let mut cursor = coll
        .find(doc! {})
        .cursor_type(CursorType::TailableAwait)
        .max_await_time(Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(cursor.next().await.unwrap().unwrap().get_i32("i"), Ok(0));
    let writer = coll.clone();
    let insert = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        writer.insert_one(doc! { "i": 1 }).await.unwrap();
    });
    // Empty getMores (each waiting 100 ms) until the insert shows.
    let next = tokio::time::timeout(Duration::from_secs(10), cursor.next())
        .await
        .expect("the new document arrives")
        .unwrap()
        .unwrap();
    assert_eq!(next.get_i32("i"), Ok(1));
    insert.await.unwrap();
    assert_ne!(cursor.id(), 0, "a tailable cursor stays open");

    // The server refuses maxTimeMS on the getMore of a cursor that does not await data: the
    // option is not sent for a plain tailable cursor.
    let mut cursor = coll
        .find(doc! {})
        .batch_size(1)
        .cursor_type(CursorType::Tailable)
        .max_await_time(Duration::from_millis(100))
        .await
        .unwrap();
    for i in 0..2 {
        let d = cursor
            .next()
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{i}: {e}"));
        assert_eq!(d.get_i32("i"), Ok(i));
    }
}

/// Read preference, read concern and write concern per database, per collection and per
/// operation, each shown by what the one-member replica set does with it: no secondary to
/// read from, a read concern level it refuses, a `w: 2` it cannot satisfy.
#[tokio::test]
async fn read_preference_and_concerns_per_database_collection_and_operation() {
    use mongo_x509::options::{
        Acknowledgment, CollectionOptions, DatabaseOptions, ReadConcern, ReadPreference,
        ReadPreferenceMode, WriteConcern,
    };
    let client = client("serverSelectionTimeoutMS=500").await;
    let coll = client
        .database("e2e_surface")
        .collection::<Document>("concerns");
    coll.drop().await.unwrap();
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();

    let bad_level = ReadConcern::custom("nonsense");
    let db = client.database_with_options(
        "e2e_surface",
        DatabaseOptions::builder()
            .read_concern(bad_level.clone())
            .build(),
    );
    let refused = |e: mongo_x509::error::Error| {
        assert!(
            matches!(
                &*e.kind,
                mongo_x509::error::ErrorKind::Command { code: 9, .. }
            ),
            "the server refuses the level: {e}"
        );
    };
    let from_db = db.collection::<Document>("concerns");
    refused(from_db.find_one(doc! {}).await.unwrap_err());
    refused(from_db.count_documents(doc! {}).await.unwrap_err());
    // The operation's read concern wins, then the collection's.
    let found = from_db
        .find_one(doc! {})
        .read_concern(ReadConcern::majority())
        .await
        .unwrap();
    assert_eq!(found, Some(doc! { "_id": 1 }));
    let from_coll = db.collection_with_options::<Document>(
        "concerns",
        CollectionOptions::builder()
            .read_concern(ReadConcern::local())
            .build(),
    );
    assert_eq!(from_coll.count_documents(doc! {}).await.unwrap(), 1);
    let coll_bad = client
        .database("e2e_surface")
        .collection_with_options::<Document>(
            "concerns",
            CollectionOptions::builder().read_concern(bad_level).build(),
        );
    refused(coll_bad.distinct("_id", doc! {}).await.unwrap_err());
    refused(coll_bad.estimated_document_count().await.unwrap_err());
    refused(
        coll_bad
            .aggregate([doc! { "$match": {} }])
            .await
            .map(|_| ())
            .unwrap_err(),
    );

    // No secondary: a secondary read cannot select a server; the operation's primary can.
    let secondary = ReadPreference::from(ReadPreferenceMode::Secondary);
    let on_secondary = client
        .database("e2e_surface")
        .collection_with_options::<Document>(
            "concerns",
            CollectionOptions::builder()
                .selection_criteria(secondary.clone())
                .build(),
        );
    let e = on_secondary.find_one(doc! {}).await.unwrap_err();
    assert!(
        matches!(
            &*e.kind,
            mongo_x509::error::ErrorKind::ServerSelection { .. }
        ),
        "{e}"
    );
    let primary = ReadPreference::from(ReadPreferenceMode::Primary);
    assert_eq!(
        on_secondary
            .count_documents(doc! {})
            .selection_criteria(primary.clone())
            .await
            .unwrap(),
        1
    );
    let e = coll
        .find(doc! {})
        .selection_criteria(secondary)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            &*e.kind,
            mongo_x509::error::ErrorKind::ServerSelection { .. }
        ),
        "{e}"
    );
    // Writes ignore read preferences: they go to the primary.
    on_secondary.insert_one(doc! { "_id": 2 }).await.unwrap();

    // A collection whose writes ask for two members gets the server's write concern error.
    let two = WriteConcern::builder().w(Acknowledgment::Nodes(2)).build();
    let wants_two = client
        .database("e2e_surface")
        .collection_with_options::<Document>(
            "concerns",
            CollectionOptions::builder().write_concern(two).build(),
        );
    let e = wants_two.insert_one(doc! { "_id": 3 }).await.unwrap_err();
    match &*e.kind {
        mongo_x509::error::ErrorKind::Write {
            write_concern_error: Some(wce),
            ..
        } => assert!(wce.contains("code 100"), "{wce}"),
        other => panic!("expected a write concern error, got {other:?}"),
    }
    // The operation's write concern wins.
    let one = WriteConcern::builder().w(Acknowledgment::Nodes(1)).build();
    wants_two
        .insert_one(doc! { "_id": 4 })
        .write_concern(one)
        .await
        .unwrap();
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 4);
    coll.drop().await.unwrap();
}

/// Options of the CRUD specification, each shown by its effect on SecantusDB.
#[tokio::test]
async fn crud_options_the_specs_name() {
    use futures_util::TryStreamExt;
    use mongo_x509::options::{
        Acknowledgment, Collation, CollationStrength, ReadConcern, ReadPreference,
        ReadPreferenceMode, ReturnDocument, WriteConcern,
    };
    let client = client("serverSelectionTimeoutMS=500").await;
    let db = client.database("e2e_surface");
    let coll = db.collection::<Document>("options");
    coll.drop().await.unwrap();
    coll.insert_many(
        (1..=6).map(|i| doc! { "_id": i, "x": i, "name": if i % 2 == 0 { "a" } else { "A" } }),
    )
    .await
    .unwrap();
    coll.create_index(
        mongo_x509::options::IndexModel::builder()
            .keys(doc! { "x": 1 })
            .build(),
    )
    .await
    .unwrap();

    // let on find and aggregate; a comment of any type; allowDiskUse on find_one.
    let found: Vec<Document> = coll
        .find(doc! { "$expr": { "$gt": ["$x", "$$min"] } })
        .let_vars(doc! { "min": 4 })
        .comment(doc! { "traced": true })
        .sort(doc! { "x": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let one = coll
        .find_one(doc! {})
        .sort(doc! { "x": -1 })
        .allow_disk_use(true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.get_i32("x"), Ok(6));
    let agg: Vec<Document> = coll
        .aggregate([doc! { "$match": { "$expr": { "$eq": ["$x", "$$want"] } } }])
        .let_vars(doc! { "want": 3 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(agg.len(), 1);

    // count_documents with skip, limit, hint, collation; distinct with collation.
    let case_insensitive = Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build();
    let n = coll
        .count_documents(doc! { "name": "a" })
        .collation(case_insensitive.clone())
        .skip(1_u64)
        .limit(4_u64)
        .hint(doc! { "_id": 1 })
        .comment(7)
        .await
        .unwrap();
    assert_eq!(n, 4, "6 match case-insensitively, 1 skipped, at most 4");
    let names = coll
        .distinct("name", doc! {})
        .collation(case_insensitive)
        .await
        .unwrap();
    assert_eq!(names.len(), 1, "{names:?}");

    // A hinted write with w: 0 is sent to a 4.4+ server (an acknowledged read follows).
    let w0 = WriteConcern::builder().w(Acknowledgment::Nodes(0)).build();
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "w0": true } })
        .hint("x_1")
        .write_concern(w0.clone())
        .await
        .unwrap();
    coll.delete_one(doc! { "_id": 6 })
        .hint(doc! { "x": 1 })
        .write_concern(w0)
        .await
        .unwrap();
    let mut settled = false;
    for _ in 0..50 {
        if coll
            .count_documents(doc! { "$or": [ { "w0": true }, { "_id": 6 } ] })
            .await
            .unwrap()
            == 1
            && coll.count_documents(doc! { "_id": 6 }).await.unwrap() == 0
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settled, "the unacknowledged writes were applied");

    // findAndModify with sort and hint; replace_one with upsert; insert bypassing validation.
    let top = coll
        .find_one_and_update(doc! {}, doc! { "$inc": { "x": 100 } })
        .sort(doc! { "x": -1 })
        .hint("x_1")
        .return_document(ReturnDocument::After)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(top.get_i32("x"), Ok(105));
    let r = coll
        .replace_one(doc! { "_id": 42 }, doc! { "x": 42 })
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(r.upserted_id, Some(mongo_x509::bson::Bson::Int32(42)));
    db.collection::<Document>("validated_one")
        .drop()
        .await
        .unwrap();
    db.create_collection("validated_one")
        .validator(doc! { "x": { "$type": "int" } })
        .await
        .unwrap();
    let validated = db.collection::<Document>("validated_one");
    assert!(validated.insert_one(doc! { "x": "no" }).await.is_err());
    validated
        .insert_one(doc! { "x": "no" })
        .bypass_document_validation(true)
        .await
        .unwrap();

    // $out and $merge take a read concern; with a read preference that allows a secondary
    // they still run (this set's only member is the primary, 5.0+).
    let out_pipeline = || [doc! { "$match": {} }, doc! { "$out": "options_out" }];
    coll.aggregate(out_pipeline())
        .read_concern(ReadConcern::majority())
        .selection_criteria(ReadPreference::from(ReadPreferenceMode::SecondaryPreferred))
        .await
        .unwrap();
    assert_eq!(
        db.collection::<Document>("options_out")
            .count_documents(doc! {})
            .await
            .unwrap(),
        6,
        "five of the six, and the upserted one"
    );
    // On a 5.0+ deployment the read preference is used: no secondary, no server.
    let e = coll
        .aggregate(out_pipeline())
        .selection_criteria(ReadPreference::from(ReadPreferenceMode::Secondary))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            &*e.kind,
            mongo_x509::error::ErrorKind::ServerSelection { .. }
        ),
        "{e}"
    );
    coll.aggregate([doc! { "$merge": { "into": "options_out", "whenMatched": "replace" } }])
        .batch_size(0)
        .await
        .unwrap();
    db.collection::<Document>("options_out")
        .drop()
        .await
        .unwrap();
    validated.drop().await.unwrap();
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn run_cursor_command_follows_the_cursor_it_opens() {
    use futures_util::TryStreamExt;
    let client = client("").await;
    let db = client.database("e2e_surface");
    let coll = db.collection::<Document>("cursor_command");
    coll.drop().await.unwrap();
    coll.insert_many((0..7).map(|i| doc! { "_id": i }))
        .await
        .unwrap();
    let all: Vec<Document> = db
        .run_cursor_command(doc! { "find": "cursor_command", "filter": {}, "batchSize": 2 })
        .batch_size(2)
        .comment("more")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "the first batch and the getMores");
    let mut session = client.start_session().await.unwrap();
    let mut cursor = db
        .run_cursor_command(
            doc! { "aggregate": "cursor_command", "pipeline": [], "cursor": { "batchSize": 3 } },
        )
        .session(&mut session)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(d) = cursor.next(&mut session).await {
        d.unwrap();
        n += 1;
    }
    assert_eq!(n, 7);
    let e = db
        .run_cursor_command(doc! { "ping": 1 })
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            &*e.kind,
            mongo_x509::error::ErrorKind::InvalidResponse { .. }
        ),
        "{e}"
    );
    coll.drop().await.unwrap();
}

/// Index and collection management (create, list with specifications, drop, rename) and the
/// counts, against the server.
#[tokio::test]
async fn indexes_collections_and_counts_against_the_server() {
    use futures_util::TryStreamExt;
    use mongo_x509::options::{
        ChangeStreamPreAndPostImages, ClusteredIndex, IndexModel, IndexOptions, TimeseriesOptions,
    };
    use mongo_x509::results::CollectionType;
    let client = client("").await;
    let db = client.database("e2e_surface_mgmt");
    db.drop().await.unwrap();
    db.create_collection("capped")
        .capped(true)
        .size(64 * 1024_u64)
        .max(10_u64)
        .await
        .unwrap();
    db.create_collection("series")
        .timeseries(TimeseriesOptions::builder().time_field("at").build())
        .await
        .unwrap();
    db.create_collection("clustered")
        .clustered_index(
            ClusteredIndex::builder()
                .key(doc! { "_id": 1 })
                .unique(true)
                .build(),
        )
        .change_stream_pre_and_post_images(ChangeStreamPreAndPostImages::new(true))
        .await
        .unwrap();
    let specs: Vec<_> = db
        .list_collections()
        .filter(doc! { "name": { "$in": ["capped", "series"] } })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(specs.len(), 2, "{specs:?}");
    let capped = specs.iter().find(|s| s.name == "capped").unwrap();
    assert_eq!(capped.collection_type, CollectionType::Collection);
    assert_eq!(capped.options.get_bool("capped"), Ok(true));
    let series = specs.iter().find(|s| s.name == "series").unwrap();
    // (mongod lists it with type "timeseries"; SecantusDB says "collection".)
    assert_eq!(
        series
            .options
            .get_document("timeseries")
            .and_then(|t| t.get_str("timeField")),
        Ok("at")
    );

    let coll = db.collection::<Document>("capped");
    coll.insert_many((0..5).map(|i| doc! { "_id": i, "a": i, "b": -i }))
        .await
        .unwrap();
    assert_eq!(coll.estimated_document_count().await.unwrap(), 5);
    let one = coll
        .create_index(
            IndexModel::builder()
                .keys(doc! { "a": 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name("a_unique".to_owned())
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(one.index_name, "a_unique");
    let many = coll
        .create_indexes([
            IndexModel::builder().keys(doc! { "b": -1 }).build(),
            IndexModel::builder().keys(doc! { "a": 1, "b": 1 }).build(),
        ])
        .await
        .unwrap();
    assert_eq!(many.index_names, ["b_-1", "a_1_b_1"]);
    let mut names = coll.list_index_names().await.unwrap();
    names.sort();
    assert_eq!(names, ["_id_", "a_1_b_1", "a_unique", "b_-1"]);
    let unique: Vec<IndexModel> = coll
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let a = unique
        .iter()
        .find(|m| m.keys == doc! { "a": 1 })
        .expect("the unique index is listed");
    assert_eq!(a.options.as_ref().and_then(|o| o.unique), Some(true));
    coll.drop_index("b_-1").await.unwrap();
    assert_eq!(coll.list_index_names().await.unwrap().len(), 3);
    coll.drop_indexes().await.unwrap();
    assert_eq!(coll.list_index_names().await.unwrap(), ["_id_"]);

    coll.rename("renamed").await.unwrap();
    let names = db.list_collection_names().await.unwrap();
    assert!(names.contains(&"renamed".to_owned()) && !names.contains(&"capped".to_owned()));
    let dbs = client
        .list_databases()
        .filter(doc! { "name": "e2e_surface_mgmt" })
        .await
        .unwrap();
    assert_eq!(dbs.len(), 1);
    assert_eq!(dbs[0].name, "e2e_surface_mgmt");
    db.drop().await.unwrap();
}
