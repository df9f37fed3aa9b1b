//! Password users end to end against SecantusDB (TLS with the test client certificate, which the
//! server requires at the TLS layer, and `--auth`): SCRAM-SHA-256, SCRAM-SHA-1 and negotiation,
//! the Authentication specification's prose tests (users per mechanism, SASLprep), refusals,
//! and X.509 and SCRAM clients side by side.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::server::{server, SCRAM_USERS};
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::Client;

const TIMEOUTS: &str = "serverSelectionTimeoutMS=5000&connectTimeoutMS=5000";

fn password_of(user: &str) -> &'static str {
    SCRAM_USERS
        .iter()
        .find(|(name, _, _)| *name == user)
        .map(|(_, password, _)| *password)
        .unwrap_or_else(|| panic!("no SCRAM user {user} in tests/common/server.rs"))
}

/// `(user, db)` of the one authenticated user of a client connecting with `uri`.
async fn authenticated_as(uri: &str) -> Result<(String, String), Error> {
    let client = Client::with_uri_str(&format!("{uri}&{TIMEOUTS}")).await?;
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1 }),
    )
    .await
    .expect("connectionStatus must finish (error or not) within 20 s")?;
    Ok(who(&status))
}

fn who(status: &Document) -> (String, String) {
    let users = status
        .get_document("authInfo")
        .unwrap()
        .get_array("authenticatedUsers")
        .unwrap();
    assert_eq!(users.len(), 1, "{status}");
    let user = users[0].as_document().unwrap();
    (
        user.get_str("user").unwrap().to_owned(),
        user.get_str("db").unwrap().to_owned(),
    )
}

#[tokio::test]
async fn each_user_authenticates_with_each_of_its_mechanisms_and_by_negotiation() {
    let s = server();
    for (user, password, mechanisms) in &SCRAM_USERS[..3] {
        let mut extras: Vec<String> = mechanisms
            .iter()
            .map(|m| format!("authMechanism={m}"))
            .collect();
        // No mechanism: negotiated through saslSupportedMechs, SCRAM-SHA-256 if the user has it.
        extras.push(String::new());
        if *user == "scram-both" {
            // The source defaults to admin; naming it changes nothing.
            extras.push("authSource=admin".into());
        }
        for extra in extras {
            let got = authenticated_as(&s.password_uri(user, password, &extra))
                .await
                .unwrap_or_else(|e| panic!("{user} with {extra:?}: {e}"));
            assert_eq!(got, (user.to_string(), "admin".to_string()), "{extra:?}");
        }
    }
}

#[tokio::test]
async fn scram_sha256_works_over_each_tls_backend() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s.password_uri(
            "scram-both",
            password_of("scram-both"),
            &format!("authMechanism=SCRAM-SHA-256&tlsBackend={backend}"),
        );
        let got = authenticated_as(&uri)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(got.0, "scram-both", "{backend}");
    }
}

/// The Authentication spec's prose test step 3: a user with one SCRAM mechanism cannot use
/// the other; an unknown user negotiating fails like a wrong password, not as a handshake error.
#[tokio::test]
async fn a_mechanism_the_user_lacks_and_an_unknown_user_are_authentication_errors() {
    let s = server();
    for (user, other) in [
        ("scram-sha1", "SCRAM-SHA-256"),
        ("scram-sha256", "SCRAM-SHA-1"),
    ] {
        let uri = s.password_uri(user, password_of(user), &format!("authMechanism={other}"));
        let err = authenticated_as(&uri).await.unwrap_err();
        match &*err.kind {
            ErrorKind::Authentication {
                mechanism, user: u, ..
            } => {
                assert_eq!(mechanism, other);
                assert_eq!(u.as_deref(), Some(user));
            }
            k => panic!("{user} with {other}: expected an authentication error, got {k:?}"),
        }
    }
    let err = authenticated_as(&s.password_uri("nobody", "whatever-pw", ""))
        .await
        .unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::Authentication { user, .. } if user.as_deref() == Some("nobody")),
        "{err:?}"
    );
}

/// The Authentication spec's prose test step 4: SCRAM-SHA-256 passwords are SASLprep'd, so the
/// normalized and the non-normalized forms both work.
#[tokio::test]
async fn saslprep_accepts_both_forms_of_a_password() {
    let s = server();
    for (user, password, negotiated) in [
        ("IX", "IX", false),
        ("IX", "I\u{00AD}X", true),
        ("\u{2168}", "IV", false),
        ("\u{2168}", "I\u{00AD}V", true),
        ("\u{2168}", "\u{2163}", false),
    ] {
        let extras = if negotiated {
            &["authMechanism=SCRAM-SHA-256", ""][..]
        } else {
            &["authMechanism=SCRAM-SHA-256"][..]
        };
        for extra in extras {
            let got = authenticated_as(&s.password_uri(user, password, extra))
                .await
                .unwrap_or_else(|e| panic!("{user:?} / {password:?} / {extra:?}: {e}"));
            assert_eq!(got.0, user);
        }
    }
}

#[tokio::test]
async fn a_wrong_password_names_the_user_and_mechanism_but_never_the_password() {
    let s = server();
    for (extra, expected) in [
        ("authMechanism=SCRAM-SHA-256", "SCRAM-SHA-256"),
        ("authMechanism=SCRAM-SHA-1", "SCRAM-SHA-1"),
        ("", "SCRAM-SHA-256"),
    ] {
        let uri = s.password_uri("scram-both", "n0t-the-p4ssword", extra);
        let err = authenticated_as(&uri).await.unwrap_err();
        match &*err.kind {
            ErrorKind::Authentication {
                message,
                mechanism,
                user,
                code,
                subject,
            } => {
                assert_eq!(mechanism, expected, "{extra:?}");
                assert_eq!(user.as_deref(), Some("scram-both"));
                assert_eq!(*code, Some(18), "AuthenticationFailed: {message}");
                assert_eq!(*subject, None);
                assert!(
                    message.contains("scram-both") && message.contains(expected),
                    "{message}"
                );
            }
            k => panic!("{extra:?}: expected an authentication error, got {k:?}"),
        }
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("n0t-the-p4ssword"), "{shown}");
    }
}

/// Two clients in one process, one per mechanism, working at the same time: each connection is
/// who its client says.
#[tokio::test]
async fn x509_and_scram_clients_side_by_side() {
    let s = server();
    let x509 = Client::with_uri_str(&s.uri("client-pkcs8.pem", TIMEOUTS))
        .await
        .unwrap();
    let scram = Client::with_uri_str(&s.password_uri(
        "scram-both",
        password_of("scram-both"),
        &format!("maxPoolSize=3&{TIMEOUTS}"),
    ))
    .await
    .unwrap();
    let work = |client: Client, tag: &'static str| async move {
        let coll = client.database("side_by_side").collection::<Document>(tag);
        coll.drop().await.unwrap();
        // Concurrent inserts open several pooled connections, each authenticated.
        let inserts = (0..12).map(|i| {
            let coll = coll.clone();
            async move { coll.insert_one(doc! {"i": i, "by": tag}).await }
        });
        for r in futures_util::future::join_all(inserts).await {
            r.unwrap();
        }
        let mut docs: Vec<Document> = coll
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        docs.sort_by_key(|d| d.get_i32("i").unwrap());
        assert_eq!(docs.len(), 12, "{tag}");
        assert!(docs.iter().all(|d| d.get_str("by") == Ok(tag)));
        let status = client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1 })
            .await
            .unwrap();
        who(&status)
    };
    let (a, b) = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join(work(x509.clone(), "x509"), work(scram.clone(), "scram")),
    )
    .await
    .expect("both finish within 60 s");
    assert_eq!(
        a,
        (common::certs::subject("client"), "$external".to_owned())
    );
    assert_eq!(b, ("scram-both".to_owned(), "admin".to_owned()));
    // The SCRAM client opened more than one connection (each authenticated, the keys cached).
    let opened: u64 = scram
        .pool_stats()
        .iter()
        .map(|p| p.connections_created)
        .sum();
    assert!(opened > 1, "{:?}", scram.pool_stats());
}

/// What SecantusDB answers to PLAIN (it has no LDAP): a refusal, which the client reports as an
/// authentication error naming PLAIN. PLAIN itself is tested against the fake deployment
/// (tests/plain_auth.rs).
#[tokio::test]
async fn secantusdb_refuses_plain_and_the_client_says_so() {
    let s = server();
    let uri = s.password_uri(
        "scram-both",
        password_of("scram-both"),
        "authMechanism=PLAIN",
    );
    let err = authenticated_as(&uri).await.unwrap_err();
    let ErrorKind::Authentication {
        message,
        mechanism,
        code,
        ..
    } = &*err.kind
    else {
        panic!("expected an authentication error, got {err:?}")
    };
    assert_eq!(mechanism, "PLAIN");
    assert_eq!(*code, Some(18), "{message}");
    assert!(message.contains("PLAIN"), "{message}");
}
