//! [`Collection::list_search_indexes`].

use bson::{doc, Document};

use super::SessionMode;
use crate::coll::Collection;
use crate::error::Result;
use crate::operation;
use crate::options::{AggregateOptions, ListSearchIndexOptions};

impl<T: Send + Sync> Collection<T> {
    /// The collection's search indexes: an aggregation with the `$listSearchIndexes` stage.
    /// Returns a [`ListSearchIndexes`] action whose output is a `Cursor<Document>`.
    ///
    /// ```no_run
    /// # async fn f(movies: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let plots: Vec<_> = movies.list_search_indexes().name("plots").await?.try_collect().await?;
    /// # let _ = plots; Ok(()) }
    /// ```
    pub fn list_search_indexes(&self) -> ListSearchIndexes<'_> {
        ListSearchIndexes::new(self.target(), None, AggregateOptions::default())
    }
}

action! {
    /// Lists search indexes: [`Collection::list_search_indexes`].
    pub struct ListSearchIndexes<'a> {
        name: Option<String>,
        aggregate_options: AggregateOptions,
    }
    options: ListSearchIndexOptions, list_search_index_setters;
}

impl<'a, S> ListSearchIndexes<'a, S> {
    /// Only the search index with this name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Options of the aggregation that lists them (`batchSize`, `comment`, …). Their read
    /// concern, like the collection's, is not sent: search index commands take none.
    pub fn aggregate_options(mut self, options: AggregateOptions) -> Self {
        self.aggregate_options = options;
        self
    }
}

impl<'a, S: SessionMode<'a>> ListSearchIndexes<'a, S> {
    async fn execute(self) -> Result<S::Cursor<Document>> {
        let t = self.target;
        let mut options = self.aggregate_options;
        let mut reads = t.reads_of(&mut options);
        reads.read_concern = None;
        let stage = match self.name {
            Some(name) => doc! { "$listSearchIndexes": { "name": name } },
            None => doc! { "$listSearchIndexes": {} },
        };
        let coll = Some(t.coll().to_owned());
        let op = operation::Aggregate::new(t.db().to_owned(), coll, vec![stage], options, reads);
        t.cursor(op, self.session, Default::default()).await
    }
}
into_future!(impl<'a, S> ListSearchIndexes<'a, S> => S::Cursor<Document> where S: SessionMode<'a>);
