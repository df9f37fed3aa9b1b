//! PEM private keys to unencrypted PKCS#8 DER, in pure Rust (feature `native-tls`):
//! `PRIVATE KEY`, `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1), `ENCRYPTED PRIVATE KEY`
//! (PBES2 or PKCS#12 PBE) and legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`).

use zeroize::Zeroizing;

use super::pbe::{self, PbeError};
use super::{tlv, PemBlock};
use crate::error::IdentityErrorKind;

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Decodes (and, with the password, decrypts) one PEM key block into PKCS#8 DER.
pub(crate) fn to_pkcs8(
    block: &PemBlock,
    password: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    // Legacy encryption first: it wraps a PKCS#1, SEC1 (or, rarely, PKCS#8) key.
    let decrypted;
    let der: &[u8] = if block.is_legacy_encrypted() {
        let dek = block
            .header("DEK-Info")
            .ok_or_else(|| IdentityErrorKind::Malformed {
                detail: format!(
                    "the PEM block {} has Proc-Type ENCRYPTED but no DEK-Info",
                    block.label
                ),
            })?;
        let cipher = dek.split(',').next().unwrap_or(dek).trim().to_owned();
        let Some(password) = password else {
            return Err(IdentityErrorKind::PasswordRequired {
                scheme: format!("legacy PEM {cipher}"),
            });
        };
        decrypted =
            pbe::legacy_pem_decrypt(dek, &block.der, password).map_err(PbeError::into_kind)?;
        &decrypted
    } else {
        &block.der
    };
    match block.label.as_str() {
        "PRIVATE KEY" => check_pkcs8(der, block.is_legacy_encrypted()),
        "RSA PRIVATE KEY" => rsa_to_pkcs8(der, block.is_legacy_encrypted()),
        "EC PRIVATE KEY" => ec_to_pkcs8(der, block.is_legacy_encrypted()),
        "ENCRYPTED PRIVATE KEY" => encrypted_pkcs8(der, password),
        other => Err(IdentityErrorKind::UnsupportedFormat {
            found: format!(
                "a {other} block; supported keys: PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE \
                 KEY, EC PRIVATE KEY (convert with `openssl pkcs8 -topk8`)"
            ),
        }),
    }
}

/// A damaged key block, or (when it was decrypted) a wrong password.
fn bad_key(what: &str, decrypted: bool) -> IdentityErrorKind {
    if decrypted {
        IdentityErrorKind::WrongPassword
    } else {
        IdentityErrorKind::Malformed {
            detail: format!("the {what} private key could not be parsed"),
        }
    }
}

/// PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier,
///                               privateKey OCTET STRING, ... }
fn check_pkcs8(der: &[u8], decrypted: bool) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    let ok = (|| {
        let items = tlv::children_of(tlv::read_exact(der)?, tlv::SEQUENCE)?;
        tlv::small_int(*items.first()?)?;
        tlv::children_of(*items.get(1)?, tlv::SEQUENCE)?;
        (items.get(2)?.tag == tlv::OCTET_STRING).then_some(())
    })();
    match ok {
        Some(()) => Ok(Zeroizing::new(der.to_vec())),
        None => Err(bad_key("PKCS#8", decrypted)),
    }
}

/// Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (rsaEncryption, NULL parameters).
fn rsa_to_pkcs8(der: &[u8], decrypted: bool) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    let valid = tlv::read_exact(der)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .is_some_and(|items| items.len() >= 9 && items.iter().all(|i| i.tag == tlv::INTEGER));
    if !valid {
        return Err(bad_key("PKCS#1 RSA", decrypted));
    }
    let mut alg = Vec::new();
    tlv::encode(tlv::OID, OID_RSA, &mut alg);
    alg.extend_from_slice(&[0x05, 0x00]);
    Ok(wrap_pkcs8(&alg, der))
}

/// Wraps a SEC1 ECPrivateKey in a PKCS#8 PrivateKeyInfo (id-ecPublicKey with the curve from
/// the key's own parameters).
fn ec_to_pkcs8(der: &[u8], decrypted: bool) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    // ECPrivateKey ::= SEQUENCE { version INTEGER 1, privateKey OCTET STRING,
    //                             [0] parameters OPTIONAL, [1] publicKey OPTIONAL }
    let items = tlv::read_exact(der)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .filter(|items| {
            items.first().and_then(|v| tlv::small_int(*v)) == Some(1)
                && items.get(1).is_some_and(|k| k.tag == tlv::OCTET_STRING)
        })
        .ok_or_else(|| bad_key("SEC1 EC", decrypted))?;
    let params = items.iter().find(|t| t.tag == 0xa0).ok_or_else(|| {
        IdentityErrorKind::UnsupportedFormat {
            found: "an EC PRIVATE KEY without its curve parameters; convert it with \
                    `openssl pkcs8 -topk8 -nocrypt`"
                .to_owned(),
        }
    })?;
    let mut alg = Vec::new();
    tlv::encode(tlv::OID, OID_EC, &mut alg);
    alg.extend_from_slice(params.value);
    Ok(wrap_pkcs8(&alg, der))
}

fn wrap_pkcs8(algorithm_content: &[u8], private_key: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(private_key.len() + 32));
    body.extend_from_slice(&[0x02, 0x01, 0x00]);
    tlv::encode(tlv::SEQUENCE, algorithm_content, &mut body);
    tlv::encode(tlv::OCTET_STRING, private_key, &mut body);
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() + 8));
    tlv::encode(tlv::SEQUENCE, &body, &mut out);
    out
}

/// EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier,
///                                        encryptedData OCTET STRING }
pub(crate) fn encrypted_pkcs8(
    der: &[u8],
    password: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    let malformed = || IdentityErrorKind::Malformed {
        detail: "the ENCRYPTED PRIVATE KEY could not be parsed".to_owned(),
    };
    let items = tlv::read_exact(der)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .ok_or_else(malformed)?;
    let alg = items
        .first()
        .filter(|t| t.tag == tlv::SEQUENCE)
        .ok_or_else(malformed)?;
    let data = items
        .get(1)
        .filter(|t| t.tag == tlv::OCTET_STRING)
        .ok_or_else(malformed)?;
    let Some(password) = password else {
        return Err(IdentityErrorKind::PasswordRequired {
            scheme: format!("PKCS#8 {}", pbe::describe_scheme(alg.raw)),
        });
    };
    let plain = pbe::decrypt(alg.raw, data.value, password).map_err(PbeError::into_kind)?;
    check_pkcs8(&plain, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_rsa() {
        let mut pkcs1 = Vec::new();
        let ints: Vec<u8> = (0..9).flat_map(|i| [0x02, 0x01, i]).collect();
        tlv::encode(tlv::SEQUENCE, &ints, &mut pkcs1);
        let p8 = rsa_to_pkcs8(&pkcs1, false).unwrap();
        assert!(check_pkcs8(&p8, false).is_ok());
        assert!(p8.ends_with(&pkcs1));
        assert_eq!(
            rsa_to_pkcs8(&[0x30, 0x00], true),
            Err(IdentityErrorKind::WrongPassword)
        );
    }

    #[test]
    fn ec_without_curve_is_unsupported() {
        // SEQUENCE { INTEGER 1, OCTET STRING 01 }
        let sec1 = [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01];
        assert!(matches!(
            ec_to_pkcs8(&sec1, false),
            Err(IdentityErrorKind::UnsupportedFormat { .. })
        ));
    }
}
