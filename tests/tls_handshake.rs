//! Real TLS handshakes, each backend against a local OpenSSL server (in this test, in a thread)
//! that requires and verifies client certificates: every identity format, the chain, the
//! verification options, and the identity errors of the OpenSSL backend.

// With no backend compiled in, only the "no backend" test runs; the server helpers are unused.
#![cfg_attr(
    not(any(feature = "openssl", feature = "native-tls")),
    allow(dead_code, unused_imports)
)]

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::certs::{password, subject, test_certs};
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::options::{TlsBackendKind, TlsOptions};
use mongo_x509::tls::build_backend;
#[cfg(any(feature = "openssl", feature = "native-tls"))]
use mongo_x509::tls::identity_loads;
use openssl::x509::X509NameRef;
#[cfg(any(feature = "openssl", feature = "native-tls"))]
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server saw of one client.
#[derive(Debug)]
struct Seen {
    /// Subject of the client's leaf certificate (RFC 2253 order).
    leaf: String,
    /// Subjects of the other certificates the client sent (its chain, without the leaf).
    chain: Vec<String>,
}

/// A local TLS server: `server.pem`-like identity, client certificates required and verified
/// against `ca.pem` (the root only: a client signed by the intermediate must send it).
struct LocalServer {
    addr: SocketAddr,
    seen: mpsc::Receiver<Result<Seen, String>>,
}

impl LocalServer {
    fn start(server_pem: &str, ip: IpAddr) -> LocalServer {
        let acceptor = common::certs::client_cert_acceptor(server_pem);
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| {
            panic!("cannot listen on {ip} (is the loopback interface up?): {e}")
        });
        let addr = listener.local_addr().expect("local address");
        let (tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let report = match acceptor.accept(tcp) {
                    Ok(mut tls) => {
                        let ssl = tls.ssl();
                        let leaf = ssl.peer_certificate().map(|c| rfc2253(c.subject_name()));
                        // Server side, the peer chain does not include the leaf.
                        let chain = ssl
                            .peer_cert_chain()
                            .map(|s| s.iter().map(|c| rfc2253(c.subject_name())).collect())
                            .unwrap_or_default();
                        // A greeting: the client reads it, which also proves (TLS 1.3) that
                        // the server accepted its certificate.
                        let _ = std::io::Write::write_all(&mut tls, b"hello");
                        let _ = tls.shutdown();
                        match leaf {
                            Some(leaf) => Ok(Seen { leaf, chain }),
                            None => Err("no client certificate".to_owned()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                if tx.send(report).is_err() {
                    return; // the test is over
                }
            }
        });
        LocalServer { addr, seen }
    }

    /// What the server saw of the last client.
    fn seen(&self) -> Result<Seen, String> {
        self.seen
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| Err("the server saw no connection".to_owned()))
    }
}

/// `CN=client,OU=Apps,O=Acme,ST=NY,C=US` (enough for the test certificates' plain values).
fn rfc2253(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_owned();
            let value = String::from_utf8_lossy(e.data().as_slice());
            format!("{key}={value}")
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn cert(name: &str) -> PathBuf {
    test_certs().join(name)
}

fn base_options() -> TlsOptions {
    TlsOptions::builder().ca_file_path(cert("ca.pem")).build()
}

fn with_identity(file: &str, with_password: bool) -> TlsOptions {
    let mut opts = base_options();
    opts.cert_key_file_path = Some(cert(file));
    if with_password {
        opts.tls_certificate_key_file_password = Some(password());
    }
    opts
}

fn with_backend(mut opts: TlsOptions, backend: &TlsBackendKind) -> TlsOptions {
    opts.backend = Some(backend.clone());
    opts
}

/// Builds the backend, connects to `server` as `host`, and reads the server's greeting.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
async fn handshake(opts: &TlsOptions, host: &str, server: &LocalServer) -> Result<(), Error> {
    let backend = build_backend(opts)?;
    connect_with(&*backend, host, server.addr).await
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
async fn connect_with(
    backend: &dyn mongo_x509::tls::TlsBackend,
    host: &str,
    addr: SocketAddr,
) -> Result<(), Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = tokio::time::timeout(
        Duration::from_secs(10),
        backend.connect(host, Box::new(tcp)),
    )
    .await
    .map_err(|_| Error::internal("handshake timed out"))??;
    let mut greeting = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut greeting))
        .await
        .map_err(|_| Error::internal("read timed out"))??;
    assert_eq!(&greeting, b"hello");
    let _ = tls.shutdown().await;
    Ok(())
}

/// Identity loading is counted process-wide: tests that load identities hold this for reading,
/// the test that counts holds it for writing.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
static LOADS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// For async tests.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
async fn loading() -> tokio::sync::RwLockReadGuard<'static, ()> {
    LOADS.read().await
}

/// For tests outside a runtime.
#[cfg(feature = "openssl")]
fn loading_blocking() -> tokio::sync::RwLockReadGuard<'static, ()> {
    LOADS.blocking_read()
}

/// Every identity format in scripts/gen-test-certs.sh: (file, needs the password, subject name).
const FORMATS: &[(&str, bool, &str)] = &[
    ("client-pkcs8.pem", false, "client"),
    ("client-pkcs1.pem", false, "client"),
    ("client-key-first.pem", false, "client"),
    ("client-pkcs8-aes256.pem", true, "client"),
    ("client-pkcs8-aes192.pem", true, "client"),
    ("client-pkcs8-aes128-sha1.pem", true, "client"),
    ("client-pkcs8-des3.pem", true, "client"),
    ("client-pkcs8-scrypt.pem", true, "client"),
    ("client-pkcs8-pbes1.pem", true, "client"),
    ("client-legacy-aes256.pem", true, "client"),
    ("client-legacy-aes128.pem", true, "client"),
    ("client-legacy-des3.pem", true, "client"),
    ("client.p12", true, "client"),
    ("client-legacy.p12", true, "client"),
    ("client.pfx", true, "client"),
    ("client-ec-sec1.pem", false, "client-ec"),
    ("client-ec-pkcs8.pem", false, "client-ec"),
    ("client-ec-pkcs8-aes256.pem", true, "client-ec"),
    ("client-ec-legacy-aes256.pem", true, "client-ec"),
    ("client-ec.p12", true, "client-ec"),
    ("client-chain.pem", true, "client-chain"),
    ("client-chain.p12", true, "client-chain"),
];

const ROOT: &str = "CN=mongo-x509 Test Root CA,O=mongo-x509 Tests";
const INTERMEDIATE: &str = "CN=mongo-x509 Test Intermediate CA,O=mongo-x509 Tests";

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn every_format_handshakes_on_every_backend() {
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    let mut failures = Vec::new();
    for backend in common::backends() {
        for (file, needs_password, name) in FORMATS {
            let what = format!("{} / {file}", backend.name());
            let opts = with_backend(with_identity(file, *needs_password), &backend);
            let built = match build_backend(&opts) {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{what}: build failed: {e}"));
                    continue;
                }
            };
            assert_eq!(built.name(), backend.name(), "{what}");
            if built.client_subject() != Some(subject(name)) {
                failures.push(format!(
                    "{what}: client_subject() = {:?}, expected {}",
                    built.client_subject(),
                    subject(name)
                ));
            }
            if let Err(e) = connect_with(&*built, "localhost", server.addr).await {
                failures.push(format!("{what}: handshake failed: {e}"));
                let _ = server.seen();
                continue;
            }
            match server.seen() {
                Ok(seen) => {
                    if seen.leaf != subject(name) {
                        failures.push(format!("{what}: server saw leaf {}", seen.leaf));
                    }
                    let chain_file = name.contains("chain");
                    if chain_file && seen.chain != [INTERMEDIATE] {
                        failures.push(format!("{what}: server saw chain {:?}", seen.chain));
                    }
                    // Without intermediates in the file, OpenSSL may complete the chain from
                    // its trust store, i.e. send the root too.
                    if !chain_file && seen.chain.iter().any(|s| s != ROOT) {
                        failures.push(format!("{what}: unexpected chain {:?}", seen.chain));
                    }
                }
                Err(e) => failures.push(format!("{what}: server: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn in_memory_identity_and_ignored_password() {
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        // A password given for an unencrypted key is accepted and ignored.
        let opts = with_backend(with_identity("client-pkcs8.pem", true), &backend);
        handshake(&opts, "localhost", &server)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
        assert_eq!(server.seen().unwrap().leaf, subject("client"));

        for (file, name) in [
            ("client-pkcs8-aes256.pem", "client"),
            ("client-chain.p12", "client-chain"),
        ] {
            let mut opts = with_backend(base_options(), &backend);
            opts.cert_key_data = Some(std::fs::read(cert(file)).unwrap());
            opts.tls_certificate_key_file_password = Some(password());
            handshake(&opts, "localhost", &server)
                .await
                .unwrap_or_else(|e| panic!("{} / memory {file}: {e}", backend.name()));
            assert_eq!(server.seen().unwrap().leaf, subject(name));
        }
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn ip_literals_verify_against_ip_sans() {
    let _guard = loading().await;
    for ip in ["127.0.0.1", "::1"] {
        let server = LocalServer::start("server.pem", ip.parse().unwrap());
        for backend in common::backends() {
            let opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
            handshake(&opts, ip, &server)
                .await
                .unwrap_or_else(|e| panic!("{} to {ip}: {e}", backend.name()));
            assert_eq!(server.seen().unwrap().leaf, subject("client"));
        }
    }
}

fn assert_handshake_error(
    result: Result<(), Error>,
    what: &str,
    backend: &TlsBackendKind,
) -> String {
    let err = match result {
        Ok(()) => panic!("{what} ({}): the handshake must fail", backend.name()),
        Err(e) => e,
    };
    match &*err.kind {
        ErrorKind::TlsHandshake {
            backend: b, reason, ..
        } => {
            assert_eq!(*b, backend.name(), "{what}");
            reason.clone()
        }
        // native-tls reports some failures as I/O errors; the reason is in the message.
        ErrorKind::Io(_) if matches!(backend, TlsBackendKind::NativeTls) => err.to_string(),
        other => panic!(
            "{what} ({}): expected a TLS handshake error, got {other:?}",
            backend.name()
        ),
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn hostname_mismatch_fails_unless_allowed() {
    let _guard = loading().await;
    let server = LocalServer::start("server-wronghost.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
        let reason = assert_handshake_error(
            handshake(&opts, "localhost", &server).await,
            "hostname mismatch",
            &backend,
        );
        if matches!(backend, TlsBackendKind::OpenSsl) {
            assert!(
                reason.contains("does not name localhost")
                    && reason.contains("tlsAllowInvalidHostnames"),
                "{reason}"
            );
        }
        let _ = server.seen();

        let mut opts = opts.clone();
        opts.allow_invalid_hostnames = Some(true);
        handshake(&opts, "localhost", &server)
            .await
            .unwrap_or_else(|e| panic!("{} with allow_invalid_hostnames: {e}", backend.name()));
        assert_eq!(server.seen().unwrap().leaf, subject("client"));
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn unknown_ca_fails_unless_allowed() {
    let _guard = loading().await;
    let server = LocalServer::start("server-other-ca.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
        let reason = assert_handshake_error(
            handshake(&opts, "localhost", &server).await,
            "server signed by another CA",
            &backend,
        );
        if matches!(backend, TlsBackendKind::OpenSsl) {
            assert!(reason.contains("not signed by a trusted CA"), "{reason}");
        }
        let _ = server.seen();

        // Not even the host name is checked then.
        let mut opts = opts.clone();
        opts.allow_invalid_certificates = Some(true);
        handshake(&opts, "not-the-server.example", &server)
            .await
            .unwrap_or_else(|e| panic!("{} with allow_invalid_certificates: {e}", backend.name()));
        assert_eq!(server.seen().unwrap().leaf, subject("client"));
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn ca_file_trusts_only_its_cas() {
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let mut opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
        opts.ca_file_path = Some(cert("other-ca.pem"));
        let reason = assert_handshake_error(
            handshake(&opts, "localhost", &server).await,
            "tlsCAFile=other-ca.pem",
            &backend,
        );
        if matches!(backend, TlsBackendKind::OpenSsl) {
            assert!(reason.contains("not signed by a trusted CA"), "{reason}");
        }
        let _ = server.seen();
    }
}

/// A `tlsCAFile` may hold its certificate in DER; one with no certificate at all is refused
/// when the client is built, naming the file, on every backend alike.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn ca_file_in_der_and_ca_file_without_certificates() {
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let mut opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
        opts.ca_file_path = Some(cert("ca.der"));
        handshake(&opts, "localhost", &server)
            .await
            .unwrap_or_else(|e| panic!("{}: tlsCAFile=ca.der: {e}", backend.name()));
        server.seen().unwrap();

        opts.ca_file_path = Some(cert("client-keyonly.pem"));
        let err = build_backend(&opts).unwrap_err();
        match &*err.kind {
            ErrorKind::InvalidTlsConfig { message } => assert!(
                message.contains("client-keyonly.pem") && message.contains("no PEM certificate"),
                "{}: {message}",
                backend.name()
            ),
            other => panic!(
                "{}: expected InvalidTlsConfig, got {other:?}",
                backend.name()
            ),
        }
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn no_client_certificate_is_refused_by_the_server() {
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let opts = with_backend(base_options(), &backend);
        let built = build_backend(&opts).unwrap();
        assert_eq!(built.client_subject(), None);
        let reason = assert_handshake_error(
            connect_with(&*built, "localhost", server.addr).await,
            "no client certificate",
            &backend,
        );
        assert!(
            reason.contains("certificate"),
            "{}: {reason}",
            backend.name()
        );
        if matches!(backend, TlsBackendKind::OpenSsl) {
            assert!(
                reason.contains("requires a client certificate")
                    && reason.contains("tlsCertificateKeyFile"),
                "{reason}"
            );
        }
        assert!(server.seen().is_err());
    }
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn custom_backend_is_used_as_given() {
    let _guard = loading().await;
    let built = build_backend(&with_identity("client-pkcs8.pem", false)).unwrap();
    let mut opts = base_options();
    opts.backend = Some(TlsBackendKind::Custom(Arc::clone(&built)));
    // The file options are not read for a custom backend.
    opts.cert_key_file_path = Some(cert("does-not-exist.pem"));
    let again = build_backend(&opts).unwrap();
    assert!(Arc::ptr_eq(&built, &again));
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn default_backend_is_openssl_when_compiled() {
    let _guard = loading().await;
    let built = build_backend(&base_options()).unwrap();
    let expected = if cfg!(feature = "openssl") {
        "openssl"
    } else {
        "native-tls"
    };
    assert_eq!(built.name(), expected);
}

/// Fifty connections from one backend cost one identity load.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn fifty_connections_load_the_identity_once() {
    // Exclusive: no other test of this binary loads an identity meanwhile.
    let _guard = LOADS.write().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let before = identity_loads();
        let built = build_backend(&with_backend(
            with_identity("client-pkcs8-aes256.pem", true),
            &backend,
        ))
        .unwrap();
        for i in 0..50 {
            connect_with(&*built, "localhost", server.addr)
                .await
                .unwrap_or_else(|e| panic!("{} connection {i}: {e}", backend.name()));
            assert_eq!(server.seen().unwrap().leaf, subject("client"));
        }
        assert_eq!(identity_loads() - before, 1, "{}", backend.name());
    }
}

/// Selecting a backend that is not compiled in names the feature to enable.
#[cfg(not(all(feature = "openssl", feature = "native-tls")))]
#[test]
fn backend_not_compiled_names_its_feature() {
    let missing: Vec<(TlsBackendKind, &str)> = [
        (
            TlsBackendKind::OpenSsl,
            "`openssl` feature",
            cfg!(feature = "openssl"),
        ),
        (
            TlsBackendKind::NativeTls,
            "`native-tls` feature",
            cfg!(feature = "native-tls"),
        ),
    ]
    .into_iter()
    .filter(|(_, _, compiled)| !compiled)
    .map(|(kind, feature, _)| (kind, feature))
    .collect();
    assert!(!missing.is_empty());
    for (kind, feature) in missing {
        let err = build_backend(&with_backend(base_options(), &kind)).unwrap_err();
        match &*err.kind {
            ErrorKind::InvalidTlsConfig { message } => {
                assert!(message.contains(feature), "{message}")
            }
            other => panic!("expected InvalidTlsConfig, got {other:?}"),
        }
    }
}

#[cfg(not(any(feature = "openssl", feature = "native-tls")))]
#[test]
fn no_backend_compiled_names_the_features() {
    let err = build_backend(&base_options()).unwrap_err();
    match &*err.kind {
        ErrorKind::InvalidTlsConfig { message } => {
            assert!(
                message.contains("no TLS backend compiled in")
                    && message.contains("`openssl`")
                    && message.contains("`native-tls`"),
                "{message}"
            )
        }
        other => panic!("expected InvalidTlsConfig, got {other:?}"),
    }
}

/// The OpenSSL backend's identity errors: each bad input has its own kind, names the file and
/// never shows the password.
#[cfg(feature = "openssl")]
mod openssl_identity_errors {
    use super::*;
    use mongo_x509::error::{IdentityErrorKind, IdentitySource};

    fn error_for(opts: TlsOptions) -> (IdentityErrorKind, String) {
        let opts = with_backend(opts, &TlsBackendKind::OpenSsl);
        let err = match build_backend(&opts) {
            Ok(b) => panic!(
                "{:?}: expected an identity error, got {b:?}",
                opts.cert_key_file_path
            ),
            Err(e) => e,
        };
        let identity = err
            .as_identity_error()
            .unwrap_or_else(|| panic!("expected an identity error, got {err}"));
        let message = err.to_string();
        if let Some(path) = &opts.cert_key_file_path {
            assert_eq!(identity.origin, IdentitySource::File(path.clone()));
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        assert!(
            !message.contains("s3cr3t"),
            "the password leaked: {message}"
        );
        assert!(
            !message.contains("wrong horse"),
            "the password leaked: {message}"
        );
        (identity.kind.clone(), message)
    }

    fn file(name: &str, pass: Option<&[u8]>) -> TlsOptions {
        let mut opts = with_identity(name, false);
        opts.tls_certificate_key_file_password = pass.map(|p| p.to_vec());
        opts
    }

    const WRONG: &[u8] = b"wrong horse battery";

    #[test]
    fn wrong_password() {
        let _guard = loading_blocking();
        for name in [
            "client-pkcs8-aes256.pem",
            "client-pkcs8-scrypt.pem",
            "client-pkcs8-pbes1.pem",
            "client-legacy-des3.pem",
            "client-ec-legacy-aes256.pem",
            "client.p12",
            "client-legacy.p12",
        ] {
            let (kind, message) = error_for(file(name, Some(WRONG)));
            assert_eq!(kind, IdentityErrorKind::WrongPassword, "{name}: {message}");
        }
    }

    #[test]
    fn missing_password() {
        let _guard = loading_blocking();
        for (name, scheme) in [
            ("client-pkcs8-aes256.pem", "PKCS#8"),
            ("client-legacy-aes128.pem", "AES-128-CBC"),
            ("client.p12", "PKCS#12"),
            ("client-legacy.p12", "PKCS#12"),
        ] {
            let (kind, message) = error_for(file(name, None));
            match kind {
                IdentityErrorKind::PasswordRequired { scheme: s } => {
                    assert!(s.contains(scheme), "{name}: {s}")
                }
                other => panic!("{name}: expected PasswordRequired, got {other:?}: {message}"),
            }
        }
    }

    #[test]
    fn key_does_not_match_the_certificate() {
        let _guard = loading_blocking();
        let (kind, message) = error_for(file("client-wrongkey.pem", None));
        assert_eq!(
            kind,
            IdentityErrorKind::KeyMismatch {
                subject: subject("client")
            },
            "{message}"
        );
    }

    #[test]
    fn certificate_only_and_key_only() {
        let _guard = loading_blocking();
        let (kind, message) = error_for(file("client-certonly.pem", None));
        assert!(
            matches!(kind, IdentityErrorKind::NoPrivateKey { .. }),
            "{message}"
        );
        let (kind, message) = error_for(file("client-keyonly.pem", None));
        assert!(
            matches!(kind, IdentityErrorKind::NoCertificate { .. }),
            "{message}"
        );
    }

    #[test]
    fn damaged_and_unrecognised_files() {
        let _guard = loading_blocking();
        let (kind, message) = error_for(file("client-truncated.pem", Some(&password())));
        assert!(
            matches!(kind, IdentityErrorKind::Malformed { .. }),
            "{message}"
        );
        for name in ["garbage.pem", "garbage.p12"] {
            let (kind, message) = error_for(file(name, Some(&password())));
            assert!(
                matches!(kind, IdentityErrorKind::UnsupportedFormat { .. }),
                "{name}: {message}"
            );
        }
    }

    #[test]
    fn missing_file() {
        let _guard = loading_blocking();
        let (kind, message) = error_for(file("does-not-exist.pem", None));
        assert!(
            matches!(kind, IdentityErrorKind::Unreadable { .. }),
            "{message}"
        );
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let _guard = loading_blocking();
        let (kind, message) = error_for(file("client-expired.pem", None));
        match kind {
            IdentityErrorKind::CertificateExpired { not_after, .. } => {
                assert!(not_after.starts_with("2021-01-01"), "{not_after}")
            }
            other => panic!("expected CertificateExpired, got {other:?}: {message}"),
        }
        let (kind, message) = error_for(file("client-notyet.pem", None));
        match kind {
            IdentityErrorKind::CertificateNotYetValid { not_before, .. } => {
                assert!(not_before.starts_with("2090-01-01"), "{not_before}")
            }
            other => panic!("expected CertificateNotYetValid, got {other:?}: {message}"),
        }
    }

    /// A legacy PKCS#12 (RC2-40 certificates, 3DES key) is decoded in Rust: loading it leaves
    /// OpenSSL's default library context as it was (RC2 still not fetchable there, the default
    /// provider still working), and it loads even where OpenSSL has no provider modules at all.
    /// Process-wide state, so each case runs `legacy_pkcs12_child` in a child process.
    #[test]
    fn legacy_pkcs12_leaves_the_default_library_context_alone() {
        for modules in [None, Some("/nonexistent/ossl-modules")] {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child.args([
                "--exact",
                "openssl_identity_errors::legacy_pkcs12_child",
                "--ignored",
                "--nocapture",
            ]);
            if let Some(dir) = modules {
                child.env("OPENSSL_MODULES", dir);
            }
            let output = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "child ({modules:?}) failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    #[test]
    #[ignore = "run by legacy_pkcs12_leaves_the_default_library_context_alone"]
    fn legacy_pkcs12_child() {
        use openssl::cipher::Cipher;
        // Whether this machine could give RC2 at all: asked in a private context, which leaves
        // the default one untouched.
        let private = openssl::lib_ctx::LibCtx::new().unwrap();
        let legacy_installed =
            openssl::provider::Provider::try_load(Some(&private), "legacy", true).is_ok();
        assert!(Cipher::fetch(None, "RC2-40-CBC", None).is_err());
        for file in ["client-legacy.p12", "client.p12", "client-pkcs8-pbes1.pem"] {
            let backend = build_backend(&with_backend(
                with_identity(file, true),
                &TlsBackendKind::OpenSsl,
            ))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(backend.client_subject(), Some(subject("client")), "{file}");
        }
        assert!(
            Cipher::fetch(None, "RC2-40-CBC", None).is_err(),
            "loading a legacy PKCS#12 made RC2 available in the default library context \
             (legacy provider installed: {legacy_installed})"
        );
        assert!(Cipher::fetch(None, "AES-256-CBC", None).is_ok());
        println!("legacy provider installed on this machine: {legacy_installed}");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let _guard = loading_blocking();
        let backend = build_backend(&with_backend(
            with_identity("client-pkcs8-aes256.pem", true),
            &TlsBackendKind::OpenSsl,
        ))
        .unwrap();
        let debug = format!("{backend:?}");
        assert!(debug.contains(&subject("client")), "{debug}");
        assert!(
            !debug.contains("PRIVATE") && !debug.contains("s3cr3t"),
            "{debug}"
        );
    }

    #[test]
    fn unreadable_ca_file_is_a_tls_config_error() {
        let mut opts = with_backend(base_options(), &TlsBackendKind::OpenSsl);
        opts.ca_file_path = Some(cert("does-not-exist.pem"));
        let err = build_backend(&opts).unwrap_err();
        match &*err.kind {
            ErrorKind::InvalidTlsConfig { message } => {
                assert!(message.contains("tlsCAFile"), "{message}")
            }
            other => panic!("expected InvalidTlsConfig, got {other:?}"),
        }
    }
}

/// `tlsCRLFile` on the OpenSSL backend: a revoked server certificate fails the handshake with a
/// reason that says so; an unrevoked one passes; `tlsDisableCertificateRevocationCheck=true`
/// turns the check off.
#[cfg(feature = "openssl")]
#[tokio::test]
async fn crl_file_refuses_a_revoked_server_certificate() {
    let _guard = loading().await;
    let backend = TlsBackendKind::OpenSsl;
    let mut opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
    opts.crl_file_path = Some(cert("crl.pem"));

    let revoked = LocalServer::start("server-revoked.pem", "127.0.0.1".parse().unwrap());
    let reason = assert_handshake_error(
        handshake(&opts, "localhost", &revoked).await,
        "revoked server certificate",
        &backend,
    );
    assert!(reason.contains("revoked"), "{reason}");
    assert!(reason.contains("tlsCRLFile"), "{reason}");
    let _ = revoked.seen();

    let good = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    handshake(&opts, "localhost", &good)
        .await
        .expect("an unrevoked server certificate passes the CRL check");
    assert_eq!(good.seen().unwrap().leaf, subject("client"));

    let mut unchecked = opts.clone();
    unchecked.disable_certificate_revocation_check = Some(true);
    handshake(&unchecked, "localhost", &revoked)
        .await
        .expect("tlsDisableCertificateRevocationCheck=true ignores tlsCRLFile");
    let _ = revoked.seen();
}

/// The CRL and CA files are split in Rust: an encrypted block in them never reaches OpenSSL's
/// default password callback (a terminal prompt). In a CRL file it is refused; in a CA file it
/// is skipped like any block that is not a certificate.
#[cfg(feature = "openssl")]
#[test]
fn encrypted_blocks_in_crl_and_ca_files_never_prompt() {
    let _guard = loading_blocking();
    let mut opts = with_backend(base_options(), &TlsBackendKind::OpenSsl);
    opts.crl_file_path = Some(cert("crl-encrypted-block.pem"));
    let err = build_backend(&opts).unwrap_err();
    match &*err.kind {
        ErrorKind::InvalidTlsConfig { message } => {
            assert!(
                message.contains("tlsCRLFile") && message.contains("encrypted"),
                "{message}"
            )
        }
        other => panic!("expected InvalidTlsConfig, got {other:?}"),
    }
    let mut opts = with_backend(base_options(), &TlsBackendKind::OpenSsl);
    opts.ca_file_path = Some(cert("ca-with-encrypted-key.pem"));
    build_backend(&opts).expect("the CA certificate is used, the key block skipped");
    let mut opts = with_backend(base_options(), &TlsBackendKind::OpenSsl);
    opts.crl_file_path = Some(cert("does-not-exist.crl"));
    let err = build_backend(&opts).unwrap_err();
    assert!(err.to_string().contains("tlsCRLFile"), "{err}");
}

/// Every file reader, run on a terminal: `script` (util-linux) gives the child test a pty, as
/// an interactive shell would. OpenSSL's default password callback prompts on `/dev/tty`
/// ("Enter PEM pass phrase:") and blocks; no reader of this crate may reach it. A control run
/// calls that default callback on purpose, to show that the harness sees a prompt.
#[cfg(all(unix, any(feature = "openssl", feature = "native-tls")))]
#[test]
fn no_file_reader_prompts_on_a_terminal() {
    let run = |child: &str, seconds: u32| {
        let exe = std::env::current_exe().unwrap();
        let command = format!(
            "{} --exact {child} --ignored --nocapture --test-threads 1",
            exe.display()
        );
        let started = std::time::Instant::now();
        // `timeout` ends a child that blocks on its prompt (the pty keeps waiting for a line).
        let output = std::process::Command::new("timeout")
            .args([
                &seconds.to_string(),
                "script",
                "-qec",
                &command,
                "/dev/null",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("`script` (util-linux) and `timeout` (coreutils) are needed for this test");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text, started.elapsed())
    };
    let (_, control, _) = run("pty_control_default_callback_prompts", 5);
    assert!(
        control.contains("Enter PEM pass phrase"),
        "the control run did not prompt: the harness cannot see a prompt\n{control}"
    );
    let (code, text, elapsed) = run("pty_child_every_file_reader", 60);
    assert!(
        !text.contains("Enter PEM pass phrase") && !text.to_lowercase().contains("pass phrase"),
        "a file reader prompted on the terminal:\n{text}"
    );
    assert!(
        code == Some(0) && text.contains("every file reader returned"),
        "the child failed or blocked (exit {code:?}, {elapsed:?}):\n{text}"
    );
    assert!(elapsed < Duration::from_secs(50), "{elapsed:?}");
}

/// Run by `no_file_reader_prompts_on_a_terminal` under a pty: OpenSSL's own PEM reader with
/// the default callback, on an encrypted key, prompts.
#[cfg(all(unix, any(feature = "openssl", feature = "native-tls")))]
#[test]
#[ignore = "run by no_file_reader_prompts_on_a_terminal"]
fn pty_control_default_callback_prompts() {
    let pem = std::fs::read(cert("client-legacy-aes256.pem")).unwrap();
    // Blocks on the prompt until the parent's `timeout` ends it.
    let _ = openssl::pkey::PKey::private_key_from_pem(&pem);
}

/// Run by `no_file_reader_prompts_on_a_terminal` under a pty: every file the crate reads, on
/// every backend, with encrypted blocks where a prompt could come from (CA file, CRL file,
/// identities without a password, with a wrong one).
#[cfg(all(unix, any(feature = "openssl", feature = "native-tls")))]
#[test]
#[ignore = "run by no_file_reader_prompts_on_a_terminal"]
fn pty_child_every_file_reader() {
    // OpenSSL's PEM readers prompt for any block with `Proc-Type: 4,ENCRYPTED`, certificates
    // and CRLs included: a CA file and a CRL file with such a block each.
    let dir = tempfile::tempdir().unwrap();
    let encrypted = |file: &str, label: &str| {
        let text = std::fs::read_to_string(cert(file)).unwrap();
        let begin = format!("-----BEGIN {label}-----\n");
        let headers =
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n";
        let path = dir.path().join(format!("encrypted-{file}"));
        std::fs::write(
            &path,
            text.replacen(&begin, &format!("{begin}{headers}"), 1),
        )
        .unwrap();
        path
    };
    let ca_files = [
        cert("ca-with-encrypted-key.pem"),
        encrypted("ca.pem", "CERTIFICATE"),
    ];
    let crl_files = [
        cert("crl-encrypted-block.pem"),
        encrypted("crl.pem", "X509 CRL"),
    ];
    for backend in common::backends() {
        for (i, ca) in ca_files.iter().enumerate() {
            let mut opts = with_backend(base_options(), &backend);
            opts.ca_file_path = Some(ca.clone());
            // An encrypted block is skipped: the key block, and the only certificate (then
            // the file holds no certificate).
            assert_eq!(build_backend(&opts).is_ok(), i == 0, "{}", ca.display());
        }
        if matches!(backend, TlsBackendKind::OpenSsl) {
            for crl in &crl_files {
                let mut opts = with_backend(base_options(), &backend);
                opts.crl_file_path = Some(crl.clone());
                assert!(build_backend(&opts).is_err(), "{}", crl.display());
            }
        }
        for file in [
            "client-legacy-aes256.pem",
            "client-ec-legacy-aes256.pem",
            "client-pkcs8-aes256.pem",
            "client-pkcs8-scrypt.pem",
            "client-pkcs8-pbes1.pem",
            "client-chain.pem",
            "client.p12",
            "client-legacy.p12",
        ] {
            for password in [None, Some(b"wrong".to_vec())] {
                let mut opts = with_backend(with_identity(file, false), &backend);
                opts.tls_certificate_key_file_password = password;
                assert!(build_backend(&opts).is_err(), "{file} loaded");
            }
        }
    }
    println!("every file reader returned");
}

/// native-tls has no CRL API: the option is refused when the backend is built, naming the
/// OpenSSL backend.
#[cfg(feature = "native-tls")]
#[test]
fn native_tls_refuses_crl_file() {
    let mut opts = with_backend(base_options(), &TlsBackendKind::NativeTls);
    opts.crl_file_path = Some(cert("crl.pem"));
    let err = build_backend(&opts).unwrap_err();
    match &*err.kind {
        ErrorKind::InvalidTlsConfig { message } => assert!(
            message.contains("tlsCRLFile") && message.contains("OpenSSL backend"),
            "{message}"
        ),
        other => panic!("expected InvalidTlsConfig, got {other:?}"),
    }
}

/// A file with two private keys is one clear error, on every backend.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[test]
fn several_private_keys_are_refused_on_every_backend() {
    use mongo_x509::error::IdentityErrorKind;
    for backend in common::backends() {
        let opts = with_backend(with_identity("client-twokeys.pem", false), &backend);
        let err = build_backend(&opts).unwrap_err();
        match err.as_identity_error().map(|e| &e.kind) {
            Some(IdentityErrorKind::SeveralPrivateKeys { count: 2, .. }) => {}
            other => panic!(
                "{}: expected SeveralPrivateKeys, got {other:?}",
                backend.name()
            ),
        }
        assert!(err.to_string().contains("client-twokeys.pem"), "{err}");
    }
}

/// Reloading through the backend: the subject follows the file, a failed reload keeps the
/// current identity, and a handshake after each step presents the right certificate.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn reload_swaps_the_identity_and_keeps_it_on_failure() {
    use mongo_x509::error::IdentityErrorKind;
    let _guard = loading().await;
    let server = LocalServer::start("server.pem", "127.0.0.1".parse().unwrap());
    for backend in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.pem");
        std::fs::copy(cert("client-pkcs8-aes256.pem"), &path).unwrap();
        let mut opts = with_backend(base_options(), &backend);
        opts.cert_key_file_path = Some(path.clone());
        opts.tls_certificate_key_file_password = Some(password());
        let built = build_backend(&opts).unwrap();
        assert_eq!(built.client_subject(), Some(subject("client")));

        for (file, expected) in [
            ("client-truncated.pem", "Malformed"),
            ("client-otherpass.pem", "WrongPassword"),
            ("client-wrongkey.pem", "KeyMismatch"),
        ] {
            std::fs::copy(cert(file), &path).unwrap();
            let err = built.reload_identity().await.unwrap_err();
            let kind = err.as_identity_error().map(|e| e.kind.clone());
            assert!(
                format!("{kind:?}").contains(expected),
                "{}: {file}: {err}",
                backend.name()
            );
            assert!(!matches!(kind, Some(IdentityErrorKind::Rejected { .. })));
            assert_eq!(built.client_subject(), Some(subject("client")));
            connect_with(&*built, "localhost", server.addr)
                .await
                .unwrap();
            assert_eq!(server.seen().unwrap().leaf, subject("client"));
        }

        std::fs::copy(cert("client-ec-pkcs8-aes256.pem"), &path).unwrap();
        built.reload_identity().await.unwrap();
        assert_eq!(built.client_subject(), Some(subject("client-ec")));
        connect_with(&*built, "localhost", server.addr)
            .await
            .unwrap();
        assert_eq!(server.seen().unwrap().leaf, subject("client-ec"));
    }
}

/// A client certificate that expires within `cert_expiry_warning` (default 7 days) is loaded
/// with a `tracing` warning naming its subject; one that does not, without.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[test]
fn expiry_within_the_window_logs_a_warning() {
    fn logs_of(opts: &TlsOptions) -> String {
        common::logs::with_logs(tracing::Level::WARN, || build_backend(opts).unwrap()).1
    }
    for backend in common::backends() {
        // The test certificates are valid for 825 days: inside a 1000-day window, outside the
        // default 7 days.
        let mut opts = with_backend(with_identity("client-pkcs8.pem", false), &backend);
        assert!(!logs_of(&opts).contains("expires"), "{}", backend.name());
        opts.cert_expiry_warning = Some(Duration::from_secs(1000 * 24 * 3600));
        let logs = logs_of(&opts);
        assert!(
            logs.contains("WARN") && logs.contains("expires in") && logs.contains("CN=client"),
            "{}: {logs}",
            backend.name()
        );
    }
}
