//! The client identity for OpenSSL.
//!
//! The shared front end (`tls::identity::decode`) reads the file, picks the key, the leaf and
//! the chain, and gives every bad input its error kind; OpenSSL only decrypts PBES2 and legacy
//! PEM keys ([`OpenSslDecryptor`]) and holds the key. OpenSSL's default password callback
//! prompts on the terminal, so every call that decrypts passes its own callback. PKCS#12 files
//! (and their legacy RC2/3DES algorithms) are decoded in Rust, so OpenSSL 3's legacy provider
//! is never loaded and the process-wide default library context is left as it was.

use std::cell::Cell;
use std::time::Duration;

use ::openssl::error::ErrorStack;
use ::openssl::pkey::{PKey, Private};
use ::openssl::x509::X509;
use zeroize::Zeroizing;

use crate::error::{IdentityErrorKind, Result};
use crate::options::TlsOptions;
use crate::tls::identity::{self, pbe, pem, KeyDecryptor, PemBlock, RustDecryptor};
use der::Decode;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;

/// A loaded identity: the leaf certificate, the intermediates to send after it, and its key.
pub(super) struct OpenSslIdentity {
    pub leaf: X509,
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
    /// The leaf's subject DN, RFC 2253.
    pub subject: String,
    /// When the leaf expires.
    pub not_after: std::time::SystemTime,
}

/// Reads, decodes and decrypts the identity named by `opts`; `None` without one.
pub(super) fn load(opts: &TlsOptions, expiry_warning: Duration) -> Result<Option<OpenSslIdentity>> {
    let Some(input) = identity::read_identity(opts)? else {
        return Ok(None);
    };
    crate::tls::count_identity_load();
    let password = opts.tls_certificate_key_file_password.as_deref();
    let decryptor = OpenSslDecryptor::default();
    let limits = opts.kdf_limits.unwrap_or_default();
    let decoded = identity::decode(&input, password, &decryptor, expiry_warning, &limits)?;
    let rejected = |what: &str, e: ErrorStack| {
        input.error(IdentityErrorKind::Rejected {
            detail: format!("OpenSSL refused the {what} ({})", short_reason(&e)),
        })
    };
    let mut certs = Vec::with_capacity(decoded.chain.len());
    for der in &decoded.chain {
        certs.push(X509::from_der(der).map_err(|e| rejected("certificate", e))?);
    }
    // The key OpenSSL decrypted is used as it is; an unencrypted one is imported once here.
    let key = match decryptor.decrypted.take() {
        Some(key) => key,
        None => PKey::private_key_from_pkcs8(&decoded.key_pkcs8)
            .map_err(|e| rejected("private key", e))?,
    };
    if certs.is_empty() {
        return Err(input.error(IdentityErrorKind::NoCertificate {
            found: "no certificate".to_owned(),
        }));
    }
    let leaf = certs.remove(0);
    Ok(Some(OpenSslIdentity {
        leaf,
        chain: certs,
        key,
        not_after: decoded.leaf.not_after_time(),
        subject: decoded.leaf.subject,
    }))
}

/// OpenSSL decrypts the key, with our password callback; the result goes back to the front end
/// as PKCS#8 (zeroized) so that both backends check it the same way, and OpenSSL's own key is
/// kept so that it is not imported a second time.
#[derive(Default)]
struct OpenSslDecryptor {
    decrypted: Cell<Option<PKey<Private>>>,
}

impl OpenSslDecryptor {
    fn keep(&self, key: PKey<Private>) -> Option<Zeroizing<Vec<u8>>> {
        let der = key.private_key_to_pkcs8().ok().map(Zeroizing::new)?;
        self.decrypted.set(Some(key));
        Some(der)
    }
}

impl KeyDecryptor for OpenSslDecryptor {
    fn pbes2(&self, encrypted_der: &[u8], password: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        // OpenSSL refuses scrypt above its 32 MiB default whatever the password; a user who
        // raised `KdfLimits::max_scrypt_memory` gets the key decrypted in Rust instead.
        let info = EncryptedPrivateKeyInfo::from_der(encrypted_der).ok()?;
        if pbe::scrypt_above_openssl_default(&info.encryption_algorithm) {
            let der = RustDecryptor.pbes2(encrypted_der, password)?;
            let key = PKey::private_key_from_pkcs8(&der).ok()?;
            return self.keep(key);
        }
        let key = PKey::private_key_from_pkcs8_callback(encrypted_der, callback(password)).ok()?;
        self.keep(key)
    }

    fn legacy_pem(&self, block: &PemBlock, password: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        // Legacy encryption lives in the PEM headers: give OpenSSL the block as PEM again.
        let text = pem::to_pem(block);
        let key = PKey::private_key_from_pem_callback(text.as_bytes(), callback(password)).ok()?;
        self.keep(key)
    }
}

/// The password callback: copies the password into OpenSSL's buffer (which OpenSSL cleanses
/// after use); a password too long for it cannot be right.
fn callback(
    password: &[u8],
) -> impl FnOnce(&mut [u8]) -> std::result::Result<usize, ErrorStack> + '_ {
    move |buf: &mut [u8]| match buf.get_mut(..password.len()) {
        Some(dest) => {
            dest.copy_from_slice(password);
            Ok(password.len())
        }
        None => Err(ErrorStack::get()),
    }
}

/// OpenSSL's reason for the first error, without the library/function noise; never the
/// whole error stack.
pub(super) fn short_reason(e: &ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|err| err.reason())
        .unwrap_or("unknown OpenSSL error")
        .to_owned()
}
