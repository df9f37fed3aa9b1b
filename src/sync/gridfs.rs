//! GridFS through the blocking API: a [`GridFsBucket`] whose actions end in `.run()`, and
//! streams that are [`std::io::Read`] and [`std::io::Write`].

use std::io;
use std::ops::Deref;

use bson::Bson;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Result;
use crate::gridfs::FilesCollectionDocument;

blocking_wrapper! {
    /// A GridFS bucket of a blocking [`Database`](super::Database): the async
    /// [`GridFsBucket`](crate::gridfs::GridFsBucket), whose actions (`open_upload_stream`,
    /// `open_download_stream`, `find`, `delete`, `rename`, `drop`, …) run here with `.run()`.
    ///
    /// ```no_run
    /// # fn f(db: mongo_x509::sync::Database) -> mongo_x509::error::Result<()> {
    /// use std::io::{Read, Write};
    /// let bucket = db.gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("notes.txt").run()?;
    /// upload.write_all(b"first line\n")?;
    /// upload.close()?;
    /// let mut text = String::new();
    /// bucket.open_download_stream_by_name("notes.txt").run()?.read_to_string(&mut text)?;
    /// # Ok(()) }
    /// ```
    #[derive(Clone, Debug)]
    pub struct GridFsBucket(crate::gridfs::GridFsBucket);
}

impl Deref for GridFsBucket {
    type Target = crate::gridfs::GridFsBucket;

    /// The async bucket: its actions run here with `.run()`.
    fn deref(&self) -> &crate::gridfs::GridFsBucket {
        self.held.get()
    }
}

blocking_wrapper! {
    /// A file being read from GridFS, from `open_download_stream(...).run()`: a
    /// [`std::io::Read`] (wrap it in a [`std::io::BufReader`] for small reads).
    #[derive(Debug)]
    pub struct GridFsDownloadStream(crate::gridfs::GridFsDownloadStream);
}

impl GridFsDownloadStream {
    /// The file's files-collection document (length, chunk size, metadata, …).
    pub fn files_collection_document(&self) -> &FilesCollectionDocument {
        self.held.get().files_collection_document()
    }
}

impl io::Read for GridFsDownloadStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.held.block_on(|stream| stream.read(buf))
    }
}

blocking_wrapper! {
    /// A file being written to GridFS, from `open_upload_stream(...).run()`: a
    /// [`std::io::Write`]. Call [`close`](Self::close) at the end, which writes the last chunk
    /// and the files document; a stream dropped before is aborted (its chunks deleted) in the
    /// background.
    #[derive(Debug)]
    pub struct GridFsUploadStream(crate::gridfs::GridFsUploadStream);
}

impl GridFsUploadStream {
    /// The id of the file being written.
    pub fn id(&self) -> &Bson {
        self.held.get().id()
    }

    /// Finishes the upload: writes what is buffered and the files document.
    ///
    /// ```no_run
    /// # fn f(bucket: mongo_x509::sync::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
    /// use std::io::Write;
    /// let mut upload = bucket.open_upload_stream("report.csv").run()?;
    /// upload.write_all(b"a,b\n1,2\n")?;
    /// upload.close()?;
    /// println!("stored as {}", upload.id());
    /// # Ok(()) }
    /// ```
    pub fn close(&mut self) -> Result<()> {
        Ok(self.held.block_on(|stream| stream.close())?)
    }

    /// Gives the upload up and deletes the chunks written so far; see
    /// [`GridFsUploadStream::abort`](crate::gridfs::GridFsUploadStream::abort).
    pub fn abort(&mut self) -> Result<()> {
        self.held.block_on(|stream| stream.abort())
    }
}

impl io::Write for GridFsUploadStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.block_on(|stream| stream.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.held.block_on(|stream| stream.flush())
    }
}
