//! Certificate rotation end to end against SecantusDB (users exist for `client` and
//! `client-ec`): a client authenticated as A (`client`) has its certificate-key file replaced by
//! B (`client-ec`). After `reload_tls_identity()` (and, in the second test, after the watch
//! notices the change) a new connection authenticates as B while the connection opened before
//! still works as A; reloads from a truncated file or with a wrong password fail with their
//! error and the client keeps working as A.
//!
//! New versus old connections: `maxIdleTimeMS=1500` lets the next operation reuse the pooled
//! connection opened before the reload, and, after a pause longer than that, forces a new one.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::certs::subject;
use common::server::server;
use mongo_x509::bson::doc;
use mongo_x509::Client;

/// One test at a time: the stop test counts identity loads process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const IDLE: Duration = Duration::from_millis(1500);

/// The user the connection running `connectionStatus` authenticated as.
async fn authenticated_user(client: &Client) -> String {
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1 }),
    )
    .await
    .expect("connectionStatus within 20 s")
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

/// The next operation gets a new connection (the idle ones are past maxIdleTimeMS).
async fn on_a_new_connection(client: &Client) -> String {
    tokio::time::sleep(IDLE + Duration::from_millis(500)).await;
    authenticated_user(client).await
}

/// Replaces the file the way a secret rotation does: write beside it, then rename over it.
fn replace(path: &Path, from: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::copy(server().cert(from), &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn client_for(path: &Path, backend: &str, extra: &str) -> String {
    // The test server's URI for `client-pkcs8-aes256.pem`, pointed at `path` instead.
    let s = server();
    let uri = s.uri(
        "client-pkcs8-aes256.pem",
        &format!(
            "tlsBackend={backend}&maxIdleTimeMS={}&serverSelectionTimeoutMS=5000{extra}",
            IDLE.as_millis()
        ),
    );
    let original = common::server::enc(&s.cert("client-pkcs8-aes256.pem").to_string_lossy());
    uri.replace(&original, &common::server::enc(&path.to_string_lossy()))
}

#[tokio::test]
async fn reload_switches_new_connections_to_the_new_certificate() {
    let _one_at_a_time = SERIAL.lock().await;
    let a = subject("client");
    let b = subject("client-ec");
    for backend in common::backend_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let client = Client::with_uri_str(client_for(&path, backend, ""))
            .await
            .unwrap();
        assert_eq!(authenticated_user(&client).await, a, "{backend}");

        // Failed reloads: typed errors, and the client keeps A, also for new connections.
        for (file, expected) in [
            ("client-truncated.pem", "Malformed"),
            ("client-otherpass.pem", "WrongPassword"),
        ] {
            replace(&path, file);
            let err = client.reload_tls_identity().await.unwrap_err();
            let kind = err.as_identity_error().map(|e| e.kind.clone());
            assert!(
                format!("{kind:?}").contains(expected),
                "{backend}/{file}: {err}"
            );
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
            assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
        }
        assert_eq!(on_a_new_connection(&client).await, a, "{backend}");

        // The rotation proper.
        replace(&path, "client-ec-pkcs8-aes256.pem");
        client.reload_tls_identity().await.unwrap();
        assert_eq!(client.client_subject(), Some(b.clone()), "{backend}");
        // The connection opened before the reload is reused and still works, as A.
        assert_eq!(authenticated_user(&client).await, a, "{backend}");
        // A new connection presents the new certificate and authenticates as B.
        assert_eq!(on_a_new_connection(&client).await, b, "{backend}");
        let stats = client.pool_stats();
        assert!(
            stats.iter().map(|s| s.connections_created).sum::<u64>() >= 3,
            "{backend}: {stats:?}"
        );
        client.shutdown().await;
    }
}

#[tokio::test]
async fn the_watch_reloads_when_the_file_changes() {
    let _one_at_a_time = SERIAL.lock().await;
    let a = subject("client");
    let b = subject("client-ec");
    for backend in common::backend_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let client = Client::with_uri_str(client_for(
            &path,
            backend,
            "&tlsCertificateKeyFileWatchIntervalMS=100",
        ))
        .await
        .unwrap();
        assert_eq!(authenticated_user(&client).await, a, "{backend}");

        // A half-written file: the watch tries, fails (logged), and keeps A.
        replace(&path, "client-truncated.pem");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
        assert_eq!(on_a_new_connection(&client).await, a, "{backend}");

        replace(&path, "client-ec-pkcs8-aes256.pem");
        let started = Instant::now();
        while client.client_subject() != Some(b.clone()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{backend}: the watch did not reload within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            authenticated_user(&client).await,
            a,
            "{backend}: old connection"
        );
        assert_eq!(on_a_new_connection(&client).await, b, "{backend}");
        client.shutdown().await;
    }
}

/// The watch holds only a weak reference: once the client is dropped, a change to the file is
/// loaded by no one.
#[tokio::test]
async fn the_watch_stops_with_the_client() {
    let _one_at_a_time = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity.pem");
    std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
    let backend = common::backend_names()[0];
    let client = Client::with_uri_str(client_for(
        &path,
        backend,
        "&tlsCertificateKeyFileWatchIntervalMS=50",
    ))
    .await
    .unwrap();
    let loads = mongo_x509::tls::identity_loads();
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A change after the client is gone is not loaded by anyone.
    replace(&path, "client-ec-pkcs8-aes256.pem");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mongo_x509::tls::identity_loads(), loads);
}
