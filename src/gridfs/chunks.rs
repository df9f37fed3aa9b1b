//! Chunk arithmetic and the checks of a download, as pure functions: how a file's bytes split
//! into chunks, what each chunk of a stored file must be, and what a damaged file is.

use std::ops::Range;

use bson::oid::ObjectId;
use bson::raw::{RawBinaryRef, RawBsonRef};
use bson::spec::BinarySubtype;
use bson::{RawBson, RawDocument, RawDocumentBuf};

use crate::error::{Error, ErrorKind, GridFsErrorKind, Result};
use crate::operation::raw_u64;

/// The default chunk size: 255 KiB (so a chunk document stays under 256 KiB).
pub(crate) const DEFAULT_CHUNK_SIZE: u32 = 255 * 1024;

/// How many bytes an upload gathers before writing its chunks in one `insert`: a few MiB,
/// whole chunks (at least one).
pub(crate) const UPLOAD_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The size of an upload's buffer: whole chunks, about [`UPLOAD_BATCH_BYTES`].
pub(crate) fn upload_buffer_size(chunk_size: u32) -> usize {
    let chunk = chunk_size as usize;
    (UPLOAD_BATCH_BYTES / chunk).max(1) * chunk
}

/// The byte ranges of the chunks in `len` buffered bytes: the full chunks, and with `last`
/// (the end of the file) the short one after them.
pub(crate) fn chunk_ranges(
    len: usize,
    chunk_size: u32,
    last: bool,
) -> impl Iterator<Item = Range<usize>> {
    let chunk = chunk_size as usize;
    let end = if last { len } else { len - len % chunk };
    (0..end)
        .step_by(chunk)
        .map(move |start| start..(start + chunk).min(end))
}

/// A chunk document: `{_id, files_id, n, data}`, with `data` binary subtype 0. `n` fits an
/// Int32 (the upload checks the chunk count first).
pub(crate) fn chunk_document(files_id: &RawBson, n: u32, data: &[u8]) -> RawDocumentBuf {
    let mut doc = RawDocumentBuf::new();
    doc.append("_id", ObjectId::new());
    doc.append_ref("files_id", files_id.as_raw_bson_ref());
    doc.append("n", i32::try_from(n).unwrap_or(i32::MAX));
    doc.append_ref(
        "data",
        RawBinaryRef {
            subtype: BinarySubtype::Generic,
            bytes: data,
        },
    );
    doc
}

/// A stored file's shape: what its chunks must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    length: u64,
    chunk_size: u32,
    chunks: u32,
}

impl Layout {
    /// The layout of a file of `length` bytes in chunks of `chunk_size`.
    pub(crate) fn new(length: u64, chunk_size: u32) -> Result<Self> {
        if chunk_size == 0 && length > 0 {
            return Err(damaged(format!(
                "the files document says chunkSize 0 for {length} bytes"
            )));
        }
        let chunks = match chunk_size {
            0 => 0,
            c => length.div_ceil(u64::from(c)),
        };
        let chunks = u32::try_from(chunks).map_err(|_| {
            damaged(format!(
                "the files document's length {length} and chunkSize {chunk_size} make more than 2^32 chunks"
            ))
        })?;
        Ok(Self {
            length,
            chunk_size,
            chunks,
        })
    }

    /// How many chunks the file has.
    pub(crate) fn chunk_count(&self) -> u32 {
        self.chunks
    }

    /// How long chunk `n` is: the chunk size, and for the last one what is left.
    pub(crate) fn chunk_len(&self, n: u32) -> usize {
        let start = u64::from(n) * u64::from(self.chunk_size);
        let len = self
            .length
            .saturating_sub(start)
            .min(u64::from(self.chunk_size));
        usize::try_from(len).unwrap_or(usize::MAX)
    }

    /// Checks the chunk that came where chunk `expected` should be: its `n` and its length.
    /// Returns its data.
    pub(crate) fn check<'a>(&self, expected: u32, chunk: &'a RawDocument) -> Result<&'a [u8]> {
        let n = match chunk.get("n") {
            Ok(Some(b)) => raw_u64(b),
            _ => None,
        };
        let Some(n) = n else {
            return Err(damaged(format!(
                "a chunk where chunk n={expected} was expected has no integer n"
            )));
        };
        if expected >= self.chunks {
            return Err(gridfs(GridFsErrorKind::WrongNumberOfChunks {
                actual_number: self.chunks.saturating_add(1),
                expected_number: self.chunks,
            }));
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n > expected {
            return Err(gridfs(GridFsErrorKind::MissingChunk { n: expected }));
        }
        if n < expected {
            return Err(gridfs(GridFsErrorKind::UnexpectedChunk { n, expected }));
        }
        let data = match chunk.get("data") {
            Ok(Some(RawBsonRef::Binary(b))) => b.bytes,
            _ => return Err(damaged(format!("chunk n={n} has no binary data field"))),
        };
        let want = self.chunk_len(n);
        if data.len() != want {
            return Err(gridfs(GridFsErrorKind::WrongSizeChunk {
                actual_size: data.len(),
                expected_size: u32::try_from(want).unwrap_or(u32::MAX),
                n,
            }));
        }
        Ok(data)
    }

    /// The chunks ended after `received` of them: an error unless that is all of them.
    pub(crate) fn check_end(&self, received: u32) -> Result<()> {
        if received < self.chunks {
            return Err(gridfs(GridFsErrorKind::MissingChunk { n: received }));
        }
        Ok(())
    }
}

/// Which files document a revision is: the sort on `uploadDate` (1 or -1) and how many to
/// skip. 0 is the oldest, -1 the newest.
pub(crate) fn revision_query(revision: i32) -> (i32, u64) {
    if revision >= 0 {
        (1, u64::from(revision.unsigned_abs()))
    } else {
        (-1, u64::from(revision.unsigned_abs()) - 1)
    }
}

fn gridfs(kind: GridFsErrorKind) -> Error {
    Error::new(ErrorKind::GridFs(kind))
}

fn damaged(message: String) -> Error {
    gridfs(GridFsErrorKind::MalformedChunk { message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, Bson};

    fn chunk(n: impl Into<Bson>, len: usize) -> RawDocumentBuf {
        let mut d = RawDocumentBuf::from_document(&doc! { "n": n.into() }).unwrap();
        d.append_ref(
            "data",
            RawBinaryRef {
                subtype: BinarySubtype::Generic,
                bytes: &vec![7; len],
            },
        );
        d
    }

    fn kind(e: Error) -> GridFsErrorKind {
        match *e.kind {
            ErrorKind::GridFs(k) => k,
            other => panic!("not a GridFS error: {other}"),
        }
    }

    #[test]
    fn bytes_split_into_full_chunks_and_a_short_last_one() {
        let r: Vec<_> = chunk_ranges(10, 4, false).collect();
        assert_eq!(r, [0..4, 4..8], "mid-file: only full chunks");
        let r: Vec<_> = chunk_ranges(10, 4, true).collect();
        assert_eq!(r, [0..4, 4..8, 8..10]);
        assert_eq!(chunk_ranges(8, 4, true).count(), 2, "no empty chunk");
        assert_eq!(
            chunk_ranges(0, 4, true).count(),
            0,
            "an empty file has none"
        );
        assert_eq!(chunk_ranges(3, 4, false).count(), 0);
        assert_eq!(upload_buffer_size(DEFAULT_CHUNK_SIZE) % (255 * 1024), 0);
        assert_eq!(
            upload_buffer_size(8 * 1024 * 1024),
            8 * 1024 * 1024,
            "at least one"
        );
    }

    #[test]
    fn a_layout_knows_each_chunk() {
        let l = Layout::new(10, 4).unwrap();
        assert_eq!(l.chunk_count(), 3);
        assert_eq!((l.chunk_len(0), l.chunk_len(1), l.chunk_len(2)), (4, 4, 2));
        assert_eq!(Layout::new(8, 4).unwrap().chunk_count(), 2);
        assert_eq!(Layout::new(0, 4).unwrap().chunk_count(), 0);
        assert_eq!(Layout::new(0, 0).unwrap().chunk_count(), 0);
        assert!(matches!(
            kind(Layout::new(5, 0).unwrap_err()),
            GridFsErrorKind::MalformedChunk { .. }
        ));
        assert!(Layout::new(u64::MAX, 1).is_err(), "too many chunks");
    }

    #[test]
    fn each_chunk_is_checked_and_damage_names_the_chunk() {
        let l = Layout::new(10, 4).unwrap();
        assert_eq!(l.check(0, &chunk(0, 4)).unwrap().len(), 4);
        // n stored as another numeric type is fine.
        assert_eq!(l.check(1, &chunk(1_i64, 4)).unwrap().len(), 4);
        assert_eq!(l.check(2, &chunk(2.0, 2)).unwrap().len(), 2);
        // A gap: chunk 1 is missing.
        let e = kind(l.check(1, &chunk(2, 2)).unwrap_err());
        assert!(matches!(e, GridFsErrorKind::MissingChunk { n: 1 }), "{e}");
        assert!(e.to_string().contains("n=1"), "{e}");
        // The same chunk twice.
        let e = kind(l.check(1, &chunk(0, 4)).unwrap_err());
        assert!(matches!(
            e,
            GridFsErrorKind::UnexpectedChunk { n: 0, expected: 1 }
        ));
        // Short, long, and the last one short of what is left.
        for (n, len) in [(0, 3), (1, 5), (2, 1)] {
            let e = kind(l.check(n, &chunk(n, len)).unwrap_err());
            assert!(
                matches!(e, GridFsErrorKind::WrongSizeChunk { n: m, actual_size, .. } if m == n && actual_size == len),
                "{e}"
            );
        }
        // One more than the length allows.
        let e = kind(l.check(3, &chunk(3, 0)).unwrap_err());
        assert!(matches!(
            e,
            GridFsErrorKind::WrongNumberOfChunks {
                expected_number: 3,
                ..
            }
        ));
        // Not a chunk at all.
        for bad in [
            doc! { "n": "0", "data": 1 },
            doc! { "data": 1 },
            doc! { "n": 0, "data": "x" },
        ] {
            let bad = RawDocumentBuf::from_document(&bad).unwrap();
            assert!(matches!(
                kind(l.check(0, &bad).unwrap_err()),
                GridFsErrorKind::MalformedChunk { .. }
            ));
        }
        // The chunks ran out early: the first one not received is missing.
        assert!(l.check_end(3).is_ok());
        let e = kind(l.check_end(2).unwrap_err());
        assert!(matches!(e, GridFsErrorKind::MissingChunk { n: 2 }));
    }

    #[test]
    fn revisions_count_from_the_oldest_or_the_newest() {
        assert_eq!(revision_query(0), (1, 0));
        assert_eq!(revision_query(2), (1, 2));
        assert_eq!(revision_query(-1), (-1, 0));
        assert_eq!(revision_query(-3), (-1, 2));
        assert_eq!(revision_query(i32::MIN), (-1, 2_147_483_647));
    }

    #[test]
    fn a_chunk_document_is_as_the_specification_says() {
        let d = chunk_document(&RawBson::String("file-1".into()), 3, b"abc");
        let d = bson::Document::try_from(d.as_ref()).unwrap();
        assert!(d.get_object_id("_id").is_ok());
        assert_eq!(d.get_str("files_id"), Ok("file-1"));
        assert_eq!(d.get_i32("n"), Ok(3));
        let data = d.get_binary_generic("data").unwrap();
        assert_eq!(data, b"abc");
    }
}
