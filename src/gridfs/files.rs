//! [`FilesCollectionDocument`]: a stored file's document in `<bucket>.files`.

use bson::{Bson, DateTime, Document};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::operation::bson_u64;

/// A stored file: its document in the bucket's files collection.
///
/// Written as the GridFS specification says (`length` an Int64, `chunkSize` an Int32, no
/// `md5`); read from whatever an older driver or the shell wrote (any numeric type, extra
/// fields ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FilesCollectionDocument {
    /// The file's id (an ObjectId unless the application chose another).
    #[serde(rename = "_id")]
    pub id: Bson,
    /// Its length in bytes.
    #[serde(serialize_with = "as_i64", deserialize_with = "any_number")]
    pub length: u64,
    /// The size of its chunks in bytes (all but the last are this long).
    #[serde(
        rename = "chunkSize",
        serialize_with = "as_i32",
        deserialize_with = "any_number_u32"
    )]
    pub chunk_size_bytes: u32,
    /// When its upload finished.
    pub upload_date: DateTime,
    /// Its name (several files may share one: revisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The application's data about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Document>,
}

fn as_i64<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(i64::try_from(*n).map_err(serde::ser::Error::custom)?)
}

fn as_i32<S: Serializer>(n: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i32(i32::try_from(*n).map_err(serde::ser::Error::custom)?)
}

/// A non-negative integer stored as any BSON number (the shell writes doubles).
fn any_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let b = Bson::deserialize(d)?;
    bson_u64(&b)
        .ok_or_else(|| serde::de::Error::custom(format!("{b} is not a non-negative integer")))
}

fn any_number_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = any_number(d)?;
    u32::try_from(n).map_err(|_| serde::de::Error::custom(format!("chunk size {n} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn numbers_of_any_type_are_read_and_written_as_the_specification_says() {
        let d = doc! {
            "_id": 1, "length": 10.0, "chunkSize": 4_i64,
            "uploadDate": DateTime::from_millis(0), "md5": "legacy", "contentType": "x",
        };
        let f: FilesCollectionDocument = bson::from_document(d).unwrap();
        assert_eq!((f.length, f.chunk_size_bytes), (10, 4));
        assert_eq!(f.filename, None, "a legacy file without a name");
        let back = bson::to_document(&f).unwrap();
        assert_eq!(
            back,
            doc! { "_id": 1, "length": 10_i64, "chunkSize": 4, "uploadDate": DateTime::from_millis(0) }
        );
        for bad in [
            doc! { "length": -1 },
            doc! { "length": 1.5 },
            doc! { "length": "1" },
        ] {
            let mut d = doc! { "_id": 1, "chunkSize": 4, "uploadDate": DateTime::from_millis(0) };
            d.extend(bad);
            assert!(bson::from_document::<FilesCollectionDocument>(d).is_err());
        }
    }
}
