//! TLS: the [`TlsBackend`] trait and the backends compiled in.
//!
//! The connection layer only ever sees `Arc<dyn TlsBackend>` and the [`BoxStream`] it returns;
//! it never names OpenSSL or native-tls. A backend is built once per client from
//! [`TlsOptions`](crate::options::TlsOptions): that is when the certificate-key file is read and
//! the key decrypted, so a wrong password is reported by `Client::with_options`, and 50
//! connections cost one decryption, not 50.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Result;

/// A byte stream a connection runs over: TCP, a Unix socket, TLS over either, or (in tests) an
/// in-memory pipe.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + Debug> AsyncStream for T {}

/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// A TLS implementation. Implement it to plug in your own; pass it with
/// [`TlsBackendKind::Custom`](crate::options::TlsBackendKind::Custom).
///
/// `connect` takes any stream rather than a `TcpStream` so that the same backend serves TCP,
/// Unix sockets and in-memory test pipes.
#[async_trait]
pub trait TlsBackend: Send + Sync + Debug {
    /// The backend's name, e.g. `"openssl"` or `"native-tls"`.
    fn name(&self) -> &str;

    /// The subject DN of the client certificate in RFC 2253 form (the X.509 user name),
    /// e.g. `CN=client,OU=Apps,O=Acme,ST=NY,C=US`; `None` when there is no client certificate.
    fn client_subject(&self) -> Option<&str>;

    /// Runs a TLS handshake over `stream` with the server named `host` (a host name or an IP
    /// literal without brackets; used for SNI and hostname verification).
    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream>;
}

static IDENTITY_DECRYPTIONS: AtomicU64 = AtomicU64::new(0);

/// How many times this process has loaded (read, parsed and decrypted) a client identity.
/// One per client built with a certificate-key file, whatever the number of connections:
/// a way to check that keys are decrypted once per client.
pub fn identity_loads() -> u64 {
    IDENTITY_DECRYPTIONS.load(Ordering::Relaxed)
}

#[allow(dead_code)]
pub(crate) fn count_identity_load() {
    IDENTITY_DECRYPTIONS.fetch_add(1, Ordering::Relaxed);
}
