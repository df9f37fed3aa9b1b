//! A load balancer in front of the SecantusDB test server: what a client in load-balanced mode
//! sees of a real deployment (a TCP load balancer in front of a mongos that supports
//! `loadBalanced: true`), with every command the real server has behind it.
//!
//! Each client connection (TLS with a required client certificate, as the test server's) gets
//! its own connection to the server, opened with the same test client certificate, so the
//! client's MONGODB-X509 `authenticate` on it names the same subject. Messages pass through
//! untouched, except the connection handshake: a `hello`/`isMaster` carrying
//! `loadBalanced: true` reaches the server without that field (SecantusDB is a replica-set
//! member, not a mongos), and its reply gets what a mongos behind a load balancer answers:
//! `serviceId` and `msg: "isdbgrid"`, without the replica-set fields. A connection closed on
//! one side is closed on the other, so a server-side `closeConnection` fail point reaches the
//! client as a network error.
//!
//! It listens on two ports, as the Unified Test Format's two load balancers: on
//! [`port`](LbProxy::port) it fronts a single mongos (one `serviceId`); on
//! [`multi_port`](LbProxy::multi_port) two, handing connections to them in turn (round robin:
//! the first, third, ... get the first `serviceId`, the others the second). Both "mongoses"
//! front the same server, as two mongoses front the same shards.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bson::oid::ObjectId;
use openssl::ssl::{Ssl, SslConnector, SslFiletype, SslMethod};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use super::certs;
use super::fake_deployment::{parse_op_msg, read_message, OP_MSG};

/// Replica-set fields a mongos does not report.
const REPLICA_SET_FIELDS: &[&str] = &[
    "setName",
    "setVersion",
    "hosts",
    "passives",
    "arbiters",
    "primary",
    "me",
    "secondary",
    "electionId",
    "lastWrite",
    "tags",
    "hidden",
    "arbiterOnly",
];

/// A running proxy; dropping it stops accepting (open connections end with their tasks).
pub struct LbProxy {
    /// The port it listens on at 127.0.0.1, fronting one mongos.
    pub port: u16,
    /// The `serviceId` of every handshake reply on [`port`](Self::port).
    pub service_id: ObjectId,
    /// The port fronting two mongoses, at 127.0.0.1.
    pub multi_port: u16,
    /// Their `serviceId`s, given to connections on [`multi_port`](Self::multi_port) in turn.
    pub multi_service_ids: [ObjectId; 2],
    accept: [JoinHandle<()>; 2],
}

impl Drop for LbProxy {
    fn drop(&mut self) {
        for a in &self.accept {
            a.abort();
        }
    }
}

impl LbProxy {
    /// Starts a proxy to `127.0.0.1:upstream_port`, connecting there with the test identity
    /// `client_cert` (a certificate-key file of the test certificate directory).
    pub async fn start(upstream_port: u16, client_cert: &str) -> std::io::Result<LbProxy> {
        let acceptor = Arc::new(certs::client_cert_acceptor("server.pem"));
        let dir = certs::test_certs();
        let connector = Arc::new(upstream_connector(
            dir.join(client_cert),
            dir.join("ca.pem"),
        ));
        let service_id = ObjectId::new();
        let multi_service_ids = [ObjectId::new(), ObjectId::new()];
        let (port, single) = listen(
            vec![service_id],
            acceptor.clone(),
            connector.clone(),
            upstream_port,
        )
        .await?;
        let (multi_port, multi) = listen(
            multi_service_ids.to_vec(),
            acceptor,
            connector,
            upstream_port,
        )
        .await?;
        Ok(LbProxy {
            port,
            service_id,
            multi_port,
            multi_service_ids,
            accept: [single, multi],
        })
    }
}

/// Accepts connections on a new port of 127.0.0.1, giving them `services` in turn.
async fn listen(
    services: Vec<ObjectId>,
    acceptor: Arc<openssl::ssl::SslAcceptor>,
    connector: Arc<SslConnector>,
    upstream_port: u16,
) -> std::io::Result<(u16, JoinHandle<()>)> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let port = listener.local_addr()?.port();
    let accept = tokio::spawn(async move {
        for service_id in services.iter().copied().cycle() {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            let connector = connector.clone();
            tokio::spawn(async move {
                let _ = serve(tcp, &acceptor, &connector, upstream_port, service_id).await;
            });
        }
    });
    Ok((port, accept))
}

fn upstream_connector(identity: PathBuf, ca: PathBuf) -> SslConnector {
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("OpenSSL client context");
    b.set_certificate_chain_file(&identity)
        .expect("proxy client certificate");
    b.set_private_key_file(&identity, SslFiletype::PEM)
        .expect("proxy client key");
    b.set_ca_file(ca).expect("proxy CA");
    b.build()
}

type Tls = SslStream<TcpStream>;

async fn serve(
    tcp: TcpStream,
    acceptor: &openssl::ssl::SslAcceptor,
    connector: &SslConnector,
    upstream_port: u16,
    service_id: ObjectId,
) -> std::io::Result<()> {
    let other = |e: openssl::error::ErrorStack| std::io::Error::other(e.to_string());
    let mut client = SslStream::new(Ssl::new(acceptor.context()).map_err(other)?, tcp)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Pin::new(&mut client)
        .accept()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let up_tcp = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port))).await?;
    let ssl = connector
        .configure()
        .map_err(other)?
        .into_ssl("localhost")
        .map_err(other)?;
    let mut server = SslStream::new(ssl, up_tcp).map_err(other)?;
    Pin::new(&mut server)
        .connect()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (client_r, client_w) = tokio::io::split(client);
    let (server_r, server_w) = tokio::io::split(server);
    let handshakes = Arc::new(Mutex::new(HashSet::new()));
    let up = requests(client_r, server_w, handshakes.clone());
    let down = replies(server_r, client_w, handshakes, service_id);
    // Either side ending ends both.
    tokio::select! {
        r = up => r,
        r = down => r,
    }
}

/// Client to server: a load-balanced handshake loses its `loadBalanced` field.
async fn requests(
    mut from: ReadHalf<Tls>,
    mut to: WriteHalf<Tls>,
    handshakes: Arc<Mutex<HashSet<i32>>>,
) -> std::io::Result<()> {
    loop {
        let mut msg = read_message(&mut from).await?;
        if opcode(&msg) == OP_MSG {
            let mut op = parse_op_msg(&msg)?;
            let name = op.body.keys().next().map(|k| k.to_ascii_lowercase());
            if matches!(name.as_deref(), Some("hello" | "ismaster"))
                && op.body.get_bool("loadBalanced") == Ok(true)
            {
                op.body.remove("loadBalanced");
                handshakes.lock().unwrap().insert(op.request_id);
                msg = op.encode();
            }
        }
        to.write_all(&msg).await?;
    }
}

/// Server to client: the reply to a load-balanced handshake becomes a mongos's.
async fn replies(
    mut from: ReadHalf<Tls>,
    mut to: WriteHalf<Tls>,
    handshakes: Arc<Mutex<HashSet<i32>>>,
    service_id: ObjectId,
) -> std::io::Result<()> {
    loop {
        let mut msg = read_message(&mut from).await?;
        if opcode(&msg) == OP_MSG {
            let response_to = i32::from_le_bytes(msg[8..12].try_into().unwrap());
            if handshakes.lock().unwrap().remove(&response_to) {
                let mut op = parse_op_msg(&msg)?;
                for f in REPLICA_SET_FIELDS {
                    op.body.remove(*f);
                }
                op.body.insert("msg", "isdbgrid");
                op.body.insert("serviceId", service_id);
                msg = op.encode();
            }
        }
        to.write_all(&msg).await?;
    }
}

fn opcode(msg: &[u8]) -> i32 {
    i32::from_le_bytes(msg[12..16].try_into().unwrap())
}
