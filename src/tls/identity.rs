//! The client identity (certificate chain and private key): one front end for every backend.
//!
//! [`decode`] reads the input's format by content, never by name (PEM blocks in any order, with
//! RFC 1421 headers for legacy encrypted keys and text between blocks ignored; or DER PKCS#12),
//! and decides for every input which key is used (a file with several is refused), which
//! certificate is the leaf (the one that matches the key), which are the chain, and which
//! [`IdentityErrorKind`] a bad input gets. The only thing a backend chooses is who decrypts a
//! password-protected key ([`KeyDecryptor`]): OpenSSL for the OpenSSL backend, pure Rust for
//! native-tls. PKCS#12 structures and their legacy algorithms are always decoded in Rust.
//!
//! Everything that may hold key material is kept in [`Zeroizing`] buffers.

// Without a backend nothing loads identities (the unit tests still exercise it all).
#![cfg_attr(
    not(any(feature = "openssl", feature = "native-tls")),
    allow(dead_code)
)]

use std::fmt;
use std::time::{Duration, SystemTime};

use der::{Decode, Header, SliceReader, Tag, Tagged};
use zeroize::Zeroizing;

use crate::error::{Error, IdentityErrorKind, IdentitySource, Result};
use crate::options::TlsOptions;
use crate::tls::{read_capped, KdfLimits, ReadError, MAX_TLS_FILE_SIZE};

pub(crate) mod cert;
mod keys;
pub(crate) mod pbe;
pub(crate) mod pem;
mod pkcs12;

use cert::{key_matches, CertInfo};
pub(crate) use keys::KeyDecryptor;
#[cfg(any(feature = "native-tls", feature = "openssl"))]
pub(crate) use keys::RustDecryptor;
use pbe::KdfBudget;
pub(crate) use pem::{describe_blocks, PemBlock};

/// When the client certificate expires within this window, loading it logs a warning.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(7 * 24 * 3600);

/// The raw identity bytes and where they came from.
pub(crate) struct IdentityInput {
    /// The file (named in every error) or memory.
    pub origin: IdentitySource,
    /// The whole file, as read once.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl IdentityInput {
    /// An identity error about this input.
    pub(crate) fn error(&self, kind: IdentityErrorKind) -> Error {
        Error::identity(self.origin.clone(), kind)
    }
}

impl fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityInput")
            .field("origin", &self.origin)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// Reads the identity named by the options: `cert_key_file_path` (read once) or
/// `cert_key_data`. `None` when neither is set (no client certificate).
pub(crate) fn read_identity(opts: &TlsOptions) -> Result<Option<IdentityInput>> {
    if let Some(path) = &opts.cert_key_file_path {
        let origin = IdentitySource::File(path.clone());
        return match read_capped(path) {
            Ok(bytes) => Ok(Some(IdentityInput { origin, bytes })),
            Err(ReadError::Io(e)) => Err(Error::identity(
                origin,
                IdentityErrorKind::Unreadable { io: e.to_string() },
            )),
            Err(ReadError::TooLarge(size)) => Err(Error::identity(
                origin,
                IdentityErrorKind::FileTooLarge {
                    size,
                    limit: MAX_TLS_FILE_SIZE,
                },
            )),
        };
    }
    let Some(data) = &opts.cert_key_data else {
        return Ok(None);
    };
    // The same cap as for a file: what the parser is given is bounded either way.
    if data.len() as u64 > MAX_TLS_FILE_SIZE {
        return Err(Error::identity(
            IdentitySource::Memory,
            IdentityErrorKind::FileTooLarge {
                size: data.len() as u64,
                limit: MAX_TLS_FILE_SIZE,
            },
        ));
    }
    Ok(Some(IdentityInput {
        origin: IdentitySource::Memory,
        bytes: Zeroizing::new(data.clone()),
    }))
}

/// A decoded identity, the same on every backend.
pub(crate) struct DecodedIdentity {
    /// DER certificates, leaf first: the certificate that matches the key, then the others in
    /// file order.
    pub chain: Vec<Vec<u8>>,
    /// The leaf certificate, parsed.
    pub leaf: CertInfo,
    /// The private key, unencrypted PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DecodedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedIdentity")
            .field(
                "chain",
                &format_args!("<{} certificates>", self.chain.len()),
            )
            .field("leaf", &self.leaf.subject)
            .field("key_pkcs8", &"<redacted>")
            .finish()
    }
}

/// Decodes the identity: format, key, leaf and chain, validity; the key decrypted by
/// `decryptor`, its KDF parameters checked against `limits` first, each derivation and their
/// sum over the whole input. Logs a warning when the certificate expires within
/// `expiry_warning`.
pub(crate) fn decode(
    input: &IdentityInput,
    password: Option<&[u8]>,
    decryptor: &dyn KeyDecryptor,
    expiry_warning: Duration,
    limits: &KdfLimits,
) -> Result<DecodedIdentity> {
    let decoded =
        decode_kind(&input.bytes, password, decryptor, limits).map_err(|k| input.error(k))?;
    let now = SystemTime::now();
    decoded
        .leaf
        .check_validity(now)
        .map_err(|k| input.error(k))?;
    let remaining = decoded.leaf.remaining(now);
    if remaining <= expiry_warning {
        tracing::warn!(
            subject = %decoded.leaf.subject,
            not_after = %decoded.leaf.not_after,
            source = %input.origin,
            "the client certificate expires in {} hours; rotate it (Client::reload_tls_identity)",
            remaining.as_secs() / 3600
        );
    }
    Ok(decoded)
}

fn decode_kind(
    bytes: &[u8],
    password: Option<&[u8]>,
    decryptor: &dyn KeyDecryptor,
    limits: &KdfLimits,
) -> std::result::Result<DecodedIdentity, IdentityErrorKind> {
    // One budget for every derivation of this input.
    let mut budget = KdfBudget::new(limits);
    if contains(bytes, b"-----BEGIN ") {
        let blocks = pem::parse(bytes)?;
        let keys: Vec<&PemBlock> = blocks.iter().filter(|b| b.is_private_key()).collect();
        let found = || describe_blocks(&blocks);
        let key_block = match keys.as_slice() {
            [] => return Err(IdentityErrorKind::NoPrivateKey { found: found() }),
            [one] => *one,
            several => {
                return Err(IdentityErrorKind::SeveralPrivateKeys {
                    count: several.len(),
                    found: found(),
                })
            }
        };
        let certs: Vec<Vec<u8>> = blocks
            .iter()
            .filter(|b| b.is_certificate())
            .map(|b| b.der.to_vec())
            .collect();
        if certs.is_empty() {
            return Err(IdentityErrorKind::NoCertificate { found: found() });
        }
        let infos = parse_all(&certs)?;
        let key = keys::pem_to_pkcs8(key_block, password, decryptor, &mut budget)?;
        return order_chain(certs, infos, key);
    }
    if looks_like_pfx(bytes) {
        let (mut contents, password) = pkcs12::decode(bytes, password, &mut budget)?;
        let found = format!(
            "PKCS#12 with {} certificate(s) and {} key(s)",
            contents.certs.len(),
            contents.keys.len()
        );
        let key = match contents.keys.len() {
            0 => return Err(IdentityErrorKind::NoPrivateKey { found }),
            1 => contents.keys.swap_remove(0),
            count => return Err(IdentityErrorKind::SeveralPrivateKeys { count, found }),
        };
        if contents.certs.is_empty() {
            return Err(IdentityErrorKind::NoCertificate { found });
        }
        let infos = parse_all(&contents.certs)?;
        let key = key.decrypt(password, decryptor, &mut budget)?;
        return order_chain(contents.certs, infos, key);
    }
    Err(IdentityErrorKind::UnsupportedFormat {
        found: describe_unknown(bytes),
    })
}

fn parse_all(certs: &[Vec<u8>]) -> std::result::Result<Vec<CertInfo>, IdentityErrorKind> {
    certs.iter().map(|c| CertInfo::parse(c)).collect()
}

/// Puts the certificate that matches the key first (or, when no certificate can be checked,
/// the first one), the others after it in file order.
fn order_chain(
    mut chain: Vec<Vec<u8>>,
    mut infos: Vec<CertInfo>,
    key: Zeroizing<Vec<u8>>,
) -> std::result::Result<DecodedIdentity, IdentityErrorKind> {
    let verdicts: Vec<Option<bool>> = infos.iter().map(|i| key_matches(i, &key)).collect();
    let leaf_index = verdicts
        .iter()
        .position(|v| *v == Some(true))
        .or_else(|| verdicts.iter().position(|v| v.is_none()));
    let Some(leaf_index) = leaf_index.filter(|i| *i < chain.len()) else {
        return Err(IdentityErrorKind::KeyMismatch {
            subject: infos.first().map(|i| i.subject.clone()).unwrap_or_default(),
        });
    };
    let leaf_der = chain.remove(leaf_index);
    chain.insert(0, leaf_der);
    let leaf = infos.swap_remove(leaf_index);
    Ok(DecodedIdentity {
        chain,
        leaf,
        key_pkcs8: key,
    })
}

fn describe_unknown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the input is empty; expected PEM (certificate and private key) or PKCS#12"
            .to_owned();
    }
    if let Ok(any) = der::asn1::AnyRef::from_der(bytes) {
        if any.tag() == Tag::Sequence {
            if CertInfo::parse(bytes).is_ok() {
                return "a DER certificate without its key; use PEM (certificate and key, e.g. \
                        `openssl x509 -inform der -in cert.der >> client.pem`) or PKCS#12"
                    .to_owned();
            }
            return "DER data that is not PKCS#12 (no PEM block); use PEM (certificate and key) \
                    or PKCS#12"
                .to_owned();
        }
    }
    let text = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    format!(
        "no PEM block and not DER PKCS#12 ({} bytes of {}); expected PEM (-----BEGIN \
         CERTIFICATE----- and a private key) or PKCS#12",
        bytes.len(),
        if text { "text" } else { "binary data" }
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sniffs `PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo { contentType data or
/// signedData, … }, … }` from its first fields only, so that a damaged PKCS#12 file is reported
/// as a damaged PKCS#12 file (`Malformed`), not as an unknown format.
fn looks_like_pfx(bytes: &[u8]) -> bool {
    let sniff = || -> der::Result<bool> {
        let mut reader = SliceReader::new(bytes)?;
        let outer = Header::decode(&mut reader)?;
        let version = u8::decode(&mut reader)?;
        let content_info = Header::decode(&mut reader)?;
        let oid = const_oid::ObjectIdentifier::decode(&mut reader)?;
        Ok(outer.tag == Tag::Sequence
            && version == 3
            && content_info.tag == Tag::Sequence
            && (oid == const_oid::db::rfc5911::ID_DATA
                || oid == const_oid::db::rfc5911::ID_SIGNED_DATA))
    };
    sniff().unwrap_or(false)
}

/// The DER certificates of a PEM file (a CA file): `CERTIFICATE` blocks in order; other blocks
/// are skipped.
pub(crate) fn pem_certificates(
    bytes: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, IdentityErrorKind> {
    Ok(pem::parse(bytes)?
        .into_iter()
        .filter(PemBlock::is_certificate)
        .map(|b| b.der.to_vec())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &[u8]) -> IdentityErrorKind {
        match decode_kind(bytes, None, &keys::RustDecryptor, &KdfLimits::default()) {
            Ok(d) => panic!("expected an error, got {d:?}"),
            Err(k) => k,
        }
    }

    #[test]
    fn garbage_is_unsupported() {
        for input in [&b""[..], b"hello world", &[0xde, 0xad, 0xbe, 0xef, 0x00]] {
            match kind(input) {
                IdentityErrorKind::UnsupportedFormat { found } => {
                    assert!(found.contains("PKCS#12"), "{found}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn pfx_sniffing() {
        // SEQUENCE { INTEGER 3, SEQUENCE { OID data } }
        let pfx = [
            0x30, 0x10, 0x02, 0x01, 0x03, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
            0x0d, 0x01, 0x07, 0x01,
        ];
        assert!(looks_like_pfx(&pfx));
        assert!(matches!(kind(&pfx), IdentityErrorKind::Malformed { .. }));
        let mut v2 = pfx;
        v2[4] = 2;
        assert!(!looks_like_pfx(&v2));
    }

    #[test]
    fn several_keys_are_refused() {
        let key = "-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n";
        let cert = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        let pem = format!("{cert}{key}{key}");
        assert!(matches!(
            kind(pem.as_bytes()),
            IdentityErrorKind::SeveralPrivateKeys { count: 2, .. }
        ));
    }
}
