//! [`Collection::drop`] and [`Database::drop`]: dropping what does not exist succeeds.

use crate::coll::Collection;
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
    runs: |t, this| -> () {
        SimpleCommand::drop(t.db(), t.coll(), t.writes(this.options))
    }
}

action! {
    /// Drops a database: [`Database::drop`].
    pub struct DropDatabase<'a> {}
    options: DropOptions, drop_setters;
    runs: |t, this| -> () {
        SimpleCommand::drop_database(t.db(), t.writes(this.options))
    }
}
