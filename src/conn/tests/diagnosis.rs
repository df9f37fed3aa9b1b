//! A close right after the TLS handshake is called a refusal of the client certificate only
//! on evidence: a refusal alert, or the same close on a fresh connection.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::conn::establish::is_refusal_alert;

/// A server that closes the first `closes` connections on their `hello`, then serves X.509
/// clients (speculative authentication).
async fn closing_server(closes: usize) -> FakeServer {
    let seen = AtomicUsize::new(0);
    let x509 = x509_script(true, doc! {"ok": 1});
    FakeServer::start(move |cmd| {
        if cmd.contains_key("hello") && seen.fetch_add(1, Ordering::SeqCst) < closes {
            Reply::Close
        } else {
            x509(cmd)
        }
    })
    .await
}

#[tokio::test]
async fn one_close_after_the_handshake_is_not_called_a_refusal() {
    bounded(async {
        // A server restarting under the client: the fresh connection works.
        let server = closing_server(1).await;
        let conn = establish_x509(&server, 40).await.unwrap();
        assert_eq!(conn.authenticated_user(), Some(SUBJECT));
        assert_eq!(server.accepted(), 2);
    })
    .await
}

#[tokio::test]
async fn the_same_close_on_a_fresh_connection_is_a_refusal() {
    bounded(async {
        let server = closing_server(usize::MAX).await;
        let err = establish_x509(&server, 41).await.unwrap_err();
        let reason = tls_handshake_reason(&err);
        assert!(
            reason.contains("refused the client certificate")
                && reason.contains("fresh connection"),
            "{reason}"
        );
        assert_eq!(server.accepted(), 2);
    })
    .await
}

#[tokio::test]
async fn without_tls_a_close_is_a_plain_network_error() {
    bounded(async {
        let server = closing_server(usize::MAX).await;
        let err = establish_plain(&server, 42).await.unwrap_err();
        assert!(err.is_network_error(), "{err:?}");
        assert_eq!(server.accepted(), 1, "no second attempt without TLS");
    })
    .await
}

#[tokio::test]
async fn a_single_attempt_reports_the_close_as_a_network_error() {
    bounded(async {
        // Monitors: SDAM decides when the next check comes, so one connection per check.
        let server = closing_server(usize::MAX).await;
        let opts = EstablishOptions {
            single_attempt: true,
            ..x509_client()
        };
        let failure = establish_with_step(&server.address, &opts, 43)
            .await
            .unwrap_err();
        assert!(failure.error.is_network_error(), "{:?}", failure.error);
        assert!(failure.closed_after_tls);
        assert_eq!(server.accepted(), 1, "no second attempt");
    })
    .await
}

#[tokio::test]
async fn closes_on_the_hello_may_be_overload_even_once_diagnosed() {
    bounded(async {
        // CMAP backpressure: an end of file on the hello is I/O, whatever the diagnosis says.
        let server = closing_server(usize::MAX).await;
        let failure = establish_with_step(&server.address, &x509_client(), 44)
            .await
            .unwrap_err();
        assert!(tls_handshake_reason(&failure.error).contains("refused the client certificate"));
        assert!(failure.is_possible_overload());
        // Without TLS: a plain network error, labelled too.
        let failure = establish_with_step(&server.address, &EstablishOptions::default(), 45)
            .await
            .unwrap_err();
        assert!(failure.is_possible_overload());
    })
    .await
}

#[tokio::test]
async fn a_failed_name_lookup_or_authentication_is_no_overload() {
    bounded(async {
        let unknown = ServerAddress::Tcp {
            host: "no-such-host.invalid".into(),
            port: Some(27017),
        };
        let failure = establish_with_step(&unknown, &EstablishOptions::default(), 46)
            .await
            .unwrap_err();
        assert!(failure.error.is_network_error(), "{:?}", failure.error);
        assert!(!failure.is_possible_overload(), "{:?}", failure.error);
        // A close in the authentication step (after the hello).
        let server = FakeServer::start(|cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(doc! {"ok": 1, "isWritablePrimary": true, "maxWireVersion": 21})
            } else {
                Reply::Close
            }
        })
        .await;
        let failure = establish_with_step(&server.address, &x509_client(), 47)
            .await
            .unwrap_err();
        assert!(
            matches!(failure.step, EstablishStep::Authentication { .. }),
            "{failure:?}"
        );
        assert!(!failure.is_possible_overload());
    })
    .await
}

#[test]
fn refusal_alerts_are_recognized_in_the_backends_words() {
    for refusal in [
        "error:0A00045C:SSL routines::tlsv13 alert certificate required:ssl/record/rec_layer_s3.c",
        "sslv3 alert bad certificate",
        "tlsv1 alert unknown ca",
        "TLS alert: handshake failure",
    ] {
        assert!(is_refusal_alert(refusal), "{refusal}");
    }
    for other in [
        "Connection reset by peer (os error 104)",
        "unexpected end of file",
        "tlsv1 alert internal error",
    ] {
        assert!(!is_refusal_alert(other), "{other}");
    }
}
