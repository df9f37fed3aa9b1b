//! What the crate needs to know about a certificate, whatever the backend: the subject DN in
//! the RFC 2253 form the server uses as the X.509 user name, the validity dates, and whether a
//! private key belongs to it. Parsing is `x509-cert`'s; only the DN formatting is ours.

use std::time::{Duration, SystemTime};

use const_oid::db::{rfc4519, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::name::RdnSequence;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

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
    /// The certificate's public key.
    pub spki: SubjectPublicKeyInfoOwned,
}

impl CertInfo {
    /// Parses a DER certificate.
    pub(crate) fn parse(der: &[u8]) -> Result<CertInfo, IdentityErrorKind> {
        let cert = Certificate::from_der(der).map_err(|e| IdentityErrorKind::Malformed {
            detail: format!("a certificate could not be parsed ({e})"),
        })?;
        let tbs = cert.tbs_certificate;
        let nb = tbs.validity.not_before.to_date_time();
        let na = tbs.validity.not_after.to_date_time();
        Ok(CertInfo {
            subject: rfc2253(&tbs.subject),
            not_before: format_time(&nb),
            not_after: format_time(&na),
            not_before_time: nb.to_system_time(),
            not_after_time: na.to_system_time(),
            spki: tbs.subject_public_key_info,
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

    /// When the certificate expires.
    pub(crate) fn not_after_time(&self) -> SystemTime {
        self.not_after_time
    }

    /// How long the certificate stays valid after `now` (zero once it has expired).
    pub(crate) fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after_time.duration_since(now).unwrap_or_default()
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

/// Whether the PKCS#8 private key belongs to the certificate: `Some(true)`/`Some(false)` when
/// that can be told from the key's stored public part, `None` when it cannot (e.g. an EC key
/// without its public point, or an algorithm this check does not know).
pub(crate) fn key_matches(cert: &CertInfo, key_pkcs8_der: &[u8]) -> Option<bool> {
    let key = pkcs8::PrivateKeyInfo::from_der(key_pkcs8_der).ok()?;
    let spki_oid = cert.spki.algorithm.oid;
    let key_oid = key.algorithm.oid;
    let spki_key = cert.spki.subject_public_key.as_bytes()?;
    let is_rsa =
        |oid: ObjectIdentifier| oid == rfc5912::RSA_ENCRYPTION || oid == rfc5912::ID_RSASSA_PSS;
    if is_rsa(spki_oid) && is_rsa(key_oid) {
        let private = pkcs1::RsaPrivateKey::from_der(key.private_key).ok()?;
        let public = pkcs1::RsaPublicKey::from_der(spki_key).ok()?;
        return Some(
            private.modulus.as_bytes() == public.modulus.as_bytes()
                && private.public_exponent.as_bytes() == public.public_exponent.as_bytes(),
        );
    }
    if spki_oid != key_oid {
        return Some(false);
    }
    if spki_oid == rfc5912::ID_EC_PUBLIC_KEY {
        let cert_curve = cert
            .spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let key_curve = key
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let ec = sec1::EcPrivateKey::from_der(key.private_key).ok()?;
        let inner_curve = ec.parameters.and_then(|p| p.named_curve());
        for curve in [key_curve, inner_curve].into_iter().flatten() {
            if cert_curve.is_some_and(|c| c != curve) {
                return Some(false); // different curves
            }
        }
        return ec.public_key.map(|point| point == spki_key);
    }
    // Other algorithms (Ed25519, …): a PKCS#8 v2 key may carry its public key.
    key.public_key.map(|public| public == spki_key)
}

/// Formats an X.500 name the way OpenSSL's `-nameopt RFC2253` does
/// (`ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV | XN_FLAG_FN_SN |
/// XN_FLAG_DUMP_UNKNOWN_FIELDS`): every attribute in reverse order, `,` between RDNs and `+`
/// inside a multi-valued RDN, OpenSSL's short names, unknown attribute types as dotted OIDs
/// with a `#`-hex dump of the value.
///
/// Written here because the server compares the user name byte for byte with OpenSSL's output,
/// and `x509-cert`'s `Display` follows RFC 4514 instead (other escapes, other names).
pub(crate) fn rfc2253(name: &RdnSequence) -> String {
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().rev().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match short_name(&atv.oid) {
                Some(sn) => {
                    out.push_str(sn);
                    out.push('=');
                    out.push_str(&format_value(&atv.value, false));
                }
                None => {
                    out.push_str(&atv.oid.to_string());
                    out.push('=');
                    out.push_str(&format_value(&atv.value, true));
                }
            }
        }
    }
    out
}

/// An attribute type the `der` crate has no constant for.
const fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(dotted)
}

/// OpenSSL's short names (`OBJ_nid2sn`) for the attribute types seen in subject DNs.
const SHORT_NAMES: &[(ObjectIdentifier, &str)] = &[
    (rfc4519::CN, "CN"),
    (rfc4519::SN, "SN"),
    (rfc4519::SERIAL_NUMBER, "serialNumber"),
    (rfc4519::C, "C"),
    (rfc4519::L, "L"),
    (rfc4519::ST, "ST"),
    (rfc4519::STREET, "street"),
    (rfc4519::O, "O"),
    (rfc4519::OU, "OU"),
    (rfc4519::TITLE, "title"),
    (rfc4519::DESCRIPTION, "description"),
    (rfc4519::BUSINESS_CATEGORY, "businessCategory"),
    (rfc4519::POSTAL_ADDRESS, "postalAddress"),
    (rfc4519::POSTAL_CODE, "postalCode"),
    (rfc4519::POST_OFFICE_BOX, "postOfficeBox"),
    (rfc4519::TELEPHONE_NUMBER, "telephoneNumber"),
    (oid("2.5.4.41"), "name"),
    (rfc4519::GIVEN_NAME, "GN"),
    (rfc4519::INITIALS, "initials"),
    (rfc4519::GENERATION_QUALIFIER, "generationQualifier"),
    (rfc4519::X_500_UNIQUE_IDENTIFIER, "x500UniqueIdentifier"),
    (rfc4519::DN_QUALIFIER, "dnQualifier"),
    (oid("2.5.4.65"), "pseudonym"),
    (oid("2.5.4.72"), "role"),
    (oid("2.5.4.97"), "organizationIdentifier"),
    (oid("1.2.840.113549.1.9.1"), "emailAddress"),
    (oid("1.2.840.113549.1.9.2"), "unstructuredName"),
    (oid("1.2.840.113549.1.9.8"), "unstructuredAddress"),
    (rfc4519::UID, "UID"),
    (rfc4519::DC, "DC"),
    (oid("1.3.6.1.4.1.311.60.2.1.1"), "jurisdictionL"),
    (oid("1.3.6.1.4.1.311.60.2.1.2"), "jurisdictionST"),
    (oid("1.3.6.1.4.1.311.60.2.1.3"), "jurisdictionC"),
];

fn short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    SHORT_NAMES
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, name)| *name)
}

/// One attribute value, as OpenSSL's `do_print_ex` with `ASN1_STRFLGS_RFC2253`.
fn format_value(value: &Any, dump: bool) -> String {
    let bytes = value.value();
    let chars: Option<Vec<u32>> = match value.tag() {
        _ if dump => None,
        Tag::Utf8String => std::str::from_utf8(bytes)
            .ok()
            .map(|s| s.chars().map(u32::from).collect()),
        // One byte per character (OpenSSL treats T61 as Latin-1).
        Tag::NumericString
        | Tag::PrintableString
        | Tag::TeletexString
        | Tag::Ia5String
        | Tag::VisibleString => Some(bytes.iter().map(|b| u32::from(*b)).collect()),
        Tag::BmpString if bytes.len().is_multiple_of(2) => Some(
            bytes
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
        ),
        _ => None,
    };
    let Some(chars) = chars else {
        // #hex of the whole DER encoding.
        let mut out = String::from("#");
        for b in value.to_der().unwrap_or_default() {
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
    use der::asn1::SetOfVec;
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::RelativeDistinguishedName;

    use super::*;

    fn atv(oid: ObjectIdentifier, tag: Tag, value: &[u8]) -> AttributeTypeAndValue {
        AttributeTypeAndValue {
            oid,
            value: Any::new(tag, value).unwrap(),
        }
    }

    fn name(rdns: Vec<Vec<AttributeTypeAndValue>>) -> RdnSequence {
        RdnSequence(
            rdns.into_iter()
                .map(|atvs| RelativeDistinguishedName(SetOfVec::try_from(atvs).unwrap()))
                .collect(),
        )
    }

    const EMAIL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");

    #[test]
    fn reversed_with_short_names() {
        let n = name(vec![
            vec![atv(rfc4519::C, Tag::PrintableString, b"US")],
            vec![atv(rfc4519::O, Tag::Utf8String, b"Acme")],
            vec![atv(rfc4519::OU, Tag::Utf8String, b"Apps")],
            vec![atv(rfc4519::CN, Tag::Utf8String, b"client")],
        ]);
        assert_eq!(rfc2253(&n), "CN=client,OU=Apps,O=Acme,C=US");
    }

    #[test]
    fn escapes_like_openssl() {
        let n = name(vec![
            vec![atv(rfc4519::O, Tag::Utf8String, b"Acme, Inc.+<x>;\"\\")],
            vec![atv(rfc4519::CN, Tag::Utf8String, "# José ".as_bytes())],
            vec![atv(EMAIL, Tag::Ia5String, b"a@b.c")],
        ]);
        assert_eq!(
            rfc2253(&n),
            "emailAddress=a@b.c,CN=\\# Jos\\C3\\A9\\ ,O=Acme\\, Inc.\\+\\<x\\>\\;\\\"\\\\"
        );
    }

    #[test]
    fn multi_valued_and_unknown() {
        let n = name(vec![vec![
            atv(rfc4519::CN, Tag::Utf8String, b"a"),
            atv(
                ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1"),
                Tag::Utf8String,
                b"hi",
            ),
        ]]);
        assert_eq!(rfc2253(&n), "1.3.6.1.4.1.1=#0C026869+CN=a");
        let bmp = name(vec![vec![atv(
            rfc4519::CN,
            Tag::BmpString,
            &[0x00, 0x41, 0x00, 0xe9, 0x27, 0x13],
        )]]);
        assert_eq!(rfc2253(&bmp), "CN=A\\C3\\A9\\E2\\9C\\93");
        // Checked against `openssl x509 -nameopt RFC2253` (OpenSSL 3.0).
        let spaces = name(vec![
            vec![atv(rfc4519::O, Tag::PrintableString, b"T")],
            vec![atv(rfc4519::CN, Tag::Utf8String, b" lead trail ")],
        ]);
        assert_eq!(rfc2253(&spaces), "CN=\\ lead trail\\ ,O=T");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(CertInfo::parse(b"nope").is_err());
        assert!(CertInfo::parse(&[0x30, 0x03, 0x31, 0x01, 0x00]).is_err());
    }
}
