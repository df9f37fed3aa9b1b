//! A DNS server for the `mongodb+srv://` tests: hickory-server with one in-memory zone for the
//! whole name space, on a loopback port (UDP and TCP), whose SRV, TXT and A records the tests
//! set and change while it runs.
//!
//! It runs on a thread of its own (its own Tokio runtime), so it outlives the runtime of any
//! one `#[tokio::test]`; every test uses names of its own.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_proto::rr::rdata::{A, SOA, SRV, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use mongo_x509::options::ResolverConfig;

/// TTL of every record the tests set.
pub const TTL: u32 = 30;

/// The running test DNS server.
pub struct TestDns {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    zone: Arc<InMemoryAuthority>,
}

/// The shared server, started on first use.
pub fn dns() -> &'static TestDns {
    static DNS: OnceLock<TestDns> = OnceLock::new();
    DNS.get_or_init(start)
}

fn fqdn(name: &str) -> Name {
    Name::from_str(&format!("{}.", name.trim_end_matches('.')))
        .unwrap_or_else(|e| panic!("test DNS: bad name {name:?}: {e}"))
}

fn start() -> TestDns {
    let zone = Arc::new(InMemoryAuthority::empty(
        Name::root(),
        ZoneType::Primary,
        false,
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    let served = zone.clone();
    std::thread::Builder::new()
        .name("test-dns".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test DNS runtime");
            runtime.block_on(async move {
                // Negative answers carry the zone's SOA.
                let soa = SOA::new(fqdn("ns.test"), fqdn("admin.test"), 1, 60, 60, 60, 1);
                served
                    .upsert(Record::from_rdata(Name::root(), TTL, RData::SOA(soa)), 1)
                    .await;
                let mut catalog = Catalog::new();
                let handler: Arc<dyn AuthorityObject> = served;
                catalog.upsert(LowerName::from(Name::root()), vec![handler]);
                let mut server = ServerFuture::new(catalog);
                let (udp, tcp) = bind_pair().await;
                let addr = udp.local_addr().expect("test DNS address");
                server.register_socket(udp);
                server.register_listener(tcp, Duration::from_secs(5));
                tx.send(addr).expect("report the test DNS address");
                let _ = server.block_until_done().await;
            });
        })
        .expect("start the test DNS thread");
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the test DNS server did not start");
    TestDns { addr, zone }
}

/// A UDP socket and a TCP listener on the same loopback port.
async fn bind_pair() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    for _ in 0..50 {
        let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind a UDP socket on 127.0.0.1");
        let port = udp.local_addr().expect("UDP address").port();
        if let Ok(tcp) = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return (udp, tcp);
        }
    }
    panic!("test DNS: no loopback port free for both UDP and TCP");
}

impl TestDns {
    /// A resolver configuration that asks this server only, with short timeouts.
    pub fn config(&self) -> ResolverConfig {
        ResolverConfig::with_name_servers(vec![self.addr])
            .timeout(Duration::from_secs(2))
            .attempts(1)
    }

    /// Replaces the SRV records at `name` (e.g. `_mongodb._tcp.cluster.mongo.test`) by one per
    /// `(target, port)`; an empty list removes them.
    pub async fn set_srv(&self, name: &str, targets: &[(&str, u16)]) {
        self.set_srv_with_ttl(name, targets, TTL).await;
    }

    /// [`set_srv`](Self::set_srv) with records of time-to-live `ttl` seconds (a poller
    /// rescans after the smallest TTL, or after its test interval when longer).
    pub async fn set_srv_with_ttl(&self, name: &str, targets: &[(&str, u16)], ttl: u32) {
        self.remove(name, RecordType::SRV).await;
        for (target, port) in targets {
            let srv = SRV::new(0, 0, *port, fqdn(target));
            self.zone
                .upsert(Record::from_rdata(fqdn(name), ttl, RData::SRV(srv)), 1)
                .await;
        }
    }

    /// Replaces the TXT records at `name` by one per entry, each with the given strings.
    pub async fn set_txt(&self, name: &str, records: &[&[&str]]) {
        self.remove(name, RecordType::TXT).await;
        for strings in records {
            let txt = TXT::new(strings.iter().map(|s| s.to_string()).collect());
            self.zone
                .upsert(Record::from_rdata(fqdn(name), TTL, RData::TXT(txt)), 1)
                .await;
        }
    }

    /// Replaces the A record of `name`.
    pub async fn set_a(&self, name: &str, ip: Ipv4Addr) {
        self.remove(name, RecordType::A).await;
        self.zone
            .upsert(Record::from_rdata(fqdn(name), TTL, RData::A(A(ip))), 1)
            .await;
    }

    async fn remove(&self, name: &str, record_type: RecordType) {
        let key = RrKey::new(LowerName::from(fqdn(name)), record_type);
        self.zone.records_mut().await.remove(&key);
    }
}

/// A name server that never answers: a bound UDP socket nobody reads (held while it lives).
pub struct SilentDns {
    /// Its address.
    pub addr: SocketAddr,
    _socket: std::net::UdpSocket,
    _tcp: std::net::TcpListener,
}

impl SilentDns {
    /// Binds it. TCP connects are accepted by the kernel and never answered either.
    pub fn new() -> Self {
        for _ in 0..50 {
            let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
            let addr = socket.local_addr().expect("UDP address");
            if let Ok(tcp) = std::net::TcpListener::bind(addr) {
                return Self {
                    addr,
                    _socket: socket,
                    _tcp: tcp,
                };
            }
        }
        panic!("no loopback port free for both UDP and TCP");
    }
}

impl SilentDns {
    /// Its UDP socket, to see the queries that arrive (and are never answered).
    pub fn socket(&self) -> &std::net::UdpSocket {
        &self._socket
    }
}

/// A name server in front of another (the test DNS server) whose SRV answers can be silenced:
/// while silent it swallows every SRV query, as an unreachable or overloaded name server would
/// (other queries, the hosts' addresses, are still relayed; TCP connects are accepted by the
/// kernel and never answered). Over UDP only; it relays one query at a time, on a thread of its
/// own, until dropped.
pub struct DnsRelay {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    silent: Arc<AtomicBool>,
    swallowed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    _tcp: std::net::TcpListener,
}

impl DnsRelay {
    /// Starts a relay to `upstream`, answering (not silent).
    pub fn start(upstream: SocketAddr) -> Self {
        let (socket, tcp) = (0..50)
            .find_map(|_| {
                let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
                let tcp = std::net::TcpListener::bind(socket.local_addr().ok()?).ok()?;
                Some((socket, tcp))
            })
            .expect("no loopback port free for both UDP and TCP");
        let addr = socket.local_addr().expect("UDP address");
        let relay = Self {
            addr,
            silent: Arc::new(AtomicBool::new(false)),
            swallowed: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            _tcp: tcp,
        };
        let (silent, swallowed, stop) = (
            relay.silent.clone(),
            relay.swallowed.clone(),
            relay.stop.clone(),
        );
        std::thread::Builder::new()
            .name("test-dns-relay".into())
            .spawn(move || {
                let upstream_socket =
                    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
                let _ = upstream_socket.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if silent.load(Ordering::SeqCst) && query_type(&buf[..n]) == Some(SRV_TYPE) {
                        swallowed.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    if upstream_socket.send_to(&buf[..n], upstream).is_err() {
                        continue;
                    }
                    if let Ok(n) = upstream_socket.recv(&mut buf) {
                        let _ = socket.send_to(&buf[..n], from);
                    }
                }
            })
            .expect("start the DNS relay thread");
        relay
    }

    /// A resolver configuration that asks this relay only, waiting up to `timeout` per query.
    pub fn config(&self, timeout: Duration) -> ResolverConfig {
        ResolverConfig::with_name_servers(vec![self.addr])
            .timeout(timeout)
            .attempts(1)
    }

    /// Silences its SRV answers (`true`: SRV queries are swallowed) or lets it answer again.
    pub fn set_srv_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// How many SRV queries it swallowed while silent.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::SeqCst)
    }
}

/// The record type of an SRV question.
const SRV_TYPE: u16 = 33;

/// The type of the first question of a DNS query: after the 12-byte header, the name's labels
/// up to the empty one, then the type.
fn query_type(msg: &[u8]) -> Option<u16> {
    let mut at = 12;
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        at += len;
    }
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// An address where no name server listens (a port bound, then released).
pub fn unreachable_name_server() -> SocketAddr {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
    socket.local_addr().expect("UDP address")
}
