//! TLS: the [`TlsBackend`] trait and the backends compiled in.
//!
//! The connection layer only ever sees `Arc<dyn TlsBackend>` and the [`BoxStream`] it returns;
//! it never names OpenSSL or native-tls. A backend is built once per client from
//! [`TlsOptions`]: that is when the certificate-key file is read and
//! the key decrypted, so a wrong password is reported by `Client::with_options`, and 50
//! connections cost one decryption, not 50. [`TlsBackend::reload_identity`] builds it again
//! when the certificate rotates; connections already open keep the identity they used.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Re-exported so that custom backends need no dependency of their own to implement
/// [`TlsBackend`].
pub use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::options::{TlsBackendKind, TlsOptions};

/// The [`TlsBackend`] methods the built-in backends share: the module's `NAME`, and the
/// client certificate's subject and expiry from the backend's `subject` and `not_after`.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
macro_rules! builtin_backend_accessors {
    () => {
        fn name(&self) -> &str {
            NAME
        }

        fn client_subject(&self) -> Option<String> {
            self.subject.clone()
        }

        fn client_certificate_not_after(&self) -> Option<std::time::SystemTime> {
            self.not_after
        }
    };
}

pub(crate) mod identity;
mod limits;
#[cfg(feature = "native-tls")]
pub mod native;
#[cfg(feature = "openssl")]
pub mod openssl;
mod reload;

pub use identity::DEFAULT_EXPIRY_WARNING;
pub(crate) use limits::{read_capped, ReadError};
pub use limits::{KdfLimits, MAX_TLS_FILE_SIZE};

/// Reads a CA or CRL file named by `option`, refusing one above [`MAX_TLS_FILE_SIZE`];
/// `describe_io` words an I/O error.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
pub(crate) fn read_tls_file(
    option: &'static str,
    path: &std::path::Path,
    describe_io: impl FnOnce(std::io::Error) -> Error,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    read_capped(path).map_err(|e| match e {
        ReadError::Io(io) => describe_io(io),
        ReadError::TooLarge(size) => Error::new(crate::error::ErrorKind::TlsFileTooLarge {
            option,
            path: path.to_path_buf(),
            size,
            limit: MAX_TLS_FILE_SIZE,
        }),
    })
}

/// The certificates of `tlsCAFile`, each turned into the backend's type by `decode` (whose
/// error is the reason, worded by the backend): PEM with any number of CERTIFICATE blocks, or
/// one DER certificate. The PEM is split in Rust: OpenSSL's PEM readers would fall back to its
/// default password callback (a terminal prompt) on an encrypted block.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
pub(crate) fn read_ca_file<C>(
    path: &std::path::Path,
    decode: impl Fn(&[u8]) -> std::result::Result<C, String>,
) -> Result<Vec<C>> {
    let bytes = read_tls_file("tlsCAFile", path, |e| {
        Error::invalid_tls_config(format!(
            "cannot read tlsCAFile {} ({e}); check the path and its permissions",
            path.display()
        ))
    })?;
    let ders = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        identity::pem_certificates(&bytes).map_err(|kind| {
            Error::invalid_tls_config(format!(
                "tlsCAFile {} is not a PEM file of CA certificates ({kind})",
                path.display()
            ))
        })?
    } else {
        vec![bytes.to_vec()]
    };
    if ders.is_empty() {
        return Err(Error::invalid_tls_config(format!(
            "tlsCAFile {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    ders.iter()
        .map(|der| {
            decode(der).map_err(|reason| {
                Error::invalid_tls_config(format!(
                    "tlsCAFile {}: a certificate could not be read ({reason}); the file must \
                     hold the CA certificates in PEM (or one in DER)",
                    path.display()
                ))
            })
        })
        .collect()
}

/// A byte stream a connection runs over: TCP, a Unix socket, TLS over either, or (in tests) an
/// in-memory pipe.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + Debug> AsyncStream for T {}

/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// A TLS implementation. Implement it to plug in your own; pass it with
/// [`TlsBackendKind::Custom`].
///
/// `connect` takes any stream rather than a `TcpStream` so that the same backend serves TCP,
/// Unix sockets and in-memory test pipes.
///
/// A custom backend that wraps a built-in one, counting handshakes, and a client that uses it.
/// The connection layer never knows the difference:
///
/// ```no_run
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// use mongo_x509::error::Result;
/// use mongo_x509::options::{ClientOptions, Tls, TlsBackendKind, TlsOptions};
/// use mongo_x509::tls::{async_trait, build_backend, BoxStream, TlsBackend};
/// use mongo_x509::Client;
///
/// #[derive(Debug)]
/// struct Counting {
///     inner: Arc<dyn TlsBackend>,
///     handshakes: AtomicUsize,
/// }
///
/// #[async_trait]
/// impl TlsBackend for Counting {
///     fn name(&self) -> &str {
///         "counting"
///     }
///     fn client_subject(&self) -> Option<String> {
///         self.inner.client_subject()
///     }
///     async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream> {
///         self.handshakes.fetch_add(1, Ordering::Relaxed);
///         self.inner.connect(host, stream).await
///     }
/// }
///
/// # fn main() -> Result<()> {
/// // The built-in backend loads and decrypts the identity here, once.
/// let inner = build_backend(
///     &TlsOptions::builder()
///         .ca_file_path("/etc/ssl/mongo-ca.pem")
///         .cert_key_file_path("/etc/ssl/client.p12")
///         .tls_certificate_key_file_password(b"secret".to_vec())
///         .build(),
/// )?;
/// let counting = Arc::new(Counting { inner, handshakes: AtomicUsize::new(0) });
/// let options = ClientOptions::builder()
///     .tls(Tls::Enabled(
///         TlsOptions::builder().backend(TlsBackendKind::Custom(counting.clone())).build(),
///     ))
///     .build();
/// let client = Client::with_options(options)?;
/// assert_eq!(client.tls_backend_name(), Some("counting"));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait TlsBackend: Send + Sync + Debug {
    /// The backend's name, e.g. `"openssl"` or `"native-tls"`.
    fn name(&self) -> &str;

    /// The subject DN of the client certificate in RFC 2253 form (the X.509 user name),
    /// e.g. `CN=client,OU=Apps,O=Acme,ST=NY,C=US`; `None` when there is no client certificate.
    /// It changes when the identity is reloaded.
    fn client_subject(&self) -> Option<String>;

    /// When the client certificate expires (it follows a reload, as
    /// [`client_subject`](TlsBackend::client_subject) does); `None` without a client
    /// certificate. Published in [`IdentityEvent`](crate::event::identity::IdentityEvent)s.
    /// The default says nothing: a custom backend may override it.
    fn client_certificate_not_after(&self) -> Option<std::time::SystemTime> {
        None
    }

    /// Runs a TLS handshake over `stream` with the server named `host` (a host name or an IP
    /// literal without brackets; used for SNI and hostname verification).
    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream>;

    /// [`connect`](TlsBackend::connect), also returning the subject of the client certificate
    /// this handshake presented, so that X.509 authentication names the certificate actually
    /// sent even when the identity is reloaded meanwhile. The default reads
    /// [`client_subject`](TlsBackend::client_subject) first; backends that reload override it.
    async fn connect_with_subject(
        &self,
        host: &str,
        stream: BoxStream,
    ) -> Result<(BoxStream, Option<String>)> {
        let subject = self.client_subject();
        let stream = self.connect(host, stream).await?;
        Ok((stream, subject))
    }

    /// Re-reads and re-decrypts the client identity (see
    /// [`Client::reload_tls_identity`](crate::Client::reload_tls_identity)). On failure the
    /// backend keeps its current identity. The default refuses: a custom backend that can
    /// reload overrides it.
    async fn reload_identity(&self) -> Result<()> {
        Err(Error::invalid_tls_config(format!(
            "the TLS backend {} cannot reload its identity (a custom backend reloads its own)",
            self.name()
        )))
    }
}

static IDENTITY_DECRYPTIONS: AtomicU64 = AtomicU64::new(0);

/// How many times this process has loaded (read, parsed and decrypted) a client identity.
/// One per client built with a certificate-key file, whatever the number of connections, plus
/// one per identity reload: a way to check that keys are decrypted once per client.
pub fn identity_loads() -> u64 {
    IDENTITY_DECRYPTIONS.load(Ordering::Relaxed)
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
pub(crate) fn count_identity_load() {
    IDENTITY_DECRYPTIONS.fetch_add(1, Ordering::Relaxed);
}

/// Builds the backend `opts` asks for (see [`TlsOptions::backend`]): a custom backend as given;
/// OpenSSL or native-tls when its feature is compiled in; with no choice, OpenSSL if compiled in,
/// else native-tls. This is where the identity is read and its key decrypted, once.
///
/// A built-in backend comes wrapped so that its identity can be reloaded
/// ([`TlsBackend::reload_identity`]): the wrapper keeps a copy of the options (the password
/// included, zeroized when the backend is dropped) and builds a fresh backend on reload.
///
/// A client calls it when it is created. Call it yourself to share one loaded identity between
/// several clients: pass the result as [`TlsBackendKind::Custom`].
///
/// Fails with [`ErrorKind::InvalidTlsConfig`](crate::error::ErrorKind::InvalidTlsConfig) when the
/// backend asked for is not compiled in (the message names the cargo feature to enable), and
/// with [`ErrorKind::Identity`](crate::error::ErrorKind::Identity) when the client certificate
/// or key cannot be loaded.
pub fn build_backend(opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    match &opts.backend {
        Some(TlsBackendKind::Custom(backend)) => Ok(Arc::clone(backend)),
        _ => Ok(Arc::new(reload::Reloadable::new(opts)?)),
    }
}

/// Builds the built-in backend `opts` asks for, without the reload wrapper.
pub(crate) fn build_builtin(opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    match &opts.backend {
        Some(TlsBackendKind::Custom(backend)) => Ok(Arc::clone(backend)),
        Some(TlsBackendKind::OpenSsl) => build_openssl(opts),
        Some(TlsBackendKind::NativeTls) => build_native_tls(opts),
        None => {
            if cfg!(feature = "openssl") {
                build_openssl(opts)
            } else if cfg!(feature = "native-tls") {
                build_native_tls(opts)
            } else {
                Err(Error::invalid_tls_config(
                    "no TLS backend compiled in: enable the `openssl` or `native-tls` feature of \
                     mongo-x509",
                ))
            }
        }
    }
}

#[cfg(feature = "openssl")]
fn build_openssl(opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    Ok(Arc::new(openssl::OpenSslBackend::new(opts)?))
}

#[cfg(not(feature = "openssl"))]
fn build_openssl(_opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    Err(Error::invalid_tls_config(
        "tlsBackend=openssl, but the OpenSSL backend is not compiled in: enable the `openssl` \
         feature of mongo-x509",
    ))
}

#[cfg(feature = "native-tls")]
fn build_native_tls(opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    Ok(Arc::new(native::NativeTlsBackend::new(opts)?))
}

#[cfg(not(feature = "native-tls"))]
fn build_native_tls(_opts: &TlsOptions) -> Result<Arc<dyn TlsBackend>> {
    Err(Error::invalid_tls_config(
        "tlsBackend=native-tls, but the native-tls backend is not compiled in: enable the \
         `native-tls` feature of mongo-x509",
    ))
}
