//! What each mechanism adds to `hello`, and what is left after its reply.

use bson::{doc, Document};

use super::*;
use crate::auth::{mechanism, plan, ScramCache};
use crate::error::ErrorKind;
use crate::options::{AuthMechanism, Credential};

fn credential(
    mechanism: Option<AuthMechanism>,
    user: Option<&str>,
    password: Option<&str>,
) -> Credential {
    let mut c = Credential::default();
    c.mechanism = mechanism;
    c.username = user.map(str::to_owned);
    c.password = password.map(str::to_owned);
    c
}

/// `c` with its source set.
fn from(source: &str, mut c: Credential) -> Credential {
    c.source = Some(source.into());
    c
}

fn x509(user: Option<&str>) -> Credential {
    from(
        "$external",
        credential(Some(AuthMechanism::MongoDbX509), user, None),
    )
}

/// The hello fields and what was sent, for `credential` (nonce "NONCE").
fn hello_for(credential: &Credential) -> (Document, Sent) {
    let cache = ScramCache::default();
    let plan = AuthPlan {
        credential,
        mechanism: mechanism(credential).unwrap(),
        subject: Some("CN=c".into()),
        cache: &cache,
    };
    let mut hello = doc! {"hello": 1};
    let sent = plan.add_to_hello_with_nonce(&mut hello, "NONCE".into());
    hello.remove("hello");
    (hello, sent)
}

fn sasl_start(mechanism: &str, first: &str, db: &str) -> Document {
    let mut cmd =
        crate::auth::sasl::start_command(mechanism, first.as_bytes().to_vec(), true, None);
    cmd.insert("db", db);
    cmd
}

#[test]
fn x509_speculates_with_authenticate_on_external() {
    let (hello, sent) = hello_for(&x509(None));
    assert_eq!(
        hello,
        doc! {"speculativeAuthenticate": {"authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external"}}
    );
    assert_eq!(sent, Sent::X509);
    let (hello, _) = hello_for(&x509(Some("CN=client,O=Acme")));
    assert_eq!(
        hello,
        doc! {"speculativeAuthenticate": {"authenticate": 1, "mechanism": "MONGODB-X509", "user": "CN=client,O=Acme", "db": "$external"}}
    );
}

#[test]
fn scram_speculates_with_sasl_start_on_its_source() {
    let c = credential(
        Some(AuthMechanism::ScramSha256),
        Some("user"),
        Some("pencil"),
    );
    let (hello, sent) = hello_for(&c);
    assert_eq!(
        hello,
        doc! {"speculativeAuthenticate": sasl_start("SCRAM-SHA-256", "n,,n=user,r=NONCE", "admin")},
        "no saslSupportedMechs when the mechanism is named"
    );
    assert_eq!(
        sent,
        Sent::Scram(
            ScramVersion::Sha256,
            ClientFirst::new("user", "NONCE".into())
        )
    );
    let c = from(
        "app",
        credential(Some(AuthMechanism::ScramSha1), Some("user"), Some("pencil")),
    );
    let (hello, sent) = hello_for(&c);
    assert_eq!(
        hello,
        doc! {"speculativeAuthenticate": sasl_start("SCRAM-SHA-1", "n,,n=user,r=NONCE", "app")}
    );
    assert!(matches!(sent, Sent::Scram(ScramVersion::Sha1, _)));
}

#[test]
fn no_mechanism_negotiates_and_speculates_with_sha256() {
    // The user name goes as given: not SASLprep'd (the soft hyphen stays).
    let c = from("app", credential(None, Some("I\u{00AD}X"), Some("pw")));
    let (hello, sent) = hello_for(&c);
    assert_eq!(
        hello.get_str("saslSupportedMechs").unwrap(),
        "app.I\u{00AD}X"
    );
    assert_eq!(
        hello.get_document("speculativeAuthenticate").unwrap(),
        &sasl_start("SCRAM-SHA-256", "n,,n=I\u{00AD}X,r=NONCE", "app")
    );
    assert!(matches!(sent, Sent::Scram(ScramVersion::Sha256, _)));
    // Built in code without a source: admin.
    let (hello, _) = hello_for(&credential(None, Some("bob"), Some("pw")));
    assert_eq!(hello.get_str("saslSupportedMechs").unwrap(), "admin.bob");
}

#[test]
fn plain_adds_nothing_to_hello() {
    let c = credential(Some(AuthMechanism::Plain), Some("ldap"), Some("pw"));
    let (hello, sent) = hello_for(&c);
    assert!(hello.is_empty(), "{hello}");
    assert_eq!(sent, Sent::Nothing);
    // PLAIN's default source is $external.
    let cache = ScramCache::default();
    let p = plan(Some(&c), None, &cache).unwrap().unwrap();
    assert_eq!(p.source(), "$external");
}

fn reply(speculative: Option<Document>, mechs: Option<&[&str]>) -> HelloAuth {
    HelloAuth {
        speculative,
        sasl_supported_mechs: mechs.map(|m| m.iter().map(|s| s.to_string()).collect()),
        arbiter: false,
    }
}

#[test]
fn x509_after_hello() {
    let ok = reply(Some(doc! {"dbname": "$external", "user": "CN=c"}), None);
    assert_eq!(after_hello(Mechanism::X509, &Sent::X509, &ok), Next::Done);
    let ok1 = reply(
        Some(doc! {"dbname": "$external", "user": "CN=c", "ok": 1}),
        None,
    );
    assert_eq!(after_hello(Mechanism::X509, &Sent::X509, &ok1), Next::Done);
    // Absent, or refused (ok: 0): the standard authenticate, whose error says more.
    assert_eq!(
        after_hello(Mechanism::X509, &Sent::X509, &reply(None, None)),
        Next::X509
    );
    let refused = reply(
        Some(doc! {"ok": 0, "errmsg": "no such user", "code": 11}),
        None,
    );
    assert_eq!(
        after_hello(Mechanism::X509, &Sent::X509, &refused),
        Next::X509
    );
}

#[test]
fn negotiation_picks_sha256_when_listed_else_sha1() {
    let sha256 = ScramVersion::Sha256;
    let sha1 = ScramVersion::Sha1;
    let list = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        negotiated(Some(&list(&["SCRAM-SHA-1", "SCRAM-SHA-256"]))),
        sha256
    );
    assert_eq!(negotiated(Some(&list(&["SCRAM-SHA-256"]))), sha256);
    assert_eq!(negotiated(Some(&list(&["SCRAM-SHA-1"]))), sha1);
    // Unknown names are no error; SCRAM-SHA-1 even when not listed, never PLAIN.
    assert_eq!(negotiated(Some(&list(&["PLAIN", "FANCY-NEW"]))), sha1);
    assert_eq!(negotiated(Some(&[])), sha1);
    assert_eq!(negotiated(None), sha1);
}

#[test]
fn scram_after_hello_uses_the_speculative_reply_for_its_mechanism_only() {
    let first = ClientFirst::new("u", "NONCE".into());
    let sent = Sent::Scram(ScramVersion::Sha256, first.clone());
    let spec = doc! {"conversationId": 1, "payload": "", "done": false};
    // Negotiated SCRAM-SHA-256: continue the speculative conversation.
    let r = reply(Some(spec.clone()), Some(&["SCRAM-SHA-256", "SCRAM-SHA-1"]));
    assert_eq!(
        after_hello(Mechanism::Negotiate, &sent, &r),
        Next::Scram {
            version: ScramVersion::Sha256,
            speculative: Some((&first, &spec)),
        }
    );
    // Negotiated SCRAM-SHA-1 (a user without SHA-256): start over with SHA-1.
    let r = reply(Some(spec.clone()), Some(&["SCRAM-SHA-1"]));
    assert_eq!(
        after_hello(Mechanism::Negotiate, &sent, &r),
        Next::Scram {
            version: ScramVersion::Sha1,
            speculative: None,
        }
    );
    // Named mechanism, no speculative answer (an older server): a full conversation.
    let r = reply(None, None);
    assert_eq!(
        after_hello(Mechanism::Scram(ScramVersion::Sha256), &sent, &r),
        Next::Scram {
            version: ScramVersion::Sha256,
            speculative: None,
        }
    );
    // A speculative answer with ok: 0 is no answer.
    let r = reply(Some(doc! {"ok": 0, "code": 18}), None);
    assert_eq!(
        after_hello(Mechanism::Scram(ScramVersion::Sha256), &sent, &r),
        Next::Scram {
            version: ScramVersion::Sha256,
            speculative: None,
        }
    );
    // Named SCRAM-SHA-1 over a reply to a SHA-256 speculation (cannot happen, but safe).
    let r = reply(Some(spec), None);
    assert!(matches!(
        after_hello(Mechanism::Scram(ScramVersion::Sha1), &sent, &r),
        Next::Scram {
            version: ScramVersion::Sha1,
            speculative: None
        }
    ));
}

#[test]
fn plain_after_hello_sends_its_one_message_and_arbiters_need_nothing() {
    assert_eq!(
        after_hello(Mechanism::Plain, &Sent::Nothing, &reply(None, None)),
        Next::Plain
    );
    let arbiter = HelloAuth {
        arbiter: true,
        ..HelloAuth::default()
    };
    for m in [
        Mechanism::X509,
        Mechanism::Plain,
        Mechanism::Negotiate,
        Mechanism::Scram(ScramVersion::Sha1),
    ] {
        assert_eq!(
            after_hello(m, &Sent::Nothing, &arbiter),
            Next::Done,
            "{m:?}"
        );
    }
}

#[test]
fn unsupported_mechanisms_are_refused_in_one_place() {
    for m in [
        AuthMechanism::Gssapi,
        AuthMechanism::MongoDbAws,
        AuthMechanism::MongoDbOidc,
    ] {
        let c = credential(Some(m.clone()), Some("u"), Some("p"));
        let err = mechanism(&c).unwrap_err();
        let ErrorKind::NotSupported { message } = &*err.kind else {
            panic!("{err:?}")
        };
        assert!(message.contains(m.as_str()), "{message}");
        // plan() is where connections ask: the same answer.
        let cache = ScramCache::default();
        let err = plan(Some(&c), None, &cache).unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::NotSupported { .. }));
    }
    assert_eq!(
        mechanism(&credential(None, Some("u"), Some("p"))).unwrap(),
        Mechanism::Negotiate
    );
    // X.509 takes no password, in code as in a connection string.
    let mut c = x509(None);
    c.password = Some("pw".into());
    let err = mechanism(&c).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
    assert!(!err.to_string().contains("pw\""));
    // Mechanism properties are for other mechanisms.
    let mut c = credential(Some(AuthMechanism::ScramSha256), Some("u"), Some("p"));
    c.mechanism_properties = Some(doc! {"SERVICE_NAME": "x"});
    let err = mechanism(&c).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
}

#[test]
fn x509_needs_tls_and_follows_a_reloaded_certificate() {
    let c = x509(None);
    let cache = ScramCache::default();
    let err = plan(Some(&c), None, &cache).unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
        "{err}"
    );
    let mut p = AuthPlan {
        credential: &c,
        mechanism: Mechanism::X509,
        subject: Some("CN=old".into()),
        cache: &cache,
    };
    p.use_sent_subject(None);
    assert_eq!(p.subject(), Some("CN=old"));
    p.use_sent_subject(Some("CN=new".into()));
    assert_eq!(p.subject(), Some("CN=new"));
    // Not X.509: no subject to follow.
    let s = credential(Some(AuthMechanism::ScramSha1), Some("u"), Some("p"));
    let mut p = plan(Some(&s), None, &cache).unwrap().unwrap();
    p.use_sent_subject(Some("CN=new".into()));
    assert_eq!(p.subject(), None);
    assert!(plan(None, None, &cache).unwrap().is_none());
}

#[test]
fn a_plan_never_shows_the_password() {
    let c = credential(Some(AuthMechanism::ScramSha256), Some("u"), Some("hunter2"));
    let cache = ScramCache::default();
    let p = plan(Some(&c), None, &cache).unwrap().unwrap();
    assert!(!format!("{p:?}").contains("hunter2"));
}
