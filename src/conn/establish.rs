//! Opening a connection: TCP or Unix socket, TLS, handshake and authentication, all bounded by
//! `connectTimeoutMS`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::Document;
use tokio::net::TcpStream;

use crate::auth::{self, AuthPlan, ScramCache, Sent};
use crate::conn::handshake::{build_hello, parse_hello};
use crate::conn::{Connection, Interrupter};
use crate::error::{Error, ErrorKind, Result};
use crate::event::command::CommandMonitor;
use crate::options::{Compressor, Credential, ResolverConfig, ServerAddress, ServerApi};
use crate::tls::{BoxStream, TlsBackend};

/// `connectTimeoutMS` when the user set none.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`establish`] needs from the client options (and the TLS backend built from them).
#[derive(Clone, Debug, Default)]
pub(crate) struct EstablishOptions {
    /// `appName`, sent in the handshake's client metadata.
    pub(crate) app_name: Option<String>,
    /// Who to authenticate as; `None` means no authentication.
    pub(crate) credential: Option<Credential>,
    /// The SCRAM keys derived for `credential`, shared by every connection of the client.
    pub(crate) auth_cache: Arc<ScramCache>,
    /// The TLS backend, or `None` for a plain connection.
    pub(crate) tls: Option<Arc<dyn TlsBackend>>,
    /// Bounds TCP connect + TLS + handshake + authentication (default 10 s; zero means none).
    pub(crate) connect_timeout: Option<Duration>,
    /// Bounds each read of a command reply after the connection is established (default and
    /// zero: none).
    pub(crate) socket_timeout: Option<Duration>,
    /// Name servers to resolve host names with before the system's: those given for a
    /// `mongodb+srv://` lookup (`ClientOptions::host_resolver`).
    pub(crate) resolver: Option<ResolverConfig>,
    /// `loadBalanced=true`: the handshake says so and the reply must carry a `serviceId`.
    pub(crate) load_balanced: bool,
    /// `compressors`, in the client's order of preference (all compiled in: checked when the
    /// client was created). Empty: no compression.
    pub(crate) compressors: Vec<Compressor>,
    /// Where the commands of the connection go once it is established (its authentication
    /// commands too, redacted, but not to the log). Monitors have none.
    pub(crate) command_monitor: CommandMonitor,
    /// The declared Stable API version, sent in the handshake's `hello`.
    pub(crate) server_api: Option<ServerApi>,
    /// One connection attempt only: a close right after the TLS handshake is reported as the
    /// network error it is ([`EstablishError::closed_after_tls`]) instead of being diagnosed on
    /// a fresh connection. Monitors set it: SDAM makes each check one `hello` and says when the
    /// next check comes, so the monitor diagnoses across its checks.
    pub(crate) single_attempt: bool,
}

/// The step of opening a connection that an error happened in: SDAM judges a timeout in the
/// authentication step differently from one while connecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EstablishStep {
    /// Before any I/O, the TCP or Unix socket connect, TLS, or the `hello`.
    Handshake,
    /// Authentication, after the `hello`; with the `serviceId` its reply carried (load-balanced
    /// mode).
    Authentication { service_id: Option<ObjectId> },
}

/// Why a connection could not be opened, and in which step.
#[derive(Debug)]
pub(crate) struct EstablishError {
    pub(crate) error: Error,
    pub(crate) step: EstablishStep,
    /// The server closed the connection on the handshake's `hello`, right after the TLS
    /// handshake (the last attempt's failure; `error` is the diagnosis when two attempts were
    /// made).
    pub(crate) closed_after_tls: bool,
    /// The failure was an I/O error or a timeout in the handshake step, not a failed name
    /// lookup: what an overloaded server causes (CMAP "Backpressure-enabled").
    pub(crate) io_in_handshake: bool,
}

impl EstablishError {
    /// CMAP "Backpressure-enabled": a network error or timeout while connecting or on the
    /// handshake's `hello` may be the server shedding load (its ingress rate limiter closes the
    /// connection); not a failed name lookup, a TLS error that is not I/O (an untrusted
    /// certificate), or anything in the authentication step. An end of file right after the
    /// TLS handshake is I/O too, even when diagnosed as a refusal of the client certificate
    /// (the two look alike on the wire; the diagnosis stays in the message).
    pub(crate) fn is_possible_overload(&self) -> bool {
        self.step == EstablishStep::Handshake && (self.io_in_handshake || self.closed_after_tls)
    }
}

/// Opens, handshakes and authenticates a connection to `address`. `id` names the connection in
/// logs and events.
///
/// The credential is checked first, so a mechanism that cannot work (X.509 without TLS or
/// without a client certificate, or a mechanism not implemented) fails before any connection is
/// opened. TCP connect, TLS, `hello` and authentication together are bounded by
/// `connectTimeoutMS`.
pub(crate) async fn establish(
    address: &ServerAddress,
    opts: &EstablishOptions,
    id: u32,
) -> Result<Connection> {
    establish_with_step(address, opts, id)
        .await
        .map_err(|e| e.error)
}

/// [`establish`], saying in which step a failure happened (pooled connections report it to
/// SDAM).
pub(crate) async fn establish_with_step(
    address: &ServerAddress,
    opts: &EstablishOptions,
    id: u32,
) -> std::result::Result<Connection, EstablishError> {
    let step = Mutex::new(EstablishStep::Handshake);
    let closed_after_tls = std::sync::atomic::AtomicBool::new(false);
    let failed = |error: Error, step: &Mutex<EstablishStep>| {
        let io = match &*error.kind {
            ErrorKind::Io(io) => !is_dns_failure(io),
            ErrorKind::Timeout { .. } => true,
            _ => false,
        };
        EstablishError {
            error,
            step: *step.lock().unwrap_or_else(|p| p.into_inner()),
            closed_after_tls: closed_after_tls.load(std::sync::atomic::Ordering::Relaxed),
            io_in_handshake: io,
        }
    };
    let plan = auth::plan(
        opts.credential.as_ref(),
        opts.tls.as_deref(),
        &opts.auth_cache,
    )
    .map_err(|e| failed(e, &step))?;
    let timeout = opts.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let attempt = Attempt {
        address,
        opts,
        id,
        plan: plan.as_ref(),
        step: &step,
        closed_after_tls: &closed_after_tls,
    };
    let work = establish_diagnosed(&attempt);
    let result = if timeout.is_zero() {
        // connectTimeoutMS=0 means "no timeout" (URI options spec).
        work.await
    } else {
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(ErrorKind::Timeout {
                    message: format!(
                        "connecting to {address} (TCP, TLS, handshake and authentication) took \
                         longer than {} ms (connectTimeoutMS)",
                        timeout.as_millis()
                    ),
                }))
            })
    };
    let mut conn = result.map_err(|e| failed(e, &step))?;
    conn.set_read_timeout(opts.socket_timeout);
    Ok(conn)
}

/// Records the step an attempt has reached.
fn reach(step: &Mutex<EstablishStep>, now: EstablishStep) {
    *step.lock().unwrap_or_else(|p| p.into_inner()) = now;
}

/// What every try at establishing one connection works from.
#[derive(Clone, Copy)]
struct Attempt<'a, 'p> {
    address: &'a ServerAddress,
    opts: &'a EstablishOptions,
    id: u32,
    plan: Option<&'a AuthPlan<'p>>,
    step: &'a Mutex<EstablishStep>,
    /// Set when the last try was closed right after the TLS handshake.
    closed_after_tls: &'a std::sync::atomic::AtomicBool,
}

/// Why an attempt failed: closed by the server right after the TLS handshake with nothing to
/// say why (a refusal of the client certificate, or a restart), or anything else.
enum Failure {
    ClosedAfterTls(Error),
    Other(Error),
}

/// [`establish_inner`], diagnosing a close right after the TLS handshake. Without a TLS alert
/// to go by, one fresh connection decides: closed the same way again, the server refuses the
/// client (certificate); otherwise (a server restarting under a running client) the fresh
/// attempt's own outcome is what counts.
async fn establish_diagnosed(attempt: &Attempt<'_, '_>) -> Result<Connection> {
    let Attempt {
        address,
        opts,
        closed_after_tls,
        ..
    } = *attempt;
    let closed = |e: Error| {
        closed_after_tls.store(true, std::sync::atomic::Ordering::Relaxed);
        e
    };
    let first = match establish_inner(attempt).await {
        Ok(conn) => return Ok(conn),
        Err(Failure::Other(e)) => return Err(e),
        Err(Failure::ClosedAfterTls(e)) if opts.single_attempt => return Err(closed(e)),
        Err(Failure::ClosedAfterTls(e)) => e,
    };
    tracing::debug!(%address, error = %first, "closed right after the TLS handshake; trying a fresh connection");
    match establish_inner(attempt).await {
        Ok(conn) => Ok(conn),
        Err(Failure::Other(e)) => Err(e),
        Err(Failure::ClosedAfterTls(_)) => Err(closed(refused(
            address,
            opts.tls.as_deref(),
            &first,
            "twice, on a fresh connection too",
        ))),
    }
}

/// The diagnosis of a server that closed `closes` consecutive fresh connections right after
/// their TLS handshake (`first`: the first of these errors): a refusal of the client
/// certificate. For monitors, which make one attempt per check.
pub(crate) fn refused_after_closes(
    address: &ServerAddress,
    opts: &EstablishOptions,
    first: &Error,
    closes: u32,
) -> Error {
    refused(
        address,
        opts.tls.as_deref(),
        first,
        &format!("on {closes} consecutive fresh connections"),
    )
}

async fn establish_inner(attempt: &Attempt<'_, '_>) -> std::result::Result<Connection, Failure> {
    let Attempt {
        address,
        opts,
        step,
        ..
    } = *attempt;
    reach(step, EstablishStep::Handshake);
    establish_attempt(attempt)
        .await
        .map_err(|e| classify(address, opts.tls.as_deref(), e))
}

async fn establish_attempt(attempt: &Attempt<'_, '_>) -> std::result::Result<Connection, Failure> {
    let Attempt {
        address,
        opts,
        id,
        plan,
        step,
        ..
    } = *attempt;
    let other = Failure::Other;
    let (stream, interrupter) = open_stream(address, opts.resolver.as_ref())
        .await
        .map_err(other)?;
    let (stream, sent_subject) = match &opts.tls {
        Some(tls) => tls
            .connect_with_subject(&address.host(), stream)
            .await
            .map_err(other)?,
        None => (stream, None),
    };
    // The X.509 user is the subject of the certificate this handshake sent, which differs from
    // the planned one when the identity was reloaded in between.
    let plan = plan.cloned().map(|mut p| {
        p.use_sent_subject(sent_subject);
        p
    });
    let mut conn = Connection::new(id, address.clone(), stream);
    if let Some(interrupter) = interrupter {
        conn.set_interrupter(interrupter);
    }
    let mut hello_cmd = build_hello(opts);
    let sent = match &plan {
        Some(plan) => plan.add_to_hello(&mut hello_cmd).map_err(other)?,
        None => Sent::Nothing,
    };
    // Authentication is published (redacted, never logged), the speculative `hello` included;
    // a plain handshake `hello` is not.
    let auth_monitor = CommandMonitor {
        handler: opts.command_monitor.handler.clone(),
        log: false,
        topology_id: None,
        operation_id: None,
    };
    if hello_cmd.contains_key("speculativeAuthenticate") {
        conn.set_command_monitor(auth_monitor.clone());
    }
    let hello_started = tokio::time::Instant::now();
    // The first read after the TLS handshake: where a refusal of the certificate shows.
    let reply = conn
        .command("admin", hello_cmd)
        .await
        .map_err(Failure::ClosedAfterTls)?;
    conn.set_server_connection_id(server_connection_id(&reply));
    let mut hello = parse_hello(address, &reply)
        .inspect_err(|_| conn.mark_broken())
        .map_err(other)?;
    if opts.load_balanced && hello.description.service_id.is_none() {
        conn.mark_broken();
        // Not a network error: waiting or reconnecting will not fix it.
        return Err(other(Error::new(ErrorKind::NotSupported {
            message: format!(
                "{address} answered the handshake without a serviceId although loadBalanced=true \
                 was sent: it is not a load balancer in front of a deployment configured for one \
                 (or the server is older than 5.0); remove loadBalanced=true from the connection \
                 string, or connect through the load balancer"
            ),
        })));
    }
    conn.set_handshake_rtt(hello_started.elapsed());
    conn.set_compressor(crate::wire::compression::negotiate(
        &opts.compressors,
        &hello.compression,
    ));
    let hello_auth = hello.take_auth();
    let service_id = hello.description.service_id;
    conn.set_hello(hello);
    reach(step, EstablishStep::Authentication { service_id });
    conn.set_command_monitor(auth_monitor);
    let (user, subject) = match &plan {
        Some(plan) => {
            let user = auth::authenticate(&mut conn, plan, &sent, &hello_auth).await;
            conn.wipe_write_buffer();
            let user = user.map_err(other)?;
            (user, plan.subject().map(str::to_owned))
        }
        None => (None, None),
    };
    conn.set_command_monitor(opts.command_monitor.clone());
    conn.set_auth(user, subject);
    tracing::debug!(connection = id, %address, "connection established");
    Ok(conn)
}

/// `connectionId` of a `hello` reply: the server's id of the connection.
fn server_connection_id(reply: &bson::Document) -> Option<i64> {
    match reply.get("connectionId")? {
        bson::Bson::Int32(i) => Some(i64::from(*i)),
        bson::Bson::Int64(i) => Some(*i),
        bson::Bson::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
        _ => None,
    }
}

/// Authentication sends its commands on the connection being established.
#[async_trait]
impl auth::Channel for Connection {
    async fn run_command(&mut self, db: &str, command: Document) -> Result<Document> {
        self.command(db, command).await
    }
}

/// Opens the socket to `address`, and what can interrupt a command on it later.
async fn open_stream(
    address: &ServerAddress,
    resolver: Option<&ResolverConfig>,
) -> Result<(BoxStream, Option<Interrupter>)> {
    match address {
        ServerAddress::Tcp { host, .. } => {
            let port = address.port().unwrap_or(crate::options::DEFAULT_PORT);
            let tcp = connect_tcp(host, port, resolver)
                .await
                .map_err(|e| connect_error(address, e))?;
            tcp.set_nodelay(true)?;
            let interrupter = Interrupter::tcp(&tcp);
            Ok((Box::new(tcp), interrupter))
        }
        #[cfg(unix)]
        ServerAddress::Unix { path } => {
            let unix = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| connect_error(address, e))?;
            let interrupter = Interrupter::unix(&unix);
            Ok((Box::new(unix), interrupter))
        }
        #[cfg(not(unix))]
        ServerAddress::Unix { .. } => Err(Error::new(ErrorKind::NotSupported {
            message: format!("{address}: Unix domain sockets are not available on this platform"),
        })),
    }
}

/// TCP connect. With name servers from a `mongodb+srv://` [`ResolverConfig`], the host name is
/// asked there first (a private zone that names the hosts may be unknown to the system's
/// resolver), then the system's resolver.
async fn connect_tcp(
    host: &str,
    port: u16,
    resolver: Option<&ResolverConfig>,
) -> std::io::Result<TcpStream> {
    #[cfg(feature = "dns-srv")]
    if let Some(config) = resolver {
        let ips = crate::dns::lookup_ip(host, config).await;
        if !ips.is_empty() {
            let addresses: Vec<std::net::SocketAddr> =
                ips.into_iter().map(|ip| (ip, port).into()).collect();
            return TcpStream::connect(&addresses[..]).await;
        }
    }
    #[cfg(not(feature = "dns-srv"))]
    let _ = resolver;
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| std::io::Error::new(e.kind(), DnsFailure(e.to_string())))?
        .collect();
    TcpStream::connect(&addresses[..]).await
}

/// A failed name lookup, inside the I/O error it is reported as (CMAP: no backpressure label;
/// an overloaded server does not make its name unknown).
#[derive(Debug)]
struct DnsFailure(String);

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DnsFailure {}

/// True when an I/O error is a failed name lookup ([`DnsFailure`]), also once
/// [`connect_error`] has put the address in its message (it keeps the marker).
fn is_dns_failure(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<DnsFailure>())
}

/// What an error on the handshake's `hello` means. A server that refuses the client
/// certificate under TLS 1.3 does so after the client's side of the handshake has completed,
/// so the refusal arrives on the first read: as the alert when the backend surfaces it (then a
/// refusal, said so at once), or as a bare reset or end of file, which a server restarting
/// under a running client also gives (then [`Failure::ClosedAfterTls`], for a fresh attempt to
/// decide).
fn classify(address: &ServerAddress, tls: Option<&dyn TlsBackend>, e: Failure) -> Failure {
    let Failure::ClosedAfterTls(e) = e else {
        return e;
    };
    let (Some(tls), ErrorKind::Io(io)) = (tls, &*e.kind) else {
        return Failure::Other(e);
    };
    if is_refusal_alert(&error_chain(io)) {
        return Failure::Other(refused(address, Some(tls), &e, "with a TLS alert"));
    }
    Failure::ClosedAfterTls(e)
}

/// The error's message and its sources' (the alert is often in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// True when a backend's message names a TLS alert by which a server refuses a client
/// (OpenSSL: "tlsv13 alert certificate required", "sslv3 alert bad certificate", "tlsv1
/// alert unknown ca"; Security.framework and SChannel word them alike).
pub(super) fn is_refusal_alert(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("alert")
        && [
            "certificate required",
            "bad certificate",
            "unknown ca",
            "certificate unknown",
            "unsupported certificate",
            "certificate revoked",
            "certificate expired",
            "access denied",
            "handshake failure",
        ]
        .iter()
        .any(|a| lower.contains(a))
}

/// The server refused this client after the TLS handshake (`how`: the evidence).
fn refused(address: &ServerAddress, tls: Option<&dyn TlsBackend>, e: &Error, how: &str) -> Error {
    let Some(tls) = tls else {
        return e.clone();
    };
    let hint = match tls.client_subject() {
        None => "the server requires a client certificate: set tlsCertificateKeyFile".to_string(),
        Some(subject) => format!(
            "the server refused the client certificate {subject}: check that the server \
             trusts the CA that signed it (its tlsCAFile / net.tls.CAFile) and that the \
             certificate is meant for client authentication"
        ),
    };
    Error::new(ErrorKind::TlsHandshake {
        address: address.to_string(),
        backend: tls.name().to_string(),
        reason: format!(
            "the server closed the connection right after the TLS handshake, {how} ({e}); {hint}"
        ),
    })
}

/// The OS error, with the address in the message (an `io::Error` alone does not say where).
fn connect_error(address: &ServerAddress, e: std::io::Error) -> Error {
    let message = format!("cannot connect to {address}: {e}");
    if is_dns_failure(&e) {
        return Error::from(std::io::Error::new(e.kind(), DnsFailure(message)));
    }
    Error::from(std::io::Error::new(e.kind(), message))
}
