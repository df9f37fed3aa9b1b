//! [`GridFsBucket::open_upload_stream`].

use bson::oid::ObjectId;
use bson::Bson;

use crate::gridfs::{GridFsBucket, GridFsUploadStream};
use crate::options::GridFsUploadOptions;

impl GridFsBucket {
    /// Opens a stream to write a new file named `filename` into. Returns an
    /// [`OpenUploadStream`] action whose output is a [`GridFsUploadStream`]; the file's id is
    /// a new ObjectId unless [`id`](OpenUploadStream::id) sets one.
    pub fn open_upload_stream(&self, filename: impl AsRef<str>) -> OpenUploadStream<'_> {
        OpenUploadStream::new(self, filename.as_ref().to_owned(), None)
    }
}

super::gridfs_action! {
    /// Opens an upload stream: [`GridFsBucket::open_upload_stream`].
    pub struct OpenUploadStream<'a> { filename: String, id: Option<Bson> }
    options: GridFsUploadOptions, gridfs_upload_setters;
    /// `timeoutMS` for the whole upload, from here to the stream's `close`, over the
    /// bucket's.
    timeout;
    runs: |this, budget| -> GridFsUploadStream {
        let id = this.id.unwrap_or_else(|| ObjectId::new().into());
        let chunk_size = this
            .options
            .chunk_size_bytes
            .unwrap_or_else(|| this.bucket.chunk_size_bytes());
        GridFsUploadStream::new(
            this.bucket.clone(),
            id,
            this.filename,
            chunk_size,
            this.options.metadata,
            budget,
        )
    }
}

impl OpenUploadStream<'_> {
    /// The file's id (any BSON value; unique in the bucket). Default: a new ObjectId.
    pub fn id(mut self, value: Bson) -> Self {
        self.id = Some(value);
        self
    }
}
