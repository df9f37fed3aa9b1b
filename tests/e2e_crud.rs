//! End to end CRUD against SecantusDB (TLS, required client certificates, --auth): for each
//! compiled backend and each key format, connect, ping, insert, find back, update, replace,
//! delete, count, aggregate; the same with options set in code, with and without a user name.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::server;
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, oid::ObjectId, Bson, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{
    AuthMechanism, ClientOptions, Credential, ServerAddress, Tls, TlsBackendKind, TlsOptions,
};
use mongo_x509::{Client, Collection};
use serde::{Deserialize, Serialize};

/// (file, name of the user it authenticates as) for each key format.
const KEY_FILES: &[(&str, &str)] = &[
    ("client-pkcs8-aes256.pem", "client"),
    ("client-pkcs8-des3.pem", "client"),
    ("client-pkcs8-scrypt.pem", "client"),
    ("client-legacy-aes256.pem", "client"),
    ("client.p12", "client"),
    ("client-legacy.p12", "client"),
    ("client-chain.pem", "client-chain"),
    ("client-ec-pkcs8-aes256.pem", "client-ec"),
];

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

fn coll_name(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// ping, insert, find back, update, replace, delete, count, aggregate, drop.
async fn round_trip(client: &Client, label: &str) {
    let ctx = |what: &str| format!("{label}: {what}");
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("ping")));
    let coll: Collection<Item> = client.database("e2e_crud").collection(&coll_name(label));
    coll.drop()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("drop")));

    let pen = coll.insert_one(item("pen", 10)).await.unwrap();
    assert!(
        matches!(pen.inserted_id, Bson::ObjectId(_)),
        "{}",
        ctx("generated _id")
    );
    let many = coll
        .insert_many([item("ink", 3), item("pad", 7), item("cap", 1)])
        .await
        .unwrap();
    assert_eq!(many.inserted_ids.len(), 3, "{}", ctx("insert_many"));

    let found = coll
        .find_one(doc! { "name": "pen" })
        .await
        .unwrap()
        .expect("pen");
    assert_eq!(found.qty, 10, "{}", ctx("find_one"));
    assert_eq!(found.id.map(Bson::ObjectId), Some(pen.inserted_id.clone()));

    let sorted: Vec<Item> = coll
        .find(doc! { "qty": { "$gte": 3 } })
        .sort(doc! { "qty": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = sorted.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["ink", "pad", "pen"], "{}", ctx("find sorted"));

    let r = coll
        .update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 5 } })
        .await
        .unwrap();
    assert_eq!(
        (r.matched_count, r.modified_count),
        (1, 1),
        "{}",
        ctx("update_one")
    );
    let r = coll
        .update_many(
            doc! { "qty": { "$lt": 8 } },
            doc! { "$set": { "low": true } },
        )
        .await
        .unwrap();
    assert_eq!(r.matched_count, 3, "{}", ctx("update_many"));
    let r = coll
        .update_one(doc! { "name": "new" }, doc! { "$set": { "qty": 2 } })
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(r.matched_count, 0, "{}", ctx("upsert"));
    assert!(r.upserted_id.is_some(), "{}", ctx("upserted id"));
    let r = coll
        .replace_one(doc! { "name": "cap" }, item("lid", 4))
        .await
        .unwrap();
    assert_eq!(r.modified_count, 1, "{}", ctx("replace_one"));

    assert_eq!(
        coll.count_documents(doc! {}).await.unwrap(),
        5,
        "{}",
        ctx("count")
    );
    assert_eq!(
        coll.count_documents(doc! { "low": true }).await.unwrap(),
        2,
        "{}",
        ctx("count low (cap was replaced)")
    );

    let total: Vec<Document> = coll
        .aggregate([doc! { "$group": { "_id": Bson::Null, "total": { "$sum": "$qty" } } }])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let sum = total[0]
        .get_i32("total")
        .map(i64::from)
        .or_else(|_| total[0].get_i64("total"));
    assert_eq!(sum.unwrap(), 15 + 3 + 7 + 4 + 2, "{}", ctx("aggregate"));

    let r = coll.delete_one(doc! { "name": "pen" }).await.unwrap();
    assert_eq!(r.deleted_count, 1, "{}", ctx("delete_one"));
    let r = coll
        .delete_many(doc! { "qty": { "$lt": 5 } })
        .await
        .unwrap();
    assert_eq!(r.deleted_count, 3, "{}", ctx("delete_many"));
    assert_eq!(
        coll.count_documents(doc! {}).await.unwrap(),
        1,
        "{}",
        ctx("count after delete")
    );
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn crud_with_every_backend_and_key_format_from_the_connection_string() {
    let s = server();
    for backend in common::backend_names() {
        for (file, _) in KEY_FILES {
            let uri = s.uri(
                file,
                &format!("tlsBackend={backend}&serverSelectionTimeoutMS=10000"),
            );
            let label = format!("{backend}/{file}");
            let client = Client::with_uri_str(&uri)
                .await
                .unwrap_or_else(|e| panic!("{label}: client: {e}"));
            assert_eq!(client.tls_backend_name(), Some(backend));
            round_trip(&client, &label).await;
        }
    }
}

fn options_in_code(backend: &str, file: &str, username: Option<String>) -> ClientOptions {
    let s = server();
    let backend = match backend {
        "openssl" => TlsBackendKind::OpenSsl,
        _ => TlsBackendKind::NativeTls,
    };
    let mut credential = Credential::builder()
        .mechanism(AuthMechanism::MongoDbX509)
        .build();
    credential.username = username;
    ClientOptions::builder()
        .hosts(vec![ServerAddress::Tcp {
            host: "localhost".into(),
            port: Some(s.port),
        }])
        .credential(credential)
        .tls(Tls::Enabled(
            TlsOptions::builder()
                .ca_file_path(s.cert("ca.pem"))
                .cert_key_file_path(s.cert(file))
                .tls_certificate_key_file_password(common::certs::password())
                .backend(backend)
                .build(),
        ))
        .server_selection_timeout(Duration::from_secs(10))
        .build()
}

#[tokio::test]
async fn crud_with_options_in_code_with_and_without_user_name() {
    for backend in common::backend_names() {
        for (file, user) in [
            ("client-pkcs8-aes256.pem", "client"),
            ("client-chain.p12", "client-chain"),
        ] {
            for with_user in [false, true] {
                let username = with_user.then(|| common::certs::subject(user));
                let client = Client::with_options(options_in_code(backend, file, username))
                    .unwrap_or_else(|e| panic!("{backend}/{file}: {e}"));
                assert_eq!(client.client_subject(), Some(common::certs::subject(user)));
                let label = format!("code/{backend}/{file}/user={with_user}");
                round_trip(&client, &label).await;
            }
        }
    }
}

#[tokio::test]
async fn wrong_key_password_fails_in_with_options() {
    for backend in common::backend_names() {
        let mut opts = options_in_code(backend, "client-pkcs8-aes256.pem", None);
        if let Some(Tls::Enabled(t)) = &mut opts.tls {
            t.tls_certificate_key_file_password = Some(b"not the password".to_vec());
        }
        let err = Client::with_options(opts).expect_err("wrong password");
        assert!(
            matches!(&*err.kind, ErrorKind::Identity(e) if e.kind == mongo_x509::error::IdentityErrorKind::WrongPassword),
            "{backend}: {err}"
        );
    }
}

fn client() -> Client {
    let backend = common::backend_names()[0];
    Client::with_options(options_in_code(backend, "client-pkcs8-aes256.pem", None)).unwrap()
}

#[tokio::test]
async fn write_errors_are_reported_not_swallowed() {
    let client = client();
    let coll = client
        .database("e2e_crud")
        .collection::<Document>("write_errors");
    coll.drop().await.unwrap();
    coll.insert_one(doc! { "_id": 1 }).await.unwrap();
    let err = coll.insert_one(doc! { "_id": 1 }).await.unwrap_err();
    match &*err.kind {
        ErrorKind::Write { write_errors, .. } => {
            assert_eq!(write_errors.len(), 1);
            assert_eq!(write_errors[0].code, 11000, "{err}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    // Unordered: the duplicate fails, the others are inserted.
    let err = coll
        .insert_many([doc! { "_id": 2 }, doc! { "_id": 1 }, doc! { "_id": 3 }])
        .ordered(false)
        .await
        .unwrap_err();
    match &*err.kind {
        ErrorKind::Write { write_errors, .. } => {
            assert_eq!(
                write_errors.iter().map(|e| e.index).collect::<Vec<_>>(),
                [1]
            );
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3);
    // An update document without operators is refused before anything is sent.
    let err = coll.update_one(doc! {}, doc! { "x": 1 }).await.unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );
    // A server error is a command error with the server's code.
    let err = client
        .database("admin")
        .run_command(doc! { "noSuchCommand": 1 })
        .await
        .unwrap_err();
    assert!(matches!(&*err.kind, ErrorKind::Command { .. }), "{err}");
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn cursors_use_get_more_and_are_killed_when_dropped_early() {
    let client = client();
    let db = client.database("e2e_crud");
    let coll = db.collection::<Document>("cursor");
    coll.drop().await.unwrap();
    let docs: Vec<Document> = (0..250).map(|i| doc! { "i": i }).collect();
    let r = coll.insert_many(docs).await.unwrap();
    assert_eq!(r.inserted_ids.len(), 250);

    let all: Vec<Document> = coll
        .find(doc! {})
        .batch_size(10)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 250, "getMore brings every batch");

    let limited: Vec<Document> = coll
        .find(doc! {})
        .batch_size(10)
        .limit(25)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(limited.len(), 25);

    let mut cursor = coll.find(doc! {}).batch_size(5).await.unwrap();
    use futures_util::StreamExt;
    assert!(cursor.next().await.is_some());
    let id = cursor.id();
    assert_ne!(id, 0, "the server keeps a cursor open");
    drop(cursor);
    // killCursors runs in the background; afterwards getMore on that id fails.
    let mut last = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match db
            .run_command(doc! { "getMore": id, "collection": "cursor", "batchSize": 1 })
            .await
        {
            Err(e) => {
                last = Some(e);
                break;
            }
            Ok(_) => continue,
        }
    }
    let err = last.expect("the dropped cursor was killed");
    assert!(
        matches!(&*err.kind, ErrorKind::Command { code: 43, .. }),
        "{err}"
    );

    let names = db.list_collection_names().await.unwrap();
    assert!(names.iter().any(|n| n == "cursor"), "{names:?}");
    let dbs = client.list_database_names().await.unwrap();
    assert!(dbs.iter().any(|n| n == "e2e_crud"), "{dbs:?}");
    coll.drop().await.unwrap();
}

/// find_one_and_update/replace/delete (findAndModify) with their options, and distinct, once
/// per backend.
#[tokio::test]
async fn find_one_and_modify_and_distinct_with_every_backend() {
    use mongo_x509::options::{Acknowledgment, ReturnDocument, WriteConcern};
    for backend in common::backend_names() {
        let client =
            Client::with_options(options_in_code(backend, "client-pkcs8-aes256.pem", None))
                .unwrap();
        let coll: Collection<Item> = client
            .database("e2e_crud")
            .collection(&coll_name(&format!("fam/{backend}")));
        coll.drop().await.unwrap();
        coll.insert_many([item("a", 1), item("b", 2), item("c", 3)])
            .await
            .unwrap();

        // The document before the update, the highest qty first.
        let before = coll
            .find_one_and_update(
                doc! { "qty": { "$gte": 2 } },
                doc! { "$inc": { "qty": 10 } },
            )
            .sort(doc! { "qty": -1 })
            .await
            .unwrap()
            .expect("c matched");
        assert_eq!((before.name.as_str(), before.qty), ("c", 3), "{backend}");
        // The document after, with a projection and a write concern.
        let after = coll
            .clone_with_type::<Document>()
            .find_one_and_update(doc! { "name": "b" }, doc! { "$set": { "qty": 20 } })
            .return_document(ReturnDocument::After)
            .projection(doc! { "_id": 0, "qty": 1 })
            .write_concern(WriteConcern::builder().w(Acknowledgment::Nodes(1)).build())
            .await
            .unwrap();
        assert_eq!(after, Some(doc! { "qty": 20 }), "{backend}");
        // No match: None; with upsert and After: the inserted document.
        let none = coll
            .find_one_and_update(doc! { "name": "z" }, doc! { "$set": { "qty": 1 } })
            .await
            .unwrap();
        assert!(none.is_none(), "{backend}");
        let upserted = coll
            .find_one_and_update(doc! { "name": "z" }, doc! { "$set": { "qty": 9 } })
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .unwrap()
            .expect("upserted");
        assert_eq!(
            (upserted.name.as_str(), upserted.qty),
            ("z", 9),
            "{backend}"
        );

        let replaced = coll
            .find_one_and_replace(doc! { "name": "a" }, item("a2", 5))
            .return_document(ReturnDocument::After)
            .await
            .unwrap()
            .expect("a matched");
        assert_eq!(
            (replaced.name.as_str(), replaced.qty),
            ("a2", 5),
            "{backend}"
        );

        // The lowest qty goes first: a2 (5), then z (9).
        let deleted = coll
            .find_one_and_delete(doc! {})
            .sort(doc! { "qty": 1 })
            .await
            .unwrap()
            .expect("one deleted");
        assert_eq!(deleted.name, "a2", "{backend}");
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3, "{backend}");

        // Left: b (20), c (13), z (9).
        let mut names = coll
            .distinct("name", doc! { "qty": { "$gt": 9 } })
            .await
            .unwrap();
        names.sort_by_key(|b| b.to_string());
        assert_eq!(names, [Bson::from("b"), Bson::from("c")], "{backend}");

        // Operators in a replacement, or none in an update, are refused before sending.
        let err = coll
            .find_one_and_update(doc! {}, doc! { "qty": 1 })
            .await
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        let err = coll
            .clone_with_type::<Document>()
            .find_one_and_replace(doc! {}, doc! { "$set": { "qty": 1 } })
            .await
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        coll.drop().await.unwrap();
    }
}

/// A result type with nested and repeated fields, deserialized straight from the reply's bytes.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
struct Order {
    #[serde(rename = "_id")]
    id: i64,
    customer: String,
    lines: Vec<Line>,
    note: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
struct Line {
    sku: String,
    qty: i32,
}

#[tokio::test]
async fn cursors_yield_typed_documents_and_raw_bytes_across_batches() {
    use mongo_x509::bson::RawDocumentBuf;
    let client = client();
    let coll = client.database("e2e_crud").collection::<Order>("typed");
    coll.drop().await.unwrap();
    let orders: Vec<Order> = (0..1500)
        .map(|i| Order {
            id: i,
            customer: format!("customer-{}", i % 7),
            lines: (0..(i % 4))
                .map(|j| Line {
                    sku: format!("sku-{j}"),
                    qty: j as i32,
                })
                .collect(),
            note: (i % 3 == 0).then(|| "gift".to_owned()),
        })
        .collect();
    // Serialized once each, straight to BSON, with the given `_id`s kept.
    let r = coll.insert_many(&orders).await.unwrap();
    assert_eq!(r.inserted_ids.len(), 1500);
    assert_eq!(r.inserted_ids[&7], Bson::Int64(7));

    // A typed cursor over several getMore batches.
    let back: Vec<Order> = coll
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .batch_size(400)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(back, orders);

    // The same as raw bytes: each result is the document the server sent.
    let raw: Vec<RawDocumentBuf> = coll
        .clone_with_type::<RawDocumentBuf>()
        .find(doc! { "_id": { "$lt": 600 } })
        .sort(doc! { "_id": 1 })
        .batch_size(250)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(raw.len(), 600);
    assert_eq!(raw[42].get_i64("_id").unwrap(), 42);
    assert_eq!(raw[42].get_str("customer").unwrap(), "customer-0");
    let as_doc: Document = raw[42].to_document().unwrap();
    assert_eq!(as_doc.get_array("lines").unwrap().len(), 2);

    // find_one, typed, and a result the type does not fit: an error, not a panic.
    let one = coll.find_one(doc! { "_id": 9 }).await.unwrap().unwrap();
    assert_eq!(one, orders[9]);
    assert!(coll.find_one(doc! { "_id": -1 }).await.unwrap().is_none());
    client
        .database("e2e_crud")
        .collection::<Document>("typed")
        .insert_one(doc! { "_id": -2, "customer": 5 })
        .await
        .unwrap();
    let err = coll.find_one(doc! { "_id": -2 }).await.unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::BsonDeserialization { .. }),
        "{err}"
    );
    coll.drop().await.unwrap();
}

#[tokio::test]
async fn a_tailable_cursor_gives_what_there_is_with_next_if_any() {
    use mongo_x509::options::CursorType;
    let client = client();
    let db = client.database("e2e_crud");
    let log = db.collection::<Document>("tailed");
    log.drop().await.unwrap();
    db.create_collection("tailed")
        .capped(true)
        .size(4096)
        .await
        .unwrap();
    log.insert_many([doc! { "_id": 1 }, doc! { "_id": 2 }])
        .await
        .unwrap();
    let mut tail = log
        .find(doc! {})
        .cursor_type(CursorType::Tailable)
        .batch_size(1)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(d) = tail.next_if_any().await.unwrap() {
        got.push(d.get_i32("_id").unwrap());
    }
    assert_eq!(got, [1, 2]);
    // Nothing new: still open, and it returned instead of waiting for a document.
    assert_ne!(tail.id(), 0, "the tailable cursor stays open");
    log.insert_one(doc! { "_id": 3 }).await.unwrap();
    let next = tail.next_if_any().await.unwrap().expect("the new document");
    assert_eq!(next.get_i32("_id"), Ok(3));
    tail.close().await;
    log.drop().await.unwrap();
}
