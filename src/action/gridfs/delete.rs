//! [`GridFsBucket::delete`] and [`GridFsBucket::delete_by_name`].

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use super::{within, Budget};
use crate::error::{Error, GridFsFileIdentifier, Result};
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Deletes the file with id `id`: its files document first (so a reader sees it gone),
    /// then its chunks. Returns a [`Delete`] action; no such file is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound) (its orphaned chunks, if
    /// any, are deleted all the same).
    pub fn delete(&self, id: Bson) -> Delete<'_> {
        Delete::new(self, id)
    }

    /// Deletes every file named `filename` (all its revisions). Returns a [`DeleteByName`]
    /// action; no file with the name is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn delete_by_name(&self, filename: impl Into<String>) -> DeleteByName<'_> {
        DeleteByName::new(self, filename.into())
    }
}

super::gridfs_action! {
    /// Deletes a file: [`GridFsBucket::delete`].
    pub struct Delete<'a> { id: Bson }
    /// `timeoutMS` for the whole delete (both commands), over the bucket's.
    timeout;
    runs: |this, budget| -> () {
        let (files, chunks) = (doc! { "_id": &this.id }, doc! { "files_id": &this.id });
        let file = GridFsFileIdentifier::Id(this.id);
        delete_files(this.bucket, files, chunks, file, &budget).await
    }
}

super::gridfs_action! {
    /// Deletes every revision of a file: [`GridFsBucket::delete_by_name`].
    pub struct DeleteByName<'a> { filename: String }
    /// `timeoutMS` for the whole delete (every command), over the bucket's.
    timeout;
    runs: |this, budget| -> () {
        let files = this.bucket.files().clone_with_type::<Document>();
        let find = files
            .find(doc! { "filename": this.filename.as_str() })
            .projection(doc! { "_id": 1 });
        let ids: Vec<Bson> = within!(budget, find)?
            .try_filter_map(|mut d| async move { Ok(d.remove("_id")) })
            .try_collect()
            .await?;
        if ids.is_empty() {
            return Err(Error::file_not_found(GridFsFileIdentifier::Filename(
                this.filename,
            )));
        }
        let (files, chunks) = (
            doc! { "_id": { "$in": &ids } },
            doc! { "files_id": { "$in": ids } },
        );
        let file = GridFsFileIdentifier::Filename(this.filename);
        delete_files(this.bucket, files, chunks, file, &budget).await
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
