//! Percent-decoding (RFC 3986 section 2.1) as the Connection String spec uses it: `%XX` only;
//! `+` stays a plus sign, because passwords and DNs may contain it.

use zeroize::{Zeroize, Zeroizing};

/// Why a percent-encoded text could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl DecodeError {
    /// Words for an error message (never the text itself, which may be a secret).
    pub(super) fn describe(self) -> &'static str {
        match self {
            DecodeError::BadEscape => {
                "it contains a '%' that is not followed by two hex digits; write a literal '%' as %25"
            }
            DecodeError::NotUtf8 => "once percent-decoded it is not valid UTF-8",
        }
    }
}

/// Decodes `%XX` escapes to bytes. Any byte sequence is allowed (for key passwords). The
/// buffer is wiped when dropped, on the error path too: the text may be a password.
pub(super) fn decode_bytes(s: &str) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let bytes = s.as_bytes();
    // Never grows past the input's length: no reallocation leaves a copy behind.
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| hex(*b));
                let lo = bytes.get(i + 2).and_then(|b| hex(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError::BadEscape),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Decodes `%XX` escapes; the result must be UTF-8. Bytes that are not are wiped.
pub(super) fn decode(s: &str) -> Result<String, DecodeError> {
    let mut bytes = decode_bytes(s)?;
    String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        e.into_bytes().zeroize();
        DecodeError::NotUtf8
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_plus() {
        assert_eq!(
            decode("s3cr3t%20p%40ss%2Fw%C3%B6rd").unwrap(),
            "s3cr3t p@ss/wörd"
        );
        assert_eq!(decode("a+b").unwrap(), "a+b");
        assert_eq!(decode("%2f%2F").unwrap(), "//");
    }

    #[test]
    fn refuses_bad_escapes() {
        for s in ["%", "%4", "%zz", "a%g1", "100%"] {
            assert_eq!(decode(s), Err(DecodeError::BadEscape), "{s}");
        }
        assert_eq!(decode("%FF"), Err(DecodeError::NotUtf8));
        assert_eq!(*decode_bytes("%FF").unwrap(), vec![0xFF]);
    }
}
