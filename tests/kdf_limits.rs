//! Crafted key files that ask for ruinous key derivations (scrypt N=2^30 would allocate 1 TiB
//! and abort the process; 2^31-1 iterations run for minutes) are refused before anything is
//! derived, on every backend, with `KdfLimitExceeded` naming the parameter: PKCS#8 PBES2
//! (PBKDF2 and scrypt), PKCS#8 PKCS#12-PBE, and PKCS#12 files (MAC, shrouded key bag,
//! encrypted certificates). The limits are configurable through `TlsOptions::kdf_limits`.
//!
//! The files are built here with the RustCrypto types; their ciphertext is never decrypted.
//! Also here: the size cap on the certificate-key, CA and CRL files (`MAX_TLS_FILE_SIZE`), and
//! the bound on a file's total: a PKCS#12 file of many encrypted sections (each within the
//! limit; these are real, decryptable files) costs at most the limit in all.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::time::{Duration, Instant};

use common::certs::{password, test_certs};
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use der::asn1::{Any, OctetString};
use der::{Decode, Encode};
use mongo_x509::error::IdentityErrorKind;
use mongo_x509::options::{KdfLimits, TlsOptions};
use mongo_x509::tls::build_backend;
use pkcs5::pbes2;
use x509_cert::spki::AlgorithmIdentifierOwned;

const MAX_I32: i32 = i32::MAX;

/// The client certificate, DER.
fn client_cert_der() -> Vec<u8> {
    let pem = std::fs::read(test_certs().join("client.crt")).unwrap();
    openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    let text = openssl::base64::encode_block(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn any<T: Encode>(value: &T) -> Any {
    Any::from_der(&value.to_der().unwrap()).unwrap()
}

const SALT: [u8; 16] = [7; 16];
const IV: [u8; 16] = [9; 16];

/// PBES2 with AES-256-CBC and the given KDF.
fn pbes2_alg(kdf: pbes2::Kdf<'_>) -> AlgorithmIdentifierOwned {
    let params = pbes2::Parameters {
        kdf,
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &IV },
    };
    AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(any(&params)),
    }
}

fn pbkdf2(iterations: u32) -> AlgorithmIdentifierOwned {
    pbes2_alg(pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
        salt: &SALT,
        iteration_count: iterations,
        key_length: None,
        prf: pbes2::Pbkdf2Prf::HmacWithSha256,
    }))
}

fn scrypt(n: u64, r: u16, p: u16) -> AlgorithmIdentifierOwned {
    pbes2_alg(pbes2::Kdf::Scrypt(pbes2::ScryptParams {
        salt: &SALT,
        cost_parameter: n,
        block_size: r,
        parallelization: p,
        key_length: None,
    }))
}

/// pbeWithSHAAnd3-KeyTripleDES-CBC (the PKCS#12 KDF) with the given iteration count.
fn pkcs12_pbe(iterations: i32) -> AlgorithmIdentifierOwned {
    let params = pkcs12::pbe_params::Pkcs12PbeParams {
        salt: OctetString::new(SALT.to_vec()).unwrap(),
        iterations,
    };
    AlgorithmIdentifierOwned {
        oid: pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC,
        parameters: Some(any(&params)),
    }
}

/// An `EncryptedPrivateKeyInfo` with `alg` and 48 bytes that are never decrypted.
fn encrypted_key(alg: AlgorithmIdentifierOwned) -> Vec<u8> {
    pkcs12::pbe_params::EncryptedPrivateKeyInfo {
        encryption_algorithm: alg,
        encrypted_data: OctetString::new(vec![0x5a; 48]).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A PEM identity: the client certificate and an encrypted key with `alg`.
fn pem_identity(alg: AlgorithmIdentifierOwned) -> Vec<u8> {
    let mut text = pem("CERTIFICATE", &client_cert_der());
    text.push_str(&pem("ENCRYPTED PRIVATE KEY", &encrypted_key(alg)));
    text.into_bytes()
}

fn bag(bag_id: der::asn1::ObjectIdentifier, value: &[u8]) -> pkcs12::safe_bag::SafeBag {
    // bagValue is `[0] EXPLICIT`: the encoder wants the inner value's TLV.
    pkcs12::safe_bag::SafeBag {
        bag_id,
        bag_value: value.to_vec(),
        bag_attributes: None,
    }
}

fn cert_bag() -> pkcs12::safe_bag::SafeBag {
    let cert = pkcs12::cert_type::CertBag {
        cert_id: pkcs12::PKCS_12_X509_CERT_OID,
        cert_value: OctetString::new(client_cert_der()).unwrap(),
    };
    bag(pkcs12::PKCS_12_CERT_BAG_OID, &cert.to_der().unwrap())
}

fn data_safe(bags: Vec<pkcs12::safe_bag::SafeBag>) -> cms::content_info::ContentInfo {
    let contents = bags.to_der().unwrap();
    cms::content_info::ContentInfo {
        content_type: ID_DATA,
        content: any(&OctetString::new(contents).unwrap()),
    }
}

/// PKCS#12 `EncryptedData` (certificates) with `alg`; the ciphertext is never decrypted.
fn encrypted_safe(alg: AlgorithmIdentifierOwned) -> cms::content_info::ContentInfo {
    let data = cms::encrypted_data::EncryptedData {
        version: cms::content_info::CmsVersion::V0,
        enc_content_info: cms::enveloped_data::EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: alg,
            encrypted_content: Some(OctetString::new(vec![0x5a; 48]).unwrap()),
        },
        unprotected_attrs: None,
    };
    cms::content_info::ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: any(&data),
    }
}

/// A PFX with these safes and, if `mac_iterations` is given, a MAC with that iteration count
/// (its value is garbage: the count is checked before the MAC is computed).
fn pfx(safes: Vec<cms::content_info::ContentInfo>, mac_iterations: Option<i32>) -> Vec<u8> {
    let auth_safe = safes.to_der().unwrap();
    let mac_data = mac_iterations.map(|iterations| pkcs12::mac_data::MacData {
        mac: pkcs12::digest_info::DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::ID_SHA_256,
                parameters: None,
            },
            digest: OctetString::new(vec![0; 32]).unwrap(),
        },
        mac_salt: OctetString::new(SALT.to_vec()).unwrap(),
        iterations,
    });
    pkcs12::pfx::Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe: cms::content_info::ContentInfo {
            content_type: ID_DATA,
            content: any(&OctetString::new(auth_safe).unwrap()),
        },
        mac_data,
    }
    .to_der()
    .unwrap()
}

/// Loads `bytes` on every backend with `limits` and expects `KdfLimitExceeded` for a
/// parameter containing `parameter`, fast.
fn assert_refused(what: &str, bytes: &[u8], limits: Option<KdfLimits>, parameter: &str) {
    for backend in common::backends() {
        let mut opts = TlsOptions::builder()
            .cert_key_data(bytes.to_vec())
            .tls_certificate_key_file_password(password())
            .backend(backend.clone())
            .build();
        opts.kdf_limits = limits;
        let start = Instant::now();
        let result = build_backend(&opts);
        let elapsed = start.elapsed();
        let err = match result {
            Ok(_) => panic!("{what} on {}: loaded", backend.name()),
            Err(e) => e,
        };
        match err.as_identity_error().map(|e| &e.kind) {
            Some(IdentityErrorKind::KdfLimitExceeded {
                parameter: p,
                value,
                limit,
                option,
            }) => {
                assert!(p.contains(parameter), "{what}: parameter {p:?}");
                assert!(value > limit, "{what}: {value} <= {limit}");
                assert!(option.starts_with("KdfLimits::"), "{option}");
                let message = err.to_string();
                assert!(
                    message.contains(parameter) && message.contains("kdf_limits"),
                    "{message}"
                );
            }
            other => panic!(
                "{what} on {}: expected KdfLimitExceeded, got {other:?} ({err})",
                backend.name()
            ),
        }
        assert!(
            elapsed < Duration::from_secs(2),
            "{what} on {}: took {elapsed:?}",
            backend.name()
        );
    }
}

#[test]
fn pkcs8_scrypt_above_the_memory_limit_is_refused_before_deriving() {
    // 2^30: 1 TiB, an abort; 2^20: 6 s and 1 GB; p=65535: minutes.
    for (n, r, p) in [
        (1u64 << 30, 8, 1),
        (1 << 20, 8, 1),
        (16384, 8, 65535),
        (1 << 15, 8, 1),
    ] {
        assert_refused(
            &format!("scrypt N={n} r={r} p={p}"),
            &pem_identity(scrypt(n, r, p)),
            None,
            "scrypt",
        );
    }
}

#[test]
fn pkcs8_pbkdf2_with_too_many_iterations_is_refused_before_deriving() {
    assert_refused(
        "PBKDF2 2^31-1",
        &pem_identity(pbkdf2(MAX_I32 as u32)),
        None,
        "PBKDF2 iteration count",
    );
    assert_refused(
        "PBKDF2 10,000,001",
        &pem_identity(pbkdf2(10_000_001)),
        None,
        "PBKDF2 iteration count",
    );
}

#[test]
fn pkcs8_pkcs12_pbe_with_too_many_iterations_is_refused() {
    assert_refused(
        "PKCS#8 with pbeWithSHAAnd3-KeyTripleDES-CBC, 2^31-1",
        &pem_identity(pkcs12_pbe(MAX_I32)),
        None,
        "PKCS#12 PBE iteration count",
    );
}

#[test]
fn pkcs12_mac_with_too_many_iterations_is_refused() {
    let file = pfx(vec![data_safe(vec![cert_bag()])], Some(MAX_I32));
    assert_refused(
        "PKCS#12 MAC 2^31-1",
        &file,
        None,
        "PKCS#12 MAC iteration count",
    );
}

#[test]
fn pkcs12_key_and_certificate_kdfs_are_capped() {
    let shrouded = |alg| bag(pkcs12::PKCS_12_PKCS8_KEY_BAG_OID, &encrypted_key(alg));
    for (what, alg, parameter) in [
        (
            "PBKDF2 2^31-1",
            pbkdf2(MAX_I32 as u32),
            "PBKDF2 iteration count",
        ),
        ("scrypt 2^30", scrypt(1 << 30, 8, 1), "scrypt"),
        (
            "3DES 2^31-1",
            pkcs12_pbe(MAX_I32),
            "PKCS#12 PBE iteration count",
        ),
    ] {
        // Without a MAC: nothing is derived before the key bag.
        let file = pfx(
            vec![data_safe(vec![cert_bag(), shrouded(alg.clone())])],
            None,
        );
        assert_refused(&format!("PKCS#12 key bag, {what}"), &file, None, parameter);
        // The certificates' EncryptedData.
        let file = pfx(vec![encrypted_safe(alg)], None);
        assert_refused(
            &format!("PKCS#12 certificates, {what}"),
            &file,
            None,
            parameter,
        );
    }
}

/// The limits are the user's: lowered, a file that tools make (2,048 PBKDF2 iterations, scrypt
/// N=16384 r=8 p=1) is refused; the defaults accept them.
#[test]
fn limits_are_configurable() {
    let strict = KdfLimits::new(1_000, 1024 * 1024);
    assert_refused(
        "PBKDF2 2,048 with max_iterations 1,000",
        &pem_identity(pbkdf2(2_048)),
        Some(strict),
        "PBKDF2 iteration count",
    );
    assert_refused(
        "scrypt 16384/8/1 with 1 MiB",
        &pem_identity(scrypt(16384, 8, 1)),
        Some(strict),
        "scrypt",
    );
    // A real file made by OpenSSL (PBKDF2, 2,048 iterations) loads with the defaults but
    // not with the strict limits.
    let real = std::fs::read(test_certs().join("client-pkcs8-aes256.pem")).unwrap();
    for backend in common::backends() {
        let mut opts = TlsOptions::builder()
            .cert_key_data(real.clone())
            .tls_certificate_key_file_password(password())
            .backend(backend.clone())
            .build();
        build_backend(&opts).expect("the defaults accept what OpenSSL makes");
        opts.kdf_limits = Some(strict);
        let err = build_backend(&opts).unwrap_err();
        assert!(
            matches!(
                err.as_identity_error().map(|e| &e.kind),
                Some(IdentityErrorKind::KdfLimitExceeded { .. })
            ),
            "{err}"
        );
    }
}

/// Invalid scrypt parameters are malformed (never a wrong password), on both backends alike.
#[test]
fn invalid_scrypt_parameters_are_malformed() {
    for (n, r, p) in [
        (0u64, 8, 1),
        (3, 8, 1),
        (1 << 16, 1, 1),
        (1024, 0, 1),
        (1024, 8, 0),
        (1024, 65535, 65535),
    ] {
        for backend in common::backends() {
            let opts = TlsOptions::builder()
                .cert_key_data(pem_identity(scrypt(n, r, p)))
                .tls_certificate_key_file_password(password())
                .backend(backend.clone())
                .build();
            let err = build_backend(&opts).unwrap_err();
            assert!(
                matches!(
                    err.as_identity_error().map(|e| &e.kind),
                    Some(IdentityErrorKind::Malformed { .. })
                ),
                "N={n} r={r} p={p} on {}: {err}",
                backend.name()
            );
        }
    }
}

/// A certificate-key, CA or CRL file above `MAX_TLS_FILE_SIZE` is refused before it is parsed,
/// with an error naming the file and the limit; one at the limit is read.
#[test]
fn files_above_the_size_cap_are_refused() {
    use mongo_x509::error::ErrorKind;
    use mongo_x509::options::TlsBackendKind;
    use mongo_x509::tls::MAX_TLS_FILE_SIZE;

    let dir = tempfile::tempdir().unwrap();
    let padded = |name: &str, source: &str, len: u64| {
        let mut bytes = std::fs::read(test_certs().join(source)).unwrap();
        // Text between PEM blocks is ignored: pad with comment lines.
        while (bytes.len() as u64) < len {
            bytes.extend_from_slice(b"padding\n");
        }
        bytes.truncate(len as usize);
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        path
    };
    let big_identity = padded("big-client.pem", "client-pkcs8.pem", MAX_TLS_FILE_SIZE + 1);
    let big_ca = padded("big-ca.pem", "ca.pem", MAX_TLS_FILE_SIZE + 1);
    let big_crl = padded("big-crl.pem", "crl.pem", MAX_TLS_FILE_SIZE + 1);
    let full_ca = padded("full-ca.pem", "ca.pem", MAX_TLS_FILE_SIZE);
    for backend in common::backends() {
        let name = backend.name();
        let base = || TlsOptions::builder().backend(backend.clone()).build();

        let mut opts = base();
        opts.cert_key_file_path = Some(big_identity.clone());
        let err = build_backend(&opts).unwrap_err();
        match err.as_identity_error().map(|e| &e.kind) {
            Some(IdentityErrorKind::FileTooLarge { size, limit }) => {
                assert_eq!((*size, *limit), (MAX_TLS_FILE_SIZE + 1, MAX_TLS_FILE_SIZE));
            }
            other => panic!("{name}: expected FileTooLarge, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("big-client.pem") && message.contains("4194304"),
            "{message}"
        );

        let mut opts = base();
        opts.cert_key_data = Some(std::fs::read(&big_identity).unwrap());
        let err = build_backend(&opts).unwrap_err();
        assert!(
            matches!(
                err.as_identity_error().map(|e| &e.kind),
                Some(IdentityErrorKind::FileTooLarge { .. })
            ),
            "{name}: {err}"
        );

        let mut opts = base();
        opts.ca_file_path = Some(big_ca.clone());
        let err = build_backend(&opts).unwrap_err();
        match &*err.kind {
            ErrorKind::TlsFileTooLarge {
                option: "tlsCAFile",
                path,
                limit: MAX_TLS_FILE_SIZE,
                ..
            } => assert_eq!(path, &big_ca),
            other => panic!("{name}: expected TlsFileTooLarge, got {other:?}"),
        }
        assert!(err.to_string().contains("big-ca.pem"), "{err}");

        let mut opts = base();
        opts.ca_file_path = Some(full_ca.clone());
        build_backend(&opts).unwrap_or_else(|e| panic!("{name}: a CA file at the cap: {e}"));

        if matches!(backend, TlsBackendKind::OpenSsl) {
            let mut opts = base();
            opts.crl_file_path = Some(big_crl.clone());
            let err = build_backend(&opts).unwrap_err();
            assert!(
                matches!(
                    &*err.kind,
                    ErrorKind::TlsFileTooLarge {
                        option: "tlsCRLFile",
                        ..
                    }
                ),
                "{name}: {err}"
            );
        }
    }
}

/// scrypt above OpenSSL 3's 32 MiB default, allowed by a raised `max_scrypt_memory`: refused
/// with the defaults, loaded with the raised limit on every backend (the OpenSSL backend
/// decrypts it in Rust, as OpenSSL itself would refuse it whatever the password).
#[test]
fn raised_scrypt_limit_loads_a_key_openssl_would_refuse() {
    let text = std::fs::read_to_string(test_certs().join("client-pkcs8.pem")).unwrap();
    let key_pem = &text[text.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let key_der = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes())
        .unwrap()
        .private_key_to_pkcs8()
        .unwrap();
    // N=2^17, r=2, p=1: 128·2·(2^17 + 3) bytes, just above 32 MiB.
    let params = pbes2::Parameters {
        kdf: pbes2::Kdf::Scrypt(pbes2::ScryptParams {
            salt: &SALT,
            cost_parameter: 1 << 17,
            block_size: 2,
            parallelization: 1,
            key_length: None,
        }),
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &IV },
    };
    let mut buffer = key_der.clone();
    buffer.resize(key_der.len() / 16 * 16 + 16, 0); // room for the PKCS#7 padding
    let ciphertext = params
        .encrypt_in_place(password(), &mut buffer, key_der.len())
        .unwrap()
        .to_vec();
    let encrypted = pkcs12::pbe_params::EncryptedPrivateKeyInfo {
        encryption_algorithm: AlgorithmIdentifierOwned {
            oid: pbes2::PBES2_OID,
            parameters: Some(any(&params)),
        },
        encrypted_data: OctetString::new(ciphertext).unwrap(),
    }
    .to_der()
    .unwrap();
    let mut file = pem("CERTIFICATE", &client_cert_der());
    file.push_str(&pem("ENCRYPTED PRIVATE KEY", &encrypted));

    assert_refused("scrypt 2^17/2/1", file.as_bytes(), None, "scrypt");
    for backend in common::backends() {
        let opts = TlsOptions::builder()
            .cert_key_data(file.clone().into_bytes())
            .tls_certificate_key_file_password(password())
            .backend(backend.clone())
            .kdf_limits(KdfLimits::new(
                KdfLimits::DEFAULT_MAX_ITERATIONS,
                64 * 1024 * 1024,
            ))
            .build();
        let built = build_backend(&opts)
            .unwrap_or_else(|e| panic!("{}: raised scrypt limit: {e}", backend.name()));
        assert_eq!(
            built.client_subject(),
            Some(common::certs::subject("client"))
        );
    }
}

/// The client's key, unencrypted PKCS#8 DER.
fn client_key_der() -> Vec<u8> {
    let pem = std::fs::read(test_certs().join("client.key")).unwrap();
    openssl::pkey::PKey::private_key_from_pem(&pem)
        .unwrap()
        .private_key_to_pkcs8()
        .unwrap()
}

/// PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256 with `iterations`.
fn pbkdf2_params(iterations: u32) -> pbes2::Parameters<'static> {
    pbes2::Parameters {
        kdf: pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
            salt: &SALT,
            iteration_count: iterations,
            key_length: None,
            prf: pbes2::Pbkdf2Prf::HmacWithSha256,
        }),
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &IV },
    }
}

/// `plain` encrypted with the test password, really (these files are decrypted).
fn encrypt(params: &pbes2::Parameters<'_>, plain: &[u8]) -> Vec<u8> {
    let mut buffer = plain.to_vec();
    buffer.resize(plain.len() / 16 * 16 + 16, 0); // room for the PKCS#7 padding
    params
        .encrypt_in_place(password(), &mut buffer, plain.len())
        .unwrap()
        .to_vec()
}

/// A PKCS#12 file without a MAC: `sections` encrypted sections (each an empty SafeContents,
/// PBKDF2 with `iterations`), then the certificate and the key, shrouded with `iterations`.
fn many_sections(sections: usize, iterations: u32) -> Vec<u8> {
    let params = pbkdf2_params(iterations);
    let alg = AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(any(&params)),
    };
    let empty_safe_contents = [0x30, 0x00];
    let data = cms::encrypted_data::EncryptedData {
        version: cms::content_info::CmsVersion::V0,
        enc_content_info: cms::enveloped_data::EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: alg.clone(),
            encrypted_content: Some(
                OctetString::new(encrypt(&params, &empty_safe_contents)).unwrap(),
            ),
        },
        unprotected_attrs: None,
    };
    let section = cms::content_info::ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: any(&data),
    };
    let key = pkcs12::pbe_params::EncryptedPrivateKeyInfo {
        encryption_algorithm: alg,
        encrypted_data: OctetString::new(encrypt(&params, &client_key_der())).unwrap(),
    }
    .to_der()
    .unwrap();
    let mut safes = vec![section; sections];
    safes.push(data_safe(vec![
        cert_bag(),
        bag(pkcs12::PKCS_12_PKCS8_KEY_BAG_OID, &key),
    ]));
    pfx(safes, None)
}

/// Loads `bytes` from a file on every backend with `max_iterations`: the subject, or the error.
fn load_file(
    bytes: &[u8],
    max_iterations: u32,
) -> Vec<(String, Result<Option<String>, mongo_x509::error::Error>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.p12");
    std::fs::write(&path, bytes).unwrap();
    common::backends()
        .into_iter()
        .map(|backend| {
            let opts = TlsOptions::builder()
                .cert_key_file_path(path.clone())
                .tls_certificate_key_file_password(password())
                .backend(backend.clone())
                .kdf_limits(KdfLimits::new(
                    max_iterations,
                    KdfLimits::DEFAULT_MAX_SCRYPT_MEMORY,
                ))
                .build();
            let loaded = build_backend(&opts).map(|b| b.client_subject());
            (backend.name().to_owned(), loaded)
        })
        .collect()
}

/// Expects `KdfLimitExceeded` for the file's total: `value` after `derivations` derivations,
/// the message naming the file and the limit.
fn assert_total_refused(
    what: &str,
    results: Vec<(String, Result<Option<String>, mongo_x509::error::Error>)>,
    value: u64,
    derivations: usize,
    limit: u64,
) {
    for (backend, result) in results {
        let err = match result {
            Ok(subject) => panic!("{what} on {backend}: loaded as {subject:?}"),
            Err(e) => e,
        };
        match err.as_identity_error().map(|e| &e.kind) {
            Some(IdentityErrorKind::KdfLimitExceeded {
                parameter,
                value: v,
                limit: l,
                option,
            }) => {
                assert!(
                    parameter.contains("total")
                        && parameter.contains(&format!("{derivations} key derivations")),
                    "{what} on {backend}: {parameter}"
                );
                assert_eq!((*v, *l), (value, limit), "{what} on {backend}");
                assert_eq!(*option, "KdfLimits::max_iterations");
            }
            other => panic!("{what} on {backend}: expected KdfLimitExceeded, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("crafted.p12") && message.contains(&limit.to_string()),
            "{what} on {backend}: {message}"
        );
    }
}

/// A PKCS#12 file without a MAC and with many encrypted sections, each within the limit:
/// the derivations stop where their total would cross the limit (here after five of 1,000
/// iterations under a limit of 5,000), on every backend, whatever the number of sections;
/// the same total spent on fewer sections and the key loads.
#[test]
fn many_encrypted_sections_cost_at_most_the_limit_in_all() {
    const ITERATIONS: u32 = 1_000;
    const LIMIT: u32 = 5 * ITERATIONS;
    let subject = common::certs::subject("client");
    // Four sections and the key: 5,000 in all.
    for (backend, loaded) in load_file(&many_sections(4, ITERATIONS), LIMIT) {
        assert_eq!(loaded.unwrap(), Some(subject.clone()), "{backend}");
    }
    // Forty sections: the sixth is refused before it is derived.
    assert_total_refused(
        "40 sections",
        load_file(&many_sections(40, ITERATIONS), LIMIT),
        u64::from(6 * ITERATIONS),
        6,
        u64::from(LIMIT),
    );
    // Five sections spend it all: the key, decrypted by the backend's own decryptor (OpenSSL
    // for the OpenSSL backend), is refused before it is derived.
    assert_total_refused(
        "5 sections and the key",
        load_file(&many_sections(5, ITERATIONS), LIMIT),
        u64::from(6 * ITERATIONS),
        6,
        u64::from(LIMIT),
    );
}

/// The MAC counts too: a PKCS#12 file made by OpenSSL with 3,000 iterations for its MAC, its
/// certificates and its key costs 9,000 in all, refused under a limit of 8,000 (each
/// derivation alone is within it), loaded under 9,000.
#[test]
fn a_pkcs12_files_mac_certificates_and_key_count_together() {
    let certs = test_certs();
    let key = openssl::pkey::PKey::private_key_from_pem(
        &std::fs::read(certs.join("client.key")).unwrap(),
    )
    .unwrap();
    let cert =
        openssl::x509::X509::from_pem(&std::fs::read(certs.join("client.crt")).unwrap()).unwrap();
    let file = openssl::pkcs12::Pkcs12::builder()
        .name("client")
        .pkey(&key)
        .cert(&cert)
        .key_iter(3_000)
        .mac_iter(3_000)
        .build2(std::str::from_utf8(&password()).unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    for (backend, loaded) in load_file(&file, 9_000) {
        assert_eq!(
            loaded.unwrap(),
            Some(common::certs::subject("client")),
            "{backend}"
        );
    }
    assert_total_refused(
        "MAC, certificates, key",
        load_file(&file, 8_000),
        9_000,
        3,
        8_000,
    );
}
