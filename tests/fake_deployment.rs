//! Tests of the fake deployment (tests/common/fake_deployment.rs) itself, with a small raw
//! client (OpenSSL + OP_MSG), not the library's `Client`.

mod common;

use std::pin::Pin;
use std::time::Duration;

use bson::{doc, Bson, Document};
use common::certs::{subject, test_certs};
use common::compression;
use common::fake_deployment::{
    parse_op_msg, read_message, read_op_msg, write_op_msg, FailAction, FakeLoadBalancer,
    FakeMongos, FakeOptions, FakeReplicaSet, FakeStandalone, OpMsg, EXHAUST_ALLOWED, MORE_TO_COME,
};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

/// A raw client: one TLS connection speaking OP_MSG.
struct RawClient {
    tls: SslStream<TcpStream>,
    next_id: i32,
}

impl RawClient {
    /// Connects with `client-pkcs8.pem` (or no certificate), verifying the server as `127.0.0.1`.
    async fn try_connect(addr: &str, with_cert: bool) -> std::io::Result<RawClient> {
        let dir = test_certs();
        let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
        builder.set_ca_file(dir.join("ca.pem")).unwrap();
        if with_cert {
            let pem = dir.join("client-pkcs8.pem");
            builder.set_certificate_chain_file(&pem).unwrap();
            builder
                .set_private_key_file(&pem, SslFiletype::PEM)
                .unwrap();
        }
        let ssl = builder
            .build()
            .configure()
            .unwrap()
            .into_ssl("127.0.0.1")
            .unwrap();
        let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")?;
        let mut tls = SslStream::new(ssl, tcp).unwrap();
        tokio::time::timeout(WAIT, Pin::new(&mut tls).connect())
            .await
            .expect("TLS handshake timed out")
            .map_err(std::io::Error::other)?;
        Ok(RawClient { tls, next_id: 1 })
    }

    async fn connect(addr: &str) -> RawClient {
        Self::try_connect(addr, true)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
    }

    /// Connects and authenticates (MONGODB-X509).
    async fn connect_auth(addr: &str) -> RawClient {
        let mut c = Self::connect(addr).await;
        let reply = c
            .command(doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" })
            .await;
        assert_eq!(reply.get_f64("ok"), Ok(1.0), "{reply}");
        c
    }

    async fn send(&mut self, msg: OpMsg) -> i32 {
        write_op_msg(&mut self.tls, &msg).await.expect("send");
        msg.request_id
    }

    fn next_id(&mut self) -> i32 {
        self.next_id += 1;
        self.next_id
    }

    async fn send_body(&mut self, body: Document, flags: u32) -> i32 {
        let id = self.next_id();
        self.send(OpMsg::new(id, 0, flags, body)).await
    }

    async fn recv(&mut self) -> OpMsg {
        tokio::time::timeout(WAIT, read_op_msg(&mut self.tls))
            .await
            .expect("no reply in time")
            .expect("read reply")
    }

    async fn command(&mut self, body: Document) -> Document {
        let id = self.send_body(body, 0).await;
        let reply = self.recv().await;
        assert_eq!(reply.response_to, id);
        assert_eq!(reply.flags & MORE_TO_COME, 0);
        reply.body
    }
}

fn code(reply: &Document) -> Option<i32> {
    reply.get_i32("code").ok()
}

fn strings(reply: &Document, key: &str) -> Vec<String> {
    reply
        .get_array(key)
        .unwrap_or_else(|_| panic!("no {key} in {reply}"))
        .iter()
        .map(|b| b.as_str().unwrap().to_owned())
        .collect()
}

fn first_batch(reply: &Document) -> Vec<Document> {
    let cursor = reply
        .get_document("cursor")
        .unwrap_or_else(|_| panic!("{reply}"));
    cursor
        .get_array("firstBatch")
        .or_else(|_| cursor.get_array("nextBatch"))
        .unwrap()
        .iter()
        .map(|b| b.as_document().unwrap().clone())
        .collect()
}

fn secondary_ok() -> Document {
    doc! { "mode": "secondaryPreferred" }
}

#[tokio::test]
async fn hello_reports_roles_and_fields() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    assert_eq!(rs.hosts(), rs.addresses());
    assert!(rs.address(0).starts_with("127.0.0.1:"));
    for i in 0..3 {
        let mut c = RawClient::connect(&rs.address(i)).await;
        let r = c
            .command(doc! { "hello": 1, "helloOk": true, "$db": "admin" })
            .await;
        assert_eq!(r.get_bool("isWritablePrimary"), Ok(i == 0), "{r}");
        assert_eq!(r.get_bool("secondary"), Ok(i != 0), "{r}");
        assert_eq!(r.get_str("setName"), Ok("rs0"));
        assert_eq!(strings(&r, "hosts"), rs.hosts());
        assert_eq!(r.get_str("primary"), Ok(rs.address(0).as_str()));
        assert_eq!(r.get_str("me"), Ok(rs.address(i).as_str()));
        assert_eq!(r.get_i32("setVersion"), Ok(1));
        assert_eq!(r.contains_key("electionId"), i == 0);
        assert_eq!(r.get_i32("maxWireVersion"), Ok(21));
        assert_eq!(r.get_i32("minWireVersion"), Ok(0));
        assert_eq!(r.get_i32("logicalSessionTimeoutMinutes"), Ok(30));
        assert!(r.get_bool("helloOk").unwrap());
        let tv = r.get_document("topologyVersion").unwrap();
        assert_eq!(tv, &rs.topology_version(i));
        assert!(r
            .get_document("lastWrite")
            .unwrap()
            .contains_key("lastWriteDate"));
        assert!(r.contains_key("$clusterTime") && r.contains_key("operationTime"));
        assert_eq!(r.get_f64("ok"), Ok(1.0));
        // The legacy spelling answers `ismaster`.
        let legacy = c.command(doc! { "isMaster": 1, "$db": "admin" }).await;
        assert_eq!(legacy.get_bool("ismaster"), Ok(i == 0), "{legacy}");
        assert!(!legacy.contains_key("isWritablePrimary"));
    }

    rs.set_tags(2, doc! { "dc": "east" });
    rs.set_hidden(1, true);
    let mut c = RawClient::connect(&rs.address(2)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_document("tags"), Ok(&doc! { "dc": "east" }));
    assert_eq!(r.get_i32("setVersion"), Ok(3));
    assert_eq!(strings(&r, "hosts"), vec![rs.address(0), rs.address(2)]);
    let mut c = RawClient::connect(&rs.address(1)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("hidden"), Ok(true));

    rs.set_hidden(1, false);
    rs.set_arbiter(1, true);
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("arbiterOnly"), Ok(true));
    assert_eq!(r.get_bool("secondary"), Ok(false));
    assert_eq!(strings(&r, "arbiters"), vec![rs.address(1)]);
}

#[tokio::test]
async fn mongos_routers_share_data() {
    let ms = FakeMongos::start(2, FakeOptions::default());
    let mut a = RawClient::connect_auth(&ms.address(0)).await;
    let mut b = RawClient::connect_auth(&ms.address(1)).await;
    let r = a.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(true));
    assert_eq!(r.get_str("msg"), Ok("isdbgrid"));
    assert!(!r.contains_key("setName") && !r.contains_key("hosts"));
    let r = a
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "$db": "db" })
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    let r = b
        .command(doc! { "find": "c", "filter": { "x": 1 }, "$db": "db" })
        .await;
    assert_eq!(first_batch(&r).len(), 1, "{r}");
    assert!(ms.uri("client-pkcs8.pem", "").contains(&ms.address(1)));
    assert!(!ms.uri("client-pkcs8.pem", "").contains("replicaSet"));
}

/// Compression as mongod does it: `hello` answers the client's list filtered by the fake's, a
/// compressed request gets a reply compressed the same way, a plain one a plain reply, and the
/// wire log says how each request came (noop, id 0, is always compiled in).
#[tokio::test]
async fn compression_is_negotiated_and_replies_follow_the_request() {
    use tokio::io::AsyncWriteExt;
    let ms = FakeMongos::start(
        1,
        FakeOptions {
            compressors: vec!["noop".into()],
            ..FakeOptions::default()
        },
    );
    let mut c = RawClient::connect(&ms.address(0)).await;
    let r = c
        .command(doc! { "hello": 1, "compression": ["zstd", "noop"], "$db": "admin" })
        .await;
    assert_eq!(strings(&r, "compression"), ["noop"]);
    let id = c.next_id();
    let ping = OpMsg::new(id, 0, 0, doc! { "ping": 1, "$db": "admin" }).encode();
    c.tls
        .write_all(&compression::wrap(&ping, compression::NOOP))
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, read_message(&mut c.tls))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply[12..16].try_into().unwrap()),
        compression::OP_COMPRESSED
    );
    let (reply, used) = compression::unwrap(&reply).unwrap();
    assert_eq!(used, compression::NOOP);
    let reply = parse_op_msg(&reply).unwrap();
    assert_eq!(reply.response_to, id);
    assert_eq!(reply.body.get_f64("ok"), Ok(1.0));
    // A plain request still gets a plain reply.
    c.command(doc! { "ping": 1, "$db": "admin" }).await;
    let pings = ms.stats(0).wire("ping");
    assert_eq!(
        pings.iter().map(|r| r.compressor_id).collect::<Vec<_>>(),
        [Some(compression::NOOP), None]
    );
    assert_eq!(pings[0].wire_size, pings[0].uncompressed_size + 9);
}

#[tokio::test]
async fn step_down_wakes_awaiting_hello_and_moves_writes() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let old_election = rs.election_id();
    let mut monitor = RawClient::connect(&rs.address(0)).await;
    let r = monitor.command(doc! { "hello": 1, "$db": "admin" }).await;
    let tv = r.get_document("topologyVersion").unwrap().clone();
    let id = monitor
        .send_body(
            doc! { "hello": 1, "topologyVersion": tv.clone(), "maxAwaitTimeMS": 30_000i64, "$db": "admin" },
            0,
        )
        .await;
    // The awaitable hello is waiting (the member received it) before the election.
    rs.wait_for("the awaitable hello", WAIT, |rs| {
        rs.stats(0).count("hello") == 2
    })
    .await;
    let started = std::time::Instant::now();
    rs.step_down(1);
    let reply = monitor.recv().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply.response_to, id);
    let r = reply.body;
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(false), "{r}");
    assert_eq!(r.get_bool("secondary"), Ok(true));
    assert_eq!(r.get_str("primary"), Ok(rs.address(1).as_str()));
    let new_tv = r.get_document("topologyVersion").unwrap();
    assert_eq!(
        new_tv.get_object_id("processId"),
        tv.get_object_id("processId")
    );
    assert!(new_tv.get_i64("counter").unwrap() > tv.get_i64("counter").unwrap());

    let mut old = RawClient::connect_auth(&rs.address(0)).await;
    let r = old
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(10107), "{r}");
    assert_eq!(r.get_str("codeName"), Ok("NotWritablePrimary"));
    assert_eq!(r.get_str("errmsg"), Ok("not primary"));
    assert_eq!(
        r.get_document("topologyVersion"),
        Ok(&rs.topology_version(0))
    );
    assert!(!r.contains_key("errorLabels"), "not a retryable write: {r}");
    // A retryable write (txnNumber) gets the label a 4.4+ server adds.
    let lsid = doc! { "id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![1; 16] } };
    let r = old
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "lsid": lsid, "txnNumber": 1i64, "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(10107), "{r}");
    assert_eq!(strings(&r, "errorLabels"), vec!["RetryableWriteError"]);

    let mut new = RawClient::connect_auth(&rs.address(1)).await;
    let r = new.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(true));
    let election = r.get_object_id("electionId").unwrap();
    assert!(election > old_election && election == rs.election_id());
    let r = new
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "$db": "db" })
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    assert_eq!(rs.documents("db", "c").len(), 1);

    // No primary at all.
    rs.set_primary(None);
    let r = new.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(false));
    assert!(!r.contains_key("primary"));
}

#[tokio::test]
async fn reads_on_secondaries_and_cursors() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let mut p = RawClient::connect_auth(&rs.address(0)).await;
    let mut s = RawClient::connect_auth(&rs.address(1)).await;
    let docs: Vec<Document> = (0..5).map(|i| doc! { "i": i, "k": "v" }).collect();
    // Inserts with a kind-1 document sequence.
    let id = p.next_id();
    let mut msg = OpMsg::new(id, 0, 0, doc! { "insert": "c", "$db": "db" });
    msg.sequences.push(("documents".to_owned(), docs));
    p.send(msg).await;
    let r = p.recv().await.body;
    assert_eq!(r.get_i32("n"), Ok(5), "{r}");

    let r = s
        .command(doc! { "find": "c", "filter": {}, "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(13435), "{r}");
    assert_eq!(r.get_str("codeName"), Ok("NotPrimaryNoSecondaryOk"));
    let r = s
        .command(doc! { "find": "c", "filter": { "k": "v" }, "batchSize": 2, "$readPreference": secondary_ok(), "$db": "db" })
        .await;
    assert_eq!(first_batch(&r).len(), 2, "{r}");
    let cursor_id = r.get_document("cursor").unwrap().get_i64("id").unwrap();
    assert_ne!(cursor_id, 0);
    // The cursor lives on member 1 only.
    let r = p
        .command(doc! { "getMore": cursor_id, "collection": "c", "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(43), "{r}");
    let r = s
        .command(doc! { "getMore": cursor_id, "collection": "c", "batchSize": 2, "$db": "db" })
        .await;
    assert_eq!(first_batch(&r).len(), 2);
    let r = s
        .command(doc! { "killCursors": "c", "cursors": [cursor_id], "$db": "db" })
        .await;
    assert_eq!(
        r.get_array("cursorsKilled").unwrap(),
        &vec![Bson::Int64(cursor_id)]
    );

    let r = s
        .command(doc! { "find": "c", "filter": { "i": 3 }, "$readPreference": { "mode": "nearest" }, "$db": "db" })
        .await;
    assert_eq!(first_batch(&r)[0].get_i32("i"), Ok(3));
    let r = p
        .command(doc! { "count": "c", "query": { "i": { "$gte": 2 } }, "$db": "db" })
        .await;
    assert_eq!(r.get_i32("n"), Ok(3), "{r}");
    let r = p
        .command(doc! { "aggregate": "c", "pipeline": [{ "$match": { "k": "v" } }, { "$count": "n" }], "cursor": {}, "$db": "db" })
        .await;
    assert_eq!(first_batch(&r), vec![doc! { "n": 5 }]);
    let r = p
        .command(doc! { "update": "c", "updates": [{ "q": { "i": 1 }, "u": { "$set": { "k": "w" }, "$inc": { "i": 10 } } }], "$db": "db" })
        .await;
    assert_eq!(
        (r.get_i32("n"), r.get_i32("nModified")),
        (Ok(1), Ok(1)),
        "{r}"
    );
    let r = p
        .command(doc! { "find": "c", "filter": { "k": "w" }, "$db": "db" })
        .await;
    assert_eq!(first_batch(&r)[0].get_i32("i"), Ok(11));
    let r = p
        .command(
            doc! { "delete": "c", "deletes": [{ "q": { "k": "v" }, "limit": 0 }], "$db": "db" },
        )
        .await;
    assert_eq!(r.get_i32("n"), Ok(4), "{r}");
    let r = p
        .command(doc! { "listDatabases": 1, "nameOnly": true, "$db": "admin" })
        .await;
    assert_eq!(r.get_array("databases").unwrap().len(), 1, "{r}");
    let r = p.command(doc! { "drop": "c", "$db": "db" }).await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    assert!(rs.documents("db", "c").is_empty());
    let r = p.command(doc! { "frobnicate": 1, "$db": "db" }).await;
    assert_eq!(code(&r), Some(59), "{r}");
}

#[tokio::test]
async fn remove_and_add_members_change_hosts() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let mut c0 = RawClient::connect(&rs.address(0)).await;
    let r = c0.command(doc! { "hello": 1, "$db": "admin" }).await;
    let tv = r.get_document("topologyVersion").unwrap().clone();
    rs.remove_member(2);
    let r = c0.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(strings(&r, "hosts"), vec![rs.address(0), rs.address(1)]);
    assert_eq!(r.get_i32("setVersion"), Ok(2));
    assert!(
        r.get_document("topologyVersion")
            .unwrap()
            .get_i64("counter")
            .unwrap()
            > tv.get_i64("counter").unwrap()
    );
    let mut c2 = RawClient::connect(&rs.address(2)).await;
    let r = c2.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert!(!r.contains_key("setName"), "{r}");
    assert_eq!(r.get_bool("isreplicaset"), Ok(true));
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(false));

    let new = rs.add_member();
    assert_eq!(new, 3);
    let r = c0.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(
        strings(&r, "hosts"),
        vec![rs.address(0), rs.address(1), rs.address(3)]
    );
    let mut c3 = RawClient::connect(&rs.address(3)).await;
    let r = c3.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_bool("secondary"), Ok(true));
    assert_eq!(r.get_str("me"), Ok(rs.address(3).as_str()));
    assert!(!rs.uri("client-pkcs8.pem", "").contains(&rs.address(2)));
    assert!(rs.uri("client-pkcs8.pem", "").contains("replicaSet=rs0"));
}

#[tokio::test]
async fn stop_closes_connections_and_restart_changes_process_id() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(1)).await;
    let r = c.command(doc! { "ping": 1, "$db": "admin" }).await;
    assert_eq!(r.get_f64("ok"), Ok(1.0));
    let before = rs.topology_version(1);
    rs.stop(1).await;
    assert_eq!(rs.stats(1).connections_open, 0);
    // The open connection is closed.
    c.send_body(doc! { "ping": 1, "$db": "admin" }, 0).await;
    let read = tokio::time::timeout(WAIT, read_op_msg(&mut c.tls)).await;
    assert!(
        matches!(read, Ok(Err(_))),
        "expected EOF/reset, got {read:?}"
    );
    // New connections are refused.
    let err = TcpStream::connect(rs.address(1)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    rs.restart(1);
    let mut c = RawClient::connect(&rs.address(1)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    let after = r.get_document("topologyVersion").unwrap();
    assert_ne!(
        after.get_object_id("processId"),
        before.get_object_id("processId")
    );
    assert_eq!(after.get_i64("counter"), Ok(0));
    assert_eq!(rs.stats(1).connections_accepted, 2);

    // Dropping the deployment closes its connections too.
    let mut c = RawClient::connect(&rs.address(0)).await;
    rs.shutdown().await;
    let read = tokio::time::timeout(WAIT, read_op_msg(&mut c.tls)).await;
    assert!(matches!(read, Ok(Err(_))), "after shutdown: {read:?}");
    let other = FakeReplicaSet::start("rs1", 1, FakeOptions::default());
    let mut c = RawClient::connect(&other.address(0)).await;
    drop(other);
    let read = tokio::time::timeout(WAIT, read_op_msg(&mut c.tls)).await;
    assert!(matches!(read, Ok(Err(_))), "after drop: {read:?}");
}

#[tokio::test]
async fn counters_sessions_and_closing() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let mut a = RawClient::connect_auth(&rs.address(0)).await;
    let b = RawClient::connect(&rs.address(0)).await;
    rs.wait_for("two connections", WAIT, |rs| {
        rs.stats(0).connections_open == 2
    })
    .await;
    let lsid = doc! { "id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] } };
    let r = a
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "lsid": lsid.clone(), "txnNumber": 5i64, "$db": "db" })
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    let stats = rs.stats(0);
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.count("authenticate"), 1);
    assert_eq!(stats.count("insert"), 1);
    assert_eq!(stats.authentications, vec![subject("client")]);
    assert_eq!(stats.write_sessions.len(), 1);
    assert_eq!(stats.write_sessions[0].lsid.as_ref(), Some(&lsid));
    assert_eq!(stats.write_sessions[0].txn_number, Some(5));
    assert_eq!(rs.stats(1).connections_accepted, 0);
    drop(a);
    drop(b);
    rs.wait_for("all connections closed", WAIT, |rs| {
        rs.connections_open() == 0
    })
    .await;
}

#[tokio::test]
async fn authentication_and_fail_points() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(0)).await;
    let r = c.command(doc! { "find": "c", "$db": "db" }).await;
    assert_eq!(code(&r), Some(13), "{r}");
    let r = c
        .command(doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": "CN=someone", "$db": "$external" })
        .await;
    assert_eq!(code(&r), Some(18), "{r}");
    let r = c
        .command(doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" })
        .await;
    assert_eq!(r.get_str("user"), Ok(subject("client").as_str()), "{r}");
    assert_eq!(r.get_str("dbname"), Ok("$external"));

    // Speculative authentication in hello.
    let mut s = RawClient::connect(&rs.address(0)).await;
    let r = s
        .command(doc! { "hello": 1, "speculativeAuthenticate": { "authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external" }, "$db": "admin" })
        .await;
    assert_eq!(
        r.get_document("speculativeAuthenticate"),
        Ok(&doc! { "dbname": "$external", "user": subject("client") })
    );
    let r = s.command(doc! { "find": "c", "$db": "db" }).await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    assert_eq!(rs.stats(0).speculative_authentications, 1);

    // One-shot fail points.
    rs.fail_next(
        0,
        "ping",
        FailAction::error(11600, "InterruptedAtShutdown", "shutting down"),
    );
    let r = c.command(doc! { "ping": 1, "$db": "admin" }).await;
    assert_eq!(code(&r), Some(11600), "{r}");
    assert!(r.contains_key("topologyVersion"));
    let r = c.command(doc! { "ping": 1, "$db": "admin" }).await;
    assert_eq!(r.get_f64("ok"), Ok(1.0));
    rs.fail_next(0, "hello", FailAction::CloseConnection);
    c.send_body(doc! { "isMaster": 1, "$db": "admin" }, 0).await;
    let read = tokio::time::timeout(WAIT, read_op_msg(&mut c.tls)).await;
    assert!(
        matches!(read, Ok(Err(_))),
        "expected a closed connection, got {read:?}"
    );

    // Without a client certificate, the server refuses the connection.
    let attempt = async {
        let mut c = RawClient::try_connect(&rs.address(0), false).await?;
        c.send_body(doc! { "ping": 1, "$db": "admin" }, 0).await;
        read_op_msg(&mut c.tls).await
    };
    let result = tokio::time::timeout(WAIT, attempt).await.expect("bounded");
    assert!(
        result.is_err(),
        "a client without a certificate got {result:?}"
    );

    let no_spec = FakeReplicaSet::start(
        "rs1",
        1,
        FakeOptions {
            speculative_auth: false,
            ..FakeOptions::default()
        },
    );
    let mut s = RawClient::connect(&no_spec.address(0)).await;
    let r = s
        .command(doc! { "hello": 1, "speculativeAuthenticate": { "authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external" }, "$db": "admin" })
        .await;
    assert!(!r.contains_key("speculativeAuthenticate"), "{r}");
}

#[tokio::test]
async fn standing_fail_points_apply_to_every_match_until_cleared() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    rs.fail_always(0, "authenticate", FailAction::CloseConnection);
    for _ in 0..3 {
        // A monitoring connection (hello, never authenticated) is answered.
        let mut c = RawClient::connect(&rs.address(0)).await;
        let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
        assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
        // An application connection is closed when it authenticates.
        c.send_body(
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" },
            0,
        )
        .await;
        let read = tokio::time::timeout(WAIT, read_op_msg(&mut c.tls)).await;
        assert!(matches!(read, Ok(Err(_))), "expected a close, got {read:?}");
    }
    assert_eq!(rs.stats(0).count("authenticate"), 3);
    rs.clear_fail_always(0);
    RawClient::connect_auth(&rs.address(0)).await;
}

#[tokio::test]
async fn freeze_holds_replies_until_unfrozen() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(0)).await;
    rs.freeze(0);
    let id = c.send_body(doc! { "ping": 1, "$db": "admin" }, 0).await;
    rs.wait_for("the ping", WAIT, |rs| rs.stats(0).count("ping") == 1)
        .await;
    let early = tokio::time::timeout(Duration::from_millis(100), read_op_msg(&mut c.tls)).await;
    assert!(early.is_err(), "a frozen member answered: {early:?}");
    rs.unfreeze(0);
    let reply = c.recv().await;
    assert_eq!(reply.response_to, id);
}

#[tokio::test]
async fn exhaust_hello_streams_more_to_come_replies() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(1)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    let mut stale = r.get_document("topologyVersion").unwrap().clone();
    stale.insert("counter", -1i64); // older than the member's: the first reply comes at once
    let id = c
        .send_body(
            doc! { "hello": 1, "topologyVersion": stale, "maxAwaitTimeMS": 30_000i64, "$db": "admin" },
            EXHAUST_ALLOWED,
        )
        .await;
    let first = c.recv().await;
    assert_eq!(first.response_to, id);
    assert_ne!(first.flags & MORE_TO_COME, 0);
    let tv = first.body.get_document("topologyVersion").unwrap().clone();

    rs.step_down(1);
    let second = c.recv().await;
    assert_eq!(second.response_to, first.request_id);
    assert_ne!(second.flags & MORE_TO_COME, 0);
    assert_eq!(second.body.get_bool("isWritablePrimary"), Ok(true));
    let tv2 = second.body.get_document("topologyVersion").unwrap();
    assert!(tv2.get_i64("counter").unwrap() > tv.get_i64("counter").unwrap());
    // One hello command, two replies; closing the client ends the stream.
    assert_eq!(rs.stats(1).count("hello"), 2);
    drop(c);
    rs.wait_for("the exhaust connection closed", WAIT, |rs| {
        rs.stats(1).connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn awaitable_hello_times_out_with_an_unchanged_answer() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(0)).await;
    let tv = rs.topology_version(0);
    let started = std::time::Instant::now();
    let r = c
        .command(doc! { "hello": 1, "topologyVersion": tv.clone(), "maxAwaitTimeMS": 50i64, "$db": "admin" })
        .await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.get_document("topologyVersion"), Ok(&tv));
}

#[tokio::test]
async fn protocol_errors_of_real_servers() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut c = RawClient::connect(&rs.address(0)).await;
    let r = c.command(doc! { "ping": 1 }).await;
    assert_eq!(code(&r), Some(40571), "no $db: {r}");
    let client = doc! { "driver": { "name": "fake-test", "version": "0" } };
    let r = c
        .command(doc! { "hello": 1, "client": client.clone(), "$db": "admin" })
        .await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    let r = c
        .command(doc! { "hello": 1, "client": client, "$db": "admin" })
        .await;
    assert_eq!(code(&r), Some(186), "metadata twice: {r}");
    assert_eq!(rs.stats(0).hellos(), 2);

    // An unacknowledged (moreToCome) write refused as "not primary" closes the connection.
    let rs = FakeReplicaSet::start("rs2", 2, FakeOptions::default());
    let mut s = RawClient::connect_auth(&rs.address(1)).await;
    s.send_body(
        doc! { "insert": "c", "documents": [{ "x": 1 }], "writeConcern": { "w": 0 }, "$db": "db" },
        MORE_TO_COME,
    )
    .await;
    let read = tokio::time::timeout(WAIT, read_op_msg(&mut s.tls)).await;
    assert!(
        matches!(read, Ok(Err(_))),
        "expected a closed connection, got {read:?}"
    );
    // On the primary it is applied, with no reply.
    let mut p = RawClient::connect_auth(&rs.address(0)).await;
    p.send_body(
        doc! { "insert": "c", "documents": [{ "x": 1 }], "writeConcern": { "w": 0 }, "$db": "db" },
        MORE_TO_COME,
    )
    .await;
    let r = p.command(doc! { "count": "c", "$db": "db" }).await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
}

fn lsid(byte: u8) -> Document {
    doc! { "id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![byte; 16] } }
}

#[tokio::test]
async fn a_standalone_answers_hello_like_mongod_and_refuses_txn_numbers() {
    let fake = FakeStandalone::start(FakeOptions::default());
    let mut c = RawClient::connect_auth(&fake.address(0)).await;
    let r = c
        .command(doc! { "hello": 1, "helloOk": true, "$db": "admin" })
        .await;
    assert_eq!(r.get_bool("isWritablePrimary"), Ok(true), "{r}");
    assert_eq!(r.get_i32("logicalSessionTimeoutMinutes"), Ok(30));
    for absent in [
        "setName",
        "hosts",
        "msg",
        "primary",
        "secondary",
        "lastWrite",
        "$clusterTime",
        "operationTime",
    ] {
        assert!(!r.contains_key(absent), "{absent} in {r}");
    }
    assert!(r.contains_key("topologyVersion"));

    // Sessions, yes; transaction numbers, no: exactly mongod's refusal.
    let r = c
        .command(doc! { "insert": "c", "documents": [{ "_id": 1 }], "lsid": lsid(1), "$db": "db" })
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    assert!(!r.contains_key("$clusterTime") && !r.contains_key("operationTime"));
    for cmd in [
        doc! { "insert": "c", "documents": [{ "_id": 2 }], "lsid": lsid(1), "txnNumber": 1i64, "$db": "db" },
        doc! { "update": "c", "updates": [{ "q": {}, "u": { "$inc": { "n": 1 } } }], "lsid": lsid(1), "txnNumber": 2i64, "$db": "db" },
        doc! { "delete": "c", "deletes": [{ "q": {}, "limit": 1 }], "lsid": lsid(1), "txnNumber": 3i64, "$db": "db" },
        doc! { "findAndModify": "c", "query": {}, "remove": true, "lsid": lsid(1), "txnNumber": 4i64, "$db": "db" },
    ] {
        let r = c.command(cmd.clone()).await;
        assert_eq!(r.get_f64("ok"), Ok(0.0), "{cmd}: {r}");
        assert_eq!(code(&r), Some(20), "{r}");
        assert_eq!(r.get_str("codeName"), Ok("IllegalOperation"));
        assert_eq!(
            r.get_str("errmsg"),
            Ok("Transaction numbers are only allowed on a replica set member or mongos")
        );
        assert!(!r.contains_key("errorLabels"), "not retryable: {r}");
    }
    assert_eq!(
        fake.documents("db", "c"),
        vec![doc! { "_id": 1 }],
        "nothing refused was applied"
    );
    let sent = fake.stats(0).write_sessions;
    assert_eq!(sent.len(), 5, "refused writes are recorded too");
    assert_eq!(sent[4].command, "findAndModify");
}

#[tokio::test]
async fn replica_set_members_mongos_and_load_balancers_take_txn_numbers_as_mongod_does() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let mongos = FakeMongos::start(1, FakeOptions::default());
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    for (what, address) in [
        ("primary", rs.address(0)),
        ("mongos", mongos.address(0)),
        ("load balancer", lb.address(0)),
    ] {
        let mut c = RawClient::connect_auth(&address).await;
        let r = c
            .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "lsid": lsid(2), "txnNumber": 1i64, "$db": "db" })
            .await;
        assert_eq!(r.get_i32("n"), Ok(1), "{what}: {r}");
        assert!(r.contains_key("$clusterTime"), "{what} gossips: {r}");
        let r = c
            .command(doc! { "findAndModify": "c", "query": { "x": 1 }, "update": { "$inc": { "x": 1 } }, "new": true, "lsid": lsid(2), "txnNumber": 2i64, "$db": "db" })
            .await;
        assert_eq!(
            r.get_document("value")
                .ok()
                .and_then(|v| v.get_i32("x").ok()),
            Some(2),
            "{what}: {r}"
        );
        // A txnNumber needs an lsid, and a command that is a retryable write.
        let r = c
            .command(
                doc! { "insert": "c", "documents": [{ "x": 1 }], "txnNumber": 3i64, "$db": "db" },
            )
            .await;
        assert_eq!(code(&r), Some(72), "{what}: {r}");
        assert_eq!(r.get_str("codeName"), Ok("InvalidOptions"));
        let r = c
            .command(doc! { "find": "c", "lsid": lsid(2), "txnNumber": 4i64, "$db": "db" })
            .await;
        assert_eq!(code(&r), Some(50768), "{what}: {r}");
    }
    // A secondary refuses writes, with or without a txnNumber, as NotWritablePrimary; the
    // retryable one labelled as a 4.4+ server does.
    let mut secondary = RawClient::connect_auth(&rs.address(1)).await;
    let r = secondary
        .command(doc! { "insert": "c", "documents": [{ "x": 1 }], "lsid": lsid(3), "txnNumber": 1i64, "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(10107), "{r}");
    assert_eq!(r.get_str("codeName"), Ok("NotWritablePrimary"));
    assert_eq!(strings(&r, "errorLabels"), vec!["RetryableWriteError"]);
    let r = secondary
        .command(doc! { "findAndModify": "c", "query": {}, "remove": true, "$db": "db" })
        .await;
    assert_eq!(code(&r), Some(10107), "{r}");
}

#[tokio::test]
async fn find_and_modify_answers_value_and_last_error_object() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    rs.seed(
        "db",
        "c",
        [doc! { "_id": 1, "n": 5 }, doc! { "_id": 2, "n": 1 }],
    );
    let mut c = RawClient::connect_auth(&rs.address(0)).await;
    // The first in sort order; the document before the change by default.
    let r = c
        .command(doc! { "findAndModify": "c", "query": {}, "sort": { "n": 1 }, "update": { "$set": { "a": 1 } }, "$db": "db" })
        .await;
    assert_eq!(
        r.get_document("value"),
        Ok(&doc! { "_id": 2, "n": 1 }),
        "{r}"
    );
    assert_eq!(
        r.get_document("lastErrorObject"),
        Ok(&doc! { "n": 1, "updatedExisting": true })
    );
    // A replacement, returning the new document.
    let r = c
        .command(doc! { "findAndModify": "c", "query": { "_id": 1 }, "update": { "m": 1 }, "new": true, "$db": "db" })
        .await;
    assert_eq!(
        r.get_document("value"),
        Ok(&doc! { "_id": 1, "m": 1 }),
        "{r}"
    );
    // An upsert.
    let r = c
        .command(doc! { "findAndModify": "c", "query": { "_id": 3 }, "update": { "$set": { "u": 1 } }, "upsert": true, "$db": "db" })
        .await;
    assert_eq!(r.get("value"), Some(&Bson::Null), "{r}");
    assert_eq!(
        r.get_document("lastErrorObject"),
        Ok(&doc! { "n": 1, "updatedExisting": false, "upserted": 3 })
    );
    // Nothing matched.
    let r = c
        .command(doc! { "findAndModify": "c", "query": { "_id": 9 }, "remove": true, "$db": "db" })
        .await;
    assert_eq!(r.get("value"), Some(&Bson::Null), "{r}");
    assert_eq!(r.get_document("lastErrorObject"), Ok(&doc! { "n": 0 }));
    // A removal.
    let r = c
        .command(doc! { "findAndModify": "c", "query": { "_id": 3 }, "remove": true, "$db": "db" })
        .await;
    assert_eq!(
        r.get_document("value"),
        Ok(&doc! { "_id": 3, "u": 1 }),
        "{r}"
    );
    assert_eq!(
        rs.documents("db", "c"),
        vec![doc! { "_id": 1, "m": 1 }, doc! { "_id": 2, "n": 1, "a": 1 }]
    );
    // Neither an update nor remove, or both: refused.
    for bad in [
        doc! { "findAndModify": "c", "query": {}, "$db": "db" },
        doc! { "findAndModify": "c", "query": {}, "remove": true, "update": { "m": 2 }, "$db": "db" },
    ] {
        let r = c.command(bad).await;
        assert_eq!(code(&r), Some(9), "{r}");
    }
}

#[tokio::test]
async fn a_member_can_stop_reporting_logical_session_timeout() {
    let rs = FakeReplicaSet::start("rs0", 2, FakeOptions::default());
    let before = rs.topology_version(1);
    rs.set_logical_session_timeout(1, None);
    assert!(
        rs.topology_version(1).get_i64("counter").unwrap() > before.get_i64("counter").unwrap()
    );
    let mut c = RawClient::connect(&rs.address(1)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert!(!r.contains_key("logicalSessionTimeoutMinutes"), "{r}");
    let mut c = RawClient::connect(&rs.address(0)).await;
    let r = c.command(doc! { "hello": 1, "$db": "admin" }).await;
    assert_eq!(r.get_i32("logicalSessionTimeoutMinutes"), Ok(30));
}

/// The fields of a command in transaction `txn` of session `session` (`first`: it starts it).
fn in_txn(mut body: Document, session: u8, txn: i64, first: bool) -> Document {
    body.insert("lsid", lsid(session));
    body.insert("txnNumber", txn);
    if first {
        body.insert("startTransaction", true);
    }
    body.insert("autocommit", false);
    body
}

fn labels_of(reply: &Document) -> Vec<String> {
    reply
        .get_array("errorLabels")
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_primary_runs_transactions_and_refuses_what_mongod_refuses() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut c = RawClient::connect_auth(&rs.address(0)).await;
    let r = c
        .command(in_txn(
            doc! { "insert": "c", "documents": [{ "_id": 1 }], "readConcern": { "level": "snapshot" }, "$db": "db" },
            1,
            1,
            true,
        ))
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    assert!(
        !r.contains_key("recoveryToken"),
        "only mongos sends one: {r}"
    );
    // Outside the transaction nothing is visible yet; inside it is.
    let outside = c.command(doc! { "find": "c", "$db": "db" }).await;
    assert!(first_batch(&outside).is_empty(), "{outside}");
    assert!(rs.documents("db", "c").is_empty());
    let inside = c
        .command(in_txn(doc! { "find": "c", "$db": "db" }, 1, 1, false))
        .await;
    assert_eq!(first_batch(&inside), [doc! { "_id": 1 }]);
    // readConcern after the first command, writeConcern before the commit: InvalidOptions.
    for body in [
        doc! { "find": "c", "readConcern": { "level": "local" }, "$db": "db" },
        doc! { "insert": "c", "documents": [{ "_id": 2 }], "writeConcern": { "w": 1 }, "$db": "db" },
    ] {
        let r = c.command(in_txn(body, 1, 1, false)).await;
        assert_eq!(code(&r), Some(72), "{r}");
    }
    // A transaction the server never started: NoSuchTransaction, transient.
    let r = c
        .command(in_txn(doc! { "find": "c", "$db": "db" }, 1, 7, false))
        .await;
    assert_eq!(code(&r), Some(251), "{r}");
    assert_eq!(labels_of(&r), ["TransientTransactionError"]);
    // commitTransaction needs autocommit; then installs the data, and may be repeated.
    let r = c
        .command(
            doc! { "commitTransaction": 1, "lsid": lsid(1), "txnNumber": 1i64, "$db": "admin" },
        )
        .await;
    assert_eq!(code(&r), Some(50768), "{r}");
    let commit = in_txn(
        doc! { "commitTransaction": 1, "writeConcern": { "w": "majority" }, "$db": "admin" },
        1,
        1,
        false,
    );
    for _ in 0..2 {
        let r = c.command(commit.clone()).await;
        assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    }
    assert_eq!(rs.documents("db", "c"), [doc! { "_id": 1 }]);
    // An older number cannot start again; an aborted transaction leaves nothing.
    let r = c
        .command(in_txn(
            doc! { "insert": "c", "documents": [{ "_id": 3 }], "$db": "db" },
            1,
            1,
            true,
        ))
        .await;
    assert_eq!(code(&r), Some(251), "{r}");
    let r = c
        .command(in_txn(
            doc! { "insert": "c", "documents": [{ "_id": 3 }], "$db": "db" },
            1,
            2,
            true,
        ))
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    let r = c
        .command(in_txn(
            doc! { "abortTransaction": 1, "$db": "admin" },
            1,
            2,
            false,
        ))
        .await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    let r = c
        .command(in_txn(
            doc! { "commitTransaction": 1, "$db": "admin" },
            1,
            2,
            false,
        ))
        .await;
    assert_eq!(code(&r), Some(251), "a commit after the abort: {r}");
    assert_eq!(rs.documents("db", "c"), [doc! { "_id": 1 }]);
}

#[tokio::test]
async fn a_mongos_keeps_its_transactions_and_another_recovers_the_outcome_by_token() {
    let mongos = FakeMongos::start(2, FakeOptions::default());
    let mut a = RawClient::connect_auth(&mongos.address(0)).await;
    let mut b = RawClient::connect_auth(&mongos.address(1)).await;
    let r = a
        .command(in_txn(
            doc! { "insert": "c", "documents": [{ "_id": 1 }], "$db": "db" },
            1,
            1,
            true,
        ))
        .await;
    let token = r
        .get_document("recoveryToken")
        .expect("recoveryToken")
        .clone();
    // The other router does not know the transaction.
    let r = b
        .command(in_txn(doc! { "find": "c", "$db": "db" }, 1, 1, false))
        .await;
    assert_eq!(code(&r), Some(251), "{r}");
    let mut commit_b = in_txn(doc! { "commitTransaction": 1, "$db": "admin" }, 1, 1, false);
    commit_b.insert("recoveryToken", token);
    // Not committed yet: the token recovers no commit.
    let r = b.command(commit_b.clone()).await;
    assert_eq!(code(&r), Some(251), "{r}");
    let r = a
        .command(in_txn(
            doc! { "commitTransaction": 1, "$db": "admin" },
            1,
            1,
            false,
        ))
        .await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "{r}");
    assert!(r.contains_key("recoveryToken"), "{r}");
    let r = b.command(commit_b.clone()).await;
    assert_eq!(r.get_f64("ok"), Ok(1.0), "recovered: {r}");
    commit_b.remove("recoveryToken");
    let r = b.command(commit_b).await;
    assert_eq!(code(&r), Some(251), "without the token: {r}");
    assert_eq!(mongos.documents("db", "c"), [doc! { "_id": 1 }]);
}

#[tokio::test]
async fn behind_the_load_balancer_a_transaction_lives_on_its_connection() {
    let lb = FakeLoadBalancer::start(FakeOptions::default());
    let mut a = RawClient::connect_auth(&lb.address(0)).await;
    let mut b = RawClient::connect_auth(&lb.address(0)).await;
    let r = a
        .command(in_txn(
            doc! { "insert": "c", "documents": [{ "_id": 1 }], "$db": "db" },
            1,
            1,
            true,
        ))
        .await;
    assert_eq!(r.get_i32("n"), Ok(1), "{r}");
    let r = b
        .command(in_txn(doc! { "find": "c", "$db": "db" }, 1, 1, false))
        .await;
    assert_eq!(code(&r), Some(251), "another connection: {r}");
    // Closing the connection aborts its transaction.
    drop(a);
    lb.wait_for("the transaction aborted", WAIT, |d| {
        d.connections_open() == 1
    })
    .await;
    let mut c = RawClient::connect_auth(&lb.address(0)).await;
    let r = c
        .command(in_txn(
            doc! { "commitTransaction": 1, "$db": "admin" },
            1,
            1,
            false,
        ))
        .await;
    assert_eq!(code(&r), Some(251), "{r}");
    assert!(lb.documents("db", "c").is_empty());
}

#[tokio::test]
async fn change_streams_report_inserts_with_resume_tokens_as_mongod_does() {
    let rs = FakeReplicaSet::start("rs0", 1, FakeOptions::default());
    let mut p = RawClient::connect_auth(&rs.address(0)).await;
    let open = |stage: Document| {
        doc! { "aggregate": "c", "pipeline": [{ "$changeStream": stage }], "cursor": {}, "$db": "db" }
    };
    let r = p.command(open(doc! {})).await;
    assert!(first_batch(&r).is_empty(), "{r}");
    let cursor = r.get_document("cursor").unwrap();
    let id = cursor.get_i64("id").unwrap();
    assert_ne!(id, 0, "a change stream cursor stays open");
    let start = cursor.get_document("postBatchResumeToken").unwrap().clone();
    // Nothing yet: an empty batch, the cursor still open, the same place.
    let more = doc! { "getMore": id, "collection": "c", "$db": "db" };
    let r = p.command(more.clone()).await;
    assert!(first_batch(&r).is_empty());
    assert_eq!(r.get_document("cursor").unwrap().get_i64("id"), Ok(id));
    assert_eq!(
        r.get_document("cursor")
            .unwrap()
            .get_document("postBatchResumeToken"),
        Ok(&start)
    );
    p.command(doc! { "insert": "c", "documents": [{ "_id": 1 }, { "_id": 2 }], "$db": "db" })
        .await;
    p.command(doc! { "insert": "other", "documents": [{ "_id": 3 }], "$db": "db" })
        .await;
    let r = p.command(more.clone()).await;
    let events = first_batch(&r);
    assert_eq!(events.len(), 2, "only this collection's: {r}");
    assert_eq!(events[0].get_str("operationType"), Ok("insert"));
    assert_eq!(
        events[0].get_document("documentKey"),
        Ok(&doc! { "_id": 1 })
    );
    assert_eq!(
        events[0].get_document("fullDocument"),
        Ok(&doc! { "_id": 1 })
    );
    assert_eq!(
        events[0].get_document("ns"),
        Ok(&doc! { "db": "db", "coll": "c" })
    );
    // The batch's token is past the other collection's insert too.
    let after = r
        .get_document("cursor")
        .unwrap()
        .get_document("postBatchResumeToken")
        .unwrap()
        .clone();
    assert_ne!(&after, events[1].get_document("_id").unwrap());
    // Resuming after the first event gives the second; a token of nothing is refused.
    let first = events[0].get_document("_id").unwrap().clone();
    let r = p.command(open(doc! { "resumeAfter": first })).await;
    let id = r.get_document("cursor").unwrap().get_i64("id").unwrap();
    let r = p
        .command(doc! { "getMore": id, "collection": "c", "$db": "db" })
        .await;
    assert_eq!(first_batch(&r).len(), 1);
    assert_eq!(
        first_batch(&r)[0].get_document("documentKey"),
        Ok(&doc! { "_id": 2 })
    );
    let r = p
        .command(open(doc! { "resumeAfter": { "_data": "zz" } }))
        .await;
    assert_eq!(code(&r), Some(260), "{r}");
    // A database-wide stream sees both collections.
    let r = p
        .command(doc! { "aggregate": 1, "pipeline": [{ "$changeStream": { "startAfter": start } }], "cursor": {}, "$db": "db" })
        .await;
    let cursor = r.get_document("cursor").unwrap();
    assert_eq!(cursor.get_str("ns"), Ok("db.$cmd.aggregate"));
    let id = cursor.get_i64("id").unwrap();
    let r = p
        .command(doc! { "getMore": id, "collection": "$cmd.aggregate", "$db": "db" })
        .await;
    assert_eq!(first_batch(&r).len(), 3);

    // A standalone has no oplog: refused, as mongod does.
    let m = FakeStandalone::start(FakeOptions::default());
    let mut c = RawClient::connect_auth(&m.address(0)).await;
    let r = c.command(open(doc! {})).await;
    assert_eq!(code(&r), Some(40573), "{r}");
}
