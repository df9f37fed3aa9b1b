//! The native-tls backend (feature `native-tls`): OpenSSL on Linux, Security.framework on
//! macOS, SChannel on Windows.
//!
//! The client identity is decoded and decrypted in pure Rust (PEM of every kind and PKCS#12,
//! see the crate README for the formats), so this backend never needs OpenSSL for keys; it is
//! handed to native-tls as PEM PKCS#8 through `Identity::from_pkcs8`. The identity is loaded
//! once, in [`NativeTlsBackend::new`], and one connector serves every connection.

use std::fmt;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::identity;
use super::{BoxStream, TlsBackend};
use crate::error::{Error, ErrorKind, IdentityErrorKind, Result};
use crate::options::TlsOptions;

const NAME: &str = "native-tls";

/// The native-tls backend. Build it once per client with [`NativeTlsBackend::new`]; it is
/// shared by every connection.
pub struct NativeTlsBackend {
    connector: tokio_native_tls::TlsConnector,
    subject: Option<String>,
    not_after: Option<std::time::SystemTime>,
}

impl fmt::Debug for NativeTlsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connector holds the private key: it is not printed.
        f.debug_struct("NativeTlsBackend")
            .field("client_subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl NativeTlsBackend {
    /// Builds the backend: reads `tlsCAFile`, loads and decrypts the client identity (once),
    /// and configures the connector with the options' verification settings.
    ///
    /// Errors: [`ErrorKind::Identity`] for anything wrong with the certificate-key file or
    /// password, [`ErrorKind::InvalidTlsConfig`] for the CA file or a connector native-tls
    /// refuses.
    pub fn new(opts: &TlsOptions) -> Result<Self> {
        if let Some(path) = &opts.crl_file_path {
            return Err(Error::invalid_tls_config(format!(
                "tlsCRLFile ({}) is supported by the OpenSSL backend only: native-tls has no \
                 API for certificate revocation lists; use tlsBackend=openssl (cargo feature \
                 `openssl`) or remove tlsCRLFile",
                path.display()
            )));
        }
        let mut builder = native_tls::TlsConnector::builder();
        builder.use_sni(true);
        if let Some(path) = &opts.ca_file_path {
            for cert in crate::tls::read_ca_file(path, |der| {
                native_tls::Certificate::from_der(der).map_err(|e| e.to_string())
            })? {
                builder.add_root_certificate(cert);
            }
            builder.disable_built_in_roots(true);
        }
        builder.danger_accept_invalid_certs(opts.allow_invalid_certificates.unwrap_or(false));
        builder.danger_accept_invalid_hostnames(opts.allow_invalid_hostnames.unwrap_or(false));

        let mut subject = None;
        let mut not_after = None;
        let mut origin = None;
        if let Some(input) = identity::read_identity(opts)? {
            super::count_identity_load();
            let password = opts.tls_certificate_key_file_password.as_deref();
            let expiry_warning = opts
                .cert_expiry_warning
                .unwrap_or(identity::DEFAULT_EXPIRY_WARNING);
            let decoded = identity::decode(
                &input,
                password,
                &identity::RustDecryptor,
                expiry_warning,
                &opts.kdf_limits.unwrap_or_default(),
            )?;
            let mut chain_pem = Zeroizing::new(String::new());
            for der in &decoded.chain {
                identity::pem::encode("CERTIFICATE", der, &mut chain_pem);
            }
            let mut key_pem = Zeroizing::new(String::new());
            identity::pem::encode("PRIVATE KEY", &decoded.key_pkcs8, &mut key_pem);
            let native_identity =
                native_tls::Identity::from_pkcs8(chain_pem.as_bytes(), key_pem.as_bytes())
                    .map_err(|e| {
                        input.error(IdentityErrorKind::Rejected {
                            detail: e.to_string(),
                        })
                    })?;
            builder.identity(native_identity);
            subject = Some(decoded.leaf.subject.clone());
            not_after = Some(decoded.leaf.not_after_time());
            origin = Some(input.origin.clone());
        }
        let connector = builder.build().map_err(|e| match origin {
            // With an identity, the likeliest cause is that the TLS library refused it.
            Some(origin) => Error::identity(
                origin,
                IdentityErrorKind::Rejected {
                    detail: e.to_string(),
                },
            ),
            None => Error::invalid_tls_config(format!("native-tls could not be configured: {e}")),
        })?;
        Ok(Self {
            connector: tokio_native_tls::TlsConnector::from(connector),
            subject,
            not_after,
        })
    }
}

/// The backend's reason plus what to do about it.
fn handshake_reason(error: &native_tls::Error, host: &str) -> String {
    let reason = error.to_string();
    match hint(&reason, host) {
        Some(hint) => format!("{reason}; {hint}"),
        None => reason,
    }
}

/// What to do about a handshake failure, from the backend's words (OpenSSL's verify results,
/// Security.framework's and SChannel's messages).
fn hint(reason: &str, host: &str) -> Option<String> {
    let lower = reason.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let hint = if lower.contains("alert") {
        // The server sent an alert: it refused us, usually our certificate.
        if has(&["certificate required"]) {
            "the server requires a client certificate; set tlsCertificateKeyFile".to_owned()
        } else if has(&[
            "certificate",
            "unknown ca",
            "handshake failure",
            "access denied",
        ]) {
            "the server refused the client certificate; check that tlsCertificateKeyFile holds a \
             certificate signed by a CA the server trusts (with its intermediates)"
                .to_owned()
        } else if has(&["protocol version"]) {
            "the server and the client have no TLS version in common".to_owned()
        } else {
            return None;
        }
    } else if has(&[
        "hostname mismatch",
        "ip address mismatch",
        "not valid for",
        "cn_no_match",
        "name mismatch",
        "principal name",
    ]) {
        format!(
            "the server certificate does not name {host}; tlsAllowInvalidHostnames disables the \
             check"
        )
    } else if has(&["expired", "not yet valid"]) {
        "the server certificate is outside its validity period (or the system clock is wrong)"
            .to_owned()
    } else if has(&[
        "unable to get local issuer",
        "self-signed",
        "self signed",
        "unknown ca",
        "untrusted",
        "not trusted",
        "unable to verify",
        "certificate verify failed",
        "chain",
    ]) {
        "the server certificate is not signed by a trusted CA; check tlsCAFile \
         (tlsAllowInvalidCertificates disables verification)"
            .to_owned()
    } else if has(&[
        "wrong version number",
        "unexpected eof",
        "packet length too long",
    ]) {
        "the server did not answer with TLS; check that TLS is enabled on the server and the port \
         is right"
            .to_owned()
    } else {
        return None;
    };
    Some(hint)
}

#[async_trait]
impl TlsBackend for NativeTlsBackend {
    builtin_backend_accessors!();

    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream> {
        match self.connector.connect(host, stream).await {
            Ok(tls) => Ok(Box::new(tls)),
            Err(e) => Err(Error::new(ErrorKind::TlsHandshake {
                address: host.to_owned(),
                backend: NAME.to_string(),
                reason: handshake_reason(&e, host),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    const VERIFY: &str = "error:0A000086:SSL routines:tls_post_process_server_certificate:\
                          certificate verify failed:../ssl/statem/statem_clnt.c:1889: ";

    #[test]
    fn hints_for_openssl_verify_results() {
        let h = |r: &str| hint(&format!("{VERIFY}({r})"), "localhost").unwrap();
        assert!(h("hostname mismatch").contains("does not name localhost"));
        assert!(h("IP address mismatch").contains("tlsAllowInvalidHostnames"));
        assert!(h("unable to get local issuer certificate").contains("check tlsCAFile"));
        assert!(h("self-signed certificate in certificate chain").contains("check tlsCAFile"));
        assert!(h("certificate has expired").contains("validity period"));
    }

    #[test]
    fn hints_for_server_alerts_and_non_tls() {
        let alert = |a: &str| hint(&format!("error:0A00045C:SSL routines::{a}"), "h").unwrap();
        assert!(alert("tlsv13 alert certificate required").contains("set tlsCertificateKeyFile"));
        assert!(alert("tlsv1 alert unknown ca").contains("refused the client certificate"));
        assert!(
            hint("error:0A00010B:SSL routines::wrong version number", "h")
                .unwrap()
                .contains("TLS is enabled")
        );
        assert_eq!(hint("something else entirely", "h"), None);
    }
}
