//! No input makes identity loading panic: thousands of damaged copies of real identity files
//! (flipped bits, random bytes, truncation) go through `build_backend` on each compiled backend.
//! Each must load or give an error; a panic names the file and the round.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::certs::{password, test_certs};
use mongo_x509::options::TlsOptions;
use mongo_x509::tls::build_backend;

/// One file per decoder path (scrypt is left out: slow by design, and its parameters are
/// covered by the format tests).
const FILES: &[&str] = &[
    "client.p12",
    "client-legacy.p12",
    "client-chain.p12",
    "client-pkcs8-aes256.pem",
    "client-pkcs8-des3.pem",
    "client-pkcs8-pbes1.pem",
    "client-legacy-aes256.pem",
    "client-ec-legacy-aes256.pem",
    "client-pkcs1.pem",
    "client-ec-sec1.pem",
];
const ROUNDS: usize = 40;

#[test]
fn damaged_identity_files_never_panic() {
    let certs = test_certs();
    let password = password();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut panics = Vec::new();
    let mut loaded = 0;
    let mut refused = 0;
    for backend in common::backends() {
        for file in FILES {
            let original = std::fs::read(certs.join(file)).expect("test file");
            for round in 0..ROUNDS {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let i = next() as usize % bytes.len();
                    match next() % 3 {
                        0 => bytes[i] = next() as u8,
                        1 => bytes.truncate(i.max(1)),
                        _ => bytes[i] ^= 1 << (next() % 8),
                    }
                }
                let opts = TlsOptions::builder()
                    .cert_key_data(bytes)
                    .tls_certificate_key_file_password(password.clone())
                    .backend(backend.clone())
                    .build();
                match catch_unwind(AssertUnwindSafe(|| build_backend(&opts).map(|_| ()))) {
                    Ok(Ok(())) => loaded += 1,
                    Ok(Err(_)) => refused += 1,
                    Err(_) => panics.push(format!("{}/{file}/round {round}", backend.name())),
                }
            }
        }
    }
    assert!(
        panics.is_empty(),
        "identity loading panicked on: {panics:?}"
    );
    assert!(
        refused > 0,
        "damaged files must be refused (loaded {loaded})"
    );
}
