//! Client Backpressure against SecantusDB (tests/common/server.rs): an error the server labels
//! `SystemOverloadedError` and `RetryableError` is retried whatever the operation (an
//! `update_many`, a `runCommand`, which are never retried otherwise), up to
//! `maxAdaptiveRetries` times (default 2), after a backoff; without both labels nothing is
//! retried; `maxAdaptiveRetries=0` turns it off. Fail points target each test's own `appName`,
//! and the tests take turns (fail points are server-wide).

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::sync::{Arc, Mutex};

use common::server::server;
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::event::command::CommandEvent;
use mongo_x509::event::EventHandler;
use mongo_x509::options::ClientOptions;
use mongo_x509::Client;

const KEY: &str = "client-pkcs8-aes256.pem";
const OVERLOADED: [&str; 2] = ["SystemOverloadedError", "RetryableError"];

/// One fail-point test at a time.
static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A client named `app` (with `extra` URI options) and the names of the commands it starts.
async fn client(app: &str, extra: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let uri = server().uri(
        KEY,
        &format!("appName={app}&serverSelectionTimeoutMS=10000{extra}"),
    );
    let mut options = ClientOptions::parse(&uri).await.expect("options");
    let started = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&started);
    options.command_event_handler = Some(EventHandler::callback(move |e: CommandEvent| {
        if let CommandEvent::Started(s) = e {
            sink.lock().unwrap().push(s.command_name.clone());
        }
    }));
    (Client::with_options(options).expect("client"), started)
}

/// Fails the next `times` `command`s of client `app` with code 462 and `labels`.
async fn fail(c: &Client, app: &str, times: i32, command: &str, labels: &[&str]) {
    c.database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": {
                "failCommands": [command],
                "appName": app,
                "errorCode": 462,
                "errorLabels": labels,
            },
        })
        .await
        .expect("configureFailPoint");
}

async fn off(c: &Client) {
    c.database("admin")
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await
        .expect("configureFailPoint off");
}

fn count(started: &Mutex<Vec<String>>, name: &str) -> usize {
    started
        .lock()
        .unwrap()
        .iter()
        .filter(|n| *n == name)
        .count()
}

#[tokio::test]
async fn a_shed_update_many_and_run_command_are_retried_until_they_succeed() {
    let _turn = FAIL_POINT.lock().await;
    let app = "backpressure-retried";
    let (c, started) = client(app, "").await;
    let coll = c.database("e2e_backpressure").collection::<Document>(app);
    coll.drop().await.unwrap();
    coll.insert_many([doc! { "n": 1 }, doc! { "n": 2 }])
        .await
        .unwrap();

    // Twice shed, then done: three updates sent, the $inc applied once.
    fail(&c, app, 2, "update", &OVERLOADED).await;
    let result = coll
        .update_many(doc! {}, doc! { "$inc": { "n": 10 } })
        .await
        .expect("update_many retried past two overload errors");
    assert_eq!(result.modified_count, 2);
    assert_eq!(count(&started, "update"), 3);
    let total: i32 = coll
        .find(doc! {})
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap()
        .iter()
        .map(|d| d.get_i32("n").unwrap())
        .sum();
    assert_eq!(total, 23);

    // A command the application wrote is retried too.
    fail(&c, app, 1, "count", &OVERLOADED).await;
    let reply = c
        .database("e2e_backpressure")
        .run_command(doc! { "count": app })
        .await
        .expect("count retried");
    assert_eq!(reply.get_i32("n"), Ok(2));
    assert_eq!(count(&started, "count"), 2);
    off(&c).await;
}

#[tokio::test]
async fn retries_stop_at_max_adaptive_retries_and_the_error_keeps_its_labels() {
    let _turn = FAIL_POINT.lock().await;
    for (extra, attempts) in [
        ("", 3),
        ("&maxAdaptiveRetries=1", 2),
        ("&maxAdaptiveRetries=0", 1),
    ] {
        let app = "backpressure-limit";
        let (c, started) = client(app, extra).await;
        let coll = c.database("e2e_backpressure").collection::<Document>(app);
        fail(&c, app, 10, "delete", &OVERLOADED).await;
        let err = coll
            .delete_many(doc! {})
            .await
            .expect_err("every attempt is shed");
        off(&c).await;
        assert!(
            matches!(&*err.kind, ErrorKind::Command { code: 462, .. }),
            "{extra}: {err}"
        );
        for label in OVERLOADED {
            assert!(err.contains_label(label), "{extra}: {label} kept: {err}");
        }
        assert_eq!(count(&started, "delete"), attempts, "{extra}");
    }
}

#[tokio::test]
async fn without_both_labels_nothing_is_retried() {
    let _turn = FAIL_POINT.lock().await;
    let app = "backpressure-one-label";
    let (c, started) = client(app, "").await;
    let coll = c.database("e2e_backpressure").collection::<Document>(app);
    for labels in [&["SystemOverloadedError"][..], &["RetryableError"][..]] {
        let before = count(&started, "delete");
        fail(&c, app, 1, "delete", labels).await;
        coll.delete_many(doc! {})
            .await
            .expect_err("not retried without both labels");
        assert_eq!(count(&started, "delete") - before, 1, "{labels:?}");
    }
    off(&c).await;
}
