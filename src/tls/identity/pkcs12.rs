//! PKCS#12 (PFX) files in pure Rust (feature `native-tls`): the MAC is verified (it is what
//! tells a wrong password apart), then the certificate bags and the (shrouded) key bag are
//! read, whether they use the OpenSSL 3 defaults (PBES2 AES-256-CBC, PBKDF2, HMAC-SHA256 MAC)
//! or the legacy algorithms (RC2-40 / 3DES with the PKCS#12 KDF, HMAC-SHA1 MAC).

use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use super::pbe::{self, PbeError};
use super::{pem_key, tlv};
use crate::error::IdentityErrorKind;

const OID_DATA: &str = "1.2.840.113549.1.7.1";
const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
const OID_ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const OID_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.1";
const OID_SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
const OID_CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const OID_SAFE_CONTENTS_BAG: &str = "1.2.840.113549.1.12.10.1.6";
const OID_X509_CERT: &str = "1.2.840.113549.1.9.22.1";

/// What a PKCS#12 file holds: certificates (DER, in file order) and private keys (PKCS#8).
pub(crate) struct Pkcs12Contents {
    pub certs: Vec<Vec<u8>>,
    pub keys: Vec<Zeroizing<Vec<u8>>>,
}

fn malformed(what: &str) -> IdentityErrorKind {
    IdentityErrorKind::Malformed {
        detail: format!("the PKCS#12 {what} could not be parsed"),
    }
}

/// Decodes a DER PKCS#12 file. Without a password, the empty password is tried (as OpenSSL
/// does); if that fails the error is `PasswordRequired`.
pub(crate) fn decode(
    bytes: &[u8],
    password: Option<&[u8]>,
) -> Result<Pkcs12Contents, IdentityErrorKind> {
    let result = decode_with(bytes, password.unwrap_or(b""));
    match (result, password) {
        (Err(IdentityErrorKind::WrongPassword), None) => Err(IdentityErrorKind::PasswordRequired {
            scheme: "PKCS#12".to_owned(),
        }),
        (other, _) => other,
    }
}

fn decode_with(bytes: &[u8], password: &[u8]) -> Result<Pkcs12Contents, IdentityErrorKind> {
    let pfx = tlv::read_exact(bytes)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .ok_or_else(|| malformed("file"))?;
    let auth_safe = pfx.get(1).copied().ok_or_else(|| malformed("file"))?;
    let (kind, content) = content_info(auth_safe).ok_or_else(|| malformed("authSafe"))?;
    match kind.as_str() {
        OID_DATA => {}
        OID_SIGNED_DATA => {
            return Err(IdentityErrorKind::UnsupportedFormat {
                found: "a PKCS#12 file in public-key integrity mode (signedData); re-export it \
                        with a password (`openssl pkcs12 -export`)"
                    .to_owned(),
            })
        }
        other => {
            return Err(IdentityErrorKind::UnsupportedFormat {
                found: format!("a PKCS#12 file whose content is {}", pbe::oid_name(other)),
            })
        }
    }
    let auth_safe_bytes = octet_string(content).ok_or_else(|| malformed("authSafe"))?;
    if let Some(mac_data) = pfx.get(2) {
        verify_mac(*mac_data, &auth_safe_bytes, password)?;
    }
    let mut out = Pkcs12Contents {
        certs: Vec::new(),
        keys: Vec::new(),
    };
    let safes = tlv::read_exact(&auth_safe_bytes)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .ok_or_else(|| malformed("AuthenticatedSafe"))?;
    for safe in safes {
        let (kind, content) = content_info(safe).ok_or_else(|| malformed("ContentInfo"))?;
        let safe_contents: Zeroizing<Vec<u8>> = match kind.as_str() {
            OID_DATA => octet_string(content).ok_or_else(|| malformed("data"))?,
            OID_ENCRYPTED_DATA => decrypt_encrypted_data(content, password)?,
            OID_ENVELOPED_DATA => {
                return Err(IdentityErrorKind::UnsupportedFormat {
                    found: "a PKCS#12 file with public-key privacy mode (envelopedData); \
                            re-export it with a password"
                        .to_owned(),
                })
            }
            _ => continue,
        };
        read_safe_contents(&safe_contents, password, &mut out, 0)?;
    }
    Ok(out)
}

/// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
fn content_info(t: tlv::Tlv<'_>) -> Option<(String, tlv::Tlv<'_>)> {
    let items = tlv::children_of(t, tlv::SEQUENCE)?;
    let oid = pbe::oid_string(*items.first()?)?;
    let wrapper = items.get(1)?;
    if wrapper.tag != 0xa0 {
        return None;
    }
    Some((oid, tlv::read_exact(wrapper.value)?))
}

/// An OCTET STRING's content; a constructed (BER) one is joined.
fn octet_string(t: tlv::Tlv<'_>) -> Option<Zeroizing<Vec<u8>>> {
    match t.tag {
        tlv::OCTET_STRING => Some(Zeroizing::new(t.value.to_vec())),
        0x24 => join_segments(t.value),
        _ => None,
    }
}

fn join_segments(value: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len()));
    for part in tlv::children(value)? {
        if part.tag != tlv::OCTET_STRING {
            return None;
        }
        out.extend_from_slice(part.value);
    }
    Some(out)
}

/// HMAC with a key from the PKCS#12 KDF (ID 3), compared in constant time.
macro_rules! hmac_ok {
    ($digest:ty, $bmp:expr, $salt:expr, $iterations:expr, $content:expr, $expected:expr) => {{
        use sha2::Digest as _;
        let key = pbe::pkcs12_kdf::<$digest>($bmp, $salt, 3, $iterations, <$digest>::output_size());
        match <Hmac<$digest> as Mac>::new_from_slice(&key) {
            Ok(mut mac) => {
                mac.update($content);
                mac.verify_slice($expected).is_ok()
            }
            Err(_) => false,
        }
    }};
}

/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
fn verify_mac(
    mac_data: tlv::Tlv<'_>,
    content: &[u8],
    password: &[u8],
) -> Result<(), IdentityErrorKind> {
    let items = tlv::children_of(mac_data, tlv::SEQUENCE).ok_or_else(|| malformed("MAC"))?;
    let digest_info = items
        .first()
        .and_then(|t| tlv::children_of(*t, tlv::SEQUENCE))
        .ok_or_else(|| malformed("MAC"))?;
    let (digest_oid, _) = digest_info
        .first()
        .and_then(|t| pbe::algorithm(t.raw))
        .ok_or_else(|| malformed("MAC"))?;
    let expected = digest_info
        .get(1)
        .filter(|t| t.tag == tlv::OCTET_STRING)
        .ok_or_else(|| malformed("MAC"))?
        .value;
    let salt = items
        .get(1)
        .filter(|t| t.tag == tlv::OCTET_STRING)
        .ok_or_else(|| malformed("MAC"))?
        .value;
    let iterations = match items.get(2) {
        Some(t) => tlv::small_int(*t)
            .and_then(|i| i32::try_from(i).ok())
            .filter(|i| (1..=10_000_000).contains(i))
            .ok_or_else(|| malformed("MAC"))?,
        None => 1,
    };
    let bmp = pbe::bmp_password(password);
    // OpenSSL also accepts an absent (zero-length) password for an empty one.
    let candidates: Vec<&[u8]> = if password.is_empty() {
        vec![&bmp[..], &[]]
    } else {
        vec![&bmp[..]]
    };
    for candidate in candidates {
        let ok = match digest_oid.as_str() {
            "1.3.14.3.2.26" => hmac_ok!(sha1::Sha1, candidate, salt, iterations, content, expected),
            "2.16.840.1.101.3.4.2.4" => {
                hmac_ok!(sha2::Sha224, candidate, salt, iterations, content, expected)
            }
            "2.16.840.1.101.3.4.2.1" => {
                hmac_ok!(sha2::Sha256, candidate, salt, iterations, content, expected)
            }
            "2.16.840.1.101.3.4.2.2" => {
                hmac_ok!(sha2::Sha384, candidate, salt, iterations, content, expected)
            }
            "2.16.840.1.101.3.4.2.3" => {
                hmac_ok!(sha2::Sha512, candidate, salt, iterations, content, expected)
            }
            other => {
                return Err(IdentityErrorKind::UnsupportedFormat {
                    found: format!(
                        "a PKCS#12 MAC with {} (supported: SHA-1, SHA-224, SHA-256, SHA-384, \
                         SHA-512)",
                        pbe::oid_name(other)
                    ),
                })
            }
        };
        if ok {
            return Ok(());
        }
    }
    Err(IdentityErrorKind::WrongPassword)
}

/// EncryptedData ::= SEQUENCE { version INTEGER, encryptedContentInfo SEQUENCE {
///     contentType OID, contentEncryptionAlgorithm AlgorithmIdentifier,
///     encryptedContent [0] IMPLICIT OCTET STRING } }
fn decrypt_encrypted_data(
    t: tlv::Tlv<'_>,
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    let items = tlv::children_of(t, tlv::SEQUENCE).ok_or_else(|| malformed("encryptedData"))?;
    let eci = items
        .get(1)
        .and_then(|t| tlv::children_of(*t, tlv::SEQUENCE))
        .ok_or_else(|| malformed("encryptedData"))?;
    let alg = eci
        .get(1)
        .filter(|t| t.tag == tlv::SEQUENCE)
        .ok_or_else(|| malformed("encryptedData"))?;
    let ciphertext = match eci.get(2) {
        Some(c) if c.tag == 0x80 => Zeroizing::new(c.value.to_vec()),
        Some(c) if c.tag == 0xa0 => {
            join_segments(c.value).ok_or_else(|| malformed("encryptedData"))?
        }
        _ => return Err(malformed("encryptedData")),
    };
    pbe::decrypt(alg.raw, &ciphertext, password).map_err(|e| match e {
        PbeError::Unsupported(found) => IdentityErrorKind::UnsupportedFormat {
            found: format!("PKCS#12 certificates encrypted with an unsupported algorithm: {found}"),
        },
        other => other.into_kind(),
    })
}

/// SafeContents ::= SEQUENCE OF SafeBag; SafeBag ::= SEQUENCE { bagId OID,
///     bagValue [0] EXPLICIT ANY, bagAttributes SET OPTIONAL }
fn read_safe_contents(
    der: &[u8],
    password: &[u8],
    out: &mut Pkcs12Contents,
    depth: u8,
) -> Result<(), IdentityErrorKind> {
    if depth > 4 {
        return Err(malformed("SafeContents (nested too deeply)"));
    }
    let bags = tlv::read_exact(der)
        .and_then(|t| tlv::children_of(t, tlv::SEQUENCE))
        .ok_or_else(|| malformed("SafeContents"))?;
    for bag in bags {
        let items = tlv::children_of(bag, tlv::SEQUENCE).ok_or_else(|| malformed("SafeBag"))?;
        let oid = items
            .first()
            .and_then(|t| pbe::oid_string(*t))
            .ok_or_else(|| malformed("SafeBag"))?;
        let value = items
            .get(1)
            .filter(|t| t.tag == 0xa0)
            .and_then(|t| tlv::read_exact(t.value))
            .ok_or_else(|| malformed("SafeBag"))?;
        match oid.as_str() {
            OID_KEY_BAG => out.keys.push(Zeroizing::new(value.raw.to_vec())),
            OID_SHROUDED_KEY_BAG => out
                .keys
                .push(pem_key::encrypted_pkcs8(value.raw, Some(password))?),
            OID_CERT_BAG => {
                // CertBag ::= SEQUENCE { certId OID, certValue [0] EXPLICIT OCTET STRING }
                let cert = tlv::children_of(value, tlv::SEQUENCE)
                    .and_then(|c| {
                        let id = pbe::oid_string(*c.first()?)?;
                        let wrapper = c.get(1).filter(|w| w.tag == 0xa0)?;
                        Some((id, octet_string(tlv::read_exact(wrapper.value)?)?))
                    })
                    .ok_or_else(|| malformed("certificate bag"))?;
                if cert.0 == OID_X509_CERT {
                    out.certs.push(cert.1.to_vec());
                }
            }
            OID_SAFE_CONTENTS_BAG => read_safe_contents(value.raw, password, out, depth + 1)?,
            _ => {} // CRLs, secrets: not needed
        }
    }
    Ok(())
}
