//! The `tls`/`ssl` and `tls*` options and the conflicts the URI Options spec names.

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::options::{Tls, TlsBackendKind, TlsOptions};

/// The TLS options as found in a connection string, before their rules are applied.
#[derive(Default)]
pub(super) struct TlsInput {
    /// Every `tls=`/`ssl=` given, in order, with the name used.
    pub(super) enabled: Vec<(&'static str, bool)>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) cert_key_file: Option<PathBuf>,
    /// Wiped when dropped (a later option may fail to parse).
    pub(super) cert_key_password: Option<Zeroizing<Vec<u8>>>,
    pub(super) allow_invalid_certificates: Option<bool>,
    pub(super) allow_invalid_hostnames: Option<bool>,
    pub(super) insecure: Option<bool>,
    pub(super) disable_ocsp_endpoint_check: Option<bool>,
    pub(super) disable_certificate_revocation_check: Option<bool>,
    pub(super) backend: Option<TlsBackendKind>,
    pub(super) crl_file: Option<PathBuf>,
    /// `tlsCertificateKeyFileWatchIntervalMS` (an extension; 0 means no watch).
    pub(super) watch_interval: Option<std::time::Duration>,
}

impl TlsInput {
    /// The names of the `tls*` options present (everything but `tls`/`ssl`).
    fn present(&self) -> Vec<&'static str> {
        [
            (self.ca_file.is_some(), "tlsCAFile"),
            (self.cert_key_file.is_some(), "tlsCertificateKeyFile"),
            (
                self.cert_key_password.is_some(),
                "tlsCertificateKeyFilePassword",
            ),
            (
                self.allow_invalid_certificates.is_some(),
                "tlsAllowInvalidCertificates",
            ),
            (
                self.allow_invalid_hostnames.is_some(),
                "tlsAllowInvalidHostnames",
            ),
            (self.insecure.is_some(), "tlsInsecure"),
            (
                self.disable_ocsp_endpoint_check.is_some(),
                "tlsDisableOCSPEndpointCheck",
            ),
            (
                self.disable_certificate_revocation_check.is_some(),
                "tlsDisableCertificateRevocationCheck",
            ),
            (self.backend.is_some(), "tlsBackend"),
            (self.crl_file.is_some(), "tlsCRLFile"),
            (
                self.watch_interval.is_some(),
                "tlsCertificateKeyFileWatchIntervalMS",
            ),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }

    /// Applies the rules: `tls`/`ssl` must agree; the conflicting pairs are refused (by presence,
    /// whatever their values, as the spec says); `tls*` options with `tls=false` are refused;
    /// `tls*` options or `mongodb+srv` turn TLS on unless `tls=false`.
    pub(super) fn build(self, srv: bool) -> Result<Option<Tls>> {
        let explicit = match self.enabled.split_first() {
            None => None,
            Some(((first_name, first), rest)) => {
                if let Some((name, value)) = rest.iter().find(|(_, v)| v != first) {
                    return Err(Error::invalid_argument(format!(
                        "{first_name}={first} and {name}={value} disagree; `ssl` is an alias of \
                         `tls`, give one value"
                    )));
                }
                Some(*first)
            }
        };
        const CONFLICTS: [(&str, &str); 7] = [
            ("tlsInsecure", "tlsAllowInvalidCertificates"),
            ("tlsInsecure", "tlsAllowInvalidHostnames"),
            ("tlsInsecure", "tlsDisableOCSPEndpointCheck"),
            ("tlsInsecure", "tlsDisableCertificateRevocationCheck"),
            ("tlsAllowInvalidCertificates", "tlsDisableOCSPEndpointCheck"),
            (
                "tlsAllowInvalidCertificates",
                "tlsDisableCertificateRevocationCheck",
            ),
            (
                "tlsDisableOCSPEndpointCheck",
                "tlsDisableCertificateRevocationCheck",
            ),
        ];
        let present = self.present();
        for (a, b) in CONFLICTS {
            if present.contains(&a) && present.contains(&b) {
                return Err(Error::invalid_argument(format!(
                    "{a} and {b} cannot both be given (URI Options spec: conflicting TLS \
                     options); {}",
                    if a == "tlsInsecure" {
                        format!("tlsInsecure already implies what {b} does; remove one")
                    } else {
                        "remove one".to_owned()
                    }
                )));
            }
        }
        if explicit == Some(false) {
            if let Some(name) = present.first() {
                return Err(Error::invalid_argument(format!(
                    "{name} is given but TLS is disabled (tls=false); remove {name} or set tls=true"
                )));
            }
            return Ok(Some(Tls::Disabled));
        }
        if explicit.is_none() && present.is_empty() && !srv {
            return Ok(None);
        }
        // tlsInsecure relaxes certificate and host name verification (documented on the option).
        let insecure = self.insecure;
        Ok(Some(Tls::Enabled(TlsOptions {
            ca_file_path: self.ca_file,
            cert_key_file_path: self.cert_key_file,
            // Moved, not copied: the public field wipes it on drop (`TlsOptions`'s `Drop`).
            tls_certificate_key_file_password: self
                .cert_key_password
                .map(|mut p| std::mem::take(&mut *p)),
            cert_key_data: None,
            allow_invalid_certificates: self.allow_invalid_certificates.or(insecure),
            allow_invalid_hostnames: self.allow_invalid_hostnames.or(insecure),
            disable_ocsp_endpoint_check: self.disable_ocsp_endpoint_check,
            disable_certificate_revocation_check: self.disable_certificate_revocation_check,
            backend: self.backend,
            crl_file_path: self.crl_file,
            cert_key_file_watch: self.watch_interval.filter(|d| !d.is_zero()),
            cert_expiry_warning: None,
            kdf_limits: None,
        })))
    }
}
