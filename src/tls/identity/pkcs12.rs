//! PKCS#12 (PFX) files, decoded with the typed structures of `pkcs12` and `cms`: the MAC is
//! verified (it is what tells a wrong password apart), then the certificate bags and the
//! (shrouded) key bags are read, whether they use the OpenSSL 3 defaults (PBES2 AES-256-CBC,
//! PBKDF2, HMAC-SHA256 MAC) or the legacy algorithms (RC2-40 / 3DES with the PKCS#12 KDF,
//! HMAC-SHA1 MAC). Certificates are decrypted here for every backend, so OpenSSL never needs
//! its legacy provider.

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::OctetString;
use der::{Decode, Header, Reader, SliceReader, Tag, TagNumber};
use hmac::{Hmac, Mac};
use pkcs12::cert_type::CertBag;
use pkcs12::mac_data::MacData;
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::SafeBag;
use zeroize::{Zeroize, Zeroizing};

use super::keys::{self, KeyDecryptor};
use super::pbe::{self, KdfBudget, KdfPurpose, PbeError};
use crate::error::IdentityErrorKind;

/// What a PKCS#12 file holds: certificates (DER, in file order) and private keys (PKCS#8,
/// still encrypted for shrouded bags: decrypted once the count is known to be one).
pub(crate) struct Pkcs12Contents {
    pub certs: Vec<Vec<u8>>,
    pub keys: Vec<KeyBag>,
}

/// A key bag as found.
pub(crate) enum KeyBag {
    /// An unencrypted PKCS#8 key.
    Plain(Zeroizing<Vec<u8>>),
    /// An `EncryptedPrivateKeyInfo`.
    Shrouded(Vec<u8>),
}

impl KeyBag {
    /// The key as unencrypted PKCS#8.
    pub(crate) fn decrypt(
        &self,
        password: &[u8],
        decryptor: &dyn KeyDecryptor,
        budget: &mut KdfBudget,
    ) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
        match self {
            KeyBag::Plain(der) => keys::to_pkcs8("PRIVATE KEY", der, false),
            KeyBag::Shrouded(der) => keys::encrypted_pkcs8(der, Some(password), decryptor, budget),
        }
    }
}

fn malformed(what: &str) -> IdentityErrorKind {
    IdentityErrorKind::Malformed {
        detail: format!("the PKCS#12 {what} could not be parsed"),
    }
}

/// Reads a DER PKCS#12 file. Without a password, the empty password is tried (as OpenSSL
/// does); if that fails the error is `PasswordRequired`. Returns the password that worked.
/// Every derivation (the MAC, each encrypted section) is paid from `budget`.
pub(crate) fn decode<'p>(
    bytes: &[u8],
    password: Option<&'p [u8]>,
    budget: &mut KdfBudget,
) -> Result<(Pkcs12Contents, &'p [u8]), IdentityErrorKind> {
    let pw = password.unwrap_or(b"");
    match (decode_with(bytes, pw, budget), password) {
        (Err(IdentityErrorKind::WrongPassword), None) => Err(IdentityErrorKind::PasswordRequired {
            scheme: "PKCS#12".to_owned(),
        }),
        (other, _) => other.map(|c| (c, pw)),
    }
}

fn decode_with(
    bytes: &[u8],
    password: &[u8],
    budget: &mut KdfBudget,
) -> Result<Pkcs12Contents, IdentityErrorKind> {
    let pfx = Pfx::from_der(bytes).map_err(|_| malformed("file"))?;
    let oid = pfx.auth_safe.content_type;
    if oid == rfc5911::ID_SIGNED_DATA {
        return Err(IdentityErrorKind::UnsupportedFormat {
            found: "a PKCS#12 file in public-key integrity mode (signedData); re-export it \
                    with a password (`openssl pkcs12 -export`)"
                .to_owned(),
        });
    }
    if oid != rfc5911::ID_DATA {
        return Err(IdentityErrorKind::UnsupportedFormat {
            found: format!("a PKCS#12 file whose content is {}", pbe::oid_name(&oid)),
        });
    }
    let auth_safe: OctetString = pfx
        .auth_safe
        .content
        .decode_as()
        .map_err(|_| malformed("authSafe"))?;
    if let Some(mac_data) = &pfx.mac_data {
        verify_mac(mac_data, auth_safe.as_bytes(), password, budget)?;
    }
    let safes = Vec::<ContentInfo>::from_der(auth_safe.as_bytes())
        .map_err(|_| malformed("AuthenticatedSafe"))?;
    let mut out = Pkcs12Contents {
        certs: Vec::new(),
        keys: Vec::new(),
    };
    for safe in safes {
        let contents: Zeroizing<Vec<u8>> = if safe.content_type == rfc5911::ID_DATA {
            let data: OctetString = safe.content.decode_as().map_err(|_| malformed("data"))?;
            Zeroizing::new(data.into_bytes())
        } else if safe.content_type == rfc5911::ID_ENCRYPTED_DATA {
            decrypt_encrypted_data(&safe, password, budget)?
        } else if safe.content_type == rfc5911::ID_ENVELOPED_DATA {
            return Err(IdentityErrorKind::UnsupportedFormat {
                found: "a PKCS#12 file with public-key privacy mode (envelopedData); \
                        re-export it with a password"
                    .to_owned(),
            });
        } else {
            continue;
        };
        read_safe_contents(&contents, &mut out, 0)?;
    }
    Ok(out)
}

/// HMAC with a key from the PKCS#12 KDF (ID 3), compared in constant time.
macro_rules! hmac_ok {
    ($digest:ty, $bmp:expr, $mac_data:expr, $content:expr) => {{
        use sha2::Digest as _;
        let key = pbe::pkcs12_kdf::<$digest>(
            $bmp,
            $mac_data.mac_salt.as_bytes(),
            KdfPurpose::Mac,
            $mac_data.iterations,
            <$digest>::output_size(),
        );
        match <Hmac<$digest> as Mac>::new_from_slice(&key) {
            Ok(mut mac) => {
                mac.update($content);
                mac.verify_slice($mac_data.mac.digest.as_bytes()).is_ok()
            }
            Err(_) => false,
        }
    }};
}

fn verify_mac(
    mac_data: &MacData,
    content: &[u8],
    password: &[u8],
    budget: &mut KdfBudget,
) -> Result<(), IdentityErrorKind> {
    pbe::check_iterations(
        "PKCS#12 MAC iteration count",
        mac_data.iterations.into(),
        budget,
    )
    .map_err(PbeError::into_kind)?;
    let bmp = pbe::bmp_password(password);
    // OpenSSL also accepts an absent (zero-length) password for an empty one.
    let candidates: Vec<&[u8]> = if password.is_empty() {
        vec![&bmp[..], &[]]
    } else {
        vec![&bmp[..]]
    };
    let digest = mac_data.mac.algorithm.oid;
    for candidate in candidates {
        let ok = match digest {
            rfc5912::ID_SHA_1 => hmac_ok!(sha1::Sha1, candidate, mac_data, content),
            rfc5912::ID_SHA_224 => hmac_ok!(sha2::Sha224, candidate, mac_data, content),
            rfc5912::ID_SHA_256 => hmac_ok!(sha2::Sha256, candidate, mac_data, content),
            rfc5912::ID_SHA_384 => hmac_ok!(sha2::Sha384, candidate, mac_data, content),
            rfc5912::ID_SHA_512 => hmac_ok!(sha2::Sha512, candidate, mac_data, content),
            other => {
                return Err(IdentityErrorKind::UnsupportedFormat {
                    found: format!(
                        "a PKCS#12 MAC with {} (supported: SHA-1, SHA-224, SHA-256, SHA-384, \
                         SHA-512)",
                        pbe::oid_name(&other)
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

/// The certificates' `EncryptedData`, decrypted in Rust whatever the backend.
fn decrypt_encrypted_data(
    safe: &ContentInfo,
    password: &[u8],
    budget: &mut KdfBudget,
) -> Result<Zeroizing<Vec<u8>>, IdentityErrorKind> {
    let data: EncryptedData = safe
        .content
        .decode_as()
        .map_err(|_| malformed("encryptedData"))?;
    let info = &data.enc_content_info;
    let ciphertext = info
        .encrypted_content
        .as_ref()
        .ok_or_else(|| malformed("encryptedData"))?;
    pbe::decrypt(
        &info.content_enc_alg,
        ciphertext.as_bytes(),
        password,
        budget,
    )
    .map_err(|e| match e {
        PbeError::Unsupported(found) => IdentityErrorKind::UnsupportedFormat {
            found: format!("PKCS#12 certificates encrypted with an unsupported algorithm: {found}"),
        },
        other => other.into_kind(),
    })
}

/// SafeContents ::= SEQUENCE OF SafeBag
fn read_safe_contents(
    der: &[u8],
    out: &mut Pkcs12Contents,
    depth: u8,
) -> Result<(), IdentityErrorKind> {
    if depth > 4 {
        return Err(malformed("SafeContents (nested too deeply)"));
    }
    let bags = Vec::<SafeBag>::from_der(der).map_err(|_| malformed("SafeContents"))?;
    for mut bag in bags {
        let value = explicit_content(&bag.bag_value).ok_or_else(|| malformed("SafeBag"));
        // The bag may hold an unencrypted key: wipe the decoder's copy.
        bag.bag_value.zeroize();
        let value = value?;
        match bag.bag_id {
            pkcs12::PKCS_12_KEY_BAG_OID => out.keys.push(KeyBag::Plain(value)),
            pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => out.keys.push(KeyBag::Shrouded(value.to_vec())),
            pkcs12::PKCS_12_CERT_BAG_OID => {
                let cert = CertBag::from_der(&value).map_err(|_| malformed("certificate bag"))?;
                if cert.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                    out.certs.push(cert.cert_value.into_bytes());
                }
            }
            pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => read_safe_contents(&value, out, depth + 1)?,
            _ => {} // CRLs, secrets: not needed
        }
    }
    Ok(())
}

/// The content of a `[0] EXPLICIT` value (a SafeBag's bagValue), copied into a zeroizing buffer.
fn explicit_content(tlv: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut reader = SliceReader::new(tlv).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    if header.tag
        != (Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        })
    {
        return None;
    }
    let value = reader.read_slice(header.length).ok()?;
    reader.finish(()).ok()?;
    Some(Zeroizing::new(value.to_vec()))
}
