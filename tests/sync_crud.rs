//! The blocking API end to end against SecantusDB (TLS, required client certificates,
//! --auth), with no Tokio runtime in the test: connect with an encrypted key on each compiled
//! backend, CRUD, a cursor over several batches, an explicit session with its cursor, a
//! committed and an aborted transaction, a change stream, a GridFS file written and read with
//! `std::io`; the same calls made from inside async code; and `.run()` refused on an action of
//! an async client.

#![cfg(all(feature = "sync", any(feature = "openssl", feature = "native-tls")))]

mod common;

use std::time::{Duration, Instant};

use common::certs::subject;
use common::server::server;
use mongo_x509::bson::{doc, oid::ObjectId, Bson, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{GridFsBucketOptions, ServerAddress};
use mongo_x509::sync::{Client, Collection};
use mongo_x509::TransactionState;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Item {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    qty: i32,
}

fn item(name: &str, qty: i32) -> Item {
    Item {
        id: None,
        name: name.into(),
        qty,
    }
}

fn client(backend: &str, key_file: &str) -> Client {
    let uri = server().uri(
        key_file,
        &format!("tlsBackend={backend}&serverSelectionTimeoutMS=10000"),
    );
    Client::with_uri_str(uri).unwrap_or_else(|e| panic!("{backend}/{key_file}: client: {e}"))
}

/// The user the connection running `connectionStatus` authenticated as.
fn authenticated_user(client: &Client) -> String {
    let status = client
        .database("admin")
        .run_command(doc! { "connectionStatus": 1 })
        .run()
        .expect("connectionStatus");
    let users = status
        .get_document("authInfo")
        .unwrap()
        .get_array("authenticatedUsers")
        .unwrap();
    assert_eq!(users.len(), 1, "{status}");
    users[0]
        .as_document()
        .unwrap()
        .get_str("user")
        .unwrap()
        .to_owned()
}

/// A fresh collection named after the test.
fn fresh<T: Send + Sync>(client: &Client, name: &str) -> Collection<T> {
    let coll = client.database("sync_crud").collection::<T>(name);
    coll.drop().run().unwrap();
    coll
}

#[test]
fn crud_through_the_blocking_api_with_an_encrypted_key_on_each_backend() {
    assert!(
        !common::backend_names().is_empty(),
        "build with a TLS backend (openssl or native-tls)"
    );
    for backend in common::backend_names() {
        for (file, user) in [
            ("client-pkcs8-aes256.pem", "client"),
            ("client-ec-pkcs8-aes256.pem", "client-ec"),
            ("client.p12", "client"),
        ] {
            let label = format!("{backend}/{file}");
            let client = client(backend, file);
            assert_eq!(client.tls_backend_name(), Some(backend), "{label}");
            assert_eq!(authenticated_user(&client), subject(user), "{label}");

            let coll = fresh::<Item>(
                &client,
                &format!("crud_{}", label.replace(['/', '.', '-'], "_")),
            );
            let pen = coll.insert_one(item("pen", 10)).run().unwrap();
            assert!(matches!(pen.inserted_id, Bson::ObjectId(_)), "{label}");
            let many = coll
                .insert_many([item("ink", 3), item("pad", 7), item("cap", 1)])
                .run()
                .unwrap();
            assert_eq!(many.inserted_ids.len(), 3, "{label}");

            let found = coll.find_one(doc! { "name": "pen" }).run().unwrap();
            assert_eq!(found.map(|i| i.qty), Some(10), "{label}");
            let sorted: Vec<Item> = coll
                .find(doc! { "qty": { "$gte": 3 } })
                .sort(doc! { "qty": 1 })
                .run()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let names: Vec<_> = sorted.iter().map(|i| i.name.as_str()).collect();
            assert_eq!(names, ["ink", "pad", "pen"], "{label}");

            let r = coll
                .update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 5 } })
                .run()
                .unwrap();
            assert_eq!((r.matched_count, r.modified_count), (1, 1), "{label}");
            let r = coll
                .update_one(doc! { "name": "new" }, doc! { "$set": { "qty": 2 } })
                .upsert(true)
                .run()
                .unwrap();
            assert!(r.upserted_id.is_some(), "{label}");
            let r = coll
                .replace_one(doc! { "name": "cap" }, item("lid", 4))
                .run()
                .unwrap();
            assert_eq!(r.modified_count, 1, "{label}");
            let before = coll
                .find_one_and_update(doc! { "name": "lid" }, doc! { "$set": { "qty": 6 } })
                .run()
                .unwrap();
            assert_eq!(before.map(|i| i.qty), Some(4), "{label}");
            assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 5, "{label}");
            assert_eq!(coll.estimated_document_count().run().unwrap(), 5, "{label}");
            let mut names = coll.distinct("name", doc! {}).run().unwrap();
            names.sort_by_key(|b| b.to_string());
            assert_eq!(names.len(), 5, "{label}: {names:?}");

            let total: Vec<Document> = coll
                .aggregate([doc! { "$group": { "_id": Bson::Null, "total": { "$sum": "$qty" } } }])
                .run()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let sum = total[0]
                .get_i32("total")
                .map(i64::from)
                .or_else(|_| total[0].get_i64("total"));
            assert_eq!(sum.unwrap(), 15 + 3 + 7 + 6 + 2, "{label}");

            let r = coll.delete_one(doc! { "name": "pen" }).run().unwrap();
            assert_eq!(r.deleted_count, 1, "{label}");
            let r = coll
                .delete_many(doc! { "qty": { "$lt": 5 } })
                .run()
                .unwrap();
            assert_eq!(r.deleted_count, 2, "{label}");
            assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 2, "{label}");

            let db = client.database("sync_crud");
            assert!(
                db.list_collection_names()
                    .run()
                    .unwrap()
                    .contains(&coll.name().to_owned()),
                "{label}"
            );
            coll.drop().run().unwrap();
            client.shutdown().run();
        }
    }
}

#[test]
fn a_cursor_iterates_over_several_batches() {
    let backend = common::backend_names()[0];
    let client = client(backend, "client-pkcs8-aes256.pem");
    let coll = fresh::<Document>(&client, "batches");
    let docs: Vec<Document> = (0..25).map(|n| doc! { "_id": n }).collect();
    coll.insert_many(docs).run().unwrap();

    let mut cursor = coll
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .batch_size(4)
        .run()
        .unwrap();
    let first = cursor.next().expect("a first document").unwrap();
    assert_eq!(first.get_i32("_id"), Ok(0));
    assert_ne!(cursor.id(), 0, "more batches wait on the server");
    let rest: Vec<i32> = cursor
        .by_ref()
        .map(|d| d.unwrap().get_i32("_id").unwrap())
        .collect();
    assert_eq!(rest, (1..25).collect::<Vec<_>>(), "every batch, in order");
    assert_eq!(cursor.id(), 0, "the server cursor is exhausted");
    assert!(cursor.next().is_none(), "and stays at its end");

    // An aggregation's cursor, typed, over batches of 10.
    #[derive(Deserialize)]
    struct Id {
        #[serde(rename = "_id")]
        id: i32,
    }
    let ids: Vec<i32> = coll
        .aggregate([doc! { "$sort": { "_id": -1 } }])
        .batch_size(10)
        .run()
        .unwrap()
        .with_type::<Id>()
        .map(|d| d.unwrap().id)
        .collect();
    assert_eq!(ids, (0..25).rev().collect::<Vec<_>>());

    // A cursor closed half-way.
    let mut cursor = coll.find(doc! {}).batch_size(2).run().unwrap();
    assert!(cursor.next().is_some());
    assert_ne!(cursor.id(), 0);
    cursor.close();
    coll.drop().run().unwrap();
}

#[test]
fn a_session_with_its_cursor_and_transactions() {
    let backend = common::backend_names()[0];
    let client = client(backend, "client-pkcs8-aes256.pem");
    let coll = fresh::<Document>(&client, "session");
    // Created outside the transactions.
    coll.insert_one(doc! { "_id": "seed" }).run().unwrap();

    let mut session = client.start_session().run().unwrap();
    assert!(!session.id().is_empty());
    let docs: Vec<Document> = (0..9).map(|n| doc! { "n": n }).collect();
    coll.insert_many(docs).session(&mut session).run().unwrap();
    assert!(
        session.cluster_time().is_some(),
        "the session saw the reply"
    );

    // A cursor in the session, over batches of 2, with `next(&mut session)` then `iter`.
    let mut cursor = coll
        .find(doc! { "n": { "$exists": true } })
        .sort(doc! { "n": 1 })
        .batch_size(2)
        .session(&mut session)
        .run()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let d = cursor.next(&mut session).expect("a document").unwrap();
        seen.push(d.get_i32("n").unwrap());
    }
    assert_ne!(cursor.id(), 0);
    for d in cursor.iter(&mut session) {
        seen.push(d.unwrap().get_i32("n").unwrap());
    }
    assert_eq!(seen, (0..9).collect::<Vec<_>>());
    assert_eq!(cursor.id(), 0);

    // Aborted: leaves nothing.
    session.start_transaction().run().unwrap();
    assert_eq!(session.transaction_state(), TransactionState::Starting);
    coll.insert_one(doc! { "_id": "aborted" })
        .session(&mut session)
        .run()
        .unwrap();
    assert_eq!(
        coll.count_documents(doc! { "_id": "aborted" })
            .session(&mut session)
            .run()
            .unwrap(),
        1,
        "the transaction sees its own write"
    );
    assert_eq!(
        coll.count_documents(doc! { "_id": "aborted" })
            .run()
            .unwrap(),
        0,
        "outside the transaction it is not there yet"
    );
    session.abort_transaction().run().unwrap();
    assert_eq!(session.transaction_state(), TransactionState::Aborted);
    assert_eq!(
        coll.count_documents(doc! { "_id": "aborted" })
            .run()
            .unwrap(),
        0
    );

    // Committed: seen whole.
    session.start_transaction().run().unwrap();
    coll.insert_one(doc! { "_id": "a" })
        .session(&mut session)
        .run()
        .unwrap();
    coll.delete_one(doc! { "_id": "seed" })
        .session(&mut session)
        .run()
        .unwrap();
    assert_eq!(
        coll.count_documents(doc! { "_id": "seed" }).run().unwrap(),
        1
    );
    session.commit_transaction().run().unwrap();
    assert_eq!(session.transaction_state(), TransactionState::Committed);
    assert_eq!(coll.count_documents(doc! { "_id": "a" }).run().unwrap(), 1);
    assert_eq!(
        coll.count_documents(doc! { "_id": "seed" }).run().unwrap(),
        0
    );

    // The session's client is a blocking client on the same runtime.
    let again = session.client();
    assert_eq!(authenticated_user(&again), subject("client"));
    drop(session);
    coll.drop().run().unwrap();
}

#[test]
fn a_change_stream_yields_the_inserts_made_after_it_opened() {
    let backend = common::backend_names()[0];
    let client = client(backend, "client-pkcs8-aes256.pem");
    let coll = fresh::<Document>(&client, "stream");
    coll.insert_one(doc! { "_id": 0 }).run().unwrap();
    let mut stream = coll
        .watch()
        .max_await_time(Duration::from_millis(200))
        .run()
        .unwrap();
    coll.insert_one(doc! { "_id": 1 }).run().unwrap();
    let started = Instant::now();
    let event = loop {
        if let Some(event) = stream.next_if_any().unwrap() {
            break event;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no event within 20 s"
        );
    };
    assert_eq!(
        event.document_key,
        Some(doc! { "_id": 1 }),
        "{:?}",
        event.operation_type
    );
    assert!(stream.is_alive());
    assert!(stream.resume_token().is_some());
    coll.insert_one(doc! { "_id": 2 }).run().unwrap();
    let event = stream.next().expect("the stream is alive").unwrap();
    assert_eq!(event.document_key, Some(doc! { "_id": 2 }));
    drop(stream);
    coll.drop().run().unwrap();
}

#[test]
fn a_gridfs_file_is_written_and_read_back_through_std_io() {
    use std::io::{Read, Write};

    let backend = common::backend_names()[0];
    let client = client(backend, "client-pkcs8-aes256.pem");
    let mut options = GridFsBucketOptions::builder().bucket_name("sync").build();
    options.chunk_size_bytes = Some(1000);
    let bucket = client.database("sync_crud").gridfs_bucket(options);
    bucket.drop().run().unwrap();
    let data: Vec<u8> = (0..4500u32).map(|i| (i % 251) as u8).collect();

    let mut upload = bucket.open_upload_stream("blob.bin").run().unwrap();
    for piece in data.chunks(700) {
        upload.write_all(piece).unwrap();
    }
    upload.close().unwrap();
    let id = upload.id().clone();

    let mut download = bucket.open_download_stream(id.clone()).run().unwrap();
    assert_eq!(download.files_collection_document().length, 4500);
    let mut back = Vec::new();
    download.read_to_end(&mut back).unwrap();
    assert_eq!(back, data, "five chunks, read back whole");

    let files: Vec<_> = bucket
        .find(doc! { "filename": "blob.bin" })
        .run()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(files.len(), 1);
    bucket.delete(id).run().unwrap();
    assert!(bucket.find_one(doc! {}).run().unwrap().is_none());

    // An upload given up leaves no chunk behind.
    let mut upload = bucket.open_upload_stream("gone.bin").run().unwrap();
    upload.write_all(&data).unwrap();
    upload.abort().unwrap();
    let chunks = client
        .database("sync_crud")
        .collection::<Document>("sync.chunks");
    assert_eq!(chunks.count_documents(doc! {}).run().unwrap(), 0);
    bucket.drop().run().unwrap();
}

/// The blocking calls work on a thread that runs another runtime's task (the official crate
/// panics there), and dropping the client there does not panic either.
#[tokio::test]
async fn the_blocking_api_works_inside_async_code() {
    let backend = common::backend_names()[0];
    let client = client(backend, "client-pkcs8-aes256.pem");
    assert_eq!(authenticated_user(&client), subject("client"));
    let coll = fresh::<Document>(&client, "in_async");
    coll.insert_many((0..5).map(|n| doc! { "_id": n }))
        .run()
        .unwrap();
    let n = coll.find(doc! {}).batch_size(2).run().unwrap().count();
    assert_eq!(n, 5);
    // Async work of the caller's own runtime still runs afterwards.
    tokio::time::sleep(Duration::from_millis(1)).await;
    coll.drop().run().unwrap();
    drop(coll);
    drop(client);

    // From spawn_blocking, as the docs advise.
    let user = tokio::task::spawn_blocking(move || {
        authenticated_user(&self::client(backend, "client-pkcs8-aes256.pem"))
    })
    .await
    .unwrap();
    assert_eq!(user, subject("client"));
}

/// `.run()` on an action of an async client is refused with a typed error naming the way out
/// (no I/O: the host is never contacted).
#[test]
fn run_refuses_an_action_of_an_async_client() {
    let options = mongo_x509::options::ClientOptions::builder()
        .hosts(vec![ServerAddress::Tcp {
            host: "localhost".into(),
            port: Some(1),
        }])
        .build();
    let client = mongo_x509::Client::with_options(options).unwrap();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::InvalidArgument { message } if message.contains(".await")),
        "{err}"
    );
}
