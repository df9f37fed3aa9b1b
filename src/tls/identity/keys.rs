//! Private keys to unencrypted PKCS#8 DER, with the typed decoders of `pkcs8`, `pkcs1` and
//! `sec1`: `PRIVATE KEY`, `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1), `ENCRYPTED
//! PRIVATE KEY` (PBES2 or PKCS#12 PBE) and legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`).
//!
//! Decryption goes through a [`KeyDecryptor`]: the backend's own (OpenSSL decrypts for the
//! OpenSSL backend), except for the PKCS#12 PBE schemes, always decrypted here.

use const_oid::db::rfc5912;
use der::asn1::AnyRef;
use der::{Decode, Encode};
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs8::PrivateKeyInfo;
use x509_cert::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::pbe::{self, DekInfo, KdfBudget, PbeError};
use super::pem::PemBlock;
use crate::error::IdentityErrorKind;

type KindResult<T> = Result<T, IdentityErrorKind>;

/// How a backend decrypts a password-protected key. Both hooks return unencrypted PKCS#8
/// DER; any failure means a wrong password (the scheme and its KDF parameters, against the
/// limits and the file's [`KdfBudget`], were checked before the call).
pub(crate) trait KeyDecryptor {
    /// An `EncryptedPrivateKeyInfo` whose scheme is PBES2.
    fn pbes2(&self, encrypted_der: &[u8], password: &[u8]) -> Option<Zeroizing<Vec<u8>>>;
    /// A legacy encrypted PEM block (`DEK-Info` already checked).
    fn legacy_pem(&self, block: &PemBlock, password: &[u8]) -> Option<Zeroizing<Vec<u8>>>;
}

/// Decryption in pure Rust: what the native-tls backend uses.
#[cfg_attr(not(feature = "native-tls"), allow(dead_code))]
pub(crate) struct RustDecryptor;

impl KeyDecryptor for RustDecryptor {
    fn pbes2(&self, encrypted_der: &[u8], password: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let info = EncryptedPrivateKeyInfo::from_der(encrypted_der).ok()?;
        // The caller checked the KDF parameters (`encrypted_pkcs8`).
        pbe::decrypt_within_limits(
            &info.encryption_algorithm,
            info.encrypted_data.as_bytes(),
            password,
        )
        .ok()
    }

    fn legacy_pem(&self, block: &PemBlock, password: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let dek = DekInfo::parse(block.header("DEK-Info")?).ok()?;
        let plain = dek.decrypt(&block.der, password).ok()?;
        to_pkcs8(&block.label, &plain, true).ok()
    }
}

/// Decodes one PEM key block into PKCS#8 DER, decrypting it with `decryptor` when needed. A
/// password given for an unencrypted key is ignored.
pub(crate) fn pem_to_pkcs8(
    block: &PemBlock,
    password: Option<&[u8]>,
    decryptor: &dyn KeyDecryptor,
    budget: &mut KdfBudget,
) -> KindResult<Zeroizing<Vec<u8>>> {
    if block.label == "ENCRYPTED PRIVATE KEY" {
        return encrypted_pkcs8(&block.der, password, decryptor, budget);
    }
    // Legacy PEM encryption (EVP_BytesToKey, one MD5 round) has no parameter to cap.
    if !block.is_legacy_encrypted() {
        return to_pkcs8(&block.label, &block.der, false);
    }
    let dek = block
        .header("DEK-Info")
        .ok_or_else(|| IdentityErrorKind::Malformed {
            detail: format!(
                "the PEM block {} has Proc-Type ENCRYPTED but no DEK-Info",
                block.label
            ),
        })?;
    let dek = DekInfo::parse(dek).map_err(PbeError::into_kind)?;
    // The label is checked before decrypting: an unknown one is unsupported, not a bad password.
    to_pkcs8_checked_label(&block.label)?;
    let Some(password) = password else {
        return Err(IdentityErrorKind::PasswordRequired {
            scheme: format!("legacy PEM {}", dek.cipher),
        });
    };
    let key = decryptor
        .legacy_pem(block, password)
        .ok_or(IdentityErrorKind::WrongPassword)?;
    valid_pkcs8(key, true)
}

fn to_pkcs8_checked_label(label: &str) -> KindResult<()> {
    match label {
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Ok(()),
        other => Err(unsupported_label(other)),
    }
}

fn unsupported_label(label: &str) -> IdentityErrorKind {
    IdentityErrorKind::UnsupportedFormat {
        found: format!(
            "a {label} block; supported keys: PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE \
             KEY, EC PRIVATE KEY (convert with `openssl pkcs8 -topk8`)"
        ),
    }
}

/// A damaged key, or (when it was decrypted) a wrong password.
fn bad_key(what: &str, decrypted: bool) -> IdentityErrorKind {
    if decrypted {
        IdentityErrorKind::WrongPassword
    } else {
        IdentityErrorKind::Malformed {
            detail: format!("the {what} private key could not be parsed"),
        }
    }
}

fn valid_pkcs8(der: Zeroizing<Vec<u8>>, decrypted: bool) -> KindResult<Zeroizing<Vec<u8>>> {
    match PrivateKeyInfo::from_der(&der) {
        Ok(_) => Ok(der),
        Err(_) => Err(bad_key("PKCS#8", decrypted)),
    }
}

/// An unencrypted key of type `label` to PKCS#8: PKCS#1 and SEC1 keys are wrapped in a
/// `PrivateKeyInfo` (rsaEncryption, or id-ecPublicKey with the key's own curve).
pub(crate) fn to_pkcs8(label: &str, der: &[u8], decrypted: bool) -> KindResult<Zeroizing<Vec<u8>>> {
    match label {
        "PRIVATE KEY" => valid_pkcs8(Zeroizing::new(der.to_vec()), decrypted),
        "RSA PRIVATE KEY" => {
            pkcs1::RsaPrivateKey::from_der(der).map_err(|_| bad_key("PKCS#1 RSA", decrypted))?;
            let algorithm = AlgorithmIdentifierRef {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            };
            encode(PrivateKeyInfo::new(algorithm, der))
        }
        "EC PRIVATE KEY" => {
            let key =
                sec1::EcPrivateKey::from_der(der).map_err(|_| bad_key("SEC1 EC", decrypted))?;
            let curve = key
                .parameters
                .and_then(|p| p.named_curve())
                .ok_or_else(|| IdentityErrorKind::UnsupportedFormat {
                    found: "an EC PRIVATE KEY without its named curve; convert it with \
                            `openssl pkcs8 -topk8 -nocrypt`"
                        .to_owned(),
                })?;
            let curve_der = curve.to_der().map_err(|_| bad_key("SEC1 EC", decrypted))?;
            let curve_any =
                AnyRef::from_der(&curve_der).map_err(|_| bad_key("SEC1 EC", decrypted))?;
            let algorithm = AlgorithmIdentifierRef {
                oid: rfc5912::ID_EC_PUBLIC_KEY,
                parameters: Some(curve_any),
            };
            encode(PrivateKeyInfo::new(algorithm, der))
        }
        other => Err(unsupported_label(other)),
    }
}

fn encode(info: PrivateKeyInfo<'_>) -> KindResult<Zeroizing<Vec<u8>>> {
    // `to_der` allocates the exact length once: no reallocated copies of the key are left.
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|e| IdentityErrorKind::Malformed {
            detail: format!("the private key could not be re-encoded as PKCS#8 ({e})"),
        })
}

/// An `EncryptedPrivateKeyInfo` (a PEM `ENCRYPTED PRIVATE KEY` or a PKCS#12 shrouded key bag)
/// to PKCS#8: the scheme and its KDF parameters are checked here (and the derivation paid
/// from the file's `budget`), then PBES2 goes to the backend's decryptor and the PKCS#12 PBE
/// schemes are decrypted in Rust.
pub(crate) fn encrypted_pkcs8(
    der: &[u8],
    password: Option<&[u8]>,
    decryptor: &dyn KeyDecryptor,
    budget: &mut KdfBudget,
) -> KindResult<Zeroizing<Vec<u8>>> {
    let info =
        EncryptedPrivateKeyInfo::from_der(der).map_err(|_| IdentityErrorKind::Malformed {
            detail: "the ENCRYPTED PRIVATE KEY could not be parsed".to_owned(),
        })?;
    let alg = &info.encryption_algorithm;
    pbe::check_supported(alg).map_err(PbeError::into_kind)?;
    // Before any decryptor sees the key, and even without a password: the file is refused
    // for what it is, whatever password comes later.
    pbe::check_limits(alg, budget).map_err(PbeError::into_kind)?;
    let Some(password) = password else {
        return Err(IdentityErrorKind::PasswordRequired {
            scheme: format!("PKCS#8 {}", pbe::describe_scheme(alg)),
        });
    };
    let plain = if pbe::is_pkcs12_pbe(&alg.oid) {
        // Checked and paid for above.
        pbe::decrypt_within_limits(alg, info.encrypted_data.as_bytes(), password)
            .map_err(PbeError::into_kind)?
    } else {
        decryptor
            .pbes2(der, password)
            .ok_or(IdentityErrorKind::WrongPassword)?
    };
    valid_pkcs8(plain, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_without_curve_is_unsupported() {
        // SEQUENCE { INTEGER 1, OCTET STRING 01 }
        let sec1 = [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01];
        assert!(matches!(
            to_pkcs8("EC PRIVATE KEY", &sec1, false),
            Err(IdentityErrorKind::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn bad_keys() {
        assert_eq!(
            to_pkcs8("RSA PRIVATE KEY", &[0x30, 0x00], true),
            Err(IdentityErrorKind::WrongPassword)
        );
        assert!(matches!(
            to_pkcs8("RSA PRIVATE KEY", &[0x30, 0x00], false),
            Err(IdentityErrorKind::Malformed { .. })
        ));
        assert!(matches!(
            to_pkcs8("DSA PRIVATE KEY", &[0x30, 0x00], false),
            Err(IdentityErrorKind::UnsupportedFormat { .. })
        ));
    }
}
