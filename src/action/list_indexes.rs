//! [`Collection::list_indexes`] and [`Collection::list_index_names`].

use super::{ListNames, ListSpecifications, SessionMode};
use crate::coll::Collection;
use crate::error::Result;
use crate::operation;
use crate::options::{IndexModel, ListIndexesOptions};

impl<T: Send + Sync> Collection<T> {
    /// The collection's indexes. Returns a [`ListIndexes`] action whose output is a
    /// [`Cursor<IndexModel>`](crate::Cursor).
    pub fn list_indexes(&self) -> ListIndexes<'_, ListSpecifications> {
        ListIndexes::new(self.target())
    }

    /// The names of the collection's indexes. Returns a [`ListIndexes`] action whose output
    /// is a `Vec<String>`.
    ///
    /// ```no_run
    /// # async fn f(users: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// let names = users.list_index_names().await?;
    /// assert!(names.contains(&"_id_".to_string()));
    /// # Ok(()) }
    /// ```
    pub fn list_index_names(&self) -> ListIndexes<'_, ListNames> {
        ListIndexes::new(self.target())
    }
}

action! {
    /// Lists indexes: [`Collection::list_indexes`] and [`Collection::list_index_names`].
    pub struct ListIndexes<'a, M> {}
    options: ListIndexesOptions, list_indexes_setters;
}

impl<'a, M, S: SessionMode<'a>> ListIndexes<'a, M, S> {
    fn op(&self) -> operation::ListIndexes {
        let t = self.target;
        operation::ListIndexes::new(t.db(), t.coll(), self.options.clone(), t.reads())
    }
}

impl<'a, S: SessionMode<'a>> ListIndexes<'a, ListSpecifications, S> {
    async fn execute(self) -> Result<S::Cursor<IndexModel>> {
        let op = self.op();
        let cursor = super::CursorTimeout {
            mode: self.options.timeout_mode,
            ..Default::default()
        };
        self.target.cursor(op, self.session, cursor).await
    }
}
into_future!(impl<'a, S> ListIndexes<'a, ListSpecifications, S> => S::Cursor<IndexModel>
    where S: SessionMode<'a>);

impl<'a, S: SessionMode<'a>> ListIndexes<'a, ListNames, S> {
    async fn execute(self) -> Result<Vec<String>> {
        let op = self.op();
        let keep = |m: IndexModel| Some(m.name());
        self.target
            .collect(op, self.session.into_session(), keep)
            .await
    }
}
into_future!(impl<'a, S> ListIndexes<'a, ListNames, S> => Vec<String> where S: SessionMode<'a>);
