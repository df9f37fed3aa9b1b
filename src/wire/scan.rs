//! A structural walk over BSON bytes: every element's type is known and every length fits its
//! container, documents end where they say, nesting stays under a limit. Nothing is decoded.
//!
//! Written by hand because no crate offers it: the bson crate checks structure only while it
//! iterates, building each value and validating every key and string as UTF-8, which for a
//! cursor batch cost about as much as deserializing it. The walk exists for the nesting limit
//! (the bson deserializer recurses, so a deep reply would overflow the stack); values are
//! validated by the decoder that later reads them.

use std::ops::Range;

/// Why bytes are not a well-formed document.
pub(crate) type ScanError = String;

/// Checks that `bytes` is exactly one BSON document nested at most `max_depth` levels.
pub(crate) fn check_document(bytes: &[u8], max_depth: usize) -> Result<(), ScanError> {
    let len = doc_len(bytes, 0, bytes.len())?;
    if len != bytes.len() {
        return Err(format!(
            "document length {len} but {} bytes given",
            bytes.len()
        ));
    }
    // Open documents: where each one's terminating NUL is, and where an enclosing
    // code-with-scope value must then end.
    let mut stack: Vec<(usize, Option<usize>)> = vec![(len - 1, None)];
    let mut pos = 4;
    while let Some(&(end, then)) = stack.last() {
        if pos == end {
            if bytes[pos] != 0 {
                return Err("document does not end with NUL".into());
            }
            pos += 1;
            stack.pop();
            if then.is_some_and(|t| t != pos) {
                return Err("code with scope length does not match its parts".into());
            }
            continue;
        }
        let kind = bytes[pos];
        pos += 1;
        pos = skip_cstring(bytes, pos, end)?;
        pos = match kind {
            0x01 | 0x09 | 0x11 | 0x12 => fixed(pos, 8, end)?,
            0x10 => fixed(pos, 4, end)?,
            0x08 => fixed(pos, 1, end)?,
            0x06 | 0x0A | 0x7F | 0xFF => pos,
            0x07 => fixed(pos, 12, end)?,
            0x13 => fixed(pos, 16, end)?,
            0x02 | 0x0D | 0x0E => skip_string(bytes, pos, end)?,
            0x05 => {
                let n = read_len(bytes, pos, end)?;
                fixed(pos, n.saturating_add(5), end)?
            }
            0x0B => {
                let p = skip_cstring(bytes, pos, end)?;
                skip_cstring(bytes, p, end)?
            }
            0x0C => {
                let p = skip_string(bytes, pos, end)?;
                fixed(p, 12, end)?
            }
            0x03 | 0x04 => {
                let n = doc_len(bytes, pos, end)?;
                push(&mut stack, pos + n - 1, None, max_depth)?;
                pos + 4
            }
            0x0F => {
                let total = read_len(bytes, pos, end)?;
                let scope_end = fixed(pos, total, end)?;
                let code_end = skip_string(bytes, pos + 4, scope_end)?;
                let n = doc_len(bytes, code_end, scope_end)?;
                push(&mut stack, code_end + n - 1, Some(scope_end), max_depth)?;
                code_end + 4
            }
            other => return Err(format!("unknown element type {other:#04x}")),
        };
    }
    Ok(())
}

/// Where each element of an array (already checked) is, when every element is a document;
/// `None` when one is not.
pub(crate) fn array_documents(array: &[u8]) -> Option<Vec<Range<usize>>> {
    let end = array.len().checked_sub(1)?;
    let mut pos = 4;
    let mut out = Vec::new();
    while pos < end {
        if array[pos] != 0x03 {
            return None;
        }
        pos = skip_cstring(array, pos + 1, end).ok()?;
        let n = doc_len(array, pos, end).ok()?;
        out.push(pos..pos + n);
        pos += n;
    }
    Some(out)
}

/// `pos + n`, when it stays within `end`.
fn fixed(pos: usize, n: usize, end: usize) -> Result<usize, ScanError> {
    pos.checked_add(n)
        .filter(|e| *e <= end)
        .ok_or_else(|| "an element runs past its document".to_owned())
}

fn push(
    stack: &mut Vec<(usize, Option<usize>)>,
    end: usize,
    then: Option<usize>,
    max_depth: usize,
) -> Result<(), ScanError> {
    if stack.len() >= max_depth {
        return Err(format!("nested deeper than {max_depth} levels"));
    }
    stack.push((end, then));
    Ok(())
}

/// A document's length field at `pos`: at least 5, the document ending by `end`.
fn doc_len(bytes: &[u8], pos: usize, end: usize) -> Result<usize, ScanError> {
    let n = read_len(bytes, pos, end)?;
    if n < 5 || pos.checked_add(n).is_none_or(|e| e > end) {
        return Err(format!("document length {n} does not fit"));
    }
    Ok(n)
}

/// A non-negative i32 length at `pos`, with its 4 bytes before `end`.
fn read_len(bytes: &[u8], pos: usize, end: usize) -> Result<usize, ScanError> {
    let b = bytes
        .get(
            pos..pos
                .checked_add(4)
                .filter(|e| *e <= end)
                .ok_or("length field truncated")?,
        )
        .ok_or("length field truncated")?;
    usize::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .map_err(|_| "negative length".into())
}

/// Past a NUL-terminated key before `end`.
fn skip_cstring(bytes: &[u8], pos: usize, end: usize) -> Result<usize, ScanError> {
    let rest = bytes.get(pos..end).ok_or("truncated")?;
    let nul = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or("key or C string not terminated")?;
    Ok(pos + nul + 1)
}

/// Past a length-prefixed, NUL-terminated string before `end`.
fn skip_string(bytes: &[u8], pos: usize, end: usize) -> Result<usize, ScanError> {
    let n = read_len(bytes, pos, end)?;
    let stop = (pos + 4)
        .checked_add(n)
        .filter(|e| n >= 1 && *e <= end)
        .ok_or("string length does not fit")?;
    if bytes[stop - 1] != 0 {
        return Err("string does not end with NUL".into());
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::spec::BinarySubtype;
    use bson::{doc, Binary, Bson, Decimal128, Document, JavaScriptCodeWithScope, Regex};

    fn bytes(d: &Document) -> Vec<u8> {
        bson::to_vec(d).unwrap()
    }

    /// A document with every element type the bson crate writes.
    fn every_type() -> Document {
        doc! {
            "double": 1.5, "string": "héllo", "doc": { "a": [1, { "b": null }] }, "array": [],
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "undefined": Bson::Undefined, "oid": bson::oid::ObjectId::new(), "bool": true,
            "date": bson::DateTime::from_millis(5), "null": Bson::Null,
            "regex": Regex { pattern: "a.*".into(), options: "i".into() },
            "code": Bson::JavaScriptCode("f()".into()),
            "scope": JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "x": { "y": 1 } } },
            "symbol": Bson::Symbol("s".into()), "int": 3, "ts": bson::Timestamp { time: 1, increment: 2 },
            "long": 4_i64, "dec": Decimal128::from_bytes([0; 16]), "max": Bson::MaxKey, "min": Bson::MinKey,
        }
    }

    #[test]
    fn every_element_type_is_walked() {
        check_document(&bytes(&every_type()), 200).unwrap();
        check_document(&bytes(&doc! {}), 1).unwrap();
    }

    #[test]
    fn nesting_is_limited_including_inside_code_with_scope() {
        let mut d = doc! { "leaf": 1 };
        for _ in 0..9 {
            d = doc! { "a": [d] };
        }
        // 1 + 9 * 2 = 19 levels.
        check_document(&bytes(&d), 19).unwrap();
        assert!(check_document(&bytes(&d), 18)
            .unwrap_err()
            .contains("deeper"));
        let scoped = doc! { "f": JavaScriptCodeWithScope { code: "c".into(), scope: doc! { "s": { "t": 1 } } } };
        check_document(&bytes(&scoped), 3).unwrap();
        assert!(check_document(&bytes(&scoped), 2).is_err());
    }

    #[test]
    fn whatever_the_bson_crate_accepts_the_scan_accepts_and_nothing_panics() {
        // Mutations of a valid document: the scan is never stricter than the bson crate's own
        // iteration (it checks structure only), and never panics.
        let valid = bytes(&every_type());
        let mut rng = crate::xorshift::XorShift64::new(7);
        let mut accepted = 0;
        for _ in 0..30_000 {
            let mut m = valid.clone();
            for _ in 0..=rng.below(3) {
                let i = rng.below(m.len());
                m[i] = rng.below(256) as u8;
            }
            let ours = check_document(&m, 200);
            if crate::wire::check_depth(&m).is_ok() {
                accepted += 1;
                assert!(ours.is_ok(), "scan refused what bson accepts: {ours:?}");
            }
        }
        assert!(
            accepted > 100,
            "the corpus exercised too few valid documents"
        );
        for len in 0..40 {
            let m: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let _ = check_document(&m, 200);
            let _ = array_documents(&m);
        }
    }

    #[test]
    fn structural_damage_is_refused() {
        let good = bytes(&doc! { "a": "xyz", "b": { "c": 1 } });
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 1].to_vec(), "length"),
            (
                {
                    let mut m = good.clone();
                    *m.last_mut().unwrap() = 1;
                    m
                },
                "NUL",
            ),
            (
                {
                    let mut m = good.clone();
                    m[4] = 0x42;
                    m
                },
                "unknown element type",
            ),
            // The string's length runs past the document.
            (
                {
                    let mut m = good.clone();
                    m[7] = 0x7F;
                    m
                },
                "does not fit",
            ),
        ];
        for (m, needle) in cases {
            let err = check_document(&m, 200).unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn array_documents_finds_each_document_or_refuses() {
        let arr = bytes(&doc! { "0": { "a": 1 }, "1": { "b": "two" } });
        let ranges = array_documents(&arr).unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            Document::from_reader(&arr[ranges[1].clone()]).unwrap(),
            doc! { "b": "two" }
        );
        assert!(array_documents(&bytes(&doc! { "0": { "a": 1 }, "1": 5 })).is_none());
        assert_eq!(
            array_documents(&bytes(&doc! {})).unwrap(),
            Vec::<Range<usize>>::new()
        );
    }
}
