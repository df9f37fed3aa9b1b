//! [`Collection::create_search_index`] and [`Collection::create_search_indexes`].

use super::{Multiple, SessionMode, Single};
use crate::coll::Collection;
use crate::error::{Error, Result};
use crate::operation::CreateSearchIndexes;
use crate::options::{CreateSearchIndexOptions, SearchIndexModel};

impl<T: Send + Sync> Collection<T> {
    /// Creates an Atlas Search or Vector Search index (the `createSearchIndexes` command;
    /// servers without a search process answer with an error). The index is built in the
    /// background: poll [`list_search_indexes`](Collection::list_search_indexes) until it is
    /// `queryable`. Returns a [`CreateSearchIndex`] action whose output is the index's name.
    ///
    /// ```no_run
    /// # async fn f(movies: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::SearchIndexModel;
    /// let model = SearchIndexModel::builder()
    ///     .definition(doc! { "mappings": { "dynamic": true } })
    ///     .build();
    /// let name = movies.create_search_index(model).await?;
    /// # let _ = name; Ok(()) }
    /// ```
    pub fn create_search_index(&self, model: SearchIndexModel) -> CreateSearchIndex<'_, Single> {
        CreateSearchIndex::new(self.target(), vec![model])
    }

    /// Creates several search indexes in one `createSearchIndexes` command. Returns a
    /// [`CreateSearchIndex`] action whose output is the indexes' names, in the order given.
    pub fn create_search_indexes(
        &self,
        models: impl IntoIterator<Item = SearchIndexModel>,
    ) -> CreateSearchIndex<'_, Multiple> {
        CreateSearchIndex::new(self.target(), models.into_iter().collect())
    }
}

action! {
    /// Creates search indexes: [`Collection::create_search_index`] and
    /// [`Collection::create_search_indexes`].
    pub struct CreateSearchIndex<'a, M> {
        models: Vec<SearchIndexModel>,
    }
    options: CreateSearchIndexOptions, create_search_index_setters;
}

impl<'a, M, S: SessionMode<'a>> CreateSearchIndex<'a, M, S> {
    async fn names(self) -> Result<Vec<String>> {
        let t = self.target;
        let op = CreateSearchIndexes::new(t.db(), t.coll(), self.models);
        t.execute(op, self.session.into_session()).await
    }
}

impl<'a, S: SessionMode<'a>> CreateSearchIndex<'a, Single, S> {
    async fn execute(self) -> Result<String> {
        self.names().await?.pop().ok_or_else(|| {
            Error::invalid_response("createSearchIndexes reply names no created index")
        })
    }
}
into_future!(impl<'a, S> CreateSearchIndex<'a, Single, S> => String where S: SessionMode<'a>);

impl<'a, S: SessionMode<'a>> CreateSearchIndex<'a, Multiple, S> {
    async fn execute(self) -> Result<Vec<String>> {
        self.names().await
    }
}
into_future!(impl<'a, S> CreateSearchIndex<'a, Multiple, S> => Vec<String> where S: SessionMode<'a>);
