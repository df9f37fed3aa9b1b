//! The SCRAM steps against the published conversations (RFC 5802, RFC 7677 and the
//! Authentication specification's MongoDB examples), and every refusal.

use std::collections::VecDeque;

use base64ct::{Base64, Encoding};
use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};

use super::*;
use crate::auth::auth_failure;
use crate::error::{ErrorKind, Result};

fn conversation(
    version: ScramVersion,
    prepared: &str,
    user: &str,
    client_nonce: &str,
    server_first: &str,
) -> (ClientFirst, ServerFirst, ScramKeys, ClientFinal) {
    let first = ClientFirst::new(user, client_nonce.to_owned());
    let server = parse_server_first(server_first.as_bytes(), client_nonce).unwrap();
    let keys = derive_keys(version, prepared, &server.salt, server.iterations);
    let fin = client_final(version, &keys, &first, &server);
    (first, server, keys, fin)
}

/// A published conversation: what the client sends and what the server proves.
struct Published {
    name: &'static str,
    version: ScramVersion,
    /// The password as SCRAM uses it (prepared, or as it is for the RFC 5802 example).
    prepared: String,
    client_nonce: &'static str,
    server_first: &'static str,
    client_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

#[test]
fn the_published_conversations_are_reproduced() {
    // The Authentication specification's SCRAM-SHA-1 conversation: user "user", password
    // "pencil", which SCRAM-SHA-1 turns into hex(md5("user:mongo:pencil")).
    let md5_digest = prepare_password(ScramVersion::Sha1, "user", "pencil").unwrap();
    assert_eq!(md5_digest.as_str(), "1c33006ec1ffd90f9cadcbcc0e118200");
    let cases = [
        Published {
            // RFC 5802 section 5 (the password used as it is: the RFC has no MongoDB digest).
            name: "RFC 5802 SHA-1",
            version: ScramVersion::Sha1,
            prepared: "pencil".into(),
            client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
            server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            client_final:
                "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        },
        Published {
            name: "RFC 7677 SHA-256",
            version: ScramVersion::Sha256,
            prepared: prepare_password(ScramVersion::Sha256, "user", "pencil")
                .unwrap()
                .to_string(),
            client_nonce: "rOprNGfwEbeRWgbNEkqO",
            server_first:
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        },
        Published {
            name: "MongoDB SHA-1 (the MD5 digest as password)",
            version: ScramVersion::Sha1,
            prepared: md5_digest.to_string(),
            client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
            server_first: "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,\
                 s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
            client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,\
                 p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
            server_final: "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
        },
    ];
    for c in cases {
        let (first, server, keys, fin) = conversation(
            c.version,
            &c.prepared,
            "user",
            c.client_nonce,
            c.server_first,
        );
        assert_eq!(first.message(), c.client_first.as_bytes(), "{}", c.name);
        assert!(c
            .server_first
            .ends_with(&format!("i={}", server.iterations)));
        assert_eq!(
            std::str::from_utf8(fin.message()).unwrap(),
            c.client_final,
            "{}",
            c.name
        );
        verify_server_final(c.version, &keys, &fin, c.server_final.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
    }
}

#[test]
fn sha256_passwords_are_saslprepped_and_sha1_passwords_are_not() {
    let sha256 = |p: &str| prepare_password(ScramVersion::Sha256, "u", p).map(|p| p.to_string());
    // The Authentication spec's prose test, step 4: soft hyphen removed, NFKC applied.
    assert_eq!(sha256("IX").unwrap(), "IX");
    assert_eq!(sha256("I\u{00AD}X").unwrap(), "IX");
    assert_eq!(sha256("\u{2163}").unwrap(), "IV");
    assert_eq!(sha256("I\u{00AD}V").unwrap(), "IV");
    // Non-ASCII space becomes a space.
    assert_eq!(sha256("a\u{00A0}b").unwrap(), "a b");
    // SHA-1 hashes the bytes as given: a different digest for each form.
    let sha1 = |p: &str| {
        prepare_password(ScramVersion::Sha1, "u", p)
            .unwrap()
            .to_string()
    };
    assert_ne!(sha1("IX"), sha1("I\u{00AD}X"));
    // A prohibited character is an argument error that never shows the password.
    for bad in ["hunter\u{0007}2", "hunter\u{E000}2", "\u{0627}hunter"] {
        let err = prepare_password(ScramVersion::Sha256, "alice", bad).unwrap_err();
        let ErrorKind::InvalidArgument { message } = &*err.kind else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("\"alice\"") && message.contains("SASLprep"),
            "{message}"
        );
        assert!(!message.contains("hunter"), "{message}");
        assert!(!format!("{err:?}").contains("hunter"));
    }
}

#[test]
fn user_names_are_escaped_but_not_saslprepped() {
    let first = ClientFirst::new("a=b,c\u{00AD}", "n0nce".into());
    assert_eq!(first.message(), "n,,n=a=3Db=2Cc\u{00AD},r=n0nce".as_bytes());
}

#[test]
fn the_nonce_is_random_printable_and_long_enough() {
    let a = new_nonce().unwrap();
    let b = new_nonce().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_graphic() && c != b','), "{a}");
}

#[test]
fn commands_carry_skip_empty_exchange_and_the_speculative_db() {
    let first = ClientFirst::new("user", "rOprNGfwEbeRWgbNEkqO".into());
    // The specification's saslStart for this client-first message.
    let expected_payload =
        Base64::decode_vec("biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=").unwrap();
    assert_eq!(
        first.command(ScramVersion::Sha256, None),
        doc! {
            "saslStart": 1, "mechanism": "SCRAM-SHA-256",
            "payload": Binary { subtype: BinarySubtype::Generic, bytes: expected_payload },
            "options": {"skipEmptyExchange": true},
        }
    );
    assert_eq!(
        first
            .command(ScramVersion::Sha1, Some("admin"))
            .get_str("db")
            .unwrap(),
        "admin"
    );
}

fn server_first(text: &str) -> std::result::Result<ServerFirst, ScramError> {
    parse_server_first(text.as_bytes(), "abc")
}

#[test]
fn the_iteration_count_is_bounded() {
    assert_eq!(
        server_first("r=abcX,s=c2FsdA==,i=4096").unwrap().iterations,
        4096
    );
    assert_eq!(
        server_first(&format!("r=abcX,s=c2FsdA==,i={SCRAM_MAX_ITERATIONS}"))
            .unwrap()
            .iterations,
        SCRAM_MAX_ITERATIONS
    );
    assert_eq!(
        server_first("r=abcX,s=c2FsdA==,i=4095"),
        Err(ScramError::IterationCount(4095))
    );
    assert_eq!(
        server_first("r=abcX,s=c2FsdA==,i=0"),
        Err(ScramError::IterationCount(0))
    );
    assert_eq!(
        server_first(&format!("r=abcX,s=c2FsdA==,i={}", SCRAM_MAX_ITERATIONS + 1)),
        Err(ScramError::IterationCount(
            u64::from(SCRAM_MAX_ITERATIONS) + 1
        ))
    );
    assert_eq!(
        server_first("r=abcX,s=c2FsdA==,i=2147483647"),
        Err(ScramError::IterationCount(2_147_483_647))
    );
    assert_eq!(
        server_first("r=abcX,s=c2FsdA==,i=99999999999999999999999"),
        Err(ScramError::IterationCount(u64::MAX))
    );
    for bad in ["-1", "+5000", "5000x", "", " 5000"] {
        assert!(
            matches!(
                server_first(&format!("r=abcX,s=c2FsdA==,i={bad}")),
                Err(ScramError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_bad_server_first_message_is_refused() {
    let malformed = |text: &str| matches!(server_first(text), Err(ScramError::Malformed(_)));
    // The server's nonce must extend the client's.
    assert!(malformed("r=xyzX,s=c2FsdA==,i=4096"));
    assert!(malformed("r=abc,s=c2FsdA==,i=4096"));
    assert!(malformed("r=ab,s=c2FsdA==,i=4096"));
    // Missing or undecodable attributes.
    assert!(malformed("s=c2FsdA==,i=4096"));
    assert!(malformed("r=abcX,i=4096"));
    assert!(malformed("r=abcX,s=c2FsdA=="));
    assert!(malformed("r=abcX,s=not*base64,i=4096"));
    assert!(malformed("r=abcX,s=,i=4096"));
    assert!(malformed("r=abcX,garbage,i=4096"));
    assert!(matches!(
        parse_server_first(b"r=abc\xff,s=c2FsdA==,i=4096", "abc"),
        Err(ScramError::Malformed(_))
    ));
    // A mandatory extension nobody knows.
    assert!(malformed("m=ext,r=abcX,s=c2FsdA==,i=4096"));
    // The server's own error.
    assert_eq!(
        server_first("e=unknown-user"),
        Err(ScramError::Server("unknown-user".into()))
    );
}

fn sha256_example() -> (ScramKeys, ClientFinal) {
    let (_, _, keys, fin) = conversation(
        ScramVersion::Sha256,
        "pencil",
        "user",
        "rOprNGfwEbeRWgbNEkqO",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    (keys, fin)
}

#[test]
fn a_wrong_server_signature_is_refused() {
    let (keys, fin) = sha256_example();
    let verify = |p: &str| verify_server_final(ScramVersion::Sha256, &keys, &fin, p.as_bytes());
    assert_eq!(
        verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Ok(())
    );
    // One bit off, truncated, empty: a server that does not know the password.
    assert_eq!(
        verify("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(ScramError::ServerSignature)
    );
    assert_eq!(
        verify("v=6rriTRBi23WpRR/wtup+mA=="),
        Err(ScramError::ServerSignature)
    );
    assert_eq!(verify("v="), Err(ScramError::ServerSignature));
    assert_eq!(
        verify("e=invalid-proof"),
        Err(ScramError::Server("invalid-proof".into()))
    );
    assert!(matches!(verify("v=***"), Err(ScramError::Malformed(_))));
    assert!(matches!(verify(""), Err(ScramError::Malformed(_))));
    assert!(matches!(verify("r=x"), Err(ScramError::Malformed(_))));
}

#[test]
fn keys_never_show_in_debug() {
    let (keys, _) = sha256_example();
    let shown = format!("{keys:?}");
    assert_eq!(shown, "ScramKeys(<redacted>)");
    let cache = ScramCache::default();
    assert!(!format!("{cache:?}").contains("keys"));
}

fn server_first_with(salt: &[u8], iterations: u32) -> ServerFirst {
    ServerFirst {
        message: String::new(),
        nonce: "n".into(),
        salt: salt.to_vec(),
        iterations,
    }
}

#[tokio::test]
async fn the_cache_derives_once_per_mechanism_salt_and_count() {
    let cache = ScramCache::default();
    let pw = || Zeroizing::new("pencil".to_owned());
    let salted = || server_first_with(b"salt", 4096);
    let a = cache
        .keys(ScramVersion::Sha256, pw(), &salted())
        .await
        .unwrap();
    assert_eq!(cache.derivations(), 1);
    let again = cache
        .keys(ScramVersion::Sha256, pw(), &salted())
        .await
        .unwrap();
    assert_eq!(
        cache.derivations(),
        1,
        "same salt and count: from the cache"
    );
    assert!(Arc::ptr_eq(&a, &again));
    // The cached keys are the ones derivation gives.
    let direct = derive_keys(ScramVersion::Sha256, "pencil", b"salt", 4096);
    assert_eq!(*a.client_key, *direct.client_key);
    assert_eq!(*a.server_key, *direct.server_key);
    for (version, salt, count) in [
        (ScramVersion::Sha256, &b"other"[..], 4096),
        (ScramVersion::Sha256, &b"salt"[..], 4097),
        (ScramVersion::Sha1, &b"salt"[..], 4096),
    ] {
        cache
            .keys(version, pw(), &server_first_with(salt, count))
            .await
            .unwrap();
    }
    assert_eq!(cache.derivations(), 4, "each key is its own entry");
    // Bounded: the oldest entry goes first.
    for i in 0..CACHE_CAPACITY as u32 {
        cache
            .keys(ScramVersion::Sha1, pw(), &server_first_with(b"x", 5000 + i))
            .await
            .unwrap();
    }
    assert_eq!(cache.entries.lock().await.len(), CACHE_CAPACITY);
    let before = cache.derivations();
    cache
        .keys(ScramVersion::Sha256, pw(), &salted())
        .await
        .unwrap();
    assert_eq!(cache.derivations(), before + 1, "evicted, derived again");
}

/// A channel that answers from a script and records what it was sent.
struct Scripted {
    replies: VecDeque<Result<Document>>,
    sent: Vec<(String, Document)>,
}

impl Scripted {
    fn new(replies: impl IntoIterator<Item = Result<Document>>) -> Self {
        Self {
            replies: replies.into_iter().collect(),
            sent: Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl Channel for Scripted {
    async fn run_command(&mut self, db: &str, command: Document) -> Result<Document> {
        self.sent.push((db.to_owned(), command));
        self.replies
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected command {:?}", self.sent.last()))
    }
}

fn bin(b64: &str) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: Base64::decode_vec(b64).unwrap(),
    })
}

fn payload(cmd: &Document) -> String {
    String::from_utf8(cmd.get_binary_generic("payload").unwrap().clone()).unwrap()
}

const LOGIN: Login<'static> = Login {
    username: "user",
    password: "pencil",
    source: "admin",
};

/// The specification's SCRAM-SHA-256 conversation, as `saslStart` replies.
fn spec_sha256_first_reply() -> Document {
    doc! {
        "conversationId": 1,
        "payload": bin("cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY="),
        "done": false, "ok": 1,
    }
}

fn spec_sha256_final_reply(done: bool) -> Document {
    doc! {
        "conversationId": 1,
        "payload": bin("dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ=="),
        "done": done, "ok": 1,
    }
}

/// The specification's SCRAM-SHA-256 conversation after its speculative first step.
async fn speculative_sha256(chan: &mut Scripted, first: &ClientFirst) -> Result<()> {
    let first_reply = spec_sha256_first_reply();
    let speculative = Some((first, &first_reply));
    let cache = ScramCache::default();
    authenticate(chan, ScramVersion::Sha256, &LOGIN, &cache, speculative).await
}

#[tokio::test]
async fn the_speculative_conversation_continues_with_one_sasl_continue() {
    let first = ClientFirst::new("user", "rOprNGfwEbeRWgbNEkqO".into());
    let mut chan = Scripted::new([Ok(spec_sha256_final_reply(true))]);
    speculative_sha256(&mut chan, &first).await.unwrap();
    assert_eq!(chan.sent.len(), 1);
    let (db, cmd) = &chan.sent[0];
    assert_eq!(db, "admin");
    // Byte for byte the specification's saslContinue.
    assert_eq!(
        cmd,
        &doc! {
            "saslContinue": 1, "conversationId": 1,
            "payload": bin("Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ=="),
        }
    );
}

#[tokio::test]
async fn a_server_without_skip_empty_exchange_gets_the_extra_empty_round() {
    let first = ClientFirst::new("user", "rOprNGfwEbeRWgbNEkqO".into());
    let mut chan = Scripted::new([
        Ok(spec_sha256_final_reply(false)),
        Ok(doc! {"conversationId": 1, "payload": bin(""), "done": true, "ok": 1}),
    ]);
    speculative_sha256(&mut chan, &first).await.unwrap();
    assert_eq!(chan.sent.len(), 2);
    assert_eq!(payload(&chan.sent[1].1), "");
    // A server that still does not end it is refused.
    let mut chan = Scripted::new([
        Ok(spec_sha256_final_reply(false)),
        Ok(doc! {"conversationId": 1, "payload": bin(""), "done": false, "ok": 1}),
    ]);
    let err = speculative_sha256(&mut chan, &first).await.unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::Authentication { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn without_speculation_sasl_start_goes_first_with_a_fresh_nonce() {
    // The server refuses at once: what matters is the saslStart sent.
    let refusal = Error::new(ErrorKind::Command {
        code: 18,
        code_name: "AuthenticationFailed".into(),
        message: "Authentication failed.".into(),
    });
    let mut chan = Scripted::new([Err(refusal)]);
    let login = Login {
        username: "alice",
        password: "hunter2-secret",
        source: "app",
    };
    let err = authenticate(
        &mut chan,
        ScramVersion::Sha1,
        &login,
        &ScramCache::default(),
        None,
    )
    .await
    .unwrap_err();
    let (db, cmd) = &chan.sent[0];
    assert_eq!(db, "app");
    assert_eq!(cmd.get_str("mechanism").unwrap(), "SCRAM-SHA-1");
    assert!(cmd
        .get_document("options")
        .unwrap()
        .get_bool("skipEmptyExchange")
        .unwrap());
    let sent = payload(cmd);
    assert!(
        sent.starts_with("n,,n=alice,r=") && sent.len() == "n,,n=alice,r=".len() + 32,
        "{sent}"
    );
    // The refusal is an authentication error naming the user and mechanism, never the password.
    let failure = auth_failure(&err);
    let message = failure.message;
    assert_eq!(
        (
            failure.mechanism,
            failure.user,
            failure.code,
            failure.subject
        ),
        ("SCRAM-SHA-1", Some("alice"), Some(18), None)
    );
    assert!(
        message.contains("\"alice\"") && message.contains("\"app\""),
        "{message}"
    );
    assert!(message.contains("authSource"), "{message}");
    assert!(!format!("{err:?} {err}").contains("hunter2"));
}

#[tokio::test]
async fn client_side_refusals_are_typed() {
    let first = ClientFirst::new("user", "rOprNGfwEbeRWgbNEkqO".into());
    let run = |reply: Document, more: Vec<Result<Document>>| {
        let first = first.clone();
        async move {
            let mut chan = Scripted::new(more);
            authenticate(
                &mut chan,
                ScramVersion::Sha256,
                &LOGIN,
                &ScramCache::default(),
                Some((&first, &reply)),
            )
            .await
            .unwrap_err()
        }
    };
    // An iteration count below the floor: its own kind, before any derivation.
    let low = doc! {
        "conversationId": 1, "done": false, "ok": 1,
        "payload": Bson::Binary(Binary { subtype: BinarySubtype::Generic,
            bytes: b"r=rOprNGfwEbeRWgbNEkqOxyz,s=c2FsdA==,i=1000".to_vec() }),
    };
    let err = run(low, vec![]).await;
    match &*err.kind {
        ErrorKind::ScramIterationCount {
            mechanism,
            user,
            iterations,
            min,
            max,
        } => {
            assert_eq!(
                (mechanism.as_str(), user.as_str()),
                ("SCRAM-SHA-256", "user")
            );
            assert_eq!(
                (*iterations, *min, *max),
                (1000, 4096, SCRAM_MAX_ITERATIONS)
            );
            assert!(err.to_string().contains("fewer than the 4096"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let high = doc! {
        "conversationId": 1, "done": false, "ok": 1,
        "payload": Bson::Binary(Binary { subtype: BinarySubtype::Generic,
            bytes: b"r=rOprNGfwEbeRWgbNEkqOxyz,s=c2FsdA==,i=2000000000".to_vec() }),
    };
    let err = run(high, vec![]).await;
    assert!(
        matches!(
            *err.kind,
            ErrorKind::ScramIterationCount {
                iterations: 2_000_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("more than the limit"), "{err}");
    // A server that does not know the password.
    let forged = doc! {"conversationId": 1, "payload": bin("dj1BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBPQ=="), "done": true, "ok": 1};
    let err = run(spec_sha256_first_reply(), vec![Ok(forged)]).await;
    let ErrorKind::Authentication { message, .. } = &*err.kind else {
        panic!("{err:?}")
    };
    assert!(message.contains("signature is wrong"), "{message}");
    // done before the proof; a reply without a payload.
    let early = doc! {"conversationId": 1, "payload": bin(""), "done": true, "ok": 1};
    assert!(matches!(
        *run(early, vec![]).await.kind,
        ErrorKind::Authentication { .. }
    ));
    let no_payload = doc! {"conversationId": 1, "done": false, "ok": 1};
    assert!(matches!(
        *run(no_payload, vec![]).await.kind,
        ErrorKind::Authentication { .. }
    ));
}
