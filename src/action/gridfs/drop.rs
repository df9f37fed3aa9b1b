//! [`GridFsBucket::drop`].

use super::within;
use crate::gridfs::GridFsBucket;

impl GridFsBucket {
    /// Drops the bucket: its files collection, then its chunks collection. Returns a
    /// [`Drop`](struct@Drop) action. The next write through this handle makes the indexes
    /// again.
    pub fn drop(&self) -> Drop<'_> {
        Drop::new(self)
    }
}

super::gridfs_action! {
    /// Drops a bucket: [`GridFsBucket::drop`].
    pub struct Drop<'a> {}
    /// `timeoutMS` for the whole drop (both collections), over the bucket's.
    timeout;
    runs: |this, budget| -> () {
        this.bucket.set_indexes_checked(false);
        within!(budget, this.bucket.files().drop())?;
        within!(budget, this.bucket.chunks().drop())?;
        Ok(())
    }
}
