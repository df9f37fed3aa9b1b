//! [`Collection::create_index`] and [`Collection::create_indexes`].

use super::{Multiple, SessionMode, Single};
use crate::coll::Collection;
use crate::error::Result;
use crate::operation::SimpleCommand;
use crate::options::{CreateIndexOptions, IndexModel};
use crate::results::{CreateIndexResult, CreateIndexesResult};

impl<T: Send + Sync> Collection<T> {
    /// Creates an index. Returns a [`CreateIndex`] action whose output is a
    /// [`CreateIndexResult`] with the index's name.
    ///
    /// ```no_run
    /// # async fn f(users: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::{IndexModel, IndexOptions};
    /// let unique = IndexOptions::builder().unique(true).build();
    /// let model = IndexModel::builder().keys(doc! { "email": 1 }).options(unique).build();
    /// assert_eq!(users.create_index(model).await?.index_name, "email_1");
    /// # Ok(()) }
    /// ```
    pub fn create_index(&self, index: IndexModel) -> CreateIndex<'_, Single> {
        CreateIndex::new(self.target(), vec![index])
    }

    /// Creates several indexes in one command. Returns a [`CreateIndex`] action whose output
    /// is a [`CreateIndexesResult`].
    pub fn create_indexes(
        &self,
        indexes: impl IntoIterator<Item = IndexModel>,
    ) -> CreateIndex<'_, Multiple> {
        CreateIndex::new(self.target(), indexes.into_iter().collect())
    }
}

action! {
    /// Creates indexes: [`Collection::create_index`] and [`Collection::create_indexes`].
    pub struct CreateIndex<'a, M> {
        indexes: Vec<IndexModel>,
    }
    options: CreateIndexOptions, create_index_setters;
}

impl<'a, M, S: SessionMode<'a>> CreateIndex<'a, M, S> {
    /// Creates them and returns their names.
    async fn names(self) -> Result<Vec<String>> {
        let t = self.target;
        let options = t.writes(self.options);
        let (op, names) = SimpleCommand::create_indexes(t.db(), t.coll(), self.indexes, options)?;
        t.execute(op, self.session.into_session()).await?;
        Ok(names)
    }
}

impl<'a, S: SessionMode<'a>> CreateIndex<'a, Single, S> {
    async fn execute(self) -> Result<CreateIndexResult> {
        let index_name = self.names().await?.pop().unwrap_or_default();
        Ok(CreateIndexResult { index_name })
    }
}
into_future!(impl<'a, S> CreateIndex<'a, Single, S> => CreateIndexResult where S: SessionMode<'a>);

impl<'a, S: SessionMode<'a>> CreateIndex<'a, Multiple, S> {
    async fn execute(self) -> Result<CreateIndexesResult> {
        let index_names = self.names().await?;
        Ok(CreateIndexesResult { index_names })
    }
}
into_future!(impl<'a, S> CreateIndex<'a, Multiple, S> => CreateIndexesResult where S: SessionMode<'a>);
