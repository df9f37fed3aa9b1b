//! A close right after the TLS handshake is called a refusal of the client certificate only
//! on evidence: a refusal alert, or the same close on a fresh connection.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::conn::establish::is_refusal_alert;

/// A server that closes the first `closes` connections on their `hello`, then serves.
async fn closing_server(closes: usize) -> FakeServer {
    let seen = AtomicUsize::new(0);
    FakeServer::start(move |cmd| {
        if cmd.contains_key("hello") {
            if seen.fetch_add(1, Ordering::SeqCst) < closes {
                return Reply::Close;
            }
            let mut r = hello_reply();
            r.insert(
                "speculativeAuthenticate",
                doc! {"dbname": "$external", "user": SUBJECT},
            );
            Reply::Doc(r)
        } else {
            Reply::Doc(doc! {"ok": 1})
        }
    })
    .await
}

#[tokio::test]
async fn one_close_after_the_handshake_is_not_called_a_refusal() {
    bounded(async {
        // A server restarting under the client: the fresh connection works.
        let server = closing_server(1).await;
        let opts = x509_opts(Some(fake_tls(Some(SUBJECT))), None);
        let conn = establish(&server.address, &opts, 40).await.unwrap();
        assert_eq!(conn.authenticated_user(), Some(SUBJECT));
        assert_eq!(server.accepted(), 2);
    })
    .await
}

#[tokio::test]
async fn the_same_close_on_a_fresh_connection_is_a_refusal() {
    bounded(async {
        let server = closing_server(usize::MAX).await;
        let opts = x509_opts(Some(fake_tls(Some(SUBJECT))), None);
        let err = establish(&server.address, &opts, 41).await.unwrap_err();
        let ErrorKind::TlsHandshake { reason, .. } = &*err.kind else {
            panic!("expected TlsHandshake, got {err:?}")
        };
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
        let err = establish(&server.address, &EstablishOptions::default(), 42)
            .await
            .unwrap_err();
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
