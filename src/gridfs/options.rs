//! The options of a GridFS bucket and of its operations (named as in the official crate,
//! re-exported from [`crate::options`]).

use std::time::Duration;

use bson::Document;

use crate::options::{FindOneOptions, FindOptions, ReadConcern, ReadPreference, WriteConcern};

crate::options::define::options! {
    /// Options of a [`GridFsBucket`](crate::gridfs::GridFsBucket)
    /// ([`Database::gridfs_bucket`](crate::Database::gridfs_bucket)).
    pub struct GridFsBucketOptions => gridfs_bucket_setters {
        /// The bucket's name: its collections are `<name>.files` and `<name>.chunks`.
        /// Default `fs`.
        #[serde(skip)]
        bucket_name: String => into,
        /// The size of the chunks of new files, in bytes. Default 255 KiB.
        #[serde(skip)]
        chunk_size_bytes: u32,
        /// The write concern of uploads, deletes and renames (default: the database's).
        #[serde(skip)]
        write_concern: WriteConcern,
        /// The read concern of downloads and finds (default: the database's).
        #[serde(skip)]
        read_concern: ReadConcern,
        /// Where downloads and finds read (default: the database's read preference).
        #[serde(skip)]
        read_preference: ReadPreference,
    }

    /// Options of an upload ([`GridFsBucket::open_upload_stream`](crate::gridfs::GridFsBucket::open_upload_stream)).
    pub struct GridFsUploadOptions => gridfs_upload_setters {
        /// The size of this file's chunks, in bytes (default: the bucket's).
        chunk_size_bytes: u32,
        /// Application data for the files document's `metadata` field.
        metadata: Document,
    }

    /// Options of a download by name
    /// ([`GridFsBucket::open_download_stream_by_name`](crate::gridfs::GridFsBucket::open_download_stream_by_name)).
    pub struct GridFsDownloadByNameOptions => gridfs_download_by_name_setters {
        /// Which of the files with the name (its revisions, by upload date): 0 the oldest, 1
        /// the next, …; -1 the newest (the default), -2 the one before, ….
        revision: i32,
    }

    /// Options of [`GridFsBucket::find`](crate::gridfs::GridFsBucket::find).
    pub struct GridFsFindOptions => gridfs_find_setters {
        /// Let the server use temporary files for large sorts.
        allow_disk_use: bool,
        /// Files documents per batch.
        batch_size: u32,
        /// At most this many files.
        limit: i64,
        /// `maxTimeMS`: the server's time limit for the query.
        max_time: Duration,
        /// Keep the server cursor alive while idle.
        no_cursor_timeout: bool,
        /// Skip this many files first.
        skip: u64,
        /// The order of the files, e.g. `{uploadDate: -1}`.
        sort: Document,
    }

    /// Options of [`GridFsBucket::find_one`](crate::gridfs::GridFsBucket::find_one).
    pub struct GridFsFindOneOptions => gridfs_find_one_setters {
        /// `maxTimeMS`: the server's time limit for the query.
        max_time: Duration,
        /// Skip this many files first.
        skip: u64,
        /// Which file comes first, e.g. `{uploadDate: -1}`.
        sort: Document,
    }
}

impl From<GridFsFindOptions> for FindOptions {
    fn from(o: GridFsFindOptions) -> Self {
        FindOptions {
            allow_disk_use: o.allow_disk_use,
            batch_size: o.batch_size,
            limit: o.limit,
            max_time: o.max_time,
            no_cursor_timeout: o.no_cursor_timeout,
            skip: o.skip,
            sort: o.sort,
            ..FindOptions::default()
        }
    }
}

impl From<GridFsFindOneOptions> for FindOneOptions {
    fn from(o: GridFsFindOneOptions) -> Self {
        FindOneOptions {
            max_time: o.max_time,
            skip: o.skip,
            sort: o.sort,
            ..FindOneOptions::default()
        }
    }
}
