//! [`GridFsUploadStream`]: a file written into a bucket, a few MiB of whole chunks per
//! `insert`, the files document last.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bson::{doc, Bson, DateTime, Document, RawBson};
use futures_core::future::BoxFuture;
use futures_io::AsyncWrite;

use super::chunks::{chunk_document, chunk_ranges, upload_buffer_size};
use super::{FilesCollectionDocument, GridFsBucket};
use crate::action::gridfs::{within, Budget};
use crate::error::{Error, ErrorKind, GridFsErrorKind, Result};

/// How long the clean-up of an upload dropped before `close` may take in all.
const ABANDONED_CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A file being uploaded: a [`futures_io::AsyncWrite`]. Write the bytes
/// (`futures_util::io::AsyncWriteExt::write_all`), then [`close`](futures_util::io::AsyncWriteExt::close)
/// it: the files document is written then, and the file exists from then on. Its id is
/// [`id`](Self::id). From [`GridFsBucket::open_upload_stream`].
///
/// Bytes are gathered into whole chunks and written a few MiB at a time, so memory stays
/// bounded whatever the file's size. `flush` waits for a write in progress; the bytes of a
/// last, partial chunk wait for `close`. After `close`, [`abort`](Self::abort) or an error,
/// nothing more can be written ([`GridFsErrorKind::UploadStreamClosed`]).
///
/// [`abort`](Self::abort) deletes the chunks written so far. A stream dropped before `close`
/// is aborted the same way, in the background. A failed write leaves its chunks (the GridFS
/// specification: the failure that stopped the upload would likely stop the clean-up too).
///
/// ```no_run
/// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
/// use futures_util::io::AsyncWriteExt;
/// use mongo_x509::bson::doc;
///
/// let mut upload = bucket
///     .open_upload_stream("notes.txt")
///     .metadata(doc! { "owner": "ann" })
///     .await?;
/// upload.write_all(b"first line\n").await?;
/// upload.close().await?;
/// println!("stored as {}", upload.id());
/// # Ok(()) }
/// ```
pub struct GridFsUploadStream {
    bucket: GridFsBucket,
    id: Bson,
    /// `id` as the chunks store it.
    files_id: RawBson,
    filename: String,
    metadata: Option<Document>,
    chunk_size: u32,
    /// Chunks written so far.
    written: u32,
    /// Bytes not written yet; written as whole chunks once it is full.
    buffer: Vec<u8>,
    capacity: usize,
    state: State,
    /// `timeoutMS` of the whole upload, from its opening to its close.
    budget: Budget,
}

/// The chunks' write in progress hands back the buffer, emptied, and how many it wrote.
type Writing = BoxFuture<'static, (Result<u32>, Vec<u8>)>;

enum State {
    /// Taking bytes.
    Open,
    /// Writing the buffer's chunks.
    Writing(Writing),
    /// Writing the last chunks and the files document.
    Closing(BoxFuture<'static, Result<()>>),
    /// Closed, aborted or failed.
    Closed,
}

impl std::fmt::Debug for GridFsUploadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridFsUploadStream")
            .field("id", &self.id)
            .field("filename", &self.filename)
            .field("chunks_written", &self.written)
            .finish_non_exhaustive()
    }
}

impl GridFsUploadStream {
    pub(crate) fn new(
        bucket: GridFsBucket,
        id: Bson,
        filename: String,
        chunk_size: u32,
        metadata: Option<Document>,
        budget: Budget,
    ) -> Result<Self> {
        if chunk_size == 0 {
            return Err(Error::invalid_argument(
                "chunk_size_bytes is 0; use a positive chunk size (the default is 255 KiB)",
            ));
        }
        let files_id = RawBson::try_from(id.clone())
            .map_err(|e| Error::invalid_argument(format!("the file id cannot be stored: {e}")))?;
        let capacity = upload_buffer_size(chunk_size);
        Ok(Self {
            bucket,
            id,
            files_id,
            filename,
            metadata,
            chunk_size,
            written: 0,
            buffer: Vec::new(),
            capacity,
            state: State::Open,
            budget,
        })
    }

    /// The file's id: its files document's `_id` once the stream is closed.
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// The size of this file's chunks.
    pub(crate) fn chunk_size_bytes(&self) -> u32 {
        self.chunk_size
    }

    /// Gives the upload up: deletes the chunks written so far (after a write in progress
    /// ends). Nothing can be written afterwards. An error if the stream is already closed, or
    /// if the chunks could not be deleted ([`GridFsErrorKind::AbortError`]).
    pub async fn abort(&mut self) -> Result<()> {
        let in_flight = std::mem::replace(&mut self.state, State::Closed);
        if matches!(in_flight, State::Closed) {
            return Err(closed());
        }
        self.buffer = Vec::new();
        finish_and_delete(self.bucket.clone(), self.id.clone(), in_flight)
            .await
            .map_err(|delete_error| {
                Error::new(ErrorKind::GridFs(GridFsErrorKind::AbortError {
                    original_error: None,
                    delete_error,
                }))
            })
    }

    /// Drives a write in progress to its end.
    fn poll_writing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let State::Writing(fut) = &mut self.state {
            let (result, buffer) = ready!(fut.as_mut().poll(cx));
            self.buffer = buffer;
            match result {
                Ok(count) => {
                    self.written += count;
                    self.state = State::Open;
                }
                Err(e) => {
                    self.state = State::Closed;
                    return Poll::Ready(Err(io::Error::other(e)));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for GridFsUploadStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_writing(cx))?;
        if !matches!(this.state, State::Open) {
            return Poll::Ready(Err(io::Error::other(closed())));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let taken = buf.len().min(this.capacity - this.buffer.len());
        // Grown by doubling, never past the batch size (a small file keeps a small buffer).
        let want = (this.buffer.len() + taken)
            .next_power_of_two()
            .min(this.capacity);
        if this.buffer.capacity() < want {
            this.buffer.reserve_exact(want - this.buffer.len());
        }
        this.buffer.extend_from_slice(&buf[..taken]);
        if this.buffer.len() == this.capacity {
            let buffer = std::mem::take(&mut this.buffer);
            this.state = State::Writing(Box::pin(write_chunks(
                this.bucket.clone(),
                this.files_id.clone(),
                this.written,
                this.chunk_size,
                buffer,
                this.budget,
            )));
            // Under way now; a failure already known is this write's.
            if let Poll::Ready(Err(e)) = this.poll_writing(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_writing(cx))?;
        match this.state {
            State::Closed => Poll::Ready(Err(io::Error::other(closed()))),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_writing(cx))?;
        if let State::Open = this.state {
            let buffer = std::mem::take(&mut this.buffer);
            let length = u64::from(this.written) * u64::from(this.chunk_size) + buffer.len() as u64;
            let file = FilesCollectionDocument {
                id: this.id.clone(),
                length,
                chunk_size_bytes: this.chunk_size,
                upload_date: DateTime::now(),
                filename: Some(this.filename.clone()),
                metadata: this.metadata.take(),
            };
            this.state = State::Closing(Box::pin(close(
                this.bucket.clone(),
                this.files_id.clone(),
                this.written,
                buffer,
                file,
                this.budget,
            )));
        }
        let State::Closing(fut) = &mut this.state else {
            return Poll::Ready(Err(io::Error::other(closed())));
        };
        let result = ready!(fut.as_mut().poll(cx));
        this.state = State::Closed;
        Poll::Ready(result.map_err(io::Error::other))
    }
}

impl Drop for GridFsUploadStream {
    fn drop(&mut self) {
        let in_flight = std::mem::replace(&mut self.state, State::Closed);
        let wrote_nothing = self.written == 0 && matches!(in_flight, State::Open);
        if matches!(in_flight, State::Closed) || wrote_nothing {
            return;
        }
        // Abandoned before close: an aborted upload, cleaned up in the background.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (bucket, id) = (self.bucket.clone(), self.id.clone());
        handle.spawn(async move {
            let cleanup = finish_and_delete(bucket, id, in_flight);
            let _ = tokio::time::timeout(ABANDONED_CLEANUP_TIMEOUT, cleanup).await;
        });
    }
}

/// Writes the buffer's chunks (all whole: the buffer is full), numbered from `first_n`.
async fn write_chunks(
    bucket: GridFsBucket,
    files_id: RawBson,
    first_n: u32,
    chunk_size: u32,
    mut buffer: Vec<u8>,
    budget: Budget,
) -> (Result<u32>, Vec<u8>) {
    let result = insert_chunks(
        &bucket, &files_id, first_n, chunk_size, &buffer, false, &budget,
    )
    .await;
    buffer.clear();
    (result, buffer)
}

/// Writes the last chunks, then the files document.
async fn close(
    bucket: GridFsBucket,
    files_id: RawBson,
    first_n: u32,
    buffer: Vec<u8>,
    file: FilesCollectionDocument,
    budget: Budget,
) -> Result<()> {
    let chunk_size = file.chunk_size_bytes;
    insert_chunks(
        &bucket, &files_id, first_n, chunk_size, &buffer, true, &budget,
    )
    .await?;
    drop(buffer);
    bucket.ensure_indexes(&budget).await?;
    within!(budget, bucket.files().insert_one(&file))?;
    Ok(())
}

/// Inserts the chunks of `bytes` (whole ones, and with `last` the short one after them),
/// numbered from `first_n`, in one `insert_many`. Returns how many.
async fn insert_chunks(
    bucket: &GridFsBucket,
    files_id: &RawBson,
    first_n: u32,
    chunk_size: u32,
    bytes: &[u8],
    last: bool,
    budget: &Budget,
) -> Result<u32> {
    let count = chunk_ranges(bytes.len(), chunk_size, last).count();
    if count == 0 {
        return Ok(0);
    }
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    let fits = matches!(first_n.checked_add(count), Some(end) if end <= i32::MAX as u32);
    if !fits {
        return Err(Error::invalid_argument(
            "the file would have more than 2^31 chunks; use a larger chunk_size_bytes",
        ));
    }
    bucket.ensure_indexes(budget).await?;
    // Each chunk document is built and serialized in turn, not all held at once.
    let docs = chunk_ranges(bytes.len(), chunk_size, last)
        .zip(first_n..)
        .map(|(range, n)| chunk_document(files_id, n, &bytes[range]));
    within!(budget, bucket.chunks().insert_many(docs))?;
    Ok(count)
}

/// Lets a write or close in progress end, then deletes the file's chunks (and files document,
/// which a close may have written).
async fn finish_and_delete(bucket: GridFsBucket, id: Bson, in_flight: State) -> Result<()> {
    let closing = match in_flight {
        State::Writing(fut) => {
            let _ = fut.await;
            false
        }
        State::Closing(fut) => {
            let _ = fut.await;
            true
        }
        State::Open | State::Closed => false,
    };
    if closing {
        bucket
            .files()
            .delete_one(doc! { "_id": id.clone() })
            .await?;
    }
    bucket.chunks().delete_many(doc! { "files_id": id }).await?;
    Ok(())
}

fn closed() -> Error {
    Error::new(ErrorKind::GridFs(GridFsErrorKind::UploadStreamClosed))
}
