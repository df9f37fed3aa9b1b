//! [`GridFsBucket::open_download_stream`] and [`GridFsBucket::open_download_stream_by_name`].

use bson::Bson;

use std::time::Duration;

use super::Budget;
use crate::error::Result;
use crate::gridfs::{GridFsBucket, GridFsDownloadStream};
use crate::options::GridFsDownloadByNameOptions;

impl GridFsBucket {
    /// Opens the file with id `id` for reading. Returns an [`OpenDownloadStream`] action whose
    /// output is a [`GridFsDownloadStream`]; no such file is
    /// [`GridFsErrorKind::FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn open_download_stream(&self, id: Bson) -> OpenDownloadStream<'_> {
        OpenDownloadStream {
            bucket: self,
            id,
            timeout: None,
        }
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
        OpenDownloadStreamByName {
            bucket: self,
            filename: filename.into(),
            options: GridFsDownloadByNameOptions::default(),
            timeout: None,
        }
    }
}

/// Opens a download stream by id: [`GridFsBucket::open_download_stream`].
#[must_use = "an action does nothing until it is awaited"]
pub struct OpenDownloadStream<'a> {
    bucket: &'a GridFsBucket,
    id: Bson,
    timeout: Option<Duration>,
}

impl OpenDownloadStream<'_> {
    /// `timeoutMS` for opening the stream and reading it to the end, over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<GridFsDownloadStream> {
        let budget = Budget::start(self.bucket, self.timeout);
        let file = self.bucket.file_by_id(&self.id, &budget).await?;
        GridFsDownloadStream::new(self.bucket, file, &budget).await
    }
}
into_future!(impl<'a> OpenDownloadStream<'a> => GridFsDownloadStream);

/// Opens a download stream by name: [`GridFsBucket::open_download_stream_by_name`].
#[must_use = "an action does nothing until it is awaited"]
pub struct OpenDownloadStreamByName<'a> {
    bucket: &'a GridFsBucket,
    filename: String,
    options: GridFsDownloadByNameOptions,
    timeout: Option<Duration>,
}

impl OpenDownloadStreamByName<'_> {
    crate::options::gridfs_download_by_name_setters::setters!();

    /// `timeoutMS` for opening the stream and reading it to the end, over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<GridFsDownloadStream> {
        let revision = self.options.revision.unwrap_or(-1);
        let budget = Budget::start(self.bucket, self.timeout);
        let file = self
            .bucket
            .file_by_name(&self.filename, revision, &budget)
            .await?;
        GridFsDownloadStream::new(self.bucket, file, &budget).await
    }
}
into_future!(impl<'a> OpenDownloadStreamByName<'a> => GridFsDownloadStream);
super::gridfs_action!(OpenDownloadStream, OpenDownloadStreamByName);
