//! The OpenSSL backend (feature `openssl`): the shared identity front end decodes the file,
//! OpenSSL decrypts and holds the key, `tokio-openssl` drives the handshake; `tlsCRLFile` is
//! checked here (`crl.rs`).
//!
//! One [`SslContext`] is built per backend, with the identity loaded into it once; every
//! connection reuses it.
//!
//! The context is built like `SslConnector::builder` builds one (same options, ciphers and
//! verification) but without loading the system trust store when `tlsCAFile` is given: that
//! load alone costs about 75 ms on a Debian machine, twice what the rest of the setup costs.

mod crl;
mod identity;
mod stream;

use std::fmt;
use std::pin::Pin;

use std::net::IpAddr;

use ::openssl::ssl::{
    self, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslRef, SslVerifyMode,
};
use ::openssl::x509::store::X509StoreBuilder;
use ::openssl::x509::verify::X509CheckFlags;
use ::openssl::x509::{X509VerifyResult, X509};
use async_trait::async_trait;

use self::identity::short_reason;
use crate::error::{Error, ErrorKind, IdentityErrorKind, IdentitySource, Result};
use crate::options::TlsOptions;
use crate::tls::{BoxStream, TlsBackend};

const NAME: &str = "openssl";

/// TLS through OpenSSL. Build it with [`OpenSslBackend::new`] (or let the client do it from its
/// [`TlsOptions`]); share it between connections.
pub struct OpenSslBackend {
    context: SslContext,
    /// Subject DN of the client certificate (RFC 2253).
    subject: Option<String>,
    /// When the client certificate expires.
    not_after: Option<std::time::SystemTime>,
    verify_certificates: bool,
    verify_hostname: bool,
}

impl fmt::Debug for OpenSslBackend {
    // No key material: the connector holds the key, so it is not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenSslBackend")
            .field("client_subject", &self.subject)
            .field("verify_certificates", &self.verify_certificates)
            .field("verify_hostname", &self.verify_hostname)
            .finish_non_exhaustive()
    }
}

impl OpenSslBackend {
    /// Builds the backend: trust store (`tlsCAFile`, or the system's), verification settings,
    /// and the client identity (`tlsCertificateKeyFile` or in-memory bytes), read and decrypted
    /// here, once.
    pub fn new(opts: &TlsOptions) -> Result<Self> {
        let verify_certificates = !opts.allow_invalid_certificates.unwrap_or(false);
        let verify_hostname = verify_certificates && !opts.allow_invalid_hostnames.unwrap_or(false);

        let mut builder = context_builder().map_err(|e| {
            Error::invalid_tls_config(format!(
                "OpenSSL cannot create a TLS context ({})",
                short_reason(&e)
            ))
        })?;
        if let Some(path) = &opts.ca_file_path {
            // Only these CAs: a fresh store replaces the system one.
            let mut store = X509StoreBuilder::new().map_err(|e| {
                Error::invalid_tls_config(format!(
                    "OpenSSL cannot create a trust store ({})",
                    short_reason(&e)
                ))
            })?;
            for ca in crate::tls::read_ca_file(path, |der| {
                X509::from_der(der).map_err(|e| short_reason(&e))
            })? {
                store.add_cert(ca).map_err(|e| {
                    Error::invalid_tls_config(format!(
                        "tlsCAFile {}: OpenSSL refused a certificate ({})",
                        path.display(),
                        short_reason(&e)
                    ))
                })?;
            }
            builder.set_cert_store(store.build());
        } else {
            builder.set_default_verify_paths().map_err(|e| {
                Error::invalid_tls_config(format!(
                    "OpenSSL cannot load the system trust store ({}); set tlsCAFile",
                    short_reason(&e)
                ))
            })?;
        }
        if let Some(path) = &opts.crl_file_path {
            if opts.disable_certificate_revocation_check == Some(true) {
                tracing::debug!(
                    crl_file = %path.display(),
                    "tlsDisableCertificateRevocationCheck=true: tlsCRLFile is not used"
                );
            } else {
                crl::install(builder.cert_store_mut(), path)?;
            }
        }
        if !verify_certificates {
            builder.set_verify(SslVerifyMode::NONE);
        }

        let mut subject = None;
        let mut not_after = None;
        let expiry_warning = opts
            .cert_expiry_warning
            .unwrap_or(crate::tls::identity::DEFAULT_EXPIRY_WARNING);
        if let Some(id) = identity::load(opts, expiry_warning)? {
            let origin = identity_origin(opts);
            let rejected = |what: &str, e: ::openssl::error::ErrorStack| {
                Error::identity(
                    origin.clone(),
                    IdentityErrorKind::Rejected {
                        detail: format!("OpenSSL refused the {what} ({})", short_reason(&e)),
                    },
                )
            };
            builder
                .set_certificate(&id.leaf)
                .map_err(|e| rejected("certificate", e))?;
            for cert in id.chain {
                builder
                    .add_extra_chain_cert(cert)
                    .map_err(|e| rejected("intermediate certificate", e))?;
            }
            builder
                .set_private_key(&id.key)
                .map_err(|e| rejected("private key", e))?;
            builder.check_private_key().map_err(|_| {
                Error::identity(
                    origin.clone(),
                    IdentityErrorKind::KeyMismatch {
                        subject: id.subject.clone(),
                    },
                )
            })?;
            subject = Some(id.subject);
            not_after = Some(id.not_after);
        }

        Ok(Self {
            context: builder.build(),
            subject,
            not_after,
            verify_certificates,
            verify_hostname,
        })
    }

    fn handshake_error(&self, host: &str, ssl: &SslRef, err: &ssl::Error) -> Error {
        let verify = ssl.verify_result();
        let reason = if self.verify_certificates && verify != X509VerifyResult::OK {
            describe_verify_failure(verify, host)
        } else {
            describe_ssl_error(err, self.subject.as_deref())
        };
        handshake(host, reason)
    }
}

/// A client context configured as `SslConnector::builder` configures one (options, modes,
/// ciphers, peer verification), minus the system trust store, which the caller chooses.
fn context_builder() -> std::result::Result<SslContextBuilder, ::openssl::error::ErrorStack> {
    let mut ctx = SslContextBuilder::new(SslMethod::tls_client())?;
    let mut options =
        SslOptions::ALL | SslOptions::NO_COMPRESSION | SslOptions::NO_SSLV2 | SslOptions::NO_SSLV3;
    options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    ctx.set_options(options);
    ctx.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    ctx.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")?;
    ctx.set_verify(SslVerifyMode::PEER);
    Ok(ctx)
}

fn handshake(host: &str, reason: String) -> Error {
    Error::new(ErrorKind::TlsHandshake {
        address: host.to_owned(),
        backend: NAME.to_string(),
        reason,
    })
}

fn identity_origin(opts: &TlsOptions) -> IdentitySource {
    match &opts.cert_key_file_path {
        Some(path) => IdentitySource::File(path.clone()),
        None => IdentitySource::Memory,
    }
}

#[async_trait]
impl TlsBackend for OpenSslBackend {
    builtin_backend_accessors!();

    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream> {
        let setup = |e: ::openssl::error::ErrorStack| {
            handshake(
                host,
                format!("cannot set up the TLS session ({})", short_reason(&e)),
            )
        };
        let mut ssl = Ssl::new(&self.context).map_err(setup)?;
        // SNI for names (never for IP literals); the name or IP checked against the
        // certificate's SANs, as `ConnectConfiguration::into_ssl` does.
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_none() {
            ssl.set_hostname(host).map_err(setup)?;
        }
        if self.verify_hostname {
            let param = ssl.param_mut();
            param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Some(ip) => param.set_ip(ip),
                None => param.set_host(host),
            }
            .map_err(setup)?;
        }
        let mut tls = tokio_openssl::SslStream::new(ssl, stream).map_err(setup)?;
        if let Err(e) = Pin::new(&mut tls).connect().await {
            return Err(self.handshake_error(host, tls.ssl(), &e));
        }
        Ok(Box::new(stream::OpenSslStream::new(
            tls,
            host,
            self.subject.clone(),
        )))
    }
}

/// The server's certificate failed verification: say why, and what to do.
fn describe_verify_failure(result: X509VerifyResult, host: &str) -> String {
    use ::openssl_sys as ffi;
    let words = result.error_string();
    match result.as_raw() {
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN => format!(
            "the server's certificate is not signed by a trusted CA (check tlsCAFile; \
             tlsAllowInvalidCertificates disables verification, unsafely) [{words}]"
        ),
        ffi::X509_V_ERR_HOSTNAME_MISMATCH | ffi::X509_V_ERR_IP_ADDRESS_MISMATCH => format!(
            "the server's certificate does not name {host}; connect with a name the \
             certificate has, or tlsAllowInvalidHostnames disables the check"
        ),
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => {
            "the server's certificate has expired; the server needs a new one".to_owned()
        }
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => {
            "the server's certificate is not valid yet; check the clocks".to_owned()
        }
        ffi::X509_V_ERR_CERT_REVOKED => {
            "the server's certificate has been revoked (it is listed in a CRL of tlsCRLFile); \
             the server needs a new certificate"
                .to_owned()
        }
        ffi::X509_V_ERR_UNABLE_TO_GET_CRL => {
            "tlsCRLFile has no CRL from the CA that issued the server's certificate; add that \
             CA's CRL to the file (or remove tlsCRLFile)"
                .to_owned()
        }
        ffi::X509_V_ERR_CRL_HAS_EXPIRED | ffi::X509_V_ERR_CRL_NOT_YET_VALID => format!(
            "a CRL in tlsCRLFile is outside its validity period ({words}); fetch a current CRL"
        ),
        ffi::X509_V_ERR_CRL_SIGNATURE_FAILURE | ffi::X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE => {
            format!("a CRL in tlsCRLFile is not signed by the server's CA ({words})")
        }
        _ => format!("the server's certificate could not be verified: {words}"),
    }
}

/// Any other handshake failure, from OpenSSL's reasons (alerts from the server included).
pub(super) fn describe_ssl_error(err: &ssl::Error, client_subject: Option<&str>) -> String {
    let reasons: Vec<&str> = err
        .ssl_error()
        .map(|stack| stack.errors().iter().filter_map(|e| e.reason()).collect())
        .unwrap_or_default();
    if let Some(reason) = reasons.first() {
        if let Some(words) = describe_alert(reason, client_subject) {
            return words;
        }
        if reason.contains("wrong version number") || reason.contains("packet length too long") {
            return "the server did not answer with TLS; is TLS enabled on the server and the \
                    port right?"
                .to_owned();
        }
        if reason.contains("unsupported protocol") || reason.contains("no protocols available") {
            return format!("no TLS version in common with the server ({reason})");
        }
        return (*reason).to_owned();
    }
    if let Some(io) = err.io_error() {
        return format!("I/O error during the handshake: {io}");
    }
    if err.code() == ssl::ErrorCode::SYSCALL || err.code() == ssl::ErrorCode::ZERO_RETURN {
        return "the server closed the connection during the handshake (is TLS enabled on \
                the server?)"
            .to_owned();
    }
    format!("OpenSSL error code {}", err.code().as_raw())
}

/// A TLS alert the server sent, when it is about the client certificate; `None` otherwise.
/// Used for handshake failures and for the first read after a TLS 1.3 handshake, where the
/// server's verdict on the client certificate arrives.
pub(super) fn describe_alert(reason: &str, client_subject: Option<&str>) -> Option<String> {
    if !reason.contains("alert") {
        return None;
    }
    let sent = match client_subject {
        Some(subject) => format!("the client certificate {subject}"),
        None => "no client certificate".to_owned(),
    };
    Some(if reason.contains("certificate required") {
        match client_subject {
            None => "the server requires a client certificate and none is configured; set \
                     tlsCertificateKeyFile"
                .to_owned(),
            Some(_) => format!("the server requires a client certificate ({sent} was refused)"),
        }
    } else if reason.contains("unknown ca") {
        format!(
            "the server does not trust {sent}: it is not signed by a CA in the server's CA \
             file (alert: unknown CA)"
        )
    } else if reason.contains("certificate expired") {
        format!("the server says {sent} has expired")
    } else if reason.contains("bad certificate")
        || reason.contains("certificate unknown")
        || reason.contains("unsupported certificate")
        || reason.contains("certificate revoked")
    {
        format!("the server rejected {sent} ({reason})")
    } else if reason.contains("handshake failure") && client_subject.is_none() {
        "the server refused the handshake (alert: handshake failure); it may require a client \
         certificate: set tlsCertificateKeyFile"
            .to_owned()
    } else {
        format!("the server ended the handshake ({reason}); {sent} was sent")
    })
}
