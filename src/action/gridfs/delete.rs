//! [`GridFsBucket::delete`] and [`GridFsBucket::delete_by_name`].

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use std::time::Duration;

use super::{within, Budget};
use crate::error::{Error, GridFsFileIdentifier, Result};
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Deletes the file with id `id`: its files document first (so a reader sees it gone),
    /// then its chunks. Returns a [`Delete`] action; no such file is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound) (its orphaned chunks, if
    /// any, are deleted all the same).
    pub fn delete(&self, id: Bson) -> Delete<'_> {
        Delete {
            bucket: self,
            id,
            timeout: None,
        }
    }

    /// Deletes every file named `filename` (all its revisions). Returns a [`DeleteByName`]
    /// action; no file with the name is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn delete_by_name(&self, filename: impl Into<String>) -> DeleteByName<'_> {
        DeleteByName {
            bucket: self,
            filename: filename.into(),
            timeout: None,
        }
    }
}

/// Deletes a file: [`GridFsBucket::delete`].
#[must_use = "an action does nothing until it is awaited"]
pub struct Delete<'a> {
    bucket: &'a GridFsBucket,
    id: Bson,
    timeout: Option<Duration>,
}

impl Delete<'_> {
    /// `timeoutMS` for the whole delete (both commands), over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<()> {
        let budget = Budget::start(self.bucket, self.timeout);
        let (files, chunks) = (doc! { "_id": &self.id }, doc! { "files_id": &self.id });
        delete_files(
            self.bucket,
            files,
            chunks,
            GridFsFileIdentifier::Id(self.id),
            &budget,
        )
        .await
    }
}
into_future!(impl<'a> Delete<'a> => ());

/// Deletes every revision of a file: [`GridFsBucket::delete_by_name`].
#[must_use = "an action does nothing until it is awaited"]
pub struct DeleteByName<'a> {
    bucket: &'a GridFsBucket,
    filename: String,
    timeout: Option<Duration>,
}

impl DeleteByName<'_> {
    /// `timeoutMS` for the whole delete (every command), over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<()> {
        let budget = Budget::start(self.bucket, self.timeout);
        let files = self.bucket.files().clone_with_type::<Document>();
        let find = files
            .find(doc! { "filename": self.filename.as_str() })
            .projection(doc! { "_id": 1 });
        let ids: Vec<Bson> = within!(budget, find)?
            .try_filter_map(|mut d| async move { Ok(d.remove("_id")) })
            .try_collect()
            .await?;
        if ids.is_empty() {
            return Err(Error::file_not_found(GridFsFileIdentifier::Filename(
                self.filename,
            )));
        }
        let (files, chunks) = (
            doc! { "_id": { "$in": &ids } },
            doc! { "files_id": { "$in": ids } },
        );
        let file = GridFsFileIdentifier::Filename(self.filename);
        delete_files(self.bucket, files, chunks, file, &budget).await
    }
}

/// Deletes the files documents matching `files` first (so a reader sees them gone), then the
/// chunks matching `chunks`; when no files document was deleted, `file` was not found.
async fn delete_files(
    bucket: &GridFsBucket,
    files: Document,
    chunks: Document,
    file: GridFsFileIdentifier,
    budget: &Budget,
) -> Result<()> {
    let deleted = match &file {
        // One file: a retryable delete.
        GridFsFileIdentifier::Id(_) => within!(budget, bucket.files().delete_one(files))?,
        _ => within!(budget, bucket.files().delete_many(files))?,
    }
    .deleted_count;
    within!(budget, bucket.chunks().delete_many(chunks))?;
    if deleted == 0 {
        return Err(Error::file_not_found(file));
    }
    Ok(())
}
into_future!(impl<'a> DeleteByName<'a> => ());
super::gridfs_action!(Delete, DeleteByName);
