//! The identity loader (PEM, DER, PKCS#12; with and without a password) on in-memory data,
//! through `tls::build_backend`: never panics. The first byte picks the password: none, empty,
//! or the test certificates' one (scripts/gen-test-certs.sh). Run it with `-max_len` and
//! `-timeout` (scripts/fuzz.sh does): the KDF parameter caps on this path are separate work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mongo_x509::options::TlsOptions;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, key)) = data.split_first() else {
        return;
    };
    let opts = match selector % 3 {
        0 => TlsOptions::builder().cert_key_data(key.to_vec()).build(),
        1 => TlsOptions::builder()
            .cert_key_data(key.to_vec())
            .tls_certificate_key_file_password(Vec::new())
            .build(),
        _ => TlsOptions::builder()
            .cert_key_data(key.to_vec())
            .tls_certificate_key_file_password("s3cr3t p@ss/wörd".as_bytes().to_vec())
            .build(),
    };
    let _ = mongo_x509::tls::build_backend(&opts);
});
