//! No input makes identity loading panic: 400 damaged copies of real identity files (flipped
//! bits, random bytes, truncation; see tests/common/mutations.rs) go through `build_backend` on
//! each compiled backend. Each must load or give an error; a panic names the file and the round.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::certs::password;
use common::mutations::mutations;
use mongo_x509::options::TlsOptions;
use mongo_x509::tls::build_backend;

#[test]
fn damaged_identity_files_never_panic() {
    let password = password();
    let inputs = mutations();
    assert_eq!(inputs.len(), 400);
    let mut panics = Vec::new();
    let mut loaded = 0;
    let mut refused = 0;
    for backend in common::backends() {
        for input in &inputs {
            let opts = TlsOptions::builder()
                .cert_key_data(input.bytes.clone())
                .tls_certificate_key_file_password(password.clone())
                .backend(backend.clone())
                .build();
            match catch_unwind(AssertUnwindSafe(|| build_backend(&opts).map(|_| ()))) {
                Ok(Ok(())) => loaded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panics.push(format!(
                    "{}/{}/round {}",
                    backend.name(),
                    input.file,
                    input.round
                )),
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
