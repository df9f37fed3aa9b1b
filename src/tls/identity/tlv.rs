//! A minimal, lenient DER TLV walker for sniffing structures (PKCS#12, keys) without decoding
//! them fully. It never panics: every accessor returns `None` on malformed input.

/// One TLV: its (single-byte) tag, its content, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OID: u8 = 0x06;

/// Reads one TLV from the front of `input`; returns it and the rest.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags do not occur in the structures we sniff
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2usize)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None; // indefinite or absurd length
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = len.checked_mul(256)?.checked_add(usize::from(*b))?;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let raw = input.get(..end)?;
    let value = input.get(header..end)?;
    Some((Tlv { tag, value, raw }, input.get(end..)?))
}

/// Reads exactly one TLV that fills `input`.
pub(crate) fn read_exact(input: &[u8]) -> Option<Tlv<'_>> {
    match read(input)? {
        (tlv, []) => Some(tlv),
        _ => None,
    }
}

/// The TLVs inside a constructed value, all of them, or `None` if any is malformed.
pub(crate) fn children(value: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (tlv, next) = read(rest)?;
        out.push(tlv);
        rest = next;
    }
    Some(out)
}

/// The children of `tlv` if it has tag `tag`.
pub(crate) fn children_of(tlv: Tlv<'_>, tag: u8) -> Option<Vec<Tlv<'_>>> {
    if tlv.tag != tag {
        return None;
    }
    children(tlv.value)
}

/// An INTEGER's magnitude without leading zero bytes (for comparing key components).
pub(crate) fn unsigned_int(tlv: Tlv<'_>) -> Option<&[u8]> {
    if tlv.tag != INTEGER || tlv.value.is_empty() {
        return None;
    }
    let mut v = tlv.value;
    while v.len() > 1 && v.first() == Some(&0) {
        v = v.get(1..)?;
    }
    Some(v)
}

/// A small INTEGER's value.
pub(crate) fn small_int(tlv: Tlv<'_>) -> Option<u64> {
    if tlv.tag != INTEGER || tlv.value.is_empty() || tlv.value.len() > 8 {
        return None;
    }
    if tlv.value.first()? & 0x80 != 0 {
        return None; // negative
    }
    Some(
        tlv.value
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    )
}

/// Encodes a TLV (used to build PKCS#8 wrappers).
pub(crate) fn encode(tag: u8, value: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat(7u8).take(0x80));
        let (tlv, rest) = read(&long).unwrap();
        assert_eq!(tlv.value.len(), 0x80);
        assert!(rest.is_empty());
        let mut enc = Vec::new();
        encode(0x04, tlv.value, &mut enc);
        assert_eq!(enc, long);
        assert!(read(&[0x30, 0x05, 0x01]).is_none());
        assert!(read(&[0x30, 0x80]).is_none());
        assert!(read(&[]).is_none());
    }

    #[test]
    fn integers() {
        let (t, _) = read(&[0x02, 0x03, 0x00, 0x80, 0x01]).unwrap();
        assert_eq!(unsigned_int(t).unwrap(), &[0x80, 0x01]);
        assert_eq!(small_int(t), Some(0x8001));
        let (neg, _) = read(&[0x02, 0x01, 0xff]).unwrap();
        assert_eq!(small_int(neg), None);
    }
}
