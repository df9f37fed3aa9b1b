//! [`Database`]: a blocking database handle.

use std::ops::Deref;

use super::gridfs::GridFsBucket;
use super::Collection;
use crate::options::{CollectionOptions, GridFsBucketOptions};

blocking_wrapper! {
    /// A database of a blocking [`Client`](super::Client): the async
    /// [`Database`](crate::Database), whose actions (`run_command`, `list_collection_names`,
    /// `create_collection`, `aggregate`, `watch`, `drop`, …) run here with `.run()`.
    /// [`collection`](Self::collection) gives a blocking [`Collection`]. Cheap to clone.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let db = client.database("shop");
    /// db.create_collection("orders").run()?;
    /// let reply = db.run_command(doc! { "dbStats": 1 }).run()?;
    /// println!("{reply}");
    /// # Ok(()) }
    /// ```
    #[derive(Clone, Debug)]
    pub struct Database(crate::Database);
}

impl Database {
    /// A handle to the collection `name` whose documents are `T`; see
    /// [`Database::collection`](crate::Database::collection).
    ///
    /// ```no_run
    /// # fn f(db: mongo_x509::sync::Database) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let orders = db.collection::<Document>("orders");
    /// let n = orders.count_documents(doc! {}).run()?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        Collection::from_held(self.held.with(self.held.get().collection(name)))
    }

    /// A handle to the collection `name` with its own defaults; see
    /// [`Database::collection_with_options`](crate::Database::collection_with_options).
    ///
    /// ```no_run
    /// # fn f(db: mongo_x509::sync::Database) {
    /// use mongo_x509::bson::Document;
    /// use mongo_x509::options::{CollectionOptions, WriteConcern};
    /// let audit = db.collection_with_options::<Document>(
    ///     "audit",
    ///     CollectionOptions::builder().write_concern(WriteConcern::majority()).build(),
    /// );
    /// # let _ = audit; }
    /// ```
    pub fn collection_with_options<T: Send + Sync>(
        &self,
        name: &str,
        options: CollectionOptions,
    ) -> Collection<T> {
        let coll = self.held.get().collection_with_options(name, options);
        Collection::from_held(self.held.with(coll))
    }

    /// A GridFS bucket in this database; see
    /// [`Database::gridfs_bucket`](crate::Database::gridfs_bucket).
    ///
    /// ```no_run
    /// # fn f(db: mongo_x509::sync::Database) -> mongo_x509::error::Result<()> {
    /// use std::io::Write;
    /// let bucket = db.gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("notes.txt").run()?;
    /// upload.write_all(b"hello")?;
    /// upload.close()?;
    /// # Ok(()) }
    /// ```
    pub fn gridfs_bucket(&self, options: impl Into<Option<GridFsBucketOptions>>) -> GridFsBucket {
        GridFsBucket::from_held(self.held.with(self.held.get().gridfs_bucket(options)))
    }
}

impl Deref for Database {
    type Target = crate::Database;

    /// The async database: its actions run here with `.run()`.
    fn deref(&self) -> &crate::Database {
        self.held.get()
    }
}
