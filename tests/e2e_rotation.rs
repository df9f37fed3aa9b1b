//! Certificate rotation end to end against SecantusDB (users exist for `client` and
//! `client-ec`): a client authenticated as A (`client`) has its certificate-key file replaced by
//! B (`client-ec`). After `reload_tls_identity()` (and, in the second test, after the watch
//! notices the change) every operation authenticates as B: the connection opened before is not
//! reused, and one busy at the time of the reload finishes its operation as A first. Reloads
//! from a truncated file or with a wrong password fail with their error and the client keeps
//! working as A. The watch retries a failed reload at every poll until one succeeds (an
//! unreadable file made readable, a damaged file replaced by one of the same size and
//! modification time), and sees a change made while the client loads.
//!
//! New versus old connections: `maxIdleTimeMS=1500` lets the next operation reuse the pooled
//! connection, and, after a pause longer than that, forces a new one.

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
        // The idle connection authenticated as A is not reused: the next operation runs as B.
        assert_eq!(authenticated_user(&client).await, b, "{backend}");
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
            b,
            "{backend}: the connection authenticated as A is not reused"
        );
        assert_eq!(on_a_new_connection(&client).await, b, "{backend}");
        client.shutdown().await;
    }
}

/// A rotation reaches every connection: one busy when the identity is reloaded finishes its
/// operation (as A, not interrupted), is then closed, and every later operation, on however
/// many connections, authenticates as B. The pool is not cleared for it.
#[tokio::test]
async fn a_busy_connection_finishes_as_a_then_every_operation_runs_as_b() {
    let _one_at_a_time = SERIAL.lock().await;
    let a = subject("client");
    let b = subject("client-ec");
    const HOLD: Duration = Duration::from_millis(1500);
    for backend in common::backend_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let app = format!("rotation-busy-{backend}");
        let client = Client::with_uri_str(client_for(
            &path,
            backend,
            &format!("&maxPoolSize=4&appName={app}"),
        ))
        .await
        .unwrap();
        let admin = Client::with_uri_str(server().uri(
            "client-pkcs8-aes256.pem",
            &format!("tlsBackend={backend}&appName=rotation-admin"),
        ))
        .await
        .unwrap();
        assert_eq!(authenticated_user(&client).await, a, "{backend}");
        let before = client.pool_stats()[0].clone();
        assert_eq!((before.open, before.idle), (1, 1), "{backend}: {before:?}");

        // The next connectionStatus is held by the server on A's connection.
        admin
            .database("admin")
            .run_command(doc! {
                "configureFailPoint": "failCommand", "mode": { "times": 1 },
                "data": {
                    "failCommands": ["connectionStatus"], "blockConnection": true,
                    "blockTimeMS": HOLD.as_millis() as i64, "appName": app.as_str(),
                },
            })
            .await
            .expect("configureFailPoint (the test server runs with --enable-test-commands)");
        let busy = {
            let client = client.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                (authenticated_user(&client).await, started.elapsed())
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.pool_stats()[0].checked_out == 0 {
            assert!(
                Instant::now() < deadline,
                "{backend}: the held operation never started"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        replace(&path, "client-ec-pkcs8-aes256.pem");
        client.reload_tls_identity().await.unwrap();
        let (user, took) = busy.await.unwrap();
        assert_eq!(
            user, a,
            "{backend}: the busy operation finishes on its connection"
        );
        assert!(
            took >= HOLD,
            "{backend}: it was held across the reload ({took:?})"
        );

        // Several at once (several connections), then one after another: all as B.
        let at_once = (0..4).map(|_| authenticated_user(&client));
        for user in futures_util::future::join_all(at_once).await {
            assert_eq!(user, b, "{backend}");
        }
        for _ in 0..3 {
            assert_eq!(authenticated_user(&client).await, b, "{backend}");
        }
        let after = client.pool_stats()[0].clone();
        assert_eq!(
            after.generation, before.generation,
            "{backend}: not a clear: {after:?}"
        );
        assert!(
            after.connections_closed > before.connections_closed,
            "{backend}: A's connection was closed: {after:?}"
        );
        client.shutdown().await;
        admin.shutdown().await;
    }
}

/// Waits until the client presents `subject`, polling its backend.
async fn until_subject(client: &Client, subject: &str, what: &str) {
    let started = Instant::now();
    while client.client_subject().as_deref() != Some(subject) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: the watch did not load {subject} within 10 s (still {:?})",
            client.client_subject()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the watch has attempted `n` more identity loads than `since` (each read of the
/// file counts, failed or not).
async fn until_loads(since: u64, n: u64, what: &str) {
    let started = Instant::now();
    while mongo_x509::tls::identity_loads() < since + n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: the watch did not try to load the file {n} time(s) within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `bytes` beside `path` with `mode` and the modification time `mtime` (if given), then
/// renames it over `path`.
#[cfg(unix)]
fn replace_with(path: &Path, bytes: &[u8], mode: u32, mtime: Option<std::time::SystemTime>) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    if let Some(mtime) = mtime {
        let file = std::fs::File::options().write(true).open(&tmp).unwrap();
        file.set_modified(mtime).unwrap();
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// True when this process reads files whatever their mode (root, or CAP_DAC_OVERRIDE).
#[cfg(unix)]
fn permissions_are_bypassed(dir: &Path) -> bool {
    let probe = dir.join("probe");
    replace_with(&probe, b"x", 0o000, None);
    std::fs::read(&probe).is_ok()
}

/// A reload that fails is tried again at the next poll, and the next, until one succeeds, even
/// when nothing the old watch compared (size, modification time) changes meanwhile:
/// - the new certificate arrives at mode 000, and is made readable (`chmod 600`) later; root
///   reads a mode-000 file, so when the tests run as root this part cannot fail the load and
///   is replaced (said on stderr) by the next one alone;
/// - a damaged file is replaced by the new certificate with the same size and modification
///   time (the old watch saw no change and kept A forever).
#[cfg(unix)]
#[tokio::test]
async fn the_watch_retries_a_failed_reload_until_it_loads() {
    use std::os::unix::fs::PermissionsExt;
    let _one_at_a_time = SERIAL.lock().await;
    let a = subject("client");
    let b = subject("client-ec");
    let b_bytes = std::fs::read(server().cert("client-ec-pkcs8-aes256.pem")).unwrap();
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

        if permissions_are_bypassed(dir.path()) {
            eprintln!(
                "{backend}: this process reads mode-000 files (root): the unreadable-file case \
                 is covered by the damaged-file case below (to run it as root: setpriv \
                 --bounding-set -dac_override,-dac_read_search --inh-caps \
                 -dac_override,-dac_read_search <test binary>)"
            );
        } else {
            let loads = mongo_x509::tls::identity_loads();
            replace_with(&path, &b_bytes, 0o000, None);
            // Unreadable: the loads fail before the file is read (not counted); give the watch
            // several polls to try.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(mongo_x509::tls::identity_loads(), loads, "{backend}");
            assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            until_subject(&client, &b, &format!("{backend}, after chmod 600")).await;
            assert_eq!(on_a_new_connection(&client).await, b, "{backend}");
            // Back to A for the next case.
            replace(&path, "client-pkcs8-aes256.pem");
            until_subject(&client, &a, backend).await;
        }

        // A damaged file of the new certificate's size: the watch reads it and fails.
        let loads = mongo_x509::tls::identity_loads();
        let mut damaged = b_bytes.clone();
        let middle = damaged.len() / 2;
        damaged[middle..middle + 64].fill(b'#');
        replace_with(&path, &damaged, 0o600, None);
        until_loads(loads, 2, backend).await;
        assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
        // The good file, renamed over it with the same size and modification time.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        replace_with(&path, &b_bytes, 0o600, Some(mtime));
        until_subject(&client, &b, &format!("{backend}, after the damaged file")).await;
        assert_eq!(on_a_new_connection(&client).await, b, "{backend}");
        client.shutdown().await;
    }
}

/// The baseline is taken before the identity is first loaded: a file replaced between the load
/// and the watch's first poll is reloaded (the old watch took that replaced file as its
/// baseline and never loaded it). On this current-thread runtime the watch task cannot run
/// before the test yields, after the replacement.
#[tokio::test]
async fn a_change_while_the_client_is_created_is_not_missed() {
    let _one_at_a_time = SERIAL.lock().await;
    let a = subject("client");
    let b = subject("client-ec");
    for backend in common::backend_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let options = mongo_x509::options::ClientOptions::parse(client_for(
            &path,
            backend,
            "&tlsCertificateKeyFileWatchIntervalMS=100",
        ))
        .await
        .unwrap();
        let client = Client::with_options(options).unwrap();
        assert_eq!(client.client_subject(), Some(a.clone()), "{backend}");
        replace(&path, "client-ec-pkcs8-aes256.pem");
        until_subject(&client, &b, backend).await;
        assert_eq!(authenticated_user(&client).await, b, "{backend}");
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
