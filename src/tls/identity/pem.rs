//! PEM blocks with their RFC 1421 headers, decoded with constant-time base64 (`base64ct`).
//!
//! The block splitter is written here because no crate does the job: `pem-rfc7468` (what
//! `der` uses) refuses the `Proc-Type`/`DEK-Info` headers of OpenSSL's legacy encrypted keys
//! and the text (`Bag Attributes`, comments) that real identity files have between blocks.

use std::fmt;

use base64ct::{Base64, Base64Unpadded, Encoding};
use der::asn1::AnyRef;
use der::Decode;
use zeroize::Zeroizing;

use crate::error::IdentityErrorKind;

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

    /// True for a certificate block. An encrypted one (`Proc-Type: 4,ENCRYPTED`, which no
    /// tool makes) holds ciphertext, not a certificate: it is not one.
    pub(crate) fn is_certificate(&self) -> bool {
        matches!(self.label.as_str(), "CERTIFICATE" | "X509 CERTIFICATE")
            && !self.is_legacy_encrypted()
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

/// `"PEM blocks: A, B"`, or `"no PEM blocks"`.
pub(crate) fn describe_blocks(blocks: &[PemBlock]) -> String {
    if blocks.is_empty() {
        return "no PEM blocks".to_owned();
    }
    let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    format!("PEM blocks: {}", labels.join(", "))
}

/// Parses every PEM block in `bytes`, in order. Text outside blocks is ignored.
///
/// Linear in the input: each block's body buffer is sized from that block's own lines (a
/// buffer the size of the whole file per block made 20,000 blocks take seconds).
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<PemBlock>, IdentityErrorKind> {
    let lines: Vec<&str> = lines(bytes).collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let label = label.trim().to_owned();
        let end_line = format!("-----END {label}-----");
        let start = i;
        let Some(len) = lines[start..].iter().position(|l| *l == end_line) else {
            return Err(unclosed(&label, &end_line, &lines[start..]));
        };
        i = start + len + 1;
        let (headers, body) = split_headers(&label, &end_line, &lines[start..start + len])?;
        let der = decode_base64(&body).ok_or_else(|| IdentityErrorKind::Malformed {
            detail: format!("the PEM block {label} has invalid base64"),
        })?;
        let block = PemBlock {
            label,
            headers,
            der,
        };
        // A legacy encrypted block holds ciphertext, not DER.
        if block.der.is_empty()
            || (!block.is_legacy_encrypted() && AnyRef::from_der(&block.der).is_err())
        {
            return Err(IdentityErrorKind::Malformed {
                detail: format!(
                    "the PEM block {} does not hold one complete DER value",
                    block.label
                ),
            });
        }
        blocks.push(block);
    }
    if blocks.is_empty() {
        return Err(IdentityErrorKind::Malformed {
            detail: "a -----BEGIN line was found but no complete PEM block".to_owned(),
        });
    }
    Ok(blocks)
}

/// The lines of `bytes` as `str::lines` splits them, trimmed, read in place: the file is never
/// copied (a copy would hold the key). PEM is ASCII: a line that is not UTF-8 is text between
/// blocks, ignored, or invalid base64 inside a block, reported; either way it is read as
/// U+FFFD, which no PEM line contains.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &str> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.split(|b| *b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line).map_or("\u{FFFD}", str::trim)
    })
}

/// The error for a block without its END line: another block starts first, or the file ends.
fn unclosed(label: &str, end_line: &str, rest: &[&str]) -> IdentityErrorKind {
    let other = rest
        .iter()
        .any(|l| l.starts_with("-----BEGIN ") || l.starts_with("-----END "));
    IdentityErrorKind::Malformed {
        detail: if other {
            format!("the PEM block {label} is not closed by {end_line}")
        } else {
            format!("the PEM block {label} is truncated (no {end_line} line)")
        },
    }
}

type Headers = Vec<(String, String)>;

/// A block's RFC 1421 headers and its base64 body (zeroized: it may hold a key), sized once
/// from the block's own lines.
fn split_headers(
    label: &str,
    end_line: &str,
    lines: &[&str],
) -> Result<(Headers, Zeroizing<String>), IdentityErrorKind> {
    let mut headers = Vec::new();
    // Sized up front: a growing buffer would leave copies of the key behind.
    let mut body = Zeroizing::new(String::with_capacity(lines.iter().map(|l| l.len()).sum()));
    #[cfg(test)]
    tests::RESERVED.with(|r| r.set(r.get() + body.capacity()));
    let mut in_headers = true;
    for line in lines {
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
    Ok((headers, body))
}

/// Standard base64, padded or not, in constant time.
fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; text.len() / 4 * 3 + 3]);
    let len = match Base64::decode(text, &mut out) {
        Ok(decoded) => decoded.len(),
        Err(_) => Base64Unpadded::decode(text, &mut out).ok()?.len(),
    };
    out.truncate(len);
    Some(out)
}

/// PEM-encodes `der` under `label`, 64 columns (the result may hold a key: it is zeroized).
pub(crate) fn encode(label: &str, der: &[u8], out: &mut Zeroizing<String>) {
    let mut b64 = Zeroizing::new(vec![0u8; Base64::encoded_len(der)]);
    let Ok(text) = Base64::encode(der, &mut b64) else {
        return; // the buffer has the exact encoded length: cannot happen
    };
    // Reserve first: growing the string later would leave copies of the key behind.
    out.reserve(text.len() + text.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = text;
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
}

/// The block as PEM text again, headers included (zeroized: it may hold a key).
#[cfg_attr(not(feature = "openssl"), allow(dead_code))]
pub(crate) fn to_pem(block: &PemBlock) -> Zeroizing<String> {
    let mut head = Zeroizing::new(String::new());
    for (name, value) in &block.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push('\n');
    }
    let mut body = Zeroizing::new(String::new());
    encode(&block.label, &block.der, &mut body);
    if head.is_empty() {
        return body;
    }
    // Headers go right after the BEGIN line, then a blank line.
    let mut out = Zeroizing::new(String::with_capacity(body.len() + head.len() + 1));
    match body.split_once('\n') {
        Some((begin, rest)) => {
            out.push_str(begin);
            out.push('\n');
            out.push_str(&head);
            out.push('\n');
            out.push_str(rest);
        }
        None => out.push_str(&body),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ_B64: &str = "MAMCAQE="; // SEQUENCE { INTEGER 1 }

    #[test]
    fn base64() {
        assert_eq!(&**decode_base64("TWFu").unwrap(), b"Man");
        assert_eq!(&**decode_base64("TWE=").unwrap(), b"Ma");
        assert_eq!(&**decode_base64("TQ").unwrap(), b"M");
        assert!(decode_base64("TQ=a").is_none());
        assert!(decode_base64("T!==").is_none());
        assert!(decode_base64("TWFuT").is_none());
    }

    #[test]
    fn round_trip() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 100] {
            let der: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let mut pem = Zeroizing::new(String::new());
            encode("X", &der, &mut pem);
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(pem.lines().all(|l| l.len() <= 64));
            assert_eq!(&**decode_base64(&body).unwrap(), &der[..]);
        }
    }

    #[test]
    fn headers_and_text_around() {
        let pem = format!(
            "Bag Attributes\n  friendlyName: x\n-----BEGIN RSA PRIVATE KEY-----\n\
             Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n\
             {SEQ_B64}\n-----END RSA PRIVATE KEY-----\ntrailing\r\n-----BEGIN CERTIFICATE-----\r\n\
             {SEQ_B64}\r\n-----END CERTIFICATE-----\r\n"
        );
        let blocks = parse(pem.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "RSA PRIVATE KEY");
        assert!(blocks[0].is_legacy_encrypted());
        assert_eq!(
            blocks[0].header("dek-info"),
            Some("AES-256-CBC,00112233445566778899AABBCCDDEEFF")
        );
        assert_eq!(&**blocks[1].der, &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(blocks[1].is_certificate());
    }

    /// `count` small certificate-like blocks with text between them.
    fn many_blocks(count: usize) -> String {
        let block = format!(
            "subject=x\n-----BEGIN CERTIFICATE-----\n{SEQ_B64}\n-----END CERTIFICATE-----\n"
        );
        block.repeat(count)
    }

    thread_local! {
        /// Bytes reserved for block bodies on this thread (counted by `split_headers`).
        pub(super) static RESERVED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Parsing is linear: the memory reserved for the bodies of 20,000 blocks (1.4 MB) is at
    /// most the file's size, four times that of 5,000 blocks. Sizing each body from the rest of
    /// the file (the bug this guards against) reserved the file's size per block: quadratic,
    /// seconds of work for such a file. Counted, not timed, so the machine's load cannot fail it.
    #[test]
    fn parsing_is_linear_in_the_number_of_blocks() {
        let reserved = |count: usize| {
            let text = many_blocks(count);
            RESERVED.with(|r| r.set(0));
            let blocks = parse(text.as_bytes()).unwrap();
            assert_eq!(blocks.len(), count);
            let reserved = RESERVED.with(|r| r.get());
            assert!(
                reserved <= text.len(),
                "{count} blocks: {reserved} bytes reserved for a {}-byte file",
                text.len()
            );
            reserved
        };
        assert_eq!(reserved(20_000), 4 * reserved(5_000));
    }

    #[test]
    fn lines_are_split_as_str_lines_does() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb",
            "a\n\nb\n",
            " a \r\n\r\n",
            "a\rb\n",
        ] {
            let want: Vec<&str> = text.lines().map(str::trim).collect();
            let got: Vec<&str> = lines(text.as_bytes()).filter(|l| !l.is_empty()).collect();
            let want: Vec<&str> = want.into_iter().filter(|l| !l.is_empty()).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// A byte that is not UTF-8 between blocks is ignored; inside a block it is invalid base64.
    #[test]
    fn non_utf8_bytes() {
        let block = format!("-----BEGIN CERTIFICATE-----\n{SEQ_B64}\n-----END CERTIFICATE-----\n");
        let mut outside = b"Bag Attributes \xff\xfe\n".to_vec();
        outside.extend_from_slice(block.as_bytes());
        outside.extend_from_slice(b"trailing \xc3\n");
        assert_eq!(parse(&outside).unwrap().len(), 1);
        let inside = block.replace(SEQ_B64, "MAMC\u{0}AQE=").into_bytes();
        let inside: Vec<u8> = inside
            .into_iter()
            .map(|b| if b == 0 { 0xff } else { b })
            .collect();
        assert!(matches!(
            parse(&inside),
            Err(IdentityErrorKind::Malformed { .. })
        ));
    }

    #[test]
    fn unclosed_before_another_block_is_malformed() {
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{SEQ_B64}\n-----BEGIN CERTIFICATE-----\n{SEQ_B64}\n\
             -----END CERTIFICATE-----\n"
        );
        match parse(pem.as_bytes()) {
            Err(IdentityErrorKind::Malformed { detail }) => {
                assert!(detail.contains("not closed"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_and_bad_base64_are_malformed() {
        for bad in [
            format!("-----BEGIN PRIVATE KEY-----\n{SEQ_B64}\n"),
            "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n".to_owned(),
            "-----BEGIN PRIVATE KEY-----\nMAMCAQ==\n-----END PRIVATE KEY-----\n".to_owned(),
        ] {
            assert!(
                matches!(
                    parse(bad.as_bytes()),
                    Err(IdentityErrorKind::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }
}
