//! PLAIN (LDAP proxy authentication) end to end against the fake deployment: SecantusDB has
//! no LDAP and refuses PLAIN ("Unsupported SASL mechanism: 'PLAIN'", code 18), so a fake mongos
//! configured with LDAP users (tests/common/fake_deployment.rs) plays the server, over TLS with
//! the client certificate, as a real deployment would be reached.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::Duration;

use common::fake_deployment::{FakeMongos, FakeOptions};
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::Client;

const USER: &str = "ldap-user";
const PASSWORD: &str = "s3cr3t p@ss";

fn fake(plain_users: &[(&str, &str)]) -> FakeMongos {
    FakeMongos::start(
        1,
        FakeOptions {
            plain_users: plain_users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            ..FakeOptions::default()
        },
    )
}

/// A PLAIN connection string for `user:password` (percent-encoded), TLS with the test client
/// certificate, short timeouts.
fn uri(fake: &FakeMongos, user: &str, password: &str) -> String {
    fake.uri(
        "client-pkcs8.pem",
        "serverSelectionTimeoutMS=5000&heartbeatFrequencyMS=60000",
    )
    .replace("authMechanism=MONGODB-X509", "authMechanism=PLAIN")
    .replace(
        "mongodb://",
        &format!(
            "mongodb://{}:{}@",
            common::server::enc(user),
            common::server::enc(password)
        ),
    )
}

/// An insert and a find, which the fake refuses until the connection has authenticated.
async fn crud(uri: &str) -> Result<Option<Document>, Error> {
    let client = Client::with_uri_str(uri).await?;
    let coll = client.database("shop").collection::<Document>("items");
    let work = async {
        coll.insert_one(doc! {"_id": 1, "by": USER}).await?;
        coll.find_one(doc! {"_id": 1}).await
    };
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .expect("finishes (error or not) within 20 s")
}

#[tokio::test]
async fn an_ldap_user_authenticates_with_one_sasl_start_on_external() {
    let fake = fake(&[(USER, PASSWORD), ("other", "x")]);
    let found = crud(&uri(&fake, USER, PASSWORD)).await.unwrap();
    assert_eq!(found, Some(doc! {"_id": 1, "by": USER}));
    let stats = fake.stats(0);
    assert!(stats.authentications.iter().all(|u| u == USER), "{stats:?}");
    assert_eq!(
        stats.authentications.len() as u64,
        stats.count("saslStart"),
        "every saslStart succeeded"
    );
    assert!(stats.count("saslStart") >= 1);
    assert_eq!(stats.count("saslContinue"), 0, "one message");
    assert_eq!(stats.count("authenticate"), 0);
    for cmd in &stats.command_log {
        if cmd.contains_key("saslStart") {
            assert_eq!(cmd.get_str("$db").unwrap(), "$external", "{cmd}");
            assert_eq!(cmd.get_str("mechanism").unwrap(), "PLAIN");
        }
        if cmd.contains_key("hello") {
            assert!(
                !cmd.contains_key("speculativeAuthenticate")
                    && !cmd.contains_key("saslSupportedMechs"),
                "PLAIN has no speculative form: {cmd}"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error_naming_plain_and_the_user() {
    let fake = fake(&[(USER, PASSWORD)]);
    let err = crud(&uri(&fake, USER, "wr0ng-pw")).await.unwrap_err();
    match &*err.kind {
        ErrorKind::Authentication {
            message,
            mechanism,
            user,
            code,
            ..
        } => {
            assert_eq!(mechanism, "PLAIN");
            assert_eq!(user.as_deref(), Some(USER));
            assert_eq!(*code, Some(18));
            assert!(message.contains("LDAP"), "a hint: {message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("wr0ng-pw"));
    assert!(fake.stats(0).authentications.is_empty());
}

#[tokio::test]
async fn a_server_without_ldap_refuses_plain_as_not_enabled() {
    let fake = fake(&[]);
    let err = crud(&uri(&fake, USER, PASSWORD)).await.unwrap_err();
    let ErrorKind::Authentication { message, code, .. } = &*err.kind else {
        panic!("expected an authentication error, got {err:?}")
    };
    assert_eq!(*code, Some(334), "MechanismUnavailable");
    assert!(message.contains("not enabled"), "{message}");
}
