//! [`Collection::drop_index`] and [`Collection::drop_indexes`].

use crate::coll::Collection;
use crate::operation::SimpleCommand;
use crate::options::DropIndexOptions;

impl<T: Send + Sync> Collection<T> {
    /// Drops the index named `name`. Returns a [`DropIndex`] action.
    pub fn drop_index(&self, name: impl AsRef<str>) -> DropIndex<'_> {
        DropIndex::new(self.target(), name.as_ref().to_owned())
    }

    /// Drops every index but the `_id` index. Returns a [`DropIndex`] action.
    pub fn drop_indexes(&self) -> DropIndex<'_> {
        DropIndex::new(self.target(), "*".to_owned())
    }
}

action! {
    /// Drops indexes: [`Collection::drop_index`] and [`Collection::drop_indexes`].
    pub struct DropIndex<'a> {
        name: String,
    }
    options: DropIndexOptions, drop_index_setters;
    runs: |t, this| -> () {
        SimpleCommand::drop_indexes(t.db(), t.coll(), &this.name, t.writes(this.options))
    }
}
