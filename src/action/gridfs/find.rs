//! [`GridFsBucket::find`] and [`GridFsBucket::find_one`].

use bson::Document;

use crate::cursor::Cursor;
use crate::error::Result;
use crate::gridfs::{FilesCollectionDocument, GridFsBucket};
use crate::options::{FindOneOptions, FindOptions, GridFsFindOneOptions, GridFsFindOptions};

impl GridFsBucket {
    /// The files documents matching `filter` (on `filename`, `length`, `uploadDate`,
    /// `metadata.<field>`…). Returns a [`Find`] action whose output is a
    /// [`Cursor<FilesCollectionDocument>`](crate::Cursor).
    ///
    /// ```no_run
    /// # async fn f(bucket: mongo_x509::gridfs::GridFsBucket) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use mongo_x509::bson::doc;
    /// let anns: Vec<_> = bucket
    ///     .find(doc! { "metadata.owner": "ann" })
    ///     .sort(doc! { "uploadDate": -1 })
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = anns; Ok(()) }
    /// ```
    pub fn find(&self, filter: Document) -> Find<'_> {
        Find::new(self, filter)
    }

    /// The first files document matching `filter`, or `None`. Returns a [`FindOne`] action.
    pub fn find_one(&self, filter: Document) -> FindOne<'_> {
        FindOne {
            bucket: self,
            filter,
            options: GridFsFindOneOptions::default(),
        }
    }
}

handle_action! {
    /// Finds files documents: [`GridFsBucket::find`].
    pub struct Find<'a> { bucket: &'a GridFsBucket, filter: Document }
    options: GridFsFindOptions, gridfs_find_setters;
    /// `timeoutMS` for the find and the cursor's lifetime, over the bucket's.
    timeout;
}

impl Find<'_> {
    async fn execute(self) -> Result<Cursor<FilesCollectionDocument>> {
        let options = FindOptions::from(self.options);
        let find = self.bucket.files().find(self.filter).with_options(options);
        match self.timeout {
            Some(t) => find.timeout(t).await,
            None => find.await,
        }
    }
}
into_future!(impl<'a> Find<'a> => Cursor<FilesCollectionDocument>);

/// Finds one files document: [`GridFsBucket::find_one`].
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOne<'a> {
    bucket: &'a GridFsBucket,
    filter: Document,
    options: GridFsFindOneOptions,
}

impl FindOne<'_> {
    crate::options::gridfs_find_one_setters::setters!();

    async fn execute(self) -> Result<Option<FilesCollectionDocument>> {
        let options = FindOneOptions::from(self.options);
        self.bucket
            .files()
            .find_one(self.filter)
            .with_options(options)
            .await
    }
}
into_future!(impl<'a> FindOne<'a> => Option<FilesCollectionDocument>);
super::gridfs_action!(FindOne);
