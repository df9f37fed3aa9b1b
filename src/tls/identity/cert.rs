//! What the crate needs to know about a certificate, whatever the backend: the subject DN in
//! the RFC 2253 form the server uses as the X.509 user name, the validity dates, and whether a
//! private key belongs to it.

use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::Certificate;

use super::tlv::{self, Tlv};
use crate::error::IdentityErrorKind;

/// A parsed certificate: subject, validity and public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// The subject DN exactly as `openssl x509 -noout -subject -nameopt RFC2253` prints it,
    /// most specific RDN first, e.g. `CN=client,OU=Apps,O=Acme,ST=NY,C=US`.
    pub subject: String,
    /// Start of validity, e.g. `2024-01-01 00:00:00 UTC`.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    not_before_time: SystemTime,
    not_after_time: SystemTime,
    /// The DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

impl CertInfo {
    /// Parses a DER certificate.
    pub(crate) fn parse(der: &[u8]) -> Result<CertInfo, IdentityErrorKind> {
        let cert = Certificate::from_der(der).map_err(|e| IdentityErrorKind::Malformed {
            detail: format!("a certificate could not be parsed ({e})"),
        })?;
        let tbs = &cert.tbs_certificate;
        let subject_der = tbs
            .subject
            .to_der()
            .map_err(|e| IdentityErrorKind::Malformed {
                detail: format!("the certificate subject could not be encoded ({e})"),
            })?;
        let spki_der =
            tbs.subject_public_key_info
                .to_der()
                .map_err(|e| IdentityErrorKind::Malformed {
                    detail: format!("the certificate public key could not be encoded ({e})"),
                })?;
        let subject = rfc2253(&subject_der).ok_or_else(|| IdentityErrorKind::Malformed {
            detail: "the certificate subject is not a valid X.500 name".to_owned(),
        })?;
        let nb = tbs.validity.not_before.to_date_time();
        let na = tbs.validity.not_after.to_date_time();
        Ok(CertInfo {
            subject,
            not_before: format_time(&nb),
            not_after: format_time(&na),
            not_before_time: nb.to_system_time(),
            not_after_time: na.to_system_time(),
            spki_der,
        })
    }

    /// Checks that the certificate is valid at `now`.
    pub(crate) fn check_validity(&self, now: SystemTime) -> Result<(), IdentityErrorKind> {
        if now > self.not_after_time {
            return Err(IdentityErrorKind::CertificateExpired {
                subject: self.subject.clone(),
                not_before: self.not_before.clone(),
                not_after: self.not_after.clone(),
            });
        }
        if now < self.not_before_time {
            return Err(IdentityErrorKind::CertificateNotYetValid {
                subject: self.subject.clone(),
                not_before: self.not_before.clone(),
                not_after: self.not_after.clone(),
            });
        }
        Ok(())
    }
}

fn format_time(t: &der::DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    )
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Whether the PKCS#8 private key belongs to the certificate: `Some(true)`/`Some(false)` when
/// that can be told from the key's stored public part, `None` when it cannot (e.g. an EC key
/// without its public point, or an algorithm this check does not know).
pub(crate) fn key_matches(cert: &CertInfo, key_pkcs8_der: &[u8]) -> Option<bool> {
    let spki = tlv::children_of(tlv::read_exact(&cert.spki_der)?, tlv::SEQUENCE)?;
    let spki_alg = tlv::children_of(*spki.first()?, tlv::SEQUENCE)?;
    let spki_oid = spki_alg.first()?.value;
    let spki_params = spki_alg.get(1).map(|t| t.raw);
    let spki_key = bit_string(*spki.get(1)?)?;

    let key = tlv::children_of(tlv::read_exact(key_pkcs8_der)?, tlv::SEQUENCE)?;
    let key_alg = tlv::children_of(*key.get(1)?, tlv::SEQUENCE)?;
    let key_oid = key_alg.first()?.value;
    let key_params = key_alg.get(1).map(|t| t.raw);
    let private = key.get(2)?;
    if private.tag != tlv::OCTET_STRING {
        return None;
    }
    let is_rsa = |oid: &[u8]| oid == OID_RSA || oid == OID_RSA_PSS;
    if is_rsa(spki_oid) && is_rsa(key_oid) {
        // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
        // RSAPublicKey  ::= SEQUENCE { modulus, publicExponent }
        let private = tlv::children_of(tlv::read_exact(private.value)?, tlv::SEQUENCE)?;
        let public = tlv::children_of(tlv::read_exact(spki_key)?, tlv::SEQUENCE)?;
        let same = tlv::unsigned_int(*private.get(1)?)? == tlv::unsigned_int(*public.first()?)?
            && tlv::unsigned_int(*private.get(2)?)? == tlv::unsigned_int(*public.get(1)?)?;
        return Some(same);
    }
    if spki_oid != key_oid {
        return Some(false);
    }
    if spki_oid == OID_EC {
        if let (Some(a), Some(b)) = (spki_params, key_params) {
            if a != b && a != [0x05, 0x00] && b != [0x05, 0x00] {
                return Some(false); // different curves
            }
        }
        // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING,
        //                             [0] parameters OPTIONAL, [1] publicKey BIT STRING OPTIONAL }
        let ec = tlv::children_of(tlv::read_exact(private.value)?, tlv::SEQUENCE)?;
        for item in ec.iter().skip(2) {
            match item.tag {
                0xa0 => {
                    if let Some(a) = spki_params {
                        if item.value != a {
                            return Some(false);
                        }
                    }
                }
                0xa1 => {
                    let point = bit_string(tlv::read_exact(item.value)?)?;
                    return Some(point == spki_key);
                }
                _ => {}
            }
        }
        return None;
    }
    // Other algorithms (Ed25519, …): a PKCS#8 v2 key may carry its public key as [1].
    for item in key.iter().skip(3) {
        if item.tag == 0x81 {
            return Some(item.value.get(1..)? == spki_key);
        }
    }
    None
}

/// A BIT STRING's bytes (whole bytes only).
fn bit_string(t: Tlv<'_>) -> Option<&[u8]> {
    if t.tag != tlv::BIT_STRING || t.value.first() != Some(&0) {
        return None;
    }
    t.value.get(1..)
}

/// Formats a DER X.500 Name the way OpenSSL's `-nameopt RFC2253` does
/// (`ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV | XN_FLAG_FN_SN |
/// XN_FLAG_DUMP_UNKNOWN_FIELDS`): every attribute in reverse order, `,` between RDNs and `+`
/// inside a multi-valued RDN, OpenSSL's short names, unknown attribute types as dotted OIDs
/// with a `#`-hex dump of the value.
pub(crate) fn rfc2253(name_der: &[u8]) -> Option<String> {
    let rdns = tlv::children_of(tlv::read_exact(name_der)?, tlv::SEQUENCE)?;
    // (attribute text, index of its RDN)
    let mut entries: Vec<(String, usize)> = Vec::new();
    for (i, rdn) in rdns.iter().enumerate() {
        for atv in tlv::children_of(*rdn, 0x31)? {
            let parts = tlv::children_of(atv, tlv::SEQUENCE)?;
            let oid_tlv = parts.first()?;
            let value = parts.get(1)?;
            if oid_tlv.tag != tlv::OID || parts.len() != 2 {
                return None;
            }
            let oid = der::asn1::ObjectIdentifier::from_bytes(oid_tlv.value).ok()?;
            let text = match short_name(&oid.to_string()) {
                Some(sn) => format!("{sn}={}", format_value(*value, false)),
                None => format!("{oid}={}", format_value(*value, true)),
            };
            entries.push((text, i));
        }
    }
    let mut out = String::new();
    let mut previous: Option<usize> = None;
    for (text, rdn) in entries.iter().rev() {
        if let Some(p) = previous {
            out.push(if p == *rdn { '+' } else { ',' });
        }
        out.push_str(text);
        previous = Some(*rdn);
    }
    Some(out)
}

/// OpenSSL's short names (`OBJ_nid2sn`) for the attribute types seen in subject DNs.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.16" => "postalAddress",
        "2.5.4.17" => "postalCode",
        "2.5.4.18" => "postOfficeBox",
        "2.5.4.20" => "telephoneNumber",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.45" => "x500UniqueIdentifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.72" => "role",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "1.2.840.113549.1.9.8" => "unstructuredAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// One attribute value, as OpenSSL's `do_print_ex` with `ASN1_STRFLGS_RFC2253`.
fn format_value(value: Tlv<'_>, dump: bool) -> String {
    let chars: Option<Vec<u32>> = if dump {
        None
    } else {
        match value.tag {
            0x0c => std::str::from_utf8(value.value)
                .ok()
                .map(|s| s.chars().map(u32::from).collect()),
            // NumericString, PrintableString, T61String, IA5String, VisibleString: one byte
            // per character (OpenSSL treats T61 as Latin-1).
            0x12 | 0x13 | 0x14 | 0x16 | 0x1a => {
                Some(value.value.iter().map(|b| u32::from(*b)).collect())
            }
            0x1e if value.value.len() % 2 == 0 => Some(
                value
                    .value
                    .chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect(),
            ),
            0x1c if value.value.len() % 4 == 0 => Some(
                value
                    .value
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            _ => None,
        }
    };
    let Some(chars) = chars else {
        // #hex of the whole DER encoding.
        let mut out = String::from("#");
        for b in value.raw {
            out.push_str(&format!("{b:02X}"));
        }
        return out;
    };
    let mut out = String::new();
    let last = chars.len().saturating_sub(1);
    for (i, c) in chars.iter().enumerate() {
        let c = *c;
        if c > 0x7f {
            // UTF-8 encode, every byte escaped as \XX (ESC_MSB).
            let mut buf = [0u8; 4];
            let encoded = char::from_u32(c)
                .map(|ch| ch.encode_utf8(&mut buf).as_bytes().to_vec())
                .unwrap_or_else(|| c.to_be_bytes().to_vec());
            for b in encoded {
                out.push_str(&format!("\\{b:02X}"));
            }
            continue;
        }
        let ch = c as u8;
        let special = matches!(ch, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
            || (i == 0 && (ch == b'#' || ch == b' '))
            || (i == last && ch == b' ');
        if special {
            out.push('\\');
            out.push(char::from(ch));
        } else if ch < 0x20 || ch == 0x7f {
            out.push_str(&format!("\\{ch:02X}"));
        } else {
            out.push(char::from(ch));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut inner = Vec::new();
        tlv::encode(tlv::OID, oid, &mut inner);
        tlv::encode(tag, value, &mut inner);
        let mut out = Vec::new();
        tlv::encode(tlv::SEQUENCE, &inner, &mut out);
        out
    }

    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut seq = Vec::new();
        for rdn in rdns {
            let set: Vec<u8> = rdn.concat();
            tlv::encode(0x31, &set, &mut seq);
        }
        let mut out = Vec::new();
        tlv::encode(tlv::SEQUENCE, &seq, &mut out);
        out
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn reversed_with_short_names() {
        let n = name(&[
            vec![atv(C, 0x13, b"US")],
            vec![atv(O, 0x0c, b"Acme")],
            vec![atv(OU, 0x0c, b"Apps")],
            vec![atv(CN, 0x0c, b"client")],
        ]);
        assert_eq!(rfc2253(&n).unwrap(), "CN=client,OU=Apps,O=Acme,C=US");
    }

    #[test]
    fn escapes_like_openssl() {
        let n = name(&[
            vec![atv(O, 0x0c, b"Acme, Inc.+<x>;\"\\")],
            vec![atv(CN, 0x0c, "# José ".as_bytes())],
            vec![atv(EMAIL, 0x16, b"a@b.c")],
        ]);
        assert_eq!(
            rfc2253(&n).unwrap(),
            "emailAddress=a@b.c,CN=\\# Jos\\C3\\A9\\ ,O=Acme\\, Inc.\\+\\<x\\>\\;\\\"\\\\"
        );
    }

    #[test]
    fn multi_valued_and_unknown() {
        let n = name(&[vec![
            atv(CN, 0x0c, b"a"),
            atv(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x01], 0x0c, b"hi"),
        ]]);
        assert_eq!(rfc2253(&n).unwrap(), "1.3.6.1.4.1.1=#0C026869+CN=a");
        let bmp = name(&[vec![atv(CN, 0x1e, &[0x00, 0x41, 0x00, 0xe9, 0x27, 0x13])]]);
        assert_eq!(rfc2253(&bmp).unwrap(), "CN=A\\C3\\A9\\E2\\9C\\93");
        // Checked against `openssl x509 -nameopt RFC2253` (OpenSSL 3.0).
        let spaces = name(&[
            vec![atv(O, 0x13, b"T")],
            vec![atv(CN, 0x0c, b" lead trail ")],
        ]);
        assert_eq!(rfc2253(&spaces).unwrap(), "CN=\\ lead trail\\ ,O=T");
    }

    #[test]
    fn garbage_is_not_a_name() {
        assert!(rfc2253(&[0x30, 0x03, 0x31, 0x01]).is_none());
        assert!(CertInfo::parse(b"nope").is_err());
    }
}
