//! [`GridFsBucket`]: a bucket's two collections and its defaults. Its operations are actions
//! in [`crate::action::gridfs`]; the copy helpers are here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, Bson, Document, RawDocumentBuf};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use super::chunks::DEFAULT_CHUNK_SIZE;
use super::{FilesCollectionDocument, GridFsUploadStream};
use crate::action::gridfs::{within, Budget};
use crate::coll::Collection;
use crate::error::{Error, ErrorKind, GridFsErrorKind, GridFsFileIdentifier, Result};
use crate::options::{
    GridFsBucketOptions, GridFsDownloadByNameOptions, GridFsUploadOptions, Inherited, ReadConcern,
    ReadPreference, WriteConcern,
};
use crate::sdam::SelectionCriteria;
use crate::Database;

impl Database {
    /// A GridFS bucket in this database: `options` name it (default `fs`) and set its chunk
    /// size (default 255 KiB) and read and write defaults (default: the database's). Nothing
    /// is sent until an operation runs.
    ///
    /// ```no_run
    /// # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::options::GridFsBucketOptions;
    /// let photos = db.gridfs_bucket(GridFsBucketOptions::builder().bucket_name("photos").build());
    /// # let _ = photos; Ok(()) }
    /// ```
    pub fn gridfs_bucket(&self, options: impl Into<Option<GridFsBucketOptions>>) -> GridFsBucket {
        GridFsBucket::new(self, options.into().unwrap_or_default())
    }
}

/// A GridFS bucket: files stored as a files document (`<bucket>.files`) and chunks
/// (`<bucket>.chunks`). From [`Database::gridfs_bucket`]; cheap to clone (one reference
/// count). See the [module documentation](crate::gridfs).
///
/// Query the files documents with [`find`](Self::find): by name (`{filename: "a.txt"}`), by
/// metadata (`{"metadata.owner": "ann"}`), by date (`{uploadDate: {$gt: ...}}`).
#[derive(Clone)]
pub struct GridFsBucket {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    name: String,
    chunk_size: u32,
    /// The bucket's read and write defaults (its options, else the database's).
    inherited: Inherited,
    files: Collection<FilesCollectionDocument>,
    chunks: Collection<RawDocumentBuf>,
    /// The files collection read on the primary (whether it is empty, before the first
    /// write).
    files_on_primary: Collection<Document>,
    /// The indexes have been checked (and made) by this handle.
    indexes_checked: AtomicBool,
}

impl std::fmt::Debug for GridFsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridFsBucket")
            .field("database", &self.inner.db.name())
            .field("name", &self.inner.name)
            .field("chunk_size_bytes", &self.inner.chunk_size)
            .finish_non_exhaustive()
    }
}

impl GridFsBucket {
    fn new(db: &Database, options: GridFsBucketOptions) -> Self {
        let t = db.target();
        let reads = t.reads();
        let inherited = Inherited {
            read_preference: options.read_preference.or(match reads.criteria {
                SelectionCriteria::Read(rp) => Some(rp),
                SelectionCriteria::Write => None,
            }),
            read_concern: options.read_concern.or(reads.read_concern),
            write_concern: t.write_concern(options.write_concern),
            timeout: t.timeout(),
        };
        let name = options.bucket_name.unwrap_or_else(|| "fs".to_owned());
        let client = db.client();
        let coll = |suffix: &str, inherited: Inherited| {
            Collection::<()>::new(
                client.clone(),
                db.name(),
                &format!("{name}.{suffix}"),
                inherited,
            )
        };
        let primary = Inherited {
            read_preference: None,
            ..inherited.clone()
        };
        Self {
            inner: Arc::new(Inner {
                db: db.clone(),
                chunk_size: options.chunk_size_bytes.unwrap_or(DEFAULT_CHUNK_SIZE),
                files: coll("files", inherited.clone()).clone_with_type(),
                chunks: coll("chunks", inherited.clone()).clone_with_type(),
                files_on_primary: coll("files", primary).clone_with_type(),
                inherited,
                indexes_checked: AtomicBool::new(false),
                name,
            }),
        }
    }

    /// The bucket's name (its collections' prefix).
    pub fn bucket_name(&self) -> &str {
        &self.inner.name
    }

    /// The chunk size of new files, in bytes.
    pub fn chunk_size_bytes(&self) -> u32 {
        self.inner.chunk_size
    }

    /// The write concern of its writes, if one is set.
    pub fn write_concern(&self) -> Option<&WriteConcern> {
        self.inner.inherited.write_concern.as_ref()
    }

    /// `timeoutMS` of its operations, if one is set (its database's unless set).
    pub(crate) fn timeout(&self) -> Option<std::time::Duration> {
        self.inner.inherited.timeout
    }

    /// The read concern of its reads, if one is set.
    pub fn read_concern(&self) -> Option<&ReadConcern> {
        self.inner.inherited.read_concern.as_ref()
    }

    /// The read preference of its reads, if one is set (else the primary).
    pub fn read_preference(&self) -> Option<&ReadPreference> {
        self.inner.inherited.read_preference.as_ref()
    }

    /// The files collection.
    pub(crate) fn files(&self) -> &Collection<FilesCollectionDocument> {
        &self.inner.files
    }

    /// The chunks collection.
    pub(crate) fn chunks(&self) -> &Collection<RawDocumentBuf> {
        &self.inner.chunks
    }

    /// The files collection, read on the primary.
    pub(crate) fn files_on_primary(&self) -> &Collection<Document> {
        &self.inner.files_on_primary
    }

    /// Whether this handle has checked the indexes.
    pub(crate) fn indexes_checked(&self) -> bool {
        self.inner.indexes_checked.load(Ordering::Acquire)
    }

    /// Records that the indexes are there (or, with `false`, may be gone: after a drop).
    pub(crate) fn set_indexes_checked(&self, checked: bool) {
        self.inner.indexes_checked.store(checked, Ordering::Release);
    }

    /// The files document of the file with id `id`.
    pub(crate) async fn file_by_id(
        &self,
        id: &Bson,
        budget: &Budget,
    ) -> Result<FilesCollectionDocument> {
        match within!(budget, self.files().find_one(doc! { "_id": id.clone() }))? {
            Some(f) => Ok(f),
            None => Err(Error::file_not_found(GridFsFileIdentifier::Id(id.clone()))),
        }
    }

    /// The files document of revision `revision` of the files named `filename` (the spec's
    /// numbering: 0 the oldest, -1 the newest).
    pub(crate) async fn file_by_name(
        &self,
        filename: &str,
        revision: i32,
        budget: &Budget,
    ) -> Result<FilesCollectionDocument> {
        let (sort, skip) = super::chunks::revision_query(revision);
        let find = self
            .files()
            .find_one(doc! { "filename": filename })
            .sort(doc! { "uploadDate": sort })
            .skip(skip);
        if let Some(f) = within!(budget, find)? {
            return Ok(f);
        }
        let any = within!(budget, self.files().find_one(doc! { "filename": filename }))?;
        Err(match any {
            Some(_) => Error::new(ErrorKind::GridFs(GridFsErrorKind::RevisionNotFound {
                revision,
            })),
            None => Error::file_not_found(GridFsFileIdentifier::Filename(filename.to_owned())),
        })
    }

    /// Uploads what `source` holds, up to its end, as a new file named `filename`; returns its
    /// id. The source is not closed. If reading the source fails, the chunks written so far
    /// are deleted and the source's error is returned.
    ///
    /// ```no_run
    /// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
    /// let id = bucket.upload_from_futures_0_3_reader("hello.txt", &b"hello"[..], None).await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn upload_from_futures_0_3_reader(
        &self,
        filename: impl AsRef<str>,
        source: impl AsyncRead + Unpin,
        options: impl Into<Option<GridFsUploadOptions>>,
    ) -> Result<ObjectId> {
        let id = ObjectId::new();
        self.upload_from_futures_0_3_reader_with_id(id.into(), filename, source, options)
            .await?;
        Ok(id)
    }

    /// [`upload_from_futures_0_3_reader`](Self::upload_from_futures_0_3_reader) with the
    /// file id chosen by the application.
    pub async fn upload_from_futures_0_3_reader_with_id(
        &self,
        id: Bson,
        filename: impl AsRef<str>,
        mut source: impl AsyncRead + Unpin,
        options: impl Into<Option<GridFsUploadOptions>>,
    ) -> Result<()> {
        let mut upload = self
            .open_upload_stream(filename)
            .with_options(options)
            .id(id)
            .await?;
        let mut buf = vec![0; upload_read_size(&upload)];
        loop {
            let n = match source.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    // The source's error is the one to report; the abort's is secondary.
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
            };
            upload.write_all(&buf[..n]).await?;
        }
        upload.close().await?;
        Ok(())
    }

    /// Writes the contents of the file with id `id` to `destination` (which is flushed, not
    /// closed). A damaged file is an error naming the chunk; what was written before it stays
    /// written.
    ///
    /// ```no_run
    /// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket, id: mongo_x509::bson::Bson) -> mongo_x509::error::Result<()> {
    /// let mut bytes = Vec::new();
    /// bucket.download_to_futures_0_3_writer(id, &mut bytes).await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_to_futures_0_3_writer(
        &self,
        id: Bson,
        destination: impl AsyncWrite + Unpin,
    ) -> Result<()> {
        let stream = self.open_download_stream(id).await?;
        copy(stream, destination).await
    }

    /// [`download_to_futures_0_3_writer`](Self::download_to_futures_0_3_writer) of a file by
    /// name: the newest with that name, or the revision `options` asks for.
    pub async fn download_to_futures_0_3_writer_by_name(
        &self,
        filename: impl AsRef<str>,
        destination: impl AsyncWrite + Unpin,
        options: impl Into<Option<GridFsDownloadByNameOptions>>,
    ) -> Result<()> {
        let stream = self
            .open_download_stream_by_name(filename.as_ref())
            .with_options(options)
            .await?;
        copy(stream, destination).await
    }
}

/// How much an upload from a reader reads at a time: a chunk, at most 1 MiB.
fn upload_read_size(upload: &GridFsUploadStream) -> usize {
    (upload.chunk_size_bytes() as usize).clamp(1, 1024 * 1024)
}

/// Copies a download to `destination` chunk by chunk (no buffer in between).
async fn copy(
    stream: super::GridFsDownloadStream,
    mut destination: impl AsyncWrite + Unpin,
) -> Result<()> {
    futures_util::io::copy_buf(stream, &mut destination).await?;
    destination.flush().await?;
    Ok(())
}
