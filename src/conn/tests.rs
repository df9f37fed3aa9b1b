//! Connection establishment against a scripted fake server speaking OP_MSG over plain TCP,
//! with a pass-through "TLS" backend that reports a fixed client certificate subject so the
//! X.509 logic runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bson::{doc, Document};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::error::{ErrorKind, Result};
use crate::options::{AuthMechanism, Credential, ServerAddress};
use crate::tls::{BoxStream, TlsBackend};
use crate::wire::{self, DEFAULT_MAX_MESSAGE_SIZE, OP_MSG};

mod diagnosis;
mod limits;
mod monitoring;
mod scram;

const SUBJECT: &str = "CN=client,OU=Apps,O=Acme,C=US";
/// Every test is bounded by this, so a hang is a failure, not a stuck CI job.
const TEST_BOUND: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct PassThroughTls {
    subject: Option<String>,
    hosts: Mutex<Vec<String>>,
}

#[async_trait]
impl TlsBackend for PassThroughTls {
    fn name(&self) -> &str {
        "fake"
    }
    fn client_subject(&self) -> Option<String> {
        self.subject.clone()
    }
    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream> {
        self.hosts.lock().unwrap().push(host.to_owned());
        Ok(stream)
    }
}

fn fake_tls(subject: Option<&str>) -> Arc<PassThroughTls> {
    Arc::new(PassThroughTls {
        subject: subject.map(str::to_owned),
        hosts: Mutex::new(Vec::new()),
    })
}

/// What the fake server does with one request.
enum Reply {
    /// Answer with this body.
    Doc(Document),
    /// Send these bytes as they are.
    Raw(Vec<u8>),
    /// Send these bytes, then close the connection.
    RawThenClose(Vec<u8>),
    /// Close the connection.
    Close,
    /// Never answer (keep the connection open).
    Silent,
    /// Answer nothing and read the next request (what a server does with moreToCome).
    Nothing,
    /// Answer with this body, then never read again (keep the connection open).
    DocThenStopReading(Document),
}

type Script = Arc<dyn Fn(&Document) -> Reply + Send + Sync>;

/// What the fake server saw.
#[derive(Default)]
struct Record {
    accepted: usize,
    commands: Vec<Document>,
}

struct FakeServer {
    address: ServerAddress,
    record: Arc<Mutex<Record>>,
}

impl FakeServer {
    async fn start(script: impl Fn(&Document) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Record::default()));
        let script: Script = Arc::new(script);
        let rec = record.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                rec.lock().unwrap().accepted += 1;
                tokio::spawn(serve(stream, script.clone(), rec.clone()));
            }
        });
        Self {
            address: ServerAddress::Tcp {
                host: "127.0.0.1".into(),
                port: Some(port),
            },
            record,
        }
    }

    fn commands(&self) -> Vec<Document> {
        self.record.lock().unwrap().commands.clone()
    }

    fn command_names(&self) -> Vec<String> {
        self.commands()
            .iter()
            .filter_map(|c| c.keys().next().cloned())
            .collect()
    }

    fn accepted(&self) -> usize {
        self.record.lock().unwrap().accepted
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    script: Script,
    rec: Arc<Mutex<Record>>,
) {
    loop {
        let Ok(msg) = wire::read_message(&mut stream, DEFAULT_MAX_MESSAGE_SIZE).await else {
            return;
        };
        rec.lock().unwrap().commands.push(msg.body.clone());
        match script(&msg.body) {
            Reply::Doc(d) => {
                let bytes = reply_bytes(msg.request_id, &d);
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
            }
            Reply::RawThenClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Reply::Close => return,
            Reply::Nothing => {}
            Reply::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::DocThenStopReading(d) => {
                let _ = stream.write_all(&reply_bytes(msg.request_id, &d)).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

fn reply_bytes(response_to: i32, body: &Document) -> Vec<u8> {
    let mut b = wire::encode_request(777, body, &[], DEFAULT_MAX_MESSAGE_SIZE).unwrap();
    b[8..12].copy_from_slice(&response_to.to_le_bytes());
    b
}

fn hello_reply() -> Document {
    doc! {
        "isWritablePrimary": true, "helloOk": true, "maxWireVersion": 21, "minWireVersion": 0,
        "maxMessageSizeBytes": 48_000_000, "maxBsonObjectSize": 16_777_216,
        "maxWriteBatchSize": 100_000, "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
    }
}

fn x509_credential(user: Option<&str>) -> Credential {
    Credential {
        mechanism: Some(AuthMechanism::MongoDbX509),
        source: Some("$external".into()),
        username: user.map(str::to_owned),
        password: None,
        mechanism_properties: None,
    }
}

fn x509_opts(tls: Option<Arc<PassThroughTls>>, user: Option<&str>) -> EstablishOptions {
    EstablishOptions {
        app_name: Some("fake-test".into()),
        credential: Some(x509_credential(user)),
        auth_cache: Default::default(),
        tls: tls.map(|t| t as Arc<dyn TlsBackend>),
        connect_timeout: Some(Duration::from_secs(5)),
        socket_timeout: None,
        resolver: None,
        load_balanced: false,
        compressors: Vec::new(),
        command_monitor: Default::default(),
        server_api: None,
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .expect("test exceeded its time bound (a hang)")
}

/// A server that answers `hello` (with speculative auth when `speculative`), `authenticate`
/// with `auth_reply`, and anything else with `{ok: 1}`.
async fn auth_server(speculative: bool, auth_reply: Document) -> FakeServer {
    FakeServer::start(move |cmd| {
        if cmd.contains_key("hello") {
            let mut r = hello_reply();
            if speculative && cmd.contains_key("speculativeAuthenticate") {
                r.insert(
                    "speculativeAuthenticate",
                    doc! {"dbname": "$external", "user": SUBJECT},
                );
            }
            Reply::Doc(r)
        } else if cmd.contains_key("authenticate") {
            Reply::Doc(auth_reply.clone())
        } else {
            Reply::Doc(doc! {"ok": 1})
        }
    })
    .await
}

#[tokio::test]
async fn speculative_auth_path_sends_no_authenticate() {
    bounded(async {
        let server = auth_server(true, doc! {"ok": 0, "errmsg": "must not be called"}).await;
        let tls = fake_tls(Some(SUBJECT));
        let conn = establish(&server.address, &x509_opts(Some(tls.clone()), None), 1)
            .await
            .unwrap();
        assert_eq!(
            server.command_names(),
            ["hello"],
            "no separate authenticate"
        );
        let hello = &server.commands()[0];
        assert_eq!(
            hello.get_document("speculativeAuthenticate").unwrap(),
            &doc! {"authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external"}
        );
        assert_eq!(hello.get_str("$db").unwrap(), "admin");
        assert_eq!(
            hello.get_array("compression").unwrap(),
            &Vec::<bson::Bson>::new()
        );
        assert_eq!(
            hello
                .get_document("client")
                .unwrap()
                .get_document("application")
                .unwrap(),
            &doc! {"name": "fake-test"}
        );
        assert_eq!(conn.authenticated_user(), Some(SUBJECT));
        assert_eq!(conn.subject(), Some(SUBJECT));
        assert!(conn.hello().description.server_type.is_writable());
        assert_eq!(conn.id(), 1);
        assert_eq!(conn.address(), &server.address);
        assert!(!conn.is_broken());
        assert_eq!(
            *tls.hosts.lock().unwrap(),
            ["127.0.0.1"],
            "TLS got the host for SNI"
        );
    })
    .await
}

#[tokio::test]
async fn fallback_path_sends_one_authenticate_without_user() {
    bounded(async {
        let server = auth_server(
            false,
            doc! {"dbname": "$external", "user": SUBJECT, "ok": 1},
        )
        .await;
        let conn = establish(
            &server.address,
            &x509_opts(Some(fake_tls(Some(SUBJECT))), None),
            2,
        )
        .await
        .unwrap();
        assert_eq!(server.command_names(), ["hello", "authenticate"]);
        assert_eq!(
            server.commands()[1],
            doc! {"authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external"}
        );
        assert_eq!(conn.authenticated_user(), Some(SUBJECT));
    })
    .await
}

#[tokio::test]
async fn fallback_path_sends_the_user_when_given() {
    bounded(async {
        let server = auth_server(false, doc! {"dbname": "$external", "user": SUBJECT, "ok": 1}).await;
        establish(&server.address, &x509_opts(Some(fake_tls(Some(SUBJECT))), Some(SUBJECT)), 3)
            .await
            .unwrap();
        let cmds = server.commands();
        assert_eq!(
            cmds[0].get_document("speculativeAuthenticate").unwrap().get_str("user").unwrap(),
            SUBJECT
        );
        assert_eq!(
            cmds[1],
            doc! {"authenticate": 1, "mechanism": "MONGODB-X509", "user": SUBJECT, "$db": "$external"}
        );
        assert_eq!(cmds.len(), 2);
    })
    .await
}

#[tokio::test]
async fn authenticate_refused_is_an_authentication_error_with_code_and_subject() {
    bounded(async {
        let server = auth_server(
            false,
            doc! {"ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"},
        )
        .await;
        let err = establish(&server.address, &x509_opts(Some(fake_tls(Some(SUBJECT))), None), 4)
            .await
            .unwrap_err();
        let failure = crate::auth::auth_failure(&err);
        assert_eq!(
            (failure.mechanism, failure.user, failure.code, failure.subject),
            ("MONGODB-X509", Some(SUBJECT), Some(18), Some(SUBJECT))
        );
        for part in ["Authentication failed.", "in $external?", "createUser", SUBJECT] {
            assert!(failure.message.contains(part), "{}", failure.message);
        }
    })
    .await
}

#[tokio::test]
async fn authenticate_refused_with_other_user_hints_at_the_mismatch() {
    bounded(async {
        let server = auth_server(
            false,
            doc! {"ok": 0, "errmsg": "Authentication failed.", "code": 18},
        )
        .await;
        let err = establish(
            &server.address,
            &x509_opts(Some(fake_tls(Some(SUBJECT))), Some("CN=other")),
            4,
        )
        .await
        .unwrap_err();
        let ErrorKind::Authentication { message, .. } = &*err.kind else {
            panic!("expected Authentication, got {err:?}")
        };
        assert!(
            message.contains("differs from the client certificate's subject"),
            "{message}"
        );
    })
    .await
}

#[tokio::test]
async fn x509_without_tls_is_refused_before_anything_is_sent() {
    bounded(async {
        let server = auth_server(true, doc! {"ok": 1}).await;
        let err = establish(&server.address, &x509_opts(None, None), 5)
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("MONGODB-X509 needs TLS: set tls=true"),
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.accepted(), 0, "no connection was even opened");
        assert!(server.commands().is_empty());
    })
    .await
}

#[tokio::test]
async fn x509_without_client_certificate_is_refused_before_anything_is_sent() {
    bounded(async {
        let server = auth_server(true, doc! {"ok": 1}).await;
        let tls = fake_tls(None);
        let err = establish(&server.address, &x509_opts(Some(tls.clone()), None), 6)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("MONGODB-X509 needs a client certificate: set tlsCertificateKeyFile"),
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.accepted(), 0);
        assert!(
            tls.hosts.lock().unwrap().is_empty(),
            "no TLS handshake either"
        );
    })
    .await
}

#[tokio::test]
async fn other_mechanisms_are_not_supported_before_anything_is_sent() {
    bounded(async {
        let server = auth_server(true, doc! {"ok": 1}).await;
        for mechanism in [
            AuthMechanism::Gssapi,
            AuthMechanism::MongoDbAws,
            AuthMechanism::MongoDbOidc,
        ] {
            let mut opts = x509_opts(Some(fake_tls(Some(SUBJECT))), Some("u"));
            if let Some(c) = opts.credential.as_mut() {
                c.mechanism = Some(mechanism.clone());
            }
            let err = establish(&server.address, &opts, 7).await.unwrap_err();
            let ErrorKind::NotSupported { message } = &*err.kind else {
                panic!("expected NotSupported, got {err:?}")
            };
            assert!(
                message.contains(&format!("{mechanism} is not supported by mongo-x509")),
                "{message}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.accepted(), 0);
    })
    .await
}

#[tokio::test]
async fn no_credential_means_no_authentication() {
    bounded(async {
        let server = auth_server(false, doc! {"ok": 0, "errmsg": "must not be called"}).await;
        let opts = EstablishOptions::default();
        let conn = establish(&server.address, &opts, 8).await.unwrap();
        assert_eq!(server.command_names(), ["hello"]);
        assert!(!server.commands()[0].contains_key("speculativeAuthenticate"));
        assert_eq!(conn.authenticated_user(), None);
    })
    .await
}

fn assert_network_error(err: &crate::error::Error) {
    assert!(
        err.is_network_error(),
        "expected a network error, got {err:?}"
    );
}

#[tokio::test]
async fn malformed_reply_is_an_error() {
    bounded(async {
        // A well-sized message with an unknown section kind.
        let server = FakeServer::start(|_| {
            let mut b = Vec::new();
            b.extend_from_slice(&26i32.to_le_bytes());
            b.extend_from_slice(&1i32.to_le_bytes());
            b.extend_from_slice(&0i32.to_le_bytes());
            b.extend_from_slice(&OP_MSG.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&[9, 5, 0, 0, 0, 0]);
            Reply::Raw(b)
        })
        .await;
        let err = establish(&server.address, &EstablishOptions::default(), 9)
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn reply_to_another_request_is_an_error() {
    bounded(async {
        let server = FakeServer::start(|_| Reply::Raw(reply_bytes(-5, &hello_reply()))).await;
        let err = establish(&server.address, &EstablishOptions::default(), 9)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("reply is to request -5"), "{err}");
    })
    .await
}

#[tokio::test]
async fn invalid_hello_fields_are_an_error() {
    bounded(async {
        let server = FakeServer::start(|_| Reply::Doc(doc! {"ok": 1, "hosts": 5})).await;
        let err = establish(&server.address, &EstablishOptions::default(), 9)
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn oversized_length_prefix_is_an_error_without_allocating() {
    bounded(async {
        // Claims 2 GiB and then sends nothing more: the client must not wait for (or allocate) it.
        let server = FakeServer::start(|_| {
            let mut b = Vec::new();
            b.extend_from_slice(&i32::MAX.to_le_bytes());
            b.extend_from_slice(&[0u8; 12]);
            Reply::Raw(b)
        })
        .await;
        let started = Instant::now();
        let err = establish(&server.address, &EstablishOptions::default(), 10)
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("exceeds the maximum message size"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn connection_dropped_mid_handshake_is_an_error() {
    bounded(async {
        let server = FakeServer::start(|_| Reply::Close).await;
        let err = establish(&server.address, &EstablishOptions::default(), 11)
            .await
            .unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");

        // Dropped after the hello, during authentication.
        let server = FakeServer::start(|cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello_reply())
            } else {
                Reply::Close
            }
        })
        .await;
        let err = establish(
            &server.address,
            &x509_opts(Some(fake_tls(Some(SUBJECT))), None),
            12,
        )
        .await
        .unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");
        assert_eq!(server.command_names(), ["hello", "authenticate"]);

        // Dropped halfway through a reply.
        let server = FakeServer::start(|_| {
            let mut b = reply_bytes(0, &hello_reply());
            b.truncate(30);
            Reply::RawThenClose(b)
        })
        .await;
        let err = establish(&server.address, &EstablishOptions::default(), 13)
            .await
            .unwrap_err();
        assert_network_error(&err);
    })
    .await
}

#[tokio::test]
async fn silent_server_times_out_within_connect_timeout() {
    bounded(async {
        let server = FakeServer::start(|_| Reply::Silent).await;
        let opts = EstablishOptions {
            connect_timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let started = Instant::now();
        let err = establish(&server.address, &opts, 14).await.unwrap_err();
        let elapsed = started.elapsed();
        let ErrorKind::Timeout { message } = &*err.kind else {
            panic!("expected Timeout, got {err:?}")
        };
        assert!(message.contains("connectTimeoutMS"), "{message}");
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_an_io_error_naming_the_address() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let address = ServerAddress::Tcp {
            host: "127.0.0.1".into(),
            port: Some(port),
        };
        let err = establish(&address, &EstablishOptions::default(), 15)
            .await
            .unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn commands_after_establishment() {
    bounded(async {
        let server = FakeServer::start(|cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello_reply())
            } else if cmd.contains_key("ping") {
                Reply::Doc(doc! {"ok": 1})
            } else if cmd.contains_key("find") {
                Reply::Doc(doc! {"ok": 0, "errmsg": "ns does not exist", "code": 26, "codeName": "NamespaceNotFound"})
            } else {
                Reply::Silent
            }
        })
        .await;
        let opts = EstablishOptions {
            socket_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        let mut conn = establish(&server.address, &opts, 16).await.unwrap();

        let reply = conn.command("test", doc! {"ping": 1}).await.unwrap();
        assert_eq!(reply, doc! {"ok": 1});
        assert_eq!(server.commands()[1], doc! {"ping": 1, "$db": "test"});

        // `$db` and `$clusterTime` are appended as bytes; a command that holds them already
        // (a user's runCommand) sends them once, the connection's values.
        let time = doc! { "clusterTime": bson::Timestamp { time: 9, increment: 1 }, "signature": { "keyId": 3_i64 } };
        let raw_time = bson::RawDocumentBuf::from_document(&time).unwrap();
        let own = doc! {"ping": 1, "$db": "other", "$clusterTime": { "x": 1 }};
        conn.command_with_sequences("test", own, &[], Some(&raw_time))
            .await
            .unwrap();
        assert_eq!(conn.reply().get_i32("ok").unwrap(), 1);
        assert_eq!(
            server.commands()[2],
            doc! {"ping": 1, "$clusterTime": time, "$db": "test"}
        );
        // Without a cluster time to send, the command's own is kept.
        let own = doc! {"ping": 1, "$clusterTime": { "x": 1 }};
        conn.command("test", own).await.unwrap();
        assert_eq!(
            server.commands()[3],
            doc! {"ping": 1, "$clusterTime": { "x": 1 }, "$db": "test"}
        );

        let err = conn.command("test", doc! {"find": "c"}).await.unwrap_err();
        match &*err.kind {
            ErrorKind::Command { code, code_name, message } => {
                assert_eq!((*code, code_name.as_str(), message.as_str()), (26, "NamespaceNotFound", "ns does not exist"));
            }
            other => panic!("expected Command, got {other:?}"),
        }
        assert!(!conn.is_broken(), "a command error leaves the connection usable");

        let err = conn.command("test", doc! {"hang": 1}).await.unwrap_err();
        let ErrorKind::Timeout { message } = &*err.kind else {
            panic!("expected Timeout, got {err:?}")
        };
        assert!(message.contains("socketTimeoutMS"), "{message}");
        assert!(conn.is_broken(), "a timed-out read breaks the connection");
        let err = conn.command("test", doc! {"ping": 1}).await.unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
    })
    .await
}

#[tokio::test]
async fn an_unacknowledged_write_waits_for_no_reply() {
    bounded(async {
        // The server answers pings and nothing else, as it does a moreToCome request.
        let server = FakeServer::start(|cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello_reply())
            } else if cmd.contains_key("ping") {
                Reply::Doc(doc! {"ok": 1})
            } else {
                Reply::Nothing
            }
        })
        .await;
        let opts = EstablishOptions {
            socket_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        let mut conn = establish(&server.address, &opts, 16).await.unwrap();
        let w0 = doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 0}};
        conn.command_with_sequences("test", w0, &[], None)
            .await
            .unwrap();
        assert_eq!(conn.reply().get_i32("ok").unwrap(), 1);
        assert!(!conn.is_broken());
        // The next command reads its own reply, not one left over.
        assert_eq!(
            conn.command("test", doc! {"ping": 1}).await.unwrap(),
            doc! {"ok": 1}
        );
        // w: 0 with j: true is acknowledged: it waits (and here times out).
        let journaled =
            doc! {"insert": "c", "documents": [{"_id": 2}], "writeConcern": {"w": 0, "j": true}};
        assert!(conn.command("test", journaled).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn cancelled_command_leaves_the_connection_broken() {
    bounded(async {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let arrived_at_server = Arc::clone(&arrived);
        let server = FakeServer::start(move |cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello_reply())
            } else {
                arrived_at_server.notify_one();
                Reply::Silent
            }
        })
        .await;
        let mut conn = establish(&server.address, &EstablishOptions::default(), 17)
            .await
            .unwrap();
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            conn.command("test", doc! {"ping": 1}),
        )
        .await;
        assert!(r.is_err(), "the command should still be waiting");
        assert!(conn.is_broken(), "a half-done exchange must not be reused");
    })
    .await
}

#[tokio::test]
async fn hello_max_message_size_applies_to_later_commands() {
    bounded(async {
        let server = FakeServer::start(|cmd| {
            if cmd.contains_key("hello") {
                let mut r = hello_reply();
                r.insert("maxMessageSizeBytes", 200);
                Reply::Doc(r)
            } else {
                Reply::Doc(doc! {"ok": 1})
            }
        })
        .await;
        let mut conn = establish(&server.address, &EstablishOptions::default(), 18)
            .await
            .unwrap();
        let err = conn
            .command("test", doc! {"insert": "c", "x": "a".repeat(500)})
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        assert!(
            !conn.is_broken(),
            "nothing was sent, the connection is fine"
        );
        conn.command("test", doc! {"ping": 1}).await.unwrap();
    })
    .await
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_connection() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mongodb-test.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let rec = Arc::new(Mutex::new(Record::default()));
        let script: Script = Arc::new(|_| Reply::Doc(hello_reply()));
        let r = rec.clone();
        tokio::spawn(async move {
            if let Ok((stream, _)) = listener.accept().await {
                serve(stream, script, r).await;
            }
        });
        let conn = establish(
            &ServerAddress::Unix { path },
            &EstablishOptions::default(),
            19,
        )
        .await
        .unwrap();
        assert!(conn.hello().description.server_type.is_writable());
        assert_eq!(rec.lock().unwrap().commands.len(), 1);
    })
    .await
}

#[test]
fn establish_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let address = ServerAddress::default();
    let opts = EstablishOptions::default();
    let fut = establish(&address, &opts, 0);
    assert_send(&fut);
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EstablishOptions>();
    fn assert_send_only<T: Send>() {}
    assert_send_only::<Connection>();
}

#[tokio::test]
async fn a_close_right_after_tls_says_the_server_may_want_a_client_certificate() {
    bounded(async {
        // TLS 1.3 servers refuse a client certificate after the client's handshake is done: the
        // client sees a reset on its first read (the hello).
        let server = FakeServer::start(|_| Reply::Close).await;
        let opts = EstablishOptions {
            tls: Some(fake_tls(None) as Arc<dyn TlsBackend>),
            ..EstablishOptions::default()
        };
        let err = establish(&server.address, &opts, 40).await.unwrap_err();
        match &*err.kind {
            ErrorKind::TlsHandshake { reason, .. } => {
                assert!(reason.contains("tlsCertificateKeyFile"), "{reason}")
            }
            other => panic!("expected a TLS handshake error, got {other:?}"),
        }

        // With a client certificate, the hint is about the server trusting it.
        let server = FakeServer::start(|_| Reply::Close).await;
        let err = establish(
            &server.address,
            &x509_opts(Some(fake_tls(Some(SUBJECT))), None),
            41,
        )
        .await
        .unwrap_err();
        match &*err.kind {
            ErrorKind::TlsHandshake { reason, .. } => {
                assert!(
                    reason.contains(SUBJECT) && reason.contains("trusts"),
                    "{reason}"
                )
            }
            other => panic!("expected a TLS handshake error, got {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn an_interrupted_command_fails_at_once_with_a_retryable_network_error() {
    bounded(async {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let arrived_at_server = Arc::clone(&arrived);
        let server = FakeServer::start(move |cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello_reply())
            } else {
                arrived_at_server.notify_one();
                Reply::Silent
            }
        })
        .await;
        let mut conn = establish(&server.address, &EstablishOptions::default(), 4)
            .await
            .unwrap();
        let interrupter = Arc::clone(conn.interrupter().expect("a TCP connection has one"));
        // The server never answers the find: only the interruption ends the command (the
        // test is bounded far below any socket timeout).
        let interrupt = async {
            arrived.notified().await;
            interrupter.interrupt();
        };
        let (result, ()) = tokio::join!(conn.command("test", doc! { "find": "c" }), interrupt);
        let err = result.unwrap_err();
        assert_network_error(&err);
        assert!(
            err.to_string()
                .contains("interrupted due to server monitor timeout"),
            "{err}"
        );
        assert!(conn.is_broken());
        // Anything asked later fails too, without waiting.
        assert!(conn.command("test", doc! { "ping": 1 }).await.is_err());
    })
    .await
}
