//! SCRAM and PLAIN end to end through `establish`, against a fake server that runs the server
//! side of SCRAM with the hash crates themselves (not the client's code): the round trips a
//! connection costs, negotiation, the key cache across connections, refusals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};

use base64ct::{Base64, Encoding};
use bson::spec::BinarySubtype;
use bson::{Binary, Bson};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::*;
use crate::auth::auth_failure;

const USER: &str = "alice";
const PASSWORD: &str = "pencil \u{2163}";
const SALT: &[u8] = b"fake-salt-16byte";
const ITERATIONS: u32 = 4096;

/// How the fake behaves.
#[derive(Clone)]
struct Fake {
    /// The user's mechanisms.
    mechanisms: Vec<&'static str>,
    /// Answer `speculativeAuthenticate`.
    speculative: bool,
    /// The password the server has for the user (SASLprep'd for SHA-256, as mongod stores it).
    password: &'static str,
    /// Honour `skipEmptyExchange` (4.4+); otherwise one more empty round.
    skip_empty_exchange: bool,
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            mechanisms: vec!["SCRAM-SHA-256", "SCRAM-SHA-1"],
            speculative: true,
            password: "pencil IV",
            skip_empty_exchange: true,
        }
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha1> as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The server's stored credential for a mechanism: (StoredKey, ServerKey, hmac, hash).
struct Stored {
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    sha256: bool,
}

impl Stored {
    fn new(mechanism: &str, password: &str) -> Self {
        let sha256 = mechanism != "SCRAM-SHA-1";
        let salted = if sha256 {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), SALT, ITERATIONS).to_vec()
        } else {
            // SHA-1 salts the hex MD5 digest of `user:mongo:password`.
            let digest = md5::Md5::digest(format!("{USER}:mongo:{password}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(hex.as_bytes(), SALT, ITERATIONS).to_vec()
        };
        let mut stored = Self {
            stored_key: Vec::new(),
            server_key: Vec::new(),
            sha256,
        };
        stored.stored_key = stored.hash(&stored.hmac(&salted, b"Client Key"));
        stored.server_key = stored.hmac(&salted, b"Server Key");
        stored
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        if self.sha256 {
            hmac_sha256(key, data)
        } else {
            hmac_sha1(key, data)
        }
    }

    fn hash(&self, data: &[u8]) -> Vec<u8> {
        if self.sha256 {
            Sha256::digest(data).to_vec()
        } else {
            Sha1::digest(data).to_vec()
        }
    }
}

/// A conversation in progress: its mechanism and the first two messages.
struct Conversation {
    mechanism: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    proven: bool,
}

fn bin(bytes: impl Into<Vec<u8>>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.into(),
    })
}

fn failed() -> Document {
    doc! {"ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"}
}

struct ScramServer {
    fake: Fake,
    next_id: AtomicI32,
    conversations: Mutex<HashMap<i32, Conversation>>,
}

impl ScramServer {
    /// `saslStart`: the server-first message, or a refusal.
    fn start(&self, cmd: &Document) -> Document {
        let mechanism = cmd.get_str("mechanism").unwrap_or_default().to_owned();
        if !self.fake.mechanisms.contains(&mechanism.as_str()) {
            return failed();
        }
        let payload =
            String::from_utf8(cmd.get_binary_generic("payload").unwrap().clone()).unwrap();
        let bare = payload
            .strip_prefix("n,,")
            .expect("no channel binding")
            .to_owned();
        let (user, client_nonce) = bare
            .strip_prefix("n=")
            .and_then(|r| r.split_once(",r="))
            .expect("n=user,r=nonce");
        if user != USER {
            return failed();
        }
        let nonce = format!("{client_nonce}SERVERNONCE");
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", Base64::encode_string(SALT));
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.conversations.lock().unwrap().insert(
            id,
            Conversation {
                mechanism,
                client_first_bare: bare.clone(),
                server_first: server_first.clone(),
                nonce,
                proven: false,
            },
        );
        doc! {"conversationId": id, "payload": bin(server_first), "done": false, "ok": 1}
    }

    /// `saslContinue`: checks the proof and signs, or ends the long conversation.
    fn next(&self, cmd: &Document) -> Document {
        let id = cmd.get_i32("conversationId").unwrap();
        let mut conversations = self.conversations.lock().unwrap();
        let Some(conv) = conversations.get_mut(&id) else {
            return failed();
        };
        let payload =
            String::from_utf8(cmd.get_binary_generic("payload").unwrap().clone()).unwrap();
        if conv.proven {
            assert_eq!(payload, "", "the extra round is empty");
            return doc! {"conversationId": id, "payload": bin(""), "done": true, "ok": 1};
        }
        let (without_proof, proof) = payload.rsplit_once(",p=").expect("a proof");
        assert_eq!(without_proof, format!("c=biws,r={}", conv.nonce));
        let auth_message = format!(
            "{},{},{without_proof}",
            conv.client_first_bare, conv.server_first
        );
        let stored = Stored::new(&conv.mechanism, self.fake.password);
        let signature = stored.hmac(&stored.stored_key, auth_message.as_bytes());
        let proof = Base64::decode_vec(proof).unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if stored.hash(&client_key) != stored.stored_key {
            return failed();
        }
        conv.proven = true;
        let v = Base64::encode_string(&stored.hmac(&stored.server_key, auth_message.as_bytes()));
        // skipEmptyExchange (checked on saslStart) ends the conversation here.
        let done = self.fake.skip_empty_exchange;
        doc! {"conversationId": id, "payload": bin(format!("v={v}")), "done": done, "ok": 1}
    }
}

async fn scram_server(fake: Fake) -> FakeServer {
    let server = Arc::new(ScramServer {
        fake,
        next_id: AtomicI32::new(1),
        conversations: Mutex::new(HashMap::new()),
    });
    FakeServer::start(move |cmd| {
        if cmd.contains_key("hello") {
            let mut r = hello_reply();
            // Listed for a known user only, as mongod does.
            if cmd.get_str("saslSupportedMechs") == Ok(&format!("admin.{USER}")) {
                r.insert("saslSupportedMechs", server.fake.mechanisms.clone());
            }
            if let (true, Ok(spec)) = (
                server.fake.speculative,
                cmd.get_document("speculativeAuthenticate"),
            ) {
                assert_eq!(spec.get_str("db").unwrap(), "admin");
                let answer = server.start(spec);
                if answer.get_i32("ok") == Ok(1) {
                    r.insert("speculativeAuthenticate", answer);
                }
            }
            Reply::Doc(r)
        } else if cmd.contains_key("saslStart") {
            assert_eq!(cmd.get_str("$db").unwrap(), "admin");
            assert_eq!(
                cmd.get_document("options").unwrap(),
                &doc! {"skipEmptyExchange": true}
            );
            Reply::Doc(server.start(cmd))
        } else if cmd.contains_key("saslContinue") {
            Reply::Doc(server.next(cmd))
        } else {
            Reply::Doc(doc! {"ok": 1})
        }
    })
    .await
}

fn scram_opts(mechanism: Option<AuthMechanism>, password: &str) -> EstablishOptions {
    let mut credential = Credential::default();
    credential.username = Some(USER.into());
    credential.password = Some(password.into());
    credential.mechanism = mechanism;
    credential.source = Some("admin".into());
    EstablishOptions {
        credential: Some(credential),
        connect_timeout: Some(Duration::from_secs(5)),
        ..EstablishOptions::default()
    }
}

/// A server behaving as `fake`, and connection `id` to it with [`PASSWORD`] and `mechanism`.
async fn scram_exchange(
    fake: Fake,
    mechanism: Option<AuthMechanism>,
    id: u32,
) -> (FakeServer, Connection) {
    let server = scram_server(fake).await;
    let opts = scram_opts(mechanism, PASSWORD);
    let conn = establish(&server.address, &opts, id).await.unwrap();
    (server, conn)
}

#[tokio::test]
async fn speculative_scram_sha256_costs_one_round_trip_and_one_derivation_per_client() {
    bounded(async {
        let server = scram_server(Fake::default()).await;
        // The password needs SASLprep (U+2163 is "IV") to match what the server stored.
        let opts = scram_opts(Some(AuthMechanism::ScramSha256), PASSWORD);
        let conn = establish(&server.address, &opts, 50).await.unwrap();
        assert_eq!(server.command_names(), ["hello", "saslContinue"]);
        assert_eq!(conn.authenticated_user(), Some(USER));
        assert_eq!(conn.subject(), None);
        let hello = &server.commands()[0];
        assert!(
            !hello.contains_key("saslSupportedMechs"),
            "no negotiation when the mechanism is named"
        );
        assert_eq!(opts.auth_cache.derivations(), 1);
        // The second connection: still one round trip, and no PBKDF2.
        establish(&server.address, &opts, 51).await.unwrap();
        assert_eq!(
            server.command_names(),
            ["hello", "saslContinue", "hello", "saslContinue"]
        );
        assert_eq!(opts.auth_cache.derivations(), 1, "keys from the cache");
        // Another client (another cache) derives its own.
        let other = scram_opts(Some(AuthMechanism::ScramSha256), PASSWORD);
        establish(&server.address, &other, 52).await.unwrap();
        assert_eq!(other.auth_cache.derivations(), 1);
    })
    .await
}

/// The mechanisms the client tried, in order: the one it speculated with in `hello`, then
/// those of its `saslStart`s.
fn mechanisms_tried(server: &FakeServer) -> Vec<String> {
    server
        .commands()
        .iter()
        .filter_map(|cmd| {
            let asked = cmd.get_document("speculativeAuthenticate").unwrap_or(cmd);
            asked.get_str("mechanism").ok().map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn the_mechanism_is_named_or_negotiated_in_as_few_round_trips_as_the_server_allows() {
    // SHA-1 hashes the password as given (its MD5 digest): the server has the same bytes.
    let sha1 = Fake {
        password: PASSWORD,
        ..Fake::default()
    };
    let sha1_only = Fake {
        mechanisms: vec!["SCRAM-SHA-1"],
        ..sha1.clone()
    };
    let old_without_speculation = Fake {
        speculative: false,
        skip_empty_exchange: false,
        ..Fake::default()
    };
    let cases = [
        (
            "SHA-1 named",
            sha1,
            Some(AuthMechanism::ScramSha1),
            &["hello", "saslContinue"][..],
            &["SCRAM-SHA-1"][..],
        ),
        (
            "negotiated, the user has SHA-256",
            Fake::default(),
            None,
            &["hello", "saslContinue"],
            &["SCRAM-SHA-256"],
        ),
        // The SHA-256 speculation is refused (no such credential): a SHA-1 conversation.
        (
            "negotiated, a SHA-1-only user",
            sha1_only,
            None,
            &["hello", "saslStart", "saslContinue"],
            &["SCRAM-SHA-256", "SCRAM-SHA-1"],
        ),
        // The speculation goes unanswered: saslStart; a server before 4.4 gets its empty round.
        (
            "SHA-256 named, an old server that does not speculate",
            old_without_speculation,
            Some(AuthMechanism::ScramSha256),
            &["hello", "saslStart", "saslContinue", "saslContinue"],
            &["SCRAM-SHA-256", "SCRAM-SHA-256"],
        ),
    ];
    for (what, fake, mechanism, exchange, tried) in cases {
        bounded(async {
            let (server, conn) = scram_exchange(fake, mechanism.clone(), 53).await;
            assert_eq!(server.command_names(), exchange, "{what}");
            assert_eq!(mechanisms_tried(&server), tried, "{what}");
            assert_eq!(
                server.commands()[0].get_str("saslSupportedMechs").ok(),
                mechanism.is_none().then_some("admin.alice"),
                "{what}: negotiation when no mechanism is named, only then"
            );
            assert_eq!(conn.authenticated_user(), Some(USER), "{what}");
        })
        .await
    }
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error_without_the_password() {
    bounded(async {
        let server = scram_server(Fake::default()).await;
        for mechanism in [Some(AuthMechanism::ScramSha256), None] {
            let opts = scram_opts(mechanism.clone(), "wr0ng-secret");
            let err = establish(&server.address, &opts, 57).await.unwrap_err();
            let failure = auth_failure(&err);
            assert_eq!(
                (failure.mechanism, failure.user, failure.code),
                ("SCRAM-SHA-256", Some(USER), Some(18)),
                "{mechanism:?}"
            );
            assert!(failure.message.contains("Authentication failed"), "{err}");
            let shown = format!("{err} {err:?} {opts:?}");
            assert!(!shown.contains("wr0ng-secret"), "{shown}");
        }
        // A user the server does not know, negotiated: the same kind of error (Auth spec,
        // prose test step 3), not a handshake failure.
        let mut opts = scram_opts(None, PASSWORD);
        if let Some(c) = opts.credential.as_mut() {
            c.username = Some("nobody".into());
        }
        let err = establish(&server.address, &opts, 58).await.unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::Authentication { .. }),
            "{err:?}"
        );
    })
    .await
}

#[tokio::test]
async fn plain_is_one_sasl_start_on_external() {
    bounded(async {
        let server = FakeServer::after_hello(|cmd| {
            if cmd.get_str("mechanism") == Ok("PLAIN") {
                let ok = cmd.get_binary_generic("payload").unwrap() == b"\0ldap-user\0s3cret";
                Reply::Doc(if ok {
                    doc! {"conversationId": 1, "payload": bin(""), "done": true, "ok": 1}
                } else {
                    failed()
                })
            } else {
                Reply::Doc(doc! {"ok": 0, "code": 59, "errmsg": "no such command"})
            }
        })
        .await;
        let mut credential = Credential::default();
        credential.username = Some("ldap-user".into());
        credential.password = Some("s3cret".into());
        credential.mechanism = Some(AuthMechanism::Plain);
        let opts = EstablishOptions {
            credential: Some(credential),
            ..EstablishOptions::default()
        };
        let conn = establish(&server.address, &opts, 59).await.unwrap();
        assert_eq!(conn.authenticated_user(), Some("ldap-user"));
        let cmds = server.commands();
        assert_eq!(server.command_names(), ["hello", "saslStart"]);
        assert!(!cmds[0].contains_key("speculativeAuthenticate"));
        assert!(!cmds[0].contains_key("saslSupportedMechs"));
        assert_eq!(cmds[1].get_str("$db").unwrap(), "$external");
        assert!(!cmds[1].contains_key("options"));
        assert_eq!(opts.auth_cache.derivations(), 0);
        // A refusal names the user and PLAIN.
        if let Some(c) = opts.credential.as_ref() {
            let mut wrong = c.clone();
            wrong.password = Some("nope-secret".into());
            let opts = EstablishOptions {
                credential: Some(wrong),
                ..EstablishOptions::default()
            };
            let err = establish(&server.address, &opts, 60).await.unwrap_err();
            let failure = auth_failure(&err);
            assert_eq!(
                (failure.mechanism, failure.user),
                ("PLAIN", Some("ldap-user"))
            );
            assert!(!format!("{err} {err:?}").contains("nope-secret"));
        }
    })
    .await
}
