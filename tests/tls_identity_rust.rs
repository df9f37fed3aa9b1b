//! The native-tls backend's pure-Rust identity loading: every format of
//! scripts/gen-test-certs.sh loads with the right subject, and every bad input has its own
//! error kind. (Handshakes are in tests/tls_handshake.rs.)
#![cfg(feature = "native-tls")]

mod common;

use std::path::PathBuf;

use common::certs::{password, subject, test_certs};
use mongo_x509::error::{Error, ErrorKind, IdentityErrorKind, IdentitySource};
use mongo_x509::options::TlsOptions;
use mongo_x509::tls::native::NativeTlsBackend;
use mongo_x509::tls::TlsBackend;

fn file(name: &str) -> PathBuf {
    test_certs().join(name)
}

fn load(name: &str, password: Option<Vec<u8>>) -> Result<NativeTlsBackend, Error> {
    let opts = match password {
        Some(p) => TlsOptions::builder()
            .cert_key_file_path(file(name))
            .tls_certificate_key_file_password(p)
            .build(),
        None => TlsOptions::builder().cert_key_file_path(file(name)).build(),
    };
    NativeTlsBackend::new(&opts)
}

fn load_bytes(bytes: Vec<u8>, password: Option<Vec<u8>>) -> Result<NativeTlsBackend, Error> {
    let opts = match password {
        Some(p) => TlsOptions::builder()
            .cert_key_data(bytes)
            .tls_certificate_key_file_password(p)
            .build(),
        None => TlsOptions::builder().cert_key_data(bytes).build(),
    };
    NativeTlsBackend::new(&opts)
}

/// Loads `name` and checks the subject DN of the identity.
fn assert_loads(name: &str, identity: &str, password: Option<Vec<u8>>) {
    let backend = load(name, password)
        .unwrap_or_else(|e| panic!("{name} should load with the native-tls backend: {e}"));
    assert_eq!(backend.name(), "native-tls");
    assert_eq!(
        backend.client_subject(),
        Some(subject(identity)),
        "subject of {name}"
    );
}

/// Loads `name` expecting an identity error; checks that the message names the file and does
/// not contain the password.
fn identity_error(name: &str, password: Option<Vec<u8>>) -> IdentityErrorKind {
    let err = match load(name, password) {
        Ok(b) => panic!("{name} should not load, got {b:?}"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(
        message.contains(name),
        "the message should name the file {name}: {message}"
    );
    let pw = String::from_utf8(common::certs::password()).unwrap();
    assert!(
        !message.contains(&pw),
        "the message shows the password: {message}"
    );
    let identity = err
        .as_identity_error()
        .unwrap_or_else(|| panic!("{name}: expected an identity error, got {err:?}"));
    assert_eq!(identity.origin, IdentitySource::File(file(name)));
    identity.kind.clone()
}

macro_rules! loads {
    ($($test:ident: $file:literal as $identity:literal $(with $pw:ident)?;)*) => {$(
        #[test]
        fn $test() {
            #[allow(unused_mut, unused_assignments)]
            let mut pw: Option<Vec<u8>> = None;
            $( pw = Some($pw()); )?
            assert_loads($file, $identity, pw);
        }
    )*};
}

loads! {
    rsa_pkcs8: "client-pkcs8.pem" as "client";
    rsa_pkcs1: "client-pkcs1.pem" as "client";
    rsa_key_before_certificate: "client-key-first.pem" as "client";
    rsa_pbes2_aes256_sha256: "client-pkcs8-aes256.pem" as "client" with password;
    rsa_pbes2_aes192_sha256: "client-pkcs8-aes192.pem" as "client" with password;
    rsa_pbes2_aes128_sha1: "client-pkcs8-aes128-sha1.pem" as "client" with password;
    rsa_pbes2_des3: "client-pkcs8-des3.pem" as "client" with password;
    rsa_pbes2_scrypt: "client-pkcs8-scrypt.pem" as "client" with password;
    rsa_pbes1_sha1_3des: "client-pkcs8-pbes1.pem" as "client" with password;
    rsa_legacy_pem_aes256: "client-legacy-aes256.pem" as "client" with password;
    rsa_legacy_pem_aes128: "client-legacy-aes128.pem" as "client" with password;
    rsa_legacy_pem_des3: "client-legacy-des3.pem" as "client" with password;
    rsa_pkcs12_modern: "client.p12" as "client" with password;
    rsa_pkcs12_legacy_rc2_3des: "client-legacy.p12" as "client" with password;
    rsa_pkcs12_named_pfx: "client.pfx" as "client" with password;
    ec_sec1: "client-ec-sec1.pem" as "client-ec";
    ec_pkcs8: "client-ec-pkcs8.pem" as "client-ec";
    ec_pbes2_aes256: "client-ec-pkcs8-aes256.pem" as "client-ec" with password;
    ec_legacy_pem_aes256: "client-ec-legacy-aes256.pem" as "client-ec" with password;
    ec_pkcs12: "client-ec.p12" as "client-ec" with password;
    chain_pem_encrypted: "client-chain.pem" as "client-chain" with password;
    chain_pkcs12: "client-chain.p12" as "client-chain" with password;
    stranger_pem: "stranger.pem" as "stranger";
}

#[test]
fn password_given_for_unencrypted_keys_is_ignored() {
    assert_loads("client-pkcs8.pem", "client", Some(password()));
    assert_loads("client-pkcs1.pem", "client", Some(b"anything".to_vec()));
    assert_loads("client-ec-sec1.pem", "client-ec", Some(password()));
}

#[test]
fn wrong_password_for_every_encryption() {
    for name in [
        "client-pkcs8-aes256.pem",
        "client-pkcs8-aes192.pem",
        "client-pkcs8-aes128-sha1.pem",
        "client-pkcs8-des3.pem",
        "client-pkcs8-scrypt.pem",
        "client-pkcs8-pbes1.pem",
        "client-legacy-aes256.pem",
        "client-legacy-aes128.pem",
        "client-legacy-des3.pem",
        "client-ec-pkcs8-aes256.pem",
        "client-ec-legacy-aes256.pem",
        "client-chain.pem",
        "client.p12",
        "client-legacy.p12",
        "client-ec.p12",
        "client-chain.p12",
    ] {
        assert_eq!(
            identity_error(name, Some(b"not the password".to_vec())),
            IdentityErrorKind::WrongPassword,
            "{name}"
        );
    }
    // Empty is a password too (and the wrong one).
    assert_eq!(
        identity_error("client-pkcs8-aes256.pem", Some(Vec::new())),
        IdentityErrorKind::WrongPassword
    );
}

#[test]
fn missing_password_names_the_scheme() {
    let cases = [
        ("client-pkcs8-aes256.pem", "AES-256-CBC"),
        ("client-pkcs8-aes128-sha1.pem", "HMAC-SHA1"),
        ("client-pkcs8-scrypt.pem", "scrypt"),
        ("client-pkcs8-pbes1.pem", "pbeWithSHA1And3-KeyTripleDES-CBC"),
        ("client-legacy-des3.pem", "legacy PEM DES-EDE3-CBC"),
        ("client-ec-legacy-aes256.pem", "legacy PEM AES-256-CBC"),
        ("client.p12", "PKCS#12"),
        ("client-legacy.p12", "PKCS#12"),
    ];
    for (name, expected) in cases {
        match identity_error(name, None) {
            IdentityErrorKind::PasswordRequired { scheme } => {
                assert!(scheme.contains(expected), "{name}: scheme {scheme:?}")
            }
            other => panic!("{name}: expected PasswordRequired, got {other:?}"),
        }
    }
}

#[test]
fn key_that_does_not_match_the_certificate() {
    assert_eq!(
        identity_error("client-wrongkey.pem", None),
        IdentityErrorKind::KeyMismatch {
            subject: subject("client")
        }
    );
}

#[test]
fn certificate_without_key() {
    match identity_error("client-certonly.pem", None) {
        IdentityErrorKind::NoPrivateKey { found } => {
            assert!(found.contains("CERTIFICATE"), "{found}")
        }
        other => panic!("expected NoPrivateKey, got {other:?}"),
    }
}

#[test]
fn key_without_certificate() {
    match identity_error("client-keyonly.pem", None) {
        IdentityErrorKind::NoCertificate { found } => {
            assert!(found.contains("PRIVATE KEY"), "{found}")
        }
        other => panic!("expected NoCertificate, got {other:?}"),
    }
}

#[test]
fn truncated_file() {
    assert!(matches!(
        identity_error("client-truncated.pem", Some(password())),
        IdentityErrorKind::Malformed { .. }
    ));
}

#[test]
fn garbage_files_whatever_their_name() {
    for name in ["garbage.pem", "garbage.p12"] {
        match identity_error(name, Some(password())) {
            IdentityErrorKind::UnsupportedFormat { found } => {
                assert!(
                    found.contains("no PEM block and not DER PKCS#12"),
                    "{name}: {found}"
                )
            }
            other => panic!("{name}: expected UnsupportedFormat, got {other:?}"),
        }
    }
}

#[test]
fn missing_file() {
    match identity_error("does-not-exist.pem", None) {
        IdentityErrorKind::Unreadable { io } => assert!(!io.is_empty()),
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[test]
fn expired_certificate() {
    match identity_error("client-expired.pem", None) {
        IdentityErrorKind::CertificateExpired {
            subject,
            not_before,
            not_after,
        } => {
            // `openssl ca` in the script keeps only the CN.
            assert!(subject.starts_with("CN=expired"), "{subject}");
            assert_eq!(not_before, "2020-01-01 00:00:00 UTC");
            assert_eq!(not_after, "2021-01-01 00:00:00 UTC");
        }
        other => panic!("expected CertificateExpired, got {other:?}"),
    }
}

#[test]
fn certificate_not_yet_valid() {
    match identity_error("client-notyet.pem", None) {
        IdentityErrorKind::CertificateNotYetValid {
            subject,
            not_before,
            ..
        } => {
            assert!(subject.starts_with("CN=notyet"), "{subject}");
            assert_eq!(not_before, "2090-01-01 00:00:00 UTC");
        }
        other => panic!("expected CertificateNotYetValid, got {other:?}"),
    }
}

#[test]
fn in_memory_pem_and_pkcs12() {
    for (name, identity) in [
        ("client-pkcs8-aes256.pem", "client"),
        ("client.p12", "client"),
        ("client-legacy.p12", "client"),
        ("client-ec-legacy-aes256.pem", "client-ec"),
    ] {
        let bytes = std::fs::read(file(name)).unwrap();
        let backend = load_bytes(bytes, Some(password()))
            .unwrap_or_else(|e| panic!("{name} from memory: {e}"));
        assert_eq!(backend.client_subject(), Some(subject(identity)));
    }
    let err = load_bytes(
        std::fs::read(file("client.p12")).unwrap(),
        Some(b"nope".to_vec()),
    )
    .unwrap_err();
    let identity = err.as_identity_error().expect("identity error");
    assert_eq!(identity.origin, IdentitySource::Memory);
    assert_eq!(identity.kind, IdentityErrorKind::WrongPassword);
    assert!(err.to_string().contains("in-memory"), "{err}");
}

#[test]
fn no_identity_means_no_subject() {
    let backend = NativeTlsBackend::new(&TlsOptions::default()).unwrap();
    assert_eq!(backend.client_subject(), None);
}

#[test]
fn debug_shows_no_secrets() {
    let backend = load("client-pkcs8-aes256.pem", Some(password())).unwrap();
    let debug = format!("{backend:?}");
    assert!(debug.contains("CN=client"), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn ca_file_problems_are_config_errors() {
    let opts = TlsOptions::builder()
        .ca_file_path(file("does-not-exist-ca.pem"))
        .build();
    let err = NativeTlsBackend::new(&opts).unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidTlsConfig { ref message } if message.contains("tlsCAFile")),
        "{err:?}"
    );
    let opts = TlsOptions::builder()
        .ca_file_path(file("client-keyonly.pem"))
        .build();
    let err = NativeTlsBackend::new(&opts).unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::InvalidTlsConfig { .. }),
        "{err:?}"
    );
    let opts = TlsOptions::builder().ca_file_path(file("ca.pem")).build();
    NativeTlsBackend::new(&opts).expect("a PEM CA file is accepted");
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(file(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

#[test]
fn leaf_is_the_certificate_that_matches_the_key_wherever_it_is() {
    // Intermediate first, then the key, then the leaf: the subject is still the leaf's.
    let mut pem = read("intermediate.pem");
    pem.extend(read("client-chain.key"));
    pem.extend(b"some text between blocks\n");
    pem.extend(read("client-chain.crt"));
    let backend = load_bytes(pem, None).unwrap();
    assert_eq!(backend.client_subject(), Some(subject("client-chain")));
}

#[test]
fn mismatched_keys_in_memory() {
    for (cert, key, identity) in [
        ("client.crt", "stranger.key", "client"),
        ("client-ec.crt", "client.key", "client-ec"),
        ("client.crt", "client-ec-sec1.key", "client"),
    ] {
        let mut pem = read(cert);
        pem.extend(read(key));
        let err = load_bytes(pem, None).unwrap_err();
        assert_eq!(
            err.as_identity_error().map(|e| e.kind.clone()),
            Some(IdentityErrorKind::KeyMismatch {
                subject: subject(identity)
            }),
            "{cert} + {key}"
        );
    }
}
