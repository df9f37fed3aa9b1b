//! [`GridFsDownloadStream`]: a stored file read chunk by chunk, each checked.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bson::{doc, RawDocumentBuf};
use futures_io::{AsyncBufRead, AsyncRead};

use super::chunks::Layout;
use super::{FilesCollectionDocument, GridFsBucket};
use crate::action::gridfs::{within, Budget};
use crate::cursor::Cursor;
use crate::error::Result;

/// How many bytes of chunks one batch of a download may hold: whole chunks, at least one.
const DOWNLOAD_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A stored file being read: a [`futures_io::AsyncRead`] (and [`futures_io::AsyncBufRead`],
/// handing out each chunk's bytes in place). From [`GridFsBucket::open_download_stream`] or
/// [`GridFsBucket::open_download_stream_by_name`].
///
/// Chunks are fetched in order, a few MiB per batch, so memory stays bounded whatever the
/// file's size. Each is checked as it comes: a chunk missing, out of place, of the wrong
/// length, or one too many is an error naming it
/// ([`ErrorKind::GridFs`](crate::error::ErrorKind::GridFs); as an `io::Error`, its inner error
/// is this crate's [`Error`](crate::error::Error)). Damage after where the reader stopped
/// reading goes unseen.
///
/// ```no_run
/// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
/// use futures_util::io::AsyncReadExt;
/// let mut download = bucket.open_download_stream_by_name("notes.txt").await?;
/// let mut text = String::new();
/// download.read_to_string(&mut text).await?;
/// # Ok(()) }
/// ```
pub struct GridFsDownloadStream {
    file: FilesCollectionDocument,
    layout: Layout,
    /// The chunks, in order; `None` for an empty file, and once the end or an error is
    /// reached (dropping it frees the server cursor).
    cursor: Option<Cursor<RawDocumentBuf>>,
    /// Chunks received.
    received: u32,
    /// The current chunk's bytes, and how many of them have been read.
    chunk: Vec<u8>,
    read: usize,
}

impl std::fmt::Debug for GridFsDownloadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridFsDownloadStream")
            .field("file", &self.file)
            .field("chunks_read", &self.received)
            .finish_non_exhaustive()
    }
}

impl GridFsDownloadStream {
    /// Opens the chunks of `file` (none are fetched for an empty file).
    /// The chunks' cursor runs under what is left of `budget` (its whole lifetime).
    pub(crate) async fn new(
        bucket: &GridFsBucket,
        file: FilesCollectionDocument,
        budget: &Budget,
    ) -> Result<Self> {
        let layout = Layout::new(file.length, file.chunk_size_bytes)?;
        let cursor = if layout.chunk_count() == 0 {
            None
        } else {
            let per_batch = (DOWNLOAD_BATCH_BYTES / file.chunk_size_bytes as usize).max(1);
            let find = bucket
                .chunks()
                .find(doc! { "files_id": file.id.clone() })
                .sort(doc! { "n": 1 })
                .batch_size(u32::try_from(per_batch).unwrap_or(u32::MAX));
            let cursor = within!(budget, find)?;
            Some(cursor)
        };
        Ok(Self {
            file,
            layout,
            cursor,
            received: 0,
            chunk: Vec::new(),
            read: 0,
        })
    }

    /// The file's files document.
    pub fn files_collection_document(&self) -> &FilesCollectionDocument {
        &self.file
    }

    /// Makes the current chunk hold unread bytes, fetching and checking the next one; false
    /// at the end of the file.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        while self.read == self.chunk.len() {
            let Some(cursor) = self.cursor.as_mut() else {
                return Poll::Ready(Ok(false));
            };
            let (layout, expected, chunk) = (&self.layout, self.received, &mut self.chunk);
            let next = ready!(cursor.poll_next_raw(cx, |doc| {
                let data = layout.check(expected, doc)?;
                chunk.clear();
                chunk.extend_from_slice(data);
                Ok(())
            }));
            match next {
                Some(Ok(Ok(()))) => {
                    self.received += 1;
                    self.read = 0;
                }
                // Past the last chunk: the cursor must be done too (checked above).
                None => {
                    self.cursor = None;
                    self.layout.check_end(self.received)?;
                    return Poll::Ready(Ok(false));
                }
                Some(Ok(Err(e)) | Err(e)) => {
                    self.cursor = None;
                    return Poll::Ready(Err(e));
                }
            }
        }
        Poll::Ready(Ok(true))
    }
}

impl AsyncRead for GridFsDownloadStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !ready!(this.poll_chunk(cx)).map_err(io::Error::other)? {
            return Poll::Ready(Ok(0));
        }
        let rest = &this.chunk[this.read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        this.read += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for GridFsDownloadStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if !ready!(this.poll_chunk(cx)).map_err(io::Error::other)? {
            return Poll::Ready(Ok(&[]));
        }
        Poll::Ready(Ok(&this.chunk[this.read..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.read = (this.read + amt).min(this.chunk.len());
    }
}
