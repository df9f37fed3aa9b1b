//! The identity loader (PEM, DER, PKCS#12; with and without a password) on in-memory data,
//! through `tls::build_backend`, on both backends (OpenSSL; native-tls, which decodes keys in
//! pure Rust): never panics. The first byte picks the password (bits 0-1: none, empty, or the
//! test certificates' one, scripts/gen-test-certs.sh) and the backend (bit 2). Run it with
//! `-max_len` and `-timeout` (scripts/fuzz.sh does): the KDF parameter caps on this path are
//! separate work. `MONGO_X509_FUZZ_CA` names a small CA file to trust instead of the system
//! store, which is slow to load on every input.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mongo_x509::options::{TlsBackendKind, TlsOptions};

fn ca_file() -> Option<PathBuf> {
    static CA: OnceLock<Option<PathBuf>> = OnceLock::new();
    CA.get_or_init(|| std::env::var_os("MONGO_X509_FUZZ_CA").map(PathBuf::from))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, key)) = data.split_first() else {
        return;
    };
    let password: Option<Vec<u8>> = match selector & 3 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some("s3cr3t p@ss/wörd".as_bytes().to_vec()),
    };
    let backend = if selector & 4 == 0 {
        TlsBackendKind::OpenSsl
    } else {
        TlsBackendKind::NativeTls
    };
    let mut opts = TlsOptions::builder()
        .cert_key_data(key.to_vec())
        .backend(backend)
        .build();
    opts.tls_certificate_key_file_password = password;
    opts.ca_file_path = ca_file();
    let _ = mongo_x509::tls::build_backend(&opts);
});
