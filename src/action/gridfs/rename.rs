//! [`GridFsBucket::rename`] and [`GridFsBucket::rename_by_name`].

use bson::{doc, Bson};

use super::{within, Budget};
use crate::error::{Error, GridFsFileIdentifier, Result};
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Renames the file with id `id`. Returns a [`Rename`] action; no such file is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn rename(&self, id: Bson, new_filename: impl Into<String>) -> Rename<'_> {
        Rename::new(self, GridFsFileIdentifier::Id(id), new_filename.into())
    }

    /// Renames every file named `filename` (all its revisions). Returns a [`RenameByName`]
    /// action; no file with the name is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn rename_by_name(
        &self,
        filename: impl Into<String>,
        new_filename: impl Into<String>,
    ) -> RenameByName<'_> {
        let file = GridFsFileIdentifier::Filename(filename.into());
        RenameByName::new(self, file, new_filename.into())
    }
}

super::gridfs_action! {
    /// Renames a file: [`GridFsBucket::rename`].
    pub struct Rename<'a> { file: GridFsFileIdentifier, new_filename: String }
    /// `timeoutMS` for the rename, over the bucket's.
    timeout;
    runs: |this, budget| -> () {
        rename(this.bucket, this.file, this.new_filename, &budget).await
    }
}

super::gridfs_action! {
    /// Renames every revision of a file: [`GridFsBucket::rename_by_name`].
    pub struct RenameByName<'a> { file: GridFsFileIdentifier, new_filename: String }
    /// `timeoutMS` for the rename, over the bucket's.
    timeout;
    runs: |this, budget| -> () {
        rename(this.bucket, this.file, this.new_filename, &budget).await
    }
}

/// Renames the file with the id, or every revision of the file with the name.
async fn rename(
    bucket: &GridFsBucket,
    file: GridFsFileIdentifier,
    new: String,
    budget: &Budget,
) -> Result<()> {
    let files = bucket.files();
    let set = doc! { "$set": { "filename": new } };
    let matched = match &file {
        GridFsFileIdentifier::Id(id) => within!(budget, files.update_one(doc! { "_id": id }, set))?,
        GridFsFileIdentifier::Filename(name) => {
            within!(budget, files.update_many(doc! { "filename": name }, set))?
        }
    }
    .matched_count;
    if matched == 0 {
        return Err(Error::file_not_found(file));
    }
    Ok(())
}
