//! [`GridFsBucket::rename`] and [`GridFsBucket::rename_by_name`].

use bson::{doc, Bson};

use std::time::Duration;

use super::{within, Budget};
use crate::error::{Error, GridFsFileIdentifier, Result};
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Renames the file with id `id`. Returns a [`Rename`] action; no such file is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn rename(&self, id: Bson, new_filename: impl Into<String>) -> Rename<'_> {
        Rename {
            bucket: self,
            id,
            new_filename: new_filename.into(),
            timeout: None,
        }
    }

    /// Renames every file named `filename` (all its revisions). Returns a [`RenameByName`]
    /// action; no file with the name is
    /// [`FileNotFound`](crate::error::GridFsErrorKind::FileNotFound).
    pub fn rename_by_name(
        &self,
        filename: impl Into<String>,
        new_filename: impl Into<String>,
    ) -> RenameByName<'_> {
        RenameByName {
            bucket: self,
            filename: filename.into(),
            new_filename: new_filename.into(),
            timeout: None,
        }
    }
}

/// Renames a file: [`GridFsBucket::rename`].
#[must_use = "an action does nothing until it is awaited"]
pub struct Rename<'a> {
    bucket: &'a GridFsBucket,
    id: Bson,
    new_filename: String,
    timeout: Option<Duration>,
}

impl Rename<'_> {
    /// `timeoutMS` for the rename, over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<()> {
        let file = GridFsFileIdentifier::Id(self.id);
        let budget = Budget::start(self.bucket, self.timeout);
        rename(self.bucket, file, self.new_filename, &budget).await
    }
}
into_future!(impl<'a> Rename<'a> => ());

/// Renames every revision of a file: [`GridFsBucket::rename_by_name`].
#[must_use = "an action does nothing until it is awaited"]
pub struct RenameByName<'a> {
    bucket: &'a GridFsBucket,
    filename: String,
    new_filename: String,
    timeout: Option<Duration>,
}

impl RenameByName<'_> {
    /// `timeoutMS` for the rename, over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<()> {
        let file = GridFsFileIdentifier::Filename(self.filename);
        let budget = Budget::start(self.bucket, self.timeout);
        rename(self.bucket, file, self.new_filename, &budget).await
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
into_future!(impl<'a> RenameByName<'a> => ());
super::gridfs_action!(Rename, RenameByName);
