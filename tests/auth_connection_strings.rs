//! The Authentication specification's connection-string tests
//! (`tests/spec/auth/connection-string.json`, vendored unchanged), run as data:
//! each URI parses or is refused as the file says, with the credential it lists. A valid
//! credential also makes a client (SCRAM, negotiation and PLAIN are implemented), except the
//! mechanisms this crate does not implement, which are refused with `NotSupported`.

use mongo_x509::bson::Document;
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{AuthMechanism, ClientOptions};
use mongo_x509::Client;
use serde_json::Value;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/spec/auth/connection-string.json"
);

fn string_or_null(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

#[tokio::test]
async fn the_auth_spec_connection_strings() {
    let text = std::fs::read_to_string(FILE).expect("the vendored spec file");
    let tests: Value = serde_json::from_str(&text).unwrap();
    let tests = tests["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 67, "the whole file runs");
    let (mut valid, mut invalid, mut clients, mut refused_at_creation) = (0, 0, 0, 0);
    for t in tests {
        let description = t["description"].as_str().unwrap();
        let uri = t["uri"].as_str().unwrap();
        let parsed = ClientOptions::parse(uri).await;
        if !t["valid"].as_bool().unwrap() {
            invalid += 1;
            match parsed {
                Err(e) => assert!(
                    matches!(*e.kind, ErrorKind::InvalidArgument { .. }),
                    "{description}: {e:?}"
                ),
                // The spec's README: parsing *or creating the client* raises the error. The file
                // holds MONGODB-AWS user:password in URIs both valid and invalid; the client
                // refuses that mechanism at creation, which is what a user sees.
                Ok(o) => {
                    let Err(e) = Client::with_options(o) else {
                        panic!("{description}: {uri} was accepted")
                    };
                    assert!(
                        matches!(*e.kind, ErrorKind::NotSupported { .. }),
                        "{description}: {e:?}"
                    );
                    refused_at_creation += 1;
                }
            }
            continue;
        }
        valid += 1;
        let options = parsed.unwrap_or_else(|e| panic!("{description}: {uri}: {e}"));
        let expected = &t["credential"];
        let Some(expected) = expected.as_object() else {
            assert!(options.credential.is_none(), "{description}: no credential");
            continue;
        };
        let c = options
            .credential
            .as_ref()
            .unwrap_or_else(|| panic!("{description}: a credential"));
        if let Some(v) = expected.get("username") {
            assert_eq!(c.username, string_or_null(v), "{description}");
        }
        if let Some(v) = expected.get("password") {
            assert_eq!(c.password, string_or_null(v), "{description}");
        }
        if let Some(v) = expected.get("source") {
            assert_eq!(c.source, string_or_null(v), "{description}");
        }
        if let Some(v) = expected.get("mechanism") {
            assert_eq!(
                c.mechanism.as_ref().map(AuthMechanism::as_str),
                v.as_str(),
                "{description}"
            );
        }
        if let Some(Value::Object(props)) = expected.get("mechanism_properties") {
            let got = c.mechanism_properties.clone().unwrap_or_default();
            let want: Document = serde_json::from_value(Value::Object(props.clone())).unwrap();
            for (key, value) in &want {
                assert_eq!(got.get(key), Some(value), "{description}: {key}");
            }
        }
        // Creating the client: X.509 needs a certificate file, tested elsewhere.
        let mechanism = c.mechanism.clone();
        if mechanism == Some(AuthMechanism::MongoDbX509) {
            continue;
        }
        clients += 1;
        let created = Client::with_options(options);
        match mechanism {
            None
            | Some(AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 | AuthMechanism::Plain) => {
                created.unwrap_or_else(|e| panic!("{description}: {e}"));
            }
            Some(_) => {
                let e = created
                    .err()
                    .unwrap_or_else(|| panic!("{description}: accepted"));
                assert!(
                    matches!(*e.kind, ErrorKind::NotSupported { .. }),
                    "{description}: {e:?}"
                );
            }
        }
    }
    assert_eq!((valid, invalid), (41, 26));
    assert_eq!(
        refused_at_creation, 1,
        "only the MONGODB-AWS user:password case"
    );
    assert!(clients > 30, "{clients}");
}
