//! One rule for both backends: every identity file scripts/gen-test-certs.sh makes (with the
//! password, without it, and with a wrong one) and the 400 damaged inputs of
//! tests/common/mutations.rs go through the OpenSSL and the native-tls backend, which must
//! agree: both load it with the same subject, or both refuse it with the same
//! `IdentityErrorKind` (the variant; messages may word backend details differently).

#![cfg(all(feature = "openssl", feature = "native-tls"))]

mod common;

use common::certs::{password, test_certs};
use common::mutations::mutations;
use mongo_x509::error::Error;
use mongo_x509::options::{TlsBackendKind, TlsOptions};
use mongo_x509::tls::build_backend;

/// Files of the test set that are not identities (the rest all are, good or bad).
const NOT_IDENTITIES: &[&str] = &["password.txt", "subjects.txt", "ext.cnf"];

/// What a backend made of an input: `ok <subject>`, `identity <Variant>`, or `other <message>`.
fn outcome(result: Result<Option<String>, Error>) -> String {
    match result {
        Ok(subject) => format!("ok {}", subject.unwrap_or_default()),
        Err(e) => match e.as_identity_error() {
            Some(identity) => {
                let debug = format!("{:?}", identity.kind);
                let variant = debug.split([' ', '{', '(']).next().unwrap_or_default();
                format!("identity {variant}")
            }
            None => format!("other {e}"),
        },
    }
}

fn run(opts: &TlsOptions, backend: &TlsBackendKind) -> String {
    let mut opts = opts.clone();
    opts.backend = Some(backend.clone());
    outcome(build_backend(&opts).map(|b| b.client_subject()))
}

/// Runs `opts` on both backends; a disagreement is recorded under `what`.
fn compare(what: String, opts: TlsOptions, disagreements: &mut Vec<String>) -> String {
    let openssl = run(&opts, &TlsBackendKind::OpenSsl);
    let native = run(&opts, &TlsBackendKind::NativeTls);
    if openssl != native {
        disagreements.push(format!(
            "{what}: openssl {openssl:?}, native-tls {native:?}"
        ));
    }
    openssl
}

#[test]
fn both_backends_agree_on_every_generated_file() {
    let certs = test_certs();
    let mut names: Vec<String> = std::fs::read_dir(&certs)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !NOT_IDENTITIES.contains(&n.as_str()))
        .collect();
    names.sort();
    assert!(names.len() > 60, "{names:?}");
    let passwords: [(&str, Option<Vec<u8>>); 3] = [
        ("the password", Some(password())),
        ("no password", None),
        ("a wrong password", Some(b"not the password".to_vec())),
    ];
    let mut disagreements = Vec::new();
    let mut loaded = 0;
    let mut runs = 0;
    for name in &names {
        for (label, pw) in &passwords {
            let mut opts = TlsOptions::builder()
                .cert_key_file_path(certs.join(name))
                .build();
            opts.tls_certificate_key_file_password = pw.clone();
            let result = compare(format!("{name} with {label}"), opts, &mut disagreements);
            runs += 1;
            loaded += usize::from(result.starts_with("ok"));
        }
    }
    println!(
        "{} files, {runs} runs per backend, {loaded} loaded",
        names.len()
    );
    assert!(loaded > 40, "most identity files load with the password");
    assert!(
        disagreements.is_empty(),
        "the backends disagree:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn both_backends_agree_on_the_damaged_inputs() {
    let inputs = mutations();
    assert_eq!(inputs.len(), 400);
    let mut disagreements = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for input in &inputs {
        let opts = TlsOptions::builder()
            .cert_key_data(input.bytes.clone())
            .tls_certificate_key_file_password(password())
            .build();
        let what = format!("{} round {}", input.file, input.round);
        let result = compare(what, opts, &mut disagreements);
        let kind = if result.starts_with("ok") {
            "ok".to_owned()
        } else {
            result
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!("outcomes: {kinds:#?}");
    assert!(
        disagreements.is_empty(),
        "the backends disagree on {} of 400 damaged inputs:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// With KDF limits below what the files use, both backends refuse the same files the same way
/// (`KdfLimitExceeded`, before deriving) and still agree on the others (legacy PEM has no KDF
/// parameter; unencrypted files are untouched). Crafted hostile parameters: tests/kdf_limits.rs.
#[test]
fn both_backends_agree_under_strict_kdf_limits() {
    use mongo_x509::options::KdfLimits;
    let certs = test_certs();
    let mut disagreements = Vec::new();
    let mut refused = Vec::new();
    for name in [
        "client-pkcs8-aes256.pem",
        "client-pkcs8-aes128-sha1.pem",
        "client-pkcs8-scrypt.pem",
        "client-pkcs8-pbes1.pem",
        "client-legacy-aes256.pem",
        "client-pkcs8.pem",
        "client.p12",
        "client-legacy.p12",
        "client-chain.p12",
    ] {
        for password in [Some(password()), None] {
            let mut opts = TlsOptions::builder()
                .cert_key_file_path(certs.join(name))
                .kdf_limits(KdfLimits::new(100, 1024 * 1024))
                .build();
            opts.tls_certificate_key_file_password = password;
            let result = compare(name.to_owned(), opts, &mut disagreements);
            if result == "identity KdfLimitExceeded" {
                refused.push(name);
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "the backends disagree:\n{}",
        disagreements.join("\n")
    );
    for name in [
        "client-pkcs8-aes256.pem",
        "client-pkcs8-scrypt.pem",
        "client.p12",
    ] {
        assert!(refused.contains(&name), "{name} not refused: {refused:?}");
    }
    assert!(!refused.contains(&"client-legacy-aes256.pem"));
}
