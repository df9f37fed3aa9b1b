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
use crate::error::{Error, ErrorKind, Result};
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

/// A TLS backend that passes bytes through, presenting `subject` as its client certificate (for
/// the unit tests of other modules).
pub(crate) fn pass_through_tls(subject: Option<&str>) -> Arc<dyn TlsBackend> {
    fake_tls(subject)
}

fn fake_tls(subject: Option<&str>) -> Arc<PassThroughTls> {
    Arc::new(PassThroughTls {
        subject: subject.map(str::to_owned),
        hosts: Mutex::new(Vec::new()),
    })
}

/// What the fake server does with one request.
#[derive(Clone)]
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

    /// A server that answers `hello` with `hello` and any other command as `rest` says.
    async fn with_hello(
        hello: Document,
        rest: impl Fn(&Document) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start(move |cmd| {
            if cmd.contains_key("hello") {
                Reply::Doc(hello.clone())
            } else {
                rest(cmd)
            }
        })
        .await
    }

    /// A server that answers `hello` with [`hello_reply`] and any other command as `rest` says.
    async fn after_hello(rest: impl Fn(&Document) -> Reply + Send + Sync + 'static) -> Self {
        Self::with_hello(hello_reply(), rest).await
    }

    /// Asserts, after giving a connection attempt time to arrive, that none did.
    async fn assert_never_reached(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(self.accepted(), 0, "no connection was even opened");
        assert!(self.commands().is_empty());
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

/// [`hello_reply`] with `fields` added or replaced.
fn hello_with(fields: Document) -> Document {
    let mut hello = hello_reply();
    hello.extend(fields);
    hello
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
        single_attempt: false,
    }
}

/// The options of an X.509 client with a certificate (subject [`SUBJECT`]) that names no user.
fn x509_client() -> EstablishOptions {
    x509_opts(Some(fake_tls(Some(SUBJECT))), None)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .expect("test exceeded its time bound (a hang)")
}

/// Establishes connection `id` to `server` with the default options (no TLS, no credential).
async fn establish_plain(server: &FakeServer, id: u32) -> Result<Connection> {
    establish(&server.address, &EstablishOptions::default(), id).await
}

/// Establishes connection `id` to `server` as [`x509_client`].
async fn establish_x509(server: &FakeServer, id: u32) -> Result<Connection> {
    establish(&server.address, &x509_client(), id).await
}

/// A server that answers `hello`, `ping` with `{ok: 1}` and anything else as `rest` says, and
/// a connection to it whose reads time out after 200 ms.
async fn connection_with_socket_timeout(
    rest: impl Fn(&Document) -> Reply + Send + Sync + 'static,
) -> (FakeServer, Connection) {
    let server = FakeServer::after_hello(move |cmd| {
        if cmd.contains_key("ping") {
            Reply::Doc(doc! {"ok": 1})
        } else {
            rest(cmd)
        }
    })
    .await;
    let opts = EstablishOptions {
        socket_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let conn = establish(&server.address, &opts, 16).await.unwrap();
    (server, conn)
}

/// The script of an X.509 server: `hello` (answering the speculative authentication when
/// `speculative` and the client asks), `authenticate` with `auth_reply`, and anything else
/// with `{ok: 1}`.
fn x509_script(speculative: bool, auth_reply: Document) -> impl Fn(&Document) -> Reply {
    move |cmd| {
        if cmd.contains_key("hello") {
            if speculative && cmd.contains_key("speculativeAuthenticate") {
                let user = doc! {"dbname": "$external", "user": SUBJECT};
                Reply::Doc(hello_with(doc! {"speculativeAuthenticate": user}))
            } else {
                Reply::Doc(hello_reply())
            }
        } else if cmd.contains_key("authenticate") {
            Reply::Doc(auth_reply.clone())
        } else {
            Reply::Doc(doc! {"ok": 1})
        }
    }
}

/// A server that runs [`x509_script`].
async fn auth_server(speculative: bool, auth_reply: Document) -> FakeServer {
    FakeServer::start(x509_script(speculative, auth_reply)).await
}

/// A server that does not answer the speculative authentication and answers `authenticate`
/// with `auth_reply`, and an X.509 client's attempt to connect to it naming `user`.
async fn x509_fallback(
    auth_reply: Document,
    user: Option<&str>,
    id: u32,
) -> (FakeServer, Result<Connection>) {
    let server = auth_server(false, auth_reply).await;
    let opts = x509_opts(Some(fake_tls(Some(SUBJECT))), user);
    let result = establish(&server.address, &opts, id).await;
    (server, result)
}

/// A server that answers `hello` and then nothing, and signals each later command's arrival.
async fn silent_after_hello() -> (FakeServer, Arc<tokio::sync::Notify>) {
    let arrived = Arc::new(tokio::sync::Notify::new());
    let arrived_at_server = Arc::clone(&arrived);
    let server = FakeServer::after_hello(move |_| {
        arrived_at_server.notify_one();
        Reply::Silent
    })
    .await;
    (server, arrived)
}

fn assert_network_error(err: &Error) {
    assert!(
        err.is_network_error(),
        "expected a network error, got {err:?}"
    );
}

/// Asserts that `err` is an `InvalidResponse` whose text contains `containing`.
fn assert_invalid_response(err: &Error, containing: &str) {
    assert!(
        matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
        "expected InvalidResponse containing {containing:?}, got {err:?}"
    );
    assert!(
        err.to_string().contains(containing),
        "expected {containing:?} in {err}"
    );
}

/// The message of a `Timeout` error (a panic for any other error).
fn timeout_message(err: &Error) -> &str {
    let ErrorKind::Timeout { message } = &*err.kind else {
        panic!("expected Timeout, got {err:?}")
    };
    message
}

/// The reason of a `TlsHandshake` error (a panic for any other error).
fn tls_handshake_reason(err: &Error) -> &str {
    let ErrorKind::TlsHandshake { reason, .. } = &*err.kind else {
        panic!("expected a TLS handshake error, got {err:?}")
    };
    reason
}

/// The code, code name and message of a `Command` error (a panic for any other error).
fn command_error(err: &Error) -> (i32, &str, &str) {
    let ErrorKind::Command {
        code,
        code_name,
        message,
    } = &*err.kind
    else {
        panic!("expected Command, got {err:?}")
    };
    (*code, code_name, message)
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
        let authenticated = doc! {"dbname": "$external", "user": SUBJECT, "ok": 1};
        let (server, conn) = x509_fallback(authenticated, None, 2).await;
        let conn = conn.unwrap();
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
        let authenticated = doc! {"dbname": "$external", "user": SUBJECT, "ok": 1};
        let (server, conn) = x509_fallback(authenticated, Some(SUBJECT), 3).await;
        conn.unwrap();
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
        let refused = doc! {"ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"};
        let (_, result) = x509_fallback(refused, None, 4).await;
        let err = result.unwrap_err();
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
        let refused = doc! {"ok": 0, "errmsg": "Authentication failed.", "code": 18};
        let (_, result) = x509_fallback(refused, Some("CN=other"), 4).await;
        let err = result.unwrap_err();
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

/// The error `establish` gives with `opts`, asserted to come before any connection is opened.
async fn refused_before_anything_is_sent(opts: &EstablishOptions) -> Error {
    let server = auth_server(true, doc! {"ok": 1}).await;
    let err = establish(&server.address, opts, 5).await.unwrap_err();
    server.assert_never_reached().await;
    err
}

#[tokio::test]
async fn x509_without_tls_is_refused_before_anything_is_sent() {
    bounded(async {
        let err = refused_before_anything_is_sent(&x509_opts(None, None)).await;
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("MONGODB-X509 needs TLS: set tls=true"),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn x509_without_client_certificate_is_refused_before_anything_is_sent() {
    bounded(async {
        let tls = fake_tls(None);
        let err = refused_before_anything_is_sent(&x509_opts(Some(tls.clone()), None)).await;
        assert!(
            err.to_string()
                .contains("MONGODB-X509 needs a client certificate: set tlsCertificateKeyFile"),
            "{err}"
        );
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
        for mechanism in [
            AuthMechanism::Gssapi,
            AuthMechanism::MongoDbAws,
            AuthMechanism::MongoDbOidc,
        ] {
            let mut opts = x509_opts(Some(fake_tls(Some(SUBJECT))), Some("u"));
            if let Some(c) = opts.credential.as_mut() {
                c.mechanism = Some(mechanism.clone());
            }
            let err = refused_before_anything_is_sent(&opts).await;
            let ErrorKind::NotSupported { message } = &*err.kind else {
                panic!("expected NotSupported, got {err:?}")
            };
            assert!(
                message.contains(&format!("{mechanism} is not supported by mongo-x509")),
                "{message}"
            );
        }
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

#[tokio::test]
async fn a_broken_reply_to_hello_is_an_invalid_response() {
    // A well-sized message with an unknown section kind.
    let mut unknown_section = Vec::new();
    unknown_section.extend_from_slice(&26i32.to_le_bytes());
    unknown_section.extend_from_slice(&1i32.to_le_bytes());
    unknown_section.extend_from_slice(&0i32.to_le_bytes());
    unknown_section.extend_from_slice(&OP_MSG.to_le_bytes());
    unknown_section.extend_from_slice(&0u32.to_le_bytes());
    unknown_section.extend_from_slice(&[9, 5, 0, 0, 0, 0]);
    // Claims 2 GiB and then sends nothing more: the client must not wait for (or allocate) it.
    let mut oversized = Vec::new();
    oversized.extend_from_slice(&i32::MAX.to_le_bytes());
    oversized.extend_from_slice(&[0u8; 12]);
    let cases = [
        (
            "unknown section kind",
            Reply::Raw(unknown_section),
            "unknown OP_MSG section kind 9",
        ),
        (
            "reply to another request",
            Reply::Raw(reply_bytes(-5, &hello_reply())),
            "reply is to request -5",
        ),
        (
            "invalid hello fields",
            Reply::Doc(doc! {"ok": 1, "hosts": 5}),
            "hello reply field hosts",
        ),
        (
            "oversized length prefix",
            Reply::Raw(oversized),
            "exceeds the maximum message size",
        ),
    ];
    for (what, reply, expected) in cases {
        bounded(async {
            let server = FakeServer::start(move |_| reply.clone()).await;
            let started = Instant::now();
            let err = establish_plain(&server, 9).await.unwrap_err();
            assert_invalid_response(&err, expected);
            assert!(started.elapsed() < Duration::from_secs(2), "{what}");
        })
        .await
    }
}

#[tokio::test]
async fn connection_dropped_mid_handshake_is_an_error() {
    bounded(async {
        let server = FakeServer::start(|_| Reply::Close).await;
        let err = establish_plain(&server, 11).await.unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");

        // Dropped after the hello, during authentication.
        let server = FakeServer::after_hello(|_| Reply::Close).await;
        let err = establish_x509(&server, 12).await.unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::Io(_)), "{err}");
        assert_eq!(server.command_names(), ["hello", "authenticate"]);

        // Dropped halfway through a reply.
        let server = FakeServer::start(|_| {
            let mut b = reply_bytes(0, &hello_reply());
            b.truncate(30);
            Reply::RawThenClose(b)
        })
        .await;
        let err = establish_plain(&server, 13).await.unwrap_err();
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
        let message = timeout_message(&err);
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
        let (server, mut conn) = connection_with_socket_timeout(|cmd| {
            if cmd.contains_key("find") {
                Reply::Doc(doc! {"ok": 0, "errmsg": "ns does not exist", "code": 26, "codeName": "NamespaceNotFound"})
            } else {
                Reply::Silent
            }
        })
        .await;

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
        assert_eq!(
            command_error(&err),
            (26, "NamespaceNotFound", "ns does not exist")
        );
        assert!(!conn.is_broken(), "a command error leaves the connection usable");

        let err = conn.command("test", doc! {"hang": 1}).await.unwrap_err();
        let message = timeout_message(&err);
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
        let (_server, mut conn) = connection_with_socket_timeout(|_| Reply::Nothing).await;
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
        let (server, _) = silent_after_hello().await;
        let mut conn = establish_plain(&server, 17).await.unwrap();
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
        let hello = hello_with(doc! {"maxMessageSizeBytes": 200});
        let server = FakeServer::with_hello(hello, |_| Reply::Doc(doc! {"ok": 1})).await;
        let mut conn = establish_plain(&server, 18).await.unwrap();
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
        let reason = tls_handshake_reason(&err);
        assert!(reason.contains("tlsCertificateKeyFile"), "{reason}");

        // With a client certificate, the hint is about the server trusting it.
        let server = FakeServer::start(|_| Reply::Close).await;
        let err = establish_x509(&server, 41).await.unwrap_err();
        let reason = tls_handshake_reason(&err);
        assert!(
            reason.contains(SUBJECT) && reason.contains("trusts"),
            "{reason}"
        );
    })
    .await
}

#[tokio::test]
async fn an_interrupted_command_fails_at_once_with_a_retryable_network_error() {
    bounded(async {
        let (server, arrived) = silent_after_hello().await;
        let mut conn = establish_plain(&server, 4).await.unwrap();
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
