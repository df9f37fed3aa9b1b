//! [`Database::create_collection`].

use crate::operation::SimpleCommand;
use crate::options::CreateCollectionOptions;
use crate::Database;

impl Database {
    /// Creates a collection (or a view, a capped, time-series or clustered collection, by its
    /// options). Returns a [`CreateCollection`] action.
    ///
    /// ```no_run
    /// # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// db.create_collection("events").capped(true).size(1 << 20).await?;
    /// db.create_collection("adults")
    ///     .view_on("people".to_string())
    ///     .pipeline([doc! { "$match": { "age": { "$gte": 18 } } }])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn create_collection(&self, name: impl AsRef<str>) -> CreateCollection<'_> {
        CreateCollection::new(self.target(), name.as_ref().to_owned())
    }
}

action! {
    /// Creates a collection: [`Database::create_collection`].
    pub struct CreateCollection<'a> {
        name: String,
    }
    options: CreateCollectionOptions, create_collection_setters;
    runs: |t, this| -> () {
        SimpleCommand::create(t.db(), &this.name, t.writes(this.options))
    }
}
