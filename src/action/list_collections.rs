//! [`Database::list_collections`] and [`Database::list_collection_names`].

use bson::{Bson, Document};

use super::{ListNames, ListSpecifications, SessionMode};
use crate::error::Result;
use crate::operation;
use crate::options::ListCollectionsOptions;
use crate::results::CollectionSpecification;
use crate::Database;

impl Database {
    /// The collections and views in this database, with their options. Returns a
    /// [`ListCollections`] action whose output is a
    /// [`Cursor<CollectionSpecification>`](crate::Cursor).
    pub fn list_collections(&self) -> ListCollections<'_, ListSpecifications> {
        ListCollections::new(self.target())
    }

    /// The names of the collections in this database (`listCollections` with `nameOnly`).
    /// Returns a [`ListCollections`] action whose output is a `Vec<String>`.
    ///
    /// ```no_run
    /// # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let logs = db.list_collection_names().filter(doc! { "name": { "$regex": "^log" } }).await?;
    /// # let _ = logs; Ok(()) }
    /// ```
    pub fn list_collection_names(&self) -> ListCollections<'_, ListNames> {
        ListCollections::new(self.target())
    }
}

action! {
    /// Lists collections: [`Database::list_collections`] and
    /// [`Database::list_collection_names`].
    pub struct ListCollections<'a, M> {}
    options: ListCollectionsOptions, list_collections_setters;
}

impl<'a, S: SessionMode<'a>> ListCollections<'a, ListSpecifications, S> {
    async fn execute(self) -> Result<S::Cursor<CollectionSpecification>> {
        let t = self.target;
        let cursor = super::CursorTimeout {
            mode: self.options.timeout_mode,
            ..Default::default()
        };
        let op = operation::ListCollections::new(t.db(), self.options, false, t.reads());
        t.cursor(op, self.session, cursor).await
    }
}
into_future!(impl<'a, S> ListCollections<'a, ListSpecifications, S>
    => S::Cursor<CollectionSpecification> where S: SessionMode<'a>);

impl<'a, S: SessionMode<'a>> ListCollections<'a, ListNames, S> {
    async fn execute(self) -> Result<Vec<String>> {
        let t = self.target;
        let op = operation::ListCollections::new(t.db(), self.options, true, t.reads());
        let keep = |d: Document| match d.get("name") {
            Some(Bson::String(n)) => Some(n.clone()),
            _ => None,
        };
        t.collect(op, self.session.into_session(), keep).await
    }
}
into_future!(impl<'a, S> ListCollections<'a, ListNames, S> => Vec<String> where S: SessionMode<'a>);
