//! `tlsCRLFile`: certificate revocation lists for the server's certificate.
//!
//! The file is split in Rust (PEM `X509 CRL` blocks, or one DER CRL): OpenSSL's file loaders
//! would fall back to its default password callback, a terminal prompt, on an encrypted block.
//! The CRLs go into the context's trust store with `X509_V_FLAG_CRL_CHECK`, which checks the
//! server's leaf certificate against the CRL of its issuer, as pymongo's `tlsCRLFile` does.

use std::path::Path;

use ::openssl::x509::store::X509StoreBuilderRef;
use ::openssl::x509::verify::X509VerifyFlags;
use ::openssl::x509::X509Crl;
use foreign_types::ForeignTypeRef;

use super::identity::short_reason;
use crate::error::{Error, Result};
use crate::tls::identity::pem;

/// Reads the CRLs of `path` and makes `store` check the server's certificate against them.
pub(super) fn install(store: &mut X509StoreBuilderRef, path: &Path) -> Result<()> {
    let crls = read(path)?;
    for crl in &crls {
        add_crl(store, crl).map_err(|reason| config(path, &reason))?;
    }
    store.set_flags(X509VerifyFlags::CRL_CHECK).map_err(|e| {
        config(
            path,
            &format!("OpenSSL refused CRL checking ({})", short_reason(&e)),
        )
    })
}

fn config(path: &Path, reason: &str) -> Error {
    Error::invalid_tls_config(format!("tlsCRLFile {}: {reason}", path.display()))
}

/// The CRLs in the file: PEM `X509 CRL` blocks (other blocks are skipped), or one DER CRL.
fn read(path: &Path) -> Result<Vec<X509Crl>> {
    let bytes = crate::tls::read_tls_file("tlsCRLFile", path, |e| {
        config(
            path,
            &format!("cannot read the file ({e}); check the path and its permissions"),
        )
    })?;
    let ders: Vec<Vec<u8>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = pem::parse(&bytes).map_err(|kind| config(path, &kind.to_string()))?;
        if let Some(encrypted) = blocks.iter().find(|b| b.is_legacy_encrypted()) {
            return Err(config(
                path,
                &format!(
                    "the {} block is encrypted (Proc-Type: 4,ENCRYPTED); a CRL file must not be",
                    encrypted.label
                ),
            ));
        }
        blocks
            .into_iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der.to_vec())
            .collect()
    } else {
        vec![bytes.to_vec()]
    };
    if ders.is_empty() {
        return Err(config(
            path,
            "no CRL found; the file must hold PEM `-----BEGIN X509 CRL-----` blocks (or one DER \
             CRL), e.g. from `openssl ca -gencrl`",
        ));
    }
    ders.iter()
        .map(|der| {
            X509Crl::from_der(der).map_err(|e| {
                config(
                    path,
                    &format!("a CRL could not be read ({})", short_reason(&e)),
                )
            })
        })
        .collect()
}

// Part of libcrypto's public API since OpenSSL 0.9.8, linked through openssl-sys, which does
// not declare it.
extern "C" {
    fn X509_STORE_add_crl(
        store: *mut openssl_sys::X509_STORE,
        crl: *mut openssl_sys::X509_CRL,
    ) -> std::os::raw::c_int;
}

/// `X509_STORE_add_crl`, which the `openssl` crate does not wrap.
fn add_crl(store: &mut X509StoreBuilderRef, crl: &X509Crl) -> std::result::Result<(), String> {
    use ::openssl::x509::X509CrlRef;
    let crl_ref: &X509CrlRef = crl;
    // SAFETY: both pointers come from live, owned OpenSSL objects borrowed for this call;
    // X509_STORE_add_crl takes its own reference to the CRL and does not keep the store pointer.
    let added = unsafe { X509_STORE_add_crl(store.as_ptr(), crl_ref.as_ptr()) };
    if added == 1 {
        Ok(())
    } else {
        let stack = ::openssl::error::ErrorStack::get();
        Err(format!("OpenSSL refused a CRL ({})", short_reason(&stack)))
    }
}
