//! [`Collection::drop`] and [`Database::drop`]: dropping what does not exist succeeds.

use super::SessionMode;
use crate::coll::Collection;
use crate::error::Result;
use crate::operation::SimpleCommand;
use crate::options::DropOptions;
use crate::Database;

impl<T: Send + Sync> Collection<T> {
    /// Drops the collection. Dropping a collection that does not exist succeeds. Returns a
    /// [`DropCollection`] action.
    pub fn drop(&self) -> DropCollection<'_> {
        DropCollection::new(self.target())
    }
}

impl Database {
    /// Drops the database. Dropping a database that does not exist succeeds. Returns a
    /// [`DropDatabase`] action.
    pub fn drop(&self) -> DropDatabase<'_> {
        DropDatabase::new(self.target())
    }
}

action! {
    /// Drops a collection: [`Collection::drop`].
    pub struct DropCollection<'a> {}
    options: DropOptions, drop_setters;
}

impl<'a, S: SessionMode<'a>> DropCollection<'a, S> {
    async fn execute(self) -> Result<()> {
        let t = self.target;
        let op = SimpleCommand::drop(t.db(), t.coll(), t.writes(self.options));
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> DropCollection<'a, S> => () where S: SessionMode<'a>);

action! {
    /// Drops a database: [`Database::drop`].
    pub struct DropDatabase<'a> {}
    options: DropOptions, drop_setters;
}

impl<'a, S: SessionMode<'a>> DropDatabase<'a, S> {
    async fn execute(self) -> Result<()> {
        let t = self.target;
        let op = SimpleCommand::drop_database(t.db(), t.writes(self.options));
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> DropDatabase<'a, S> => () where S: SessionMode<'a>);
