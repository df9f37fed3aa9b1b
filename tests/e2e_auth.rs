//! End to end against SecantusDB (TLS, required client certificates, --auth): who gets in, who
//! does not, and what they are told.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::{enc, server};
use mongo_x509::bson::doc;
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::Client;

/// Runs `ping` with a short server selection timeout, so a failure never takes 30 s.
async fn ping(uri: &str) -> Result<(), Error> {
    let uri = format!("{uri}&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000");
    let client = Client::with_uri_str(&uri).await?;
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        client.database("admin").run_command(doc! { "ping": 1 }),
    )
    .await
    .expect("ping must finish (error or not) within 20 s");
    result.map(|_| ())
}

#[tokio::test]
async fn a_known_certificate_authenticates_as_its_subject() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s.uri("client-pkcs8-aes256.pem", &format!("tlsBackend={backend}"));
        let client = Client::with_uri_str(&uri).await.unwrap();
        assert_eq!(client.tls_backend_name(), Some(backend));
        let status = client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1 })
            .await
            .unwrap();
        let users = status
            .get_document("authInfo")
            .unwrap()
            .get_array("authenticatedUsers")
            .unwrap();
        assert_eq!(users.len(), 1, "{backend}: {status}");
        let user = users[0].as_document().unwrap();
        assert_eq!(
            user.get_str("user").unwrap(),
            common::certs::subject("client")
        );
        assert_eq!(user.get_str("db").unwrap(), "$external");
    }
}

#[tokio::test]
async fn a_certificate_without_a_user_gets_an_authentication_error_naming_its_subject() {
    let s = server();
    let stranger = common::certs::subject("stranger");
    for backend in common::backend_names() {
        let err = ping(&s.uri("stranger.pem", &format!("tlsBackend={backend}")))
            .await
            .unwrap_err();
        match &*err.kind {
            ErrorKind::Authentication {
                message,
                mechanism,
                user,
                code,
                subject,
            } => {
                assert_eq!(mechanism, "MONGODB-X509", "{backend}");
                assert_eq!(user.as_deref(), Some(stranger.as_str()), "{backend}");
                assert_eq!(subject.as_deref(), Some(stranger.as_str()), "{backend}");
                assert_eq!(*code, Some(18), "{backend}: AuthenticationFailed");
                assert!(message.contains(&stranger), "{backend}: {message}");
                assert!(message.contains("$external"), "{backend}: hint: {message}");
            }
            other => panic!("{backend}: expected an authentication error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_username_that_differs_from_the_certificate_is_refused() {
    let s = server();
    let uri = s.uri("client-pkcs8.pem", "").replace(
        "mongodb://",
        &format!("mongodb://{}@", enc(&common::certs::subject("client-ec"))),
    );
    let err = ping(&uri).await.unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::Authentication { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_username_may_be_given_and_must_then_be_the_subject() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s
            .uri("client-pkcs8.pem", &format!("tlsBackend={backend}"))
            .replace(
                "mongodb://",
                &format!("mongodb://{}@", enc(&common::certs::subject("client"))),
            );
        ping(&uri)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

#[tokio::test]
async fn no_client_certificate_fails_the_handshake_and_says_the_server_wants_one() {
    let s = server();
    for backend in common::backend_names() {
        // TLS with the right CA but no certificate and no X.509: the server refuses the handshake.
        let uri = format!(
            "mongodb://{}/?tls=true&tlsCAFile={}&tlsBackend={backend}",
            s.host(),
            enc(&s.cert("ca.pem").to_string_lossy())
        );
        let err = ping(&uri).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&*err.kind, ErrorKind::TlsHandshake { .. }),
            "{backend}: {err:?}"
        );
        assert!(
            text.contains("client certificate") || text.contains("tlsCertificateKeyFile"),
            "{backend}: the error should say a client certificate is needed: {text}"
        );
    }
}

#[tokio::test]
async fn x509_without_a_client_certificate_is_refused_before_connecting() {
    let s = server();
    let uri = format!(
        "mongodb://{}/?tls=true&tlsCAFile={}&authMechanism=MONGODB-X509",
        s.host(),
        enc(&s.cert("ca.pem").to_string_lossy())
    );
    let err = ping(&uri).await.unwrap_err();
    assert!(
        err.to_string().contains("tlsCertificateKeyFile"),
        "the error should say which option is missing: {err}"
    );
}

#[tokio::test]
async fn x509_without_tls_is_refused() {
    let s = server();
    let uri = format!("mongodb://{}/?authMechanism=MONGODB-X509", s.host());
    let err = ping(&uri).await.unwrap_err();
    assert!(err.to_string().contains("tls"), "{err}");
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused_unless_allowed() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s
            .uri("client-pkcs8.pem", &format!("tlsBackend={backend}"))
            .replace(
                &enc(&s.cert("ca.pem").to_string_lossy()),
                &enc(&s.cert("other-ca.pem").to_string_lossy()),
            );
        let err = ping(&uri).await.unwrap_err();
        assert!(
            err.to_string().contains("tlsCAFile"),
            "{backend}: the error should point at tlsCAFile: {err}"
        );
        ping(&format!("{uri}&tlsAllowInvalidCertificates=true"))
            .await
            .unwrap_or_else(|e| panic!("{backend}: allowed invalid certificates: {e}"));
    }
}

#[tokio::test]
async fn a_server_certificate_for_another_host_is_refused_unless_allowed() {
    let s = server();
    for backend in common::backend_names() {
        // ::ffff:127.0.0.1 reaches the server (IPv4-mapped) but is not in its certificate.
        let uri = s
            .uri("client-pkcs8.pem", &format!("tlsBackend={backend}"))
            .replace(&s.host(), &format!("[::ffff:127.0.0.1]:{}", s.port));
        let err = ping(&uri).await.unwrap_err();
        assert!(
            err.to_string().contains("tlsAllowInvalidHostnames"),
            "{backend}: the error should name the host mismatch and its option: {err}"
        );
        ping(&format!("{uri}&tlsAllowInvalidHostnames=true"))
            .await
            .unwrap_or_else(|e| panic!("{backend}: allowed invalid host names: {e}"));
    }
}

#[tokio::test]
async fn ip_literals_verify_against_the_certificate() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s
            .uri("client-pkcs8.pem", &format!("tlsBackend={backend}"))
            .replace(&s.host(), &format!("127.0.0.1:{}", s.port));
        ping(&uri)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

#[tokio::test]
async fn a_wrong_key_password_is_reported_when_the_client_is_created() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s
            .uri("client-pkcs8-aes256.pem", &format!("tlsBackend={backend}"))
            .replace(
                &enc(&String::from_utf8(common::certs::password()).unwrap()),
                "not-the-password",
            );
        let err = Client::with_uri_str(&uri).await.unwrap_err();
        let id = err
            .as_identity_error()
            .unwrap_or_else(|| panic!("{backend}: expected an identity error, got {err:?}"));
        assert_eq!(
            id.kind,
            mongo_x509::error::IdentityErrorKind::WrongPassword,
            "{backend}"
        );
        assert!(err.to_string().contains("client-pkcs8-aes256.pem"), "{err}");
        assert!(!err.to_string().contains("not-the-password"), "{err}");
    }
}

/// A user's own backend (here: one that wraps a built-in backend and counts handshakes) carries
/// X.509 end to end: the connection layer only sees the trait.
#[tokio::test]
async fn a_custom_backend_is_used_as_given() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use mongo_x509::options::{ClientOptions, Tls, TlsBackendKind};
    use mongo_x509::tls::{async_trait, build_backend, BoxStream, TlsBackend};

    #[derive(Debug)]
    struct Counting {
        inner: Arc<dyn TlsBackend>,
        handshakes: AtomicUsize,
    }

    #[async_trait]
    impl TlsBackend for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn client_subject(&self) -> Option<String> {
            self.inner.client_subject()
        }
        async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream, Error> {
            self.handshakes.fetch_add(1, Ordering::SeqCst);
            self.inner.connect(host, stream).await
        }
    }

    let s = server();
    let parsed = ClientOptions::parse(s.uri("client-chain.pem", ""))
        .await
        .unwrap();
    let inner = build_backend(parsed.tls_options().unwrap()).unwrap();
    let counting = Arc::new(Counting {
        inner,
        handshakes: AtomicUsize::new(0),
    });
    let mut options = parsed.clone();
    let Some(Tls::Enabled(tls)) = &mut options.tls else {
        unreachable!("the URI enables TLS")
    };
    tls.backend = Some(TlsBackendKind::Custom(counting.clone()));
    let client = Client::with_options(options).unwrap();
    assert_eq!(client.tls_backend_name(), Some("counting"));
    let status = client
        .database("admin")
        .run_command(doc! { "connectionStatus": 1 })
        .await
        .unwrap();
    let user = status
        .get_document("authInfo")
        .and_then(|a| a.get_array("authenticatedUsers"))
        .unwrap()[0]
        .as_document()
        .unwrap()
        .get_str("user")
        .unwrap()
        .to_owned();
    assert_eq!(user, common::certs::subject("client-chain"));
    assert!(counting.handshakes.load(Ordering::SeqCst) >= 1);
}
