//! The Stable API against the scripted fake deployment and SecantusDB: with a declared
//! `ServerApi`, every command the client sends carries `apiVersion` (and `apiStrict`,
//! `apiDeprecationErrors` when set): the handshake's `hello`, CRUD commands, `getMore`,
//! `killCursors`, `run_command`, `endSessions`; without one, none does.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::FakeMongos;
use common::fake_deployment::FakeOptions;
use futures_util::{StreamExt, TryStreamExt};
use mongo_x509::bson::{doc, Document};
use mongo_x509::options::{ClientOptions, ServerApi, ServerApiVersion};
use mongo_x509::Client;

const CERT: &str = "client-pkcs8.pem";

fn api() -> ServerApi {
    ServerApi::builder()
        .version(ServerApiVersion::V1)
        .deprecation_errors(true)
        .build()
}

async fn client(uri: String, server_api: Option<ServerApi>) -> Client {
    let mut options = ClientOptions::parse(uri).await.unwrap();
    options.server_api = server_api;
    Client::with_options(options).unwrap()
}

/// Everything the application's connections sent: every command but the monitors' `hello`s
/// (a handshake `hello` carries the client metadata).
fn application_commands(m: &FakeMongos) -> Vec<Document> {
    m.stats(0)
        .command_log
        .into_iter()
        .filter(|c| !c.contains_key("hello") || c.contains_key("client"))
        .collect()
}

#[tokio::test]
async fn every_command_carries_the_declared_api_version() {
    let m = FakeMongos::start(1, FakeOptions::default());
    m.seed("db", "c", (0..5).map(|i| doc! { "_id": i }));
    let c = client(m.uri(CERT, ""), Some(api())).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "_id": 10 }).await.unwrap();
    let all: Vec<Document> = coll
        .find(doc! {})
        .batch_size(2)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let mut cursor = coll.find(doc! {}).batch_size(1).await.unwrap();
    cursor.next().await.unwrap().unwrap();
    drop(cursor);
    c.database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    coll.aggregate([doc! { "$match": {} }]).await.unwrap();
    coll.delete_one(doc! { "_id": 10 }).await.unwrap();
    m.wait_for("killCursors", Duration::from_secs(10), |m| {
        m.stats(0).count("killCursors") == 1
    })
    .await;
    c.shutdown().await;

    let sent = application_commands(&m);
    let names: Vec<&str> = sent
        .iter()
        .filter_map(|c| c.keys().next().map(String::as_str))
        .collect();
    for name in [
        "hello",
        "insert",
        "find",
        "getMore",
        "killCursors",
        "ping",
        "aggregate",
        "delete",
        "endSessions",
    ] {
        assert!(names.contains(&name), "{name} not sent: {names:?}");
    }
    for cmd in &sent {
        assert_eq!(cmd.get_str("apiVersion"), Ok("1"), "{cmd}");
        assert_eq!(cmd.get_bool("apiDeprecationErrors"), Ok(true), "{cmd}");
        assert!(!cmd.contains_key("apiStrict"), "not set, not sent: {cmd}");
    }
}

#[tokio::test]
async fn without_a_declared_version_no_api_field_is_sent() {
    let m = FakeMongos::start(1, FakeOptions::default());
    let c = client(m.uri(CERT, ""), None).await;
    let coll = c.database("db").collection::<Document>("c");
    coll.insert_one(doc! { "a": 1 }).await.unwrap();
    coll.find_one(doc! {}).await.unwrap();
    let sent = application_commands(&m);
    assert!(sent.len() >= 3, "{sent:?}");
    for cmd in &sent {
        for key in ["apiVersion", "apiStrict", "apiDeprecationErrors"] {
            assert!(!cmd.contains_key(key), "{cmd}");
        }
    }
}

/// SecantusDB accepts the declared version on every command (it does not enforce
/// `apiStrict`, so only acceptance is shown).
#[tokio::test]
async fn secantus_accepts_the_declared_api_version() {
    let server = common::server::server();
    let strict = ServerApi::builder()
        .version(ServerApiVersion::V1)
        .strict(false)
        .deprecation_errors(true)
        .build();
    let c = client(server.uri("client-pkcs8-aes256.pem", ""), Some(strict)).await;
    let coll = c.database("stable_api").collection::<Document>("c");
    coll.drop().await.unwrap();
    coll.insert_many((0..5).map(|i| doc! { "_id": i }))
        .await
        .unwrap();
    let all: Vec<Document> = coll
        .find(doc! {})
        .batch_size(2)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "find and getMores");
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 5);
    c.database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    coll.drop().await.unwrap();
}
