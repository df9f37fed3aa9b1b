//! [`GridFsBucket::drop`].

use crate::error::Result;
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Drops the bucket: its files collection, then its chunks collection. Returns a
    /// [`Drop`](struct@Drop) action. The next write through this handle makes the indexes
    /// again.
    pub fn drop(&self) -> Drop<'_> {
        Drop { bucket: self }
    }
}

/// Drops a bucket: [`GridFsBucket::drop`].
#[must_use = "an action does nothing until it is awaited"]
pub struct Drop<'a> {
    bucket: &'a GridFsBucket,
}

impl Drop<'_> {
    async fn execute(self) -> Result<()> {
        self.bucket.set_indexes_checked(false);
        self.bucket.files().drop().await?;
        self.bucket.chunks().drop().await?;
        Ok(())
    }
}
into_future!(impl<'a> Drop<'a> => ());
super::gridfs_action!(Drop);
