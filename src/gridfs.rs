//! GridFS: files larger than a document (16 MiB) stored as chunks, from
//! [`Database::gridfs_bucket`](crate::Database::gridfs_bucket).
//!
//! A [`GridFsBucket`] keeps each file as one document in `<bucket>.files`
//! ([`FilesCollectionDocument`]: length, chunk size, upload date, name, metadata) and its bytes
//! in `<bucket>.chunks`, `chunk_size_bytes` per document (255 KiB by default). Upload through
//! a [`GridFsUploadStream`] (`futures_io::AsyncWrite`), download through a
//! [`GridFsDownloadStream`] (`futures_io::AsyncRead`), or with the copy helpers
//! ([`GridFsBucket::upload_from_futures_0_3_reader`],
//! [`GridFsBucket::download_to_futures_0_3_writer`]). Neither holds more than a few chunks in
//! memory. A download checks every chunk (its index `n`, its length) and reports a damaged
//! file as [`ErrorKind::GridFs`](crate::error::ErrorKind::GridFs) naming the chunk. No MD5 is
//! computed or stored (deprecated by the GridFS specification: keep a digest of your own in
//! `metadata` if you need one).
//!
//! The first write of a bucket handle creates the two indexes the specification asks for
//! (`{filename: 1, uploadDate: 1}` on files, unique `{files_id: 1, n: 1}` on chunks) when the
//! files collection is empty and they are not there yet.
//!
//! ```no_run
//! # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let bucket = db.gridfs_bucket(None);
//! let mut upload = bucket.open_upload_stream("report.pdf").await?;
//! upload.write_all(b"%PDF-1.7 ...").await?;
//! upload.close().await?;
//! let id = upload.id().clone();
//!
//! let mut bytes = Vec::new();
//! bucket.open_download_stream(id).await?.read_to_end(&mut bytes).await?;
//! # Ok(()) }
//! ```

mod bucket;
mod chunks;
mod download;
mod files;
mod indexes;
pub(crate) mod options;
mod upload;

pub use bucket::GridFsBucket;
pub use download::GridFsDownloadStream;
pub use files::FilesCollectionDocument;
pub use upload::GridFsUploadStream;
