//! Bulk writes against SecantusDB (TLS, client certificates, --auth, test commands):
//! `Client::bulk_write` (the `bulkWrite` command) across databases and collections, ordered
//! and unordered, summary and verbose results, write errors and write concern errors with
//! partial results, batches split at `maxMessageSizeBytes`, and a failure of a later batch;
//! `Collection::bulk_write` through `insert`, `update` and `delete`.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use common::server::server;
use mongo_x509::bson::{doc, Bson, Document};
use mongo_x509::error::{BulkWriteError, ErrorKind, PartialBulkWriteResult};
use mongo_x509::options::{
    DeleteManyModel, DeleteOneModel, InsertOneModel, ReplaceOneModel, UpdateManyModel,
    UpdateOneModel, WriteModel,
};
use mongo_x509::results::SummaryBulkWriteResult;
use mongo_x509::{Client, Collection, Namespace};

async fn client(app_name: &str) -> Client {
    let extra = format!("appName={app_name}");
    Client::with_uri_str(server().uri("client-pkcs8-aes256.pem", &extra))
        .await
        .expect("client")
}

async fn fresh(client: &Client, db: &str, coll: &str) -> Collection<Document> {
    let c = client.database(db).collection::<Document>(coll);
    c.drop().await.unwrap();
    c
}

fn insert(ns: &Namespace, document: Document) -> WriteModel {
    InsertOneModel::builder()
        .namespace(ns.clone())
        .document(document)
        .build()
        .into()
}

fn bulk_error(e: &mongo_x509::error::Error) -> &BulkWriteError {
    match &*e.kind {
        ErrorKind::BulkWrite(b) => b,
        other => panic!("expected a bulk write error, got {other:?}"),
    }
}

/// Arms `failCommand` for this client's `appName` only (other tests share the server).
async fn fail_point(client: &Client, mode: Bson, data: Document) {
    client
        .database("admin")
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data })
        .await
        .unwrap();
}

async fn fail_point_off(client: &Client) {
    fail_point(client, "off".into(), doc! {}).await;
}

#[tokio::test]
async fn mixed_namespaces_and_operations_with_verbose_results() {
    let client = client("bw-mixed").await;
    let a = fresh(&client, "e2e_bulk_a", "items").await;
    let b = fresh(&client, "e2e_bulk_b", "log").await;
    a.insert_many([
        doc! { "_id": 1, "q": 1 },
        doc! { "_id": 2, "q": 2 },
        doc! { "_id": 3, "q": 0 },
    ])
    .await
    .unwrap();
    let (na, nb) = (a.namespace(), b.namespace());
    let models: Vec<WriteModel> = vec![
        insert(&na, doc! { "_id": 4, "q": 4 }),
        insert(&nb, doc! { "event": "restock" }),
        UpdateOneModel::builder()
            .namespace(na.clone())
            .filter(doc! { "_id": 1 })
            .update(doc! { "$inc": { "q": 10 } })
            .build()
            .into(),
        UpdateOneModel::builder()
            .namespace(na.clone())
            .filter(doc! { "_id": 9 })
            .update(doc! { "$set": { "q": 9 } })
            .upsert(true)
            .build()
            .into(),
        UpdateManyModel::builder()
            .namespace(na.clone())
            .filter(doc! { "q": { "$gte": 2 } })
            .update(vec![doc! { "$set": { "seen": true } }])
            .build()
            .into(),
        ReplaceOneModel::builder()
            .namespace(na.clone())
            .filter(doc! { "_id": 2 })
            .replacement(doc! { "q": 20 })
            .build()
            .into(),
        DeleteOneModel::builder()
            .namespace(na.clone())
            .filter(doc! { "_id": 3 })
            .build()
            .into(),
        DeleteManyModel::builder()
            .namespace(nb.clone())
            .filter(doc! { "nothing": 1 })
            .build()
            .into(),
    ];
    let r = client.bulk_write(models).verbose_results().await.unwrap();
    assert_eq!(
        r.summary,
        {
            let mut s = SummaryBulkWriteResult::default();
            s.inserted_count = 2;
            s.matched_count = 1 + 4 + 1;
            s.modified_count = 1 + 4 + 1;
            s.upserted_count = 1;
            s.deleted_count = 1;
            s
        },
        "{r:?}"
    );
    assert_eq!(r.insert_results[&0].inserted_id, Bson::Int32(4));
    // The generated _id is the one stored.
    let logged = b.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        &r.insert_results[&1].inserted_id,
        logged.get("_id").unwrap()
    );
    assert_eq!(r.update_results[&3].upserted_id, Some(Bson::Int32(9)));
    assert_eq!(r.update_results[&4].matched_count, 4);
    assert_eq!(r.delete_results[&6].deleted_count, 1);
    assert_eq!(r.delete_results[&7].deleted_count, 0);
    assert_eq!(
        a.find_one(doc! { "_id": 2 }).await.unwrap(),
        Some(doc! { "_id": 2, "q": 20 })
    );
    // Four were marked; the replacement of 2 dropped its mark.
    assert_eq!(a.count_documents(doc! { "seen": true }).await.unwrap(), 3);

    // Summary results only (errorsOnly): the same counts, nothing per write.
    let r = client
        .bulk_write([insert(&na, doc! { "_id": 5 })])
        .comment("summary")
        .await
        .unwrap();
    assert_eq!(r.inserted_count, 1);
    a.drop().await.unwrap();
    b.drop().await.unwrap();
}

#[tokio::test]
async fn write_errors_stop_an_ordered_bulk_write_and_not_an_unordered_one() {
    let client = client("bw-errors").await;
    let a = fresh(&client, "e2e_bulk_a", "errors").await;
    a.insert_one(doc! { "_id": 1 }).await.unwrap();
    let ns = a.namespace();
    let models = || {
        vec![
            insert(&ns, doc! { "_id": 2 }),
            insert(&ns, doc! { "_id": 1 }),
            insert(&ns, doc! { "_id": 3 }),
        ]
    };
    let e = client
        .bulk_write(models())
        .verbose_results()
        .await
        .unwrap_err();
    let b = bulk_error(&e);
    assert_eq!(b.write_errors.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(b.write_errors[&1].code, 11000);
    match &b.partial_result {
        Some(PartialBulkWriteResult::Verbose(v)) => {
            assert_eq!(v.summary.inserted_count, 1);
            assert_eq!(v.insert_results.keys().copied().collect::<Vec<_>>(), [0]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.count_documents(doc! {}).await.unwrap(),
        2,
        "3 not inserted"
    );

    a.delete_many(doc! { "_id": { "$ne": 1 } }).await.unwrap();
    let e = client
        .bulk_write(models())
        .ordered(false)
        .await
        .unwrap_err();
    let b = bulk_error(&e);
    assert_eq!(b.write_errors.keys().copied().collect::<Vec<_>>(), [1]);
    match &b.partial_result {
        Some(PartialBulkWriteResult::Summary(s)) => assert_eq!(s.inserted_count, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.count_documents(doc! {}).await.unwrap(), 3);

    // Only a failed write: no partial result.
    let e = client
        .bulk_write([insert(&ns, doc! { "_id": 1 })])
        .await
        .unwrap_err();
    assert!(bulk_error(&e).partial_result.is_none());
    a.drop().await.unwrap();
}

#[tokio::test]
async fn write_concern_errors_and_top_level_errors() {
    let client = client("bw-wce").await;
    let a = fresh(&client, "e2e_bulk_a", "wce").await;
    let ns = a.namespace();
    fail_point(
        &client,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["bulkWrite"], "appName": "bw-wce",
        "writeConcernError": { "code": 91, "errmsg": "Replication is being shut down" } },
    )
    .await;
    let e = client
        .bulk_write([insert(&ns, doc! { "_id": 10 })])
        .verbose_results()
        .await
        .unwrap_err();
    let b = bulk_error(&e);
    assert_eq!(b.write_concern_errors.len(), 1);
    assert_eq!(b.write_concern_errors[0].code, 91);
    assert_eq!(
        b.write_concern_errors[0].message,
        "Replication is being shut down"
    );
    match &b.partial_result {
        Some(PartialBulkWriteResult::Verbose(v)) => {
            assert_eq!(v.insert_results[&0].inserted_id, Bson::Int32(10))
        }
        other => panic!("{other:?}"),
    }

    // A command error before any result is returned as it is.
    fail_point(
        &client,
        doc! { "times": 1 }.into(),
        doc! { "failCommands": ["bulkWrite"], "appName": "bw-wce", "errorCode": 8 },
    )
    .await;
    let e = client
        .bulk_write([insert(&ns, doc! { "_id": 11 })])
        .await
        .unwrap_err();
    assert!(
        matches!(&*e.kind, ErrorKind::Command { code: 8, .. }),
        "{e:?}"
    );
    fail_point_off(&client).await;

    // Client-side refusals, before anything is sent.
    let w0 = mongo_x509::options::WriteConcern::builder()
        .w(mongo_x509::options::Acknowledgment::Nodes(0))
        .build();
    let e = client
        .bulk_write([insert(&ns, doc! { "_id": 12 })])
        .write_concern(w0.clone())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unacknowledged write concern and ordered writes"),
        "{e}"
    );
    let e = client
        .bulk_write([insert(&ns, doc! { "_id": 12 })])
        .write_concern(w0)
        .ordered(false)
        .verbose_results()
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unacknowledged write concern and verbose results"),
        "{e}"
    );
    let e = client
        .bulk_write(Vec::<WriteModel>::new())
        .await
        .unwrap_err();
    assert!(matches!(&*e.kind, ErrorKind::InvalidArgument { .. }), "{e}");
    a.drop().await.unwrap();
}

/// 50 documents of 1 MB are more than one 48 MB message: two `bulkWrite` commands. When the
/// second fails, the first one's result is in the error.
#[tokio::test]
async fn batches_split_at_the_message_size_and_a_later_batch_failure_keeps_the_first() {
    let client = client("bw-split").await;
    let a = fresh(&client, "e2e_bulk_a", "split").await;
    let ns = a.namespace();
    let pad = "x".repeat(1024 * 1024);
    let models = |from: i32| -> Vec<WriteModel> {
        (from..from + 50)
            .map(|i| insert(&ns, doc! { "_id": i, "pad": pad.as_str() }))
            .collect()
    };
    let r = client.bulk_write(models(0)).await.unwrap();
    assert_eq!(r.inserted_count, 50);
    assert_eq!(a.count_documents(doc! {}).await.unwrap(), 50);

    fail_point(
        &client,
        doc! { "skip": 1 }.into(),
        doc! { "failCommands": ["bulkWrite"], "appName": "bw-split", "errorCode": 8 },
    )
    .await;
    let e = client.bulk_write(models(100)).await;
    fail_point_off(&client).await;
    let e = e.unwrap_err();
    let b = bulk_error(&e);
    let inner = b.error.as_deref().expect("the error that stopped it");
    assert!(
        matches!(&*inner.kind, ErrorKind::Command { code: 8, .. }),
        "{inner:?}"
    );
    let first = match &b.partial_result {
        Some(PartialBulkWriteResult::Summary(s)) => s.inserted_count,
        other => panic!("{other:?}"),
    };
    assert!((1..50).contains(&first), "the first batch only: {first}");
    assert_eq!(
        a.count_documents(doc! { "_id": { "$gte": 100 } })
            .await
            .unwrap(),
        u64::try_from(first).unwrap()
    );
    a.drop().await.unwrap();
}

#[tokio::test]
async fn collection_bulk_write_through_the_classic_commands() {
    let client = client("bw-coll").await;
    let db = client.database("e2e_bulk_a");
    let c = fresh(&client, "e2e_bulk_a", "coll").await;
    c.insert_many([doc! { "_id": 1, "q": 1 }, doc! { "_id": 2, "q": 2 }])
        .await
        .unwrap();
    let ns = c.namespace();
    let models = vec![
        c.insert_one_model(doc! { "q": 3 }).unwrap().into(),
        insert(&ns, doc! { "_id": 4, "q": 4 }),
        UpdateOneModel::builder()
            .namespace(ns.clone())
            .filter(doc! { "_id": 1 })
            .update(vec![doc! { "$set": { "q": "$$v" } }])
            .build()
            .into(),
        UpdateManyModel::builder()
            .namespace(ns.clone())
            .filter(doc! { "_id": { "$in": [2, 4] } })
            .update(vec![doc! { "$set": { "many": true } }])
            .build()
            .into(),
        UpdateOneModel::builder()
            .namespace(ns.clone())
            .filter(doc! { "_id": 7 })
            .update(doc! { "$set": { "q": 7 } })
            .upsert(true)
            .build()
            .into(),
        c.replace_one_model(doc! { "_id": 2 }, doc! { "q": 22 })
            .unwrap()
            .into(),
        DeleteOneModel::builder()
            .namespace(ns.clone())
            .filter(doc! { "_id": 4 })
            .build()
            .into(),
        insert(&ns, doc! { "_id": 8 }),
    ];
    let r = c
        .bulk_write(models)
        .let_vars(doc! { "v": "from let" })
        .comment("collection bulk")
        .await
        .unwrap();
    assert_eq!(r.inserted_count, 3);
    assert_eq!((r.matched_count, r.modified_count), (4, 4));
    assert_eq!((r.upserted_count, r.deleted_count), (1, 1));
    assert_eq!(r.upserted_ids[&4], Bson::Int32(7));
    assert_eq!(r.inserted_ids[&1], Bson::Int32(4));
    assert_eq!(r.inserted_ids[&7], Bson::Int32(8));
    let generated = r.inserted_ids[&0].clone();
    assert!(matches!(generated, Bson::ObjectId(_)));
    assert_eq!(
        c.find_one(doc! { "_id": generated })
            .await
            .unwrap()
            .unwrap()
            .get_i32("q"),
        Ok(3)
    );
    assert_eq!(
        c.find_one(doc! { "_id": 1 }).await.unwrap(),
        Some(doc! { "_id": 1, "q": "from let" })
    );
    assert_eq!(
        c.find_one(doc! { "_id": 2 }).await.unwrap(),
        Some(doc! { "_id": 2, "q": 22 })
    );
    assert_eq!(c.count_documents(doc! {}).await.unwrap(), 5);

    // Unordered: the duplicates fail at their own indexes; every other write is applied.
    let e = c
        .bulk_write([
            insert(&ns, doc! { "_id": 1 }),
            DeleteOneModel::builder()
                .namespace(ns.clone())
                .filter(doc! { "_id": 8 })
                .build()
                .into(),
            insert(&ns, doc! { "_id": 9 }),
            insert(&ns, doc! { "_id": 2 }),
        ])
        .ordered(false)
        .await
        .unwrap_err();
    let b = bulk_error(&e);
    let mut failed: Vec<usize> = b.write_errors.keys().copied().collect();
    failed.sort_unstable();
    assert_eq!(failed, [0, 3]);
    match &b.partial_result {
        Some(PartialBulkWriteResult::Collection(p)) => {
            assert_eq!((p.inserted_count, p.deleted_count), (1, 1));
            assert_eq!(p.inserted_ids.keys().copied().collect::<Vec<_>>(), [2]);
        }
        other => panic!("{other:?}"),
    }
    // Ordered: stops at the duplicate.
    let e = c
        .bulk_write([
            insert(&ns, doc! { "_id": 10 }),
            insert(&ns, doc! { "_id": 1 }),
            insert(&ns, doc! { "_id": 11 }),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        bulk_error(&e)
            .write_errors
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(c.count_documents(doc! { "_id": 11 }).await.unwrap(), 0);

    // Another collection's model is refused before anything is sent.
    let other = Namespace::new("e2e_bulk_a", "elsewhere");
    let e = c.bulk_write([insert(&other, doc! {})]).await.unwrap_err();
    assert!(
        matches!(&*e.kind, ErrorKind::InvalidArgument { message } if message.contains("Client::bulk_write")),
        "{e}"
    );

    // bypassDocumentValidation reaches the insert and update commands.
    db.collection::<Document>("validated").drop().await.unwrap();
    db.create_collection("validated")
        .validator(doc! { "q": { "$type": "int" } })
        .await
        .unwrap();
    let v = db.collection::<Document>("validated");
    let vns = v.namespace();
    let bad = || vec![insert(&vns, doc! { "_id": 1, "q": "text" })];
    let e = v.bulk_write(bad()).await.unwrap_err();
    assert_eq!(bulk_error(&e).write_errors[&0].code, 121);
    let r = v
        .bulk_write(bad())
        .bypass_document_validation(true)
        .await
        .unwrap();
    assert_eq!(r.inserted_count, 1);
    v.drop().await.unwrap();
    c.drop().await.unwrap();
}
