//! [`GridFsBucket::drop`].

use std::time::Duration;

use super::{within, Budget};
use crate::error::Result;
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Drops the bucket: its files collection, then its chunks collection. Returns a
    /// [`Drop`](struct@Drop) action. The next write through this handle makes the indexes
    /// again.
    pub fn drop(&self) -> Drop<'_> {
        Drop {
            bucket: self,
            timeout: None,
        }
    }
}

/// Drops a bucket: [`GridFsBucket::drop`].
#[must_use = "an action does nothing until it is awaited"]
pub struct Drop<'a> {
    bucket: &'a GridFsBucket,
    timeout: Option<Duration>,
}

impl Drop<'_> {
    /// `timeoutMS` for the whole drop (both collections), over the bucket's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn execute(self) -> Result<()> {
        let budget = Budget::start(self.bucket, self.timeout);
        self.bucket.set_indexes_checked(false);
        within!(budget, self.bucket.files().drop())?;
        within!(budget, self.bucket.chunks().drop())?;
        Ok(())
    }
}
into_future!(impl<'a> Drop<'a> => ());
super::gridfs_action!(Drop);
