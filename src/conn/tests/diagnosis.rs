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
