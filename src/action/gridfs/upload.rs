//! [`GridFsBucket::open_upload_stream`].

use bson::oid::ObjectId;
use bson::Bson;

use crate::error::Result;
use crate::gridfs::{GridFsBucket, GridFsUploadStream};
use crate::options::GridFsUploadOptions;

impl GridFsBucket {
    /// Opens a stream to write a new file named `filename` into. Returns an
    /// [`OpenUploadStream`] action whose output is a [`GridFsUploadStream`]; the file's id is
    /// a new ObjectId unless [`id`](OpenUploadStream::id) sets one.
    pub fn open_upload_stream(&self, filename: impl AsRef<str>) -> OpenUploadStream<'_> {
        OpenUploadStream {
            bucket: self,
            filename: filename.as_ref().to_owned(),
            id: None,
            options: GridFsUploadOptions::default(),
            timeout: None,
        }
    }
}

/// Opens an upload stream: [`GridFsBucket::open_upload_stream`].
#[must_use = "an action does nothing until it is awaited"]
pub struct OpenUploadStream<'a> {
    bucket: &'a GridFsBucket,
    filename: String,
    id: Option<Bson>,
    options: GridFsUploadOptions,
    timeout: Option<std::time::Duration>,
}

impl OpenUploadStream<'_> {
    crate::options::gridfs_upload_setters::setters!();

    /// The file's id (any BSON value; unique in the bucket). Default: a new ObjectId.
    pub fn id(mut self, value: Bson) -> Self {
        self.id = Some(value);
        self
    }

    /// `timeoutMS` for the whole upload, from here to the stream's `close`, over the
    /// bucket's.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<GridFsUploadStream> {
        let budget = super::Budget::start(self.bucket, self.timeout);
        let id = self.id.unwrap_or_else(|| ObjectId::new().into());
        let chunk_size = self
            .options
            .chunk_size_bytes
            .unwrap_or_else(|| self.bucket.chunk_size_bytes());
        GridFsUploadStream::new(
            self.bucket.clone(),
            id,
            self.filename,
            chunk_size,
            self.options.metadata,
            budget,
        )
    }
}
into_future!(impl<'a> OpenUploadStream<'a> => GridFsUploadStream);
super::gridfs_action!(OpenUploadStream);
