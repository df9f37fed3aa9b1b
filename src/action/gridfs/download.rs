//! [`GridFsBucket::open_download_stream`] and [`GridFsBucket::open_download_stream_by_name`].

use bson::Bson;

use crate::gridfs::{GridFsBucket, GridFsDownloadStream};
use crate::options::GridFsDownloadByNameOptions;

impl GridFsBucket {
    /// Opens the file with id `id` for reading. Returns an [`OpenDownloadStream`] action whose
    /// output is a [`GridFsDownloadStream`]; no such file is
    /// [`GridFsErrorKind::FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn open_download_stream(&self, id: Bson) -> OpenDownloadStream<'_> {
        OpenDownloadStream::new(self, id)
    }

    /// Opens the file named `filename` for reading: the newest with that name, or the
    /// [`revision`](OpenDownloadStreamByName::revision) asked for. Returns an
    /// [`OpenDownloadStreamByName`] action whose output is a [`GridFsDownloadStream`]; no file
    /// with the name is [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound), no such
    /// revision [`RevisionNotFound`](crate::error::GridFsErrorKind::RevisionNotFound).
    ///
    /// ```no_run
    /// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
    /// // The first version uploaded under this name.
    /// let oldest = bucket.open_download_stream_by_name("config.toml").revision(0).await?;
    /// # let _ = oldest; Ok(()) }
    /// ```
    pub fn open_download_stream_by_name(
        &self,
        filename: impl Into<String>,
    ) -> OpenDownloadStreamByName<'_> {
        OpenDownloadStreamByName::new(self, filename.into())
    }
}

super::gridfs_action! {
    /// Opens a download stream by id: [`GridFsBucket::open_download_stream`].
    pub struct OpenDownloadStream<'a> { id: Bson }
    /// `timeoutMS` for opening the stream and reading it to the end, over the bucket's.
    timeout;
    runs: |this, budget| -> GridFsDownloadStream {
        let file = this.bucket.file_by_id(&this.id, &budget).await?;
        GridFsDownloadStream::new(this.bucket, file, &budget).await
    }
}

super::gridfs_action! {
    /// Opens a download stream by name: [`GridFsBucket::open_download_stream_by_name`].
    pub struct OpenDownloadStreamByName<'a> { filename: String }
    options: GridFsDownloadByNameOptions, gridfs_download_by_name_setters;
    /// `timeoutMS` for opening the stream and reading it to the end, over the bucket's.
    timeout;
    runs: |this, budget| -> GridFsDownloadStream {
        let revision = this.options.revision.unwrap_or(-1);
        let file = this
            .bucket
            .file_by_name(&this.filename, revision, &budget)
            .await?;
        GridFsDownloadStream::new(this.bucket, file, &budget).await
    }
}
