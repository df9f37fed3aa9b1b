//! Turning a document of a batch into the cursor's type.
//!
//! A [`Document`] is built by the bson crate's own converter (`TryFrom<&RawDocument>`), which
//! walks the bytes without serde's visitor: about 12 % fewer instructions than serde on a
//! 900-byte order document, half on a 40-byte one (`benches/decode.rs`). Every other type goes
//! through serde, straight from the bytes. The choice is a type check (`Any`), so it needs
//! `T: 'static`; the callers without that bound use serde.

use std::any::Any;

use bson::{Document, RawDocument};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

/// `doc` as a `T`: the bson converter for [`Document`], serde for anything else.
pub(crate) fn decode<T: DeserializeOwned + 'static>(doc: &RawDocument) -> Result<T> {
    let mut out: Option<T> = None;
    // `Some` only when `T` is `Document`.
    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<Document>>() {
        let doc = Document::try_from(doc).map_err(|e| {
            Error::new(ErrorKind::BsonDeserialization {
                message: e.to_string(),
            })
        })?;
        *slot = Some(doc);
    }
    match out {
        Some(t) => Ok(t),
        None => decode_serde(doc),
    }
}

/// `doc` as a `T` through serde (any `T`, `'static` or not).
pub(crate) fn decode_serde<T: DeserializeOwned>(doc: &RawDocument) -> Result<T> {
    bson::from_slice(doc.as_bytes()).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId, DateTime, RawDocumentBuf};
    use serde::Deserialize;

    fn raw(d: &Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(d).unwrap()
    }

    #[test]
    fn documents_and_other_types_decode_alike() {
        let d = doc! {
            "_id": ObjectId::new(),
            "name": "widget",
            "qty": 3,
            "price": 9.5,
            "at": DateTime::from_millis(1_700_000_000_000),
            "tags": ["a", "b"],
            "dims": { "w": 1_i64, "h": 2.5 },
        };
        let bytes = raw(&d);
        let fast: Document = decode(&bytes).unwrap();
        assert_eq!(fast, d);
        assert_eq!(decode_serde::<Document>(&bytes).unwrap(), d);

        #[derive(Debug, Deserialize, PartialEq)]
        struct Item {
            name: String,
            qty: i32,
        }
        let item: Item = decode(&bytes).unwrap();
        assert_eq!(
            item,
            Item {
                name: "widget".into(),
                qty: 3
            }
        );
        let raw_back: RawDocumentBuf = decode(&bytes).unwrap();
        assert_eq!(raw_back, bytes);
    }

    #[test]
    fn a_malformed_document_is_the_same_error_kind_either_way() {
        // `{s: "<invalid UTF-8>"}`: framed correctly (as the reply scan checks), bad inside.
        let mut bytes = raw(&doc! { "s": "ab" }).into_bytes();
        let at = bytes.len() - 3;
        bytes[at] = 0xff;
        let bad = RawDocument::from_bytes(&bytes).unwrap();
        // And a document whose element claims more bytes than there are.
        let mut truncated = raw(&doc! { "s": "abc" }).into_bytes();
        truncated[7] = 100;
        let truncated = RawDocument::from_bytes(&truncated).unwrap();
        for d in [bad, truncated] {
            let fast = decode::<Document>(d).unwrap_err();
            let serde = decode_serde::<Document>(d).unwrap_err();
            for e in [&fast, &serde] {
                assert!(
                    matches!(&*e.kind, ErrorKind::BsonDeserialization { .. }),
                    "{e:?}"
                );
            }
        }
    }
}
