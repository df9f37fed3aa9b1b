//! Certificate rotation through the blocking API, against SecantusDB: a blocking client
//! authenticated as A (`client`) has its certificate-key file replaced by B (`client-ec`).
//! `reload_tls_identity()` switches it to B; and with `tlsCertificateKeyFileWatchIntervalMS`
//! the watch, which runs on the client's own runtime (there is no other here), notices the
//! change by itself. After either, new connections authenticate as B.

#![cfg(all(feature = "sync", any(feature = "openssl", feature = "native-tls")))]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::certs::subject;
use common::server::server;
use mongo_x509::bson::doc;
use mongo_x509::sync::Client;

/// Idle connections older than this are not reused: a pause longer than it forces a new one.
const IDLE: Duration = Duration::from_millis(1500);

fn authenticated_user(client: &Client) -> String {
    let status = client
        .database("admin")
        .run_command(doc! { "connectionStatus": 1 })
        .timeout(Duration::from_secs(20))
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

fn on_a_new_connection(client: &Client) -> String {
    std::thread::sleep(IDLE + Duration::from_millis(500));
    authenticated_user(client)
}

/// Replaces the file the way a secret rotation does: write beside it, then rename over it.
fn replace(path: &Path, from: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::copy(server().cert(from), &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn uri_for(path: &Path, backend: &str, extra: &str) -> String {
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

#[test]
fn reload_and_the_watch_switch_a_blocking_client_to_the_new_certificate() {
    let (a, b) = (subject("client"), subject("client-ec"));
    for backend in common::backend_names() {
        // An explicit reload.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let client = Client::with_uri_str(uri_for(&path, backend, "")).unwrap();
        assert_eq!(authenticated_user(&client), a, "{backend}");
        replace(&path, "client-otherpass.pem");
        let err = client.reload_tls_identity().unwrap_err();
        assert!(
            format!("{:?}", err.as_identity_error().map(|e| &e.kind)).contains("WrongPassword"),
            "{backend}: {err}"
        );
        assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
        replace(&path, "client-ec-pkcs8-aes256.pem");
        client.reload_tls_identity().unwrap();
        assert_eq!(client.client_subject(), Some(b.clone()), "{backend}");
        assert_eq!(authenticated_user(&client), b, "{backend}: after reload");
        client.shutdown().run();

        // The watch, on the client's runtime.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let client = Client::with_uri_str(uri_for(
            &path,
            backend,
            "&tlsCertificateKeyFileWatchIntervalMS=100",
        ))
        .unwrap();
        assert_eq!(authenticated_user(&client), a, "{backend}");
        replace(&path, "client-ec-pkcs8-aes256.pem");
        let started = Instant::now();
        while client.client_subject() != Some(b.clone()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{backend}: the watch did not reload within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            authenticated_user(&client),
            b,
            "{backend}: the connection authenticated as A is not reused"
        );
        assert_eq!(on_a_new_connection(&client), b, "{backend}");
        client.shutdown().run();
    }
}
