//! Loading the client identity (certificate chain and private key), shared by every backend.
//!
//! The file is read once ([`read_identity`]) and its format detected by content, never by
//! name ([`detect`]): PEM blocks in any order (with RFC 1421 headers for legacy encrypted
//! keys, text outside the blocks ignored), or DER PKCS#12. Backends then decrypt the key their
//! own way: OpenSSL with OpenSSL, native-tls in pure Rust (`decode_rust`, feature `native-tls`)
//! so that it never needs OpenSSL where native-tls is Security.framework or SChannel.
//!
//! Everything that may hold key material is kept in [`Zeroizing`] buffers.

// Without the native-tls backend, parts of this module (key matching, the PEM helpers) have
// no user: the OpenSSL backend uses only the front-end, and without a backend nothing loads
// identities (the unit tests still exercise it all).
#![cfg_attr(not(feature = "native-tls"), allow(dead_code))]

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, IdentityErrorKind, IdentitySource, Result};
use crate::options::TlsOptions;

pub(crate) mod cert;
pub(crate) mod tlv;

#[cfg(feature = "native-tls")]
mod pbe;
#[cfg(feature = "native-tls")]
mod pem_key;
#[cfg(feature = "native-tls")]
mod pkcs12;
#[cfg(feature = "native-tls")]
mod rust;

#[cfg(feature = "native-tls")]
pub(crate) use rust::decode_rust;

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
        return match std::fs::read(path) {
            Ok(bytes) => Ok(Some(IdentityInput {
                origin,
                bytes: Zeroizing::new(bytes),
            })),
            Err(e) => Err(Error::identity(
                origin,
                IdentityErrorKind::Unreadable { io: e.to_string() },
            )),
        };
    }
    Ok(opts.cert_key_data.as_ref().map(|data| IdentityInput {
        origin: IdentitySource::Memory,
        bytes: Zeroizing::new(data.clone()),
    }))
}

/// One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …), its RFC 1421 headers
/// (`Proc-Type`, `DEK-Info`) and its decoded content.
pub(crate) struct PemBlock {
    pub label: String,
    pub headers: Vec<(String, String)>,
    pub der: Zeroizing<Vec<u8>>,
}

impl PemBlock {
    /// The value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for a legacy OpenSSL encrypted block (`Proc-Type: 4,ENCRYPTED`).
    pub(crate) fn is_legacy_encrypted(&self) -> bool {
        self.header("Proc-Type")
            .is_some_and(|v| v.to_ascii_uppercase().contains("ENCRYPTED"))
    }

    /// True for a private key block of any kind.
    pub(crate) fn is_private_key(&self) -> bool {
        self.label.ends_with("PRIVATE KEY")
    }
}

impl fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("headers", &self.headers)
            .field("der", &format_args!("<{} bytes>", self.der.len()))
            .finish()
    }
}

/// The format of an identity, found by content.
#[derive(Debug)]
pub(crate) enum IdentityFormat {
    /// PEM: the blocks in file order.
    Pem(Vec<PemBlock>),
    /// A DER PKCS#12 (PFX) file; the bytes are in the [`IdentityInput`].
    Pkcs12,
}

impl IdentityFormat {
    /// A short description of what the input holds, for error messages: e.g.
    /// `"PEM blocks: CERTIFICATE, PRIVATE KEY"` or `"PKCS#12"`.
    pub(crate) fn describe(&self) -> String {
        match self {
            IdentityFormat::Pkcs12 => "PKCS#12".to_owned(),
            IdentityFormat::Pem(blocks) => describe_blocks(blocks),
        }
    }
}

/// `"PEM blocks: A, B"`, or `"no PEM blocks"`.
pub(crate) fn describe_blocks(blocks: &[PemBlock]) -> String {
    if blocks.is_empty() {
        return "no PEM blocks".to_owned();
    }
    let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    format!("PEM blocks: {}", labels.join(", "))
}

/// Detects the format of `input` by its content.
pub(crate) fn detect(input: &IdentityInput) -> Result<IdentityFormat> {
    detect_bytes(&input.bytes).map_err(|kind| input.error(kind))
}

fn detect_bytes(bytes: &[u8]) -> std::result::Result<IdentityFormat, IdentityErrorKind> {
    if contains(bytes, b"-----BEGIN ") {
        let blocks = parse_pem(bytes)?;
        return Ok(IdentityFormat::Pem(blocks));
    }
    if looks_like_pfx(bytes) {
        return Ok(IdentityFormat::Pkcs12);
    }
    Err(IdentityErrorKind::UnsupportedFormat {
        found: describe_unknown(bytes),
    })
}

fn describe_unknown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the input is empty; expected PEM (certificate and private key) or PKCS#12"
            .to_owned();
    }
    if let Some(top) = tlv::read_exact(bytes) {
        if top.tag == tlv::SEQUENCE {
            if cert::CertInfo::parse(bytes).is_ok() {
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

/// PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData OPTIONAL }
/// with authSafe of type data (1.2.840.113549.1.7.1) or signedData (…7.2).
fn looks_like_pfx(bytes: &[u8]) -> bool {
    const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    const SIGNED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    let check = || -> Option<bool> {
        let top = tlv::read_exact(bytes)?;
        let items = tlv::children_of(top, tlv::SEQUENCE)?;
        let version = tlv::small_int(*items.first()?)?;
        let content_info = tlv::children_of(*items.get(1)?, tlv::SEQUENCE)?;
        let oid = content_info.first()?;
        Some(version == 3 && oid.tag == tlv::OID && (oid.value == DATA || oid.value == SIGNED))
    };
    check().unwrap_or(false)
}

/// Parses every PEM block in `bytes`, in order. Text outside blocks is ignored.
fn parse_pem(bytes: &[u8]) -> std::result::Result<Vec<PemBlock>, IdentityErrorKind> {
    // PEM is ASCII; a lossy conversion only affects text outside the blocks (and inside a
    // block it turns into invalid base64, which is reported).
    let text = Zeroizing::new(String::from_utf8_lossy(bytes).into_owned());
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(|l| l.trim());
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let label = label.trim().to_owned();
        let end_line = format!("-----END {label}-----");
        let mut headers = Vec::new();
        // Sized up front: a growing buffer would leave copies of the key behind.
        let mut body = Zeroizing::new(String::with_capacity(text.len()));
        let mut in_headers = true;
        let mut ended = false;
        for line in lines.by_ref() {
            if line == end_line {
                ended = true;
                break;
            }
            if line.starts_with("-----BEGIN ") || line.starts_with("-----END ") {
                return Err(IdentityErrorKind::Malformed {
                    detail: format!("the PEM block {label} is not closed by {end_line}"),
                });
            }
            if in_headers {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
                in_headers = false;
                if line.is_empty() {
                    continue; // the blank line after the headers
                }
            }
            body.push_str(line);
        }
        if !ended {
            return Err(IdentityErrorKind::Malformed {
                detail: format!("the PEM block {label} is truncated (no {end_line} line)"),
            });
        }
        let der = base64_decode(&body).ok_or_else(|| IdentityErrorKind::Malformed {
            detail: format!("the PEM block {label} has invalid base64"),
        })?;
        // A legacy encrypted block holds ciphertext, not DER.
        let encrypted = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
        if der.is_empty() || (!encrypted && tlv::read_exact(&der).is_none()) {
            return Err(IdentityErrorKind::Malformed {
                detail: format!("the PEM block {label} does not hold one complete DER value"),
            });
        }
        blocks.push(PemBlock {
            label,
            headers,
            der,
        });
    }
    if blocks.is_empty() {
        return Err(IdentityErrorKind::Malformed {
            detail: "a -----BEGIN line was found but no complete PEM block".to_owned(),
        });
    }
    Ok(blocks)
}

/// The DER certificates of a PEM file (a CA file): `CERTIFICATE` blocks in order; other blocks
/// are skipped.
pub(crate) fn pem_certificates(
    bytes: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, IdentityErrorKind> {
    Ok(parse_pem(bytes)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
        .map(|b| b.der.to_vec())
        .collect())
}

/// PEM-encodes `der` under `label`, 64 columns (the result may hold a key: it is zeroized).
pub(crate) fn pem_encode(label: &str, der: &[u8], out: &mut Zeroizing<String>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Zeroizing::new(Vec::with_capacity(der.len().div_ceil(3) * 4));
    for chunk in der.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                b64.push(b'=');
            }
        }
    }
    // Reserve first: growing the string later would leave copies of the key behind.
    out.reserve(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.chunks(64) {
        // The alphabet is ASCII, so this never fails.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
}

/// Standard base64 with optional padding; whitespace already removed by line trimming
/// (inner spaces are skipped too). `None` on any invalid character.
fn base64_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    let mut count = 0usize;
    for c in text.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        count += 1;
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if padding > 2 || (padding > 0 && count % 4 != 0) || bits >= 6 {
        return None;
    }
    zeroize::Zeroize::zeroize(&mut acc);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_B64: &str = "MAMCAQE="; // SEQUENCE { INTEGER 1 }

    #[test]
    fn base64() {
        assert_eq!(&**base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(&**base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(&**base64_decode("TQ==").unwrap(), b"M");
        assert!(base64_decode("TQ=a").is_none());
        assert!(base64_decode("T!==").is_none());
        assert!(base64_decode("TWFuT").is_none());
    }

    #[test]
    fn pem_round_trip() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 100] {
            let der: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let mut pem = Zeroizing::new(String::new());
            pem_encode("X", &der, &mut pem);
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(pem.lines().all(|l| l.len() <= 64));
            assert_eq!(&**base64_decode(&body).unwrap(), &der[..]);
        }
    }

    #[test]
    fn pem_with_headers_and_text_around() {
        let pem = format!(
            "Bag Attributes\n  friendlyName: x\n-----BEGIN RSA PRIVATE KEY-----\n\
             Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n\
             {CERT_B64}\n-----END RSA PRIVATE KEY-----\ntrailing\r\n-----BEGIN CERTIFICATE-----\r\n\
             {CERT_B64}\r\n-----END CERTIFICATE-----\r\n"
        );
        let IdentityFormat::Pem(blocks) = detect_bytes(pem.as_bytes()).unwrap() else {
            panic!("PEM expected")
        };
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "RSA PRIVATE KEY");
        assert!(blocks[0].is_legacy_encrypted());
        assert_eq!(
            blocks[0].header("dek-info"),
            Some("AES-256-CBC,00112233445566778899AABBCCDDEEFF")
        );
        assert_eq!(&**blocks[1].der, &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(!blocks[1].is_legacy_encrypted());
    }

    #[test]
    fn truncated_and_bad_base64_are_malformed() {
        let truncated = format!("-----BEGIN PRIVATE KEY-----\n{CERT_B64}\n");
        assert!(matches!(
            detect_bytes(truncated.as_bytes()),
            Err(IdentityErrorKind::Malformed { .. })
        ));
        let bad = "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            detect_bytes(bad.as_bytes()),
            Err(IdentityErrorKind::Malformed { .. })
        ));
        let cut_der = "-----BEGIN PRIVATE KEY-----\nMAMCAQ==\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            detect_bytes(cut_der.as_bytes()),
            Err(IdentityErrorKind::Malformed { .. })
        ));
    }

    #[test]
    fn garbage_is_unsupported() {
        for input in [&b""[..], b"hello world", &[0xde, 0xad, 0xbe, 0xef, 0x00]] {
            match detect_bytes(input) {
                Err(IdentityErrorKind::UnsupportedFormat { found }) => {
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
        assert!(matches!(detect_bytes(&pfx), Ok(IdentityFormat::Pkcs12)));
        let mut v2 = pfx;
        v2[4] = 2;
        assert!(detect_bytes(&v2).is_err());
    }
}
