//! [`Collection::drop_search_index`].

use crate::coll::Collection;
use crate::operation::SearchIndexCommand;
use crate::options::DropSearchIndexOptions;

impl<T: Send + Sync> Collection<T> {
    /// Drops the search index named `name` (the `dropSearchIndex` command). Dropping from a
    /// collection that does not exist succeeds. Returns a [`DropSearchIndex`] action.
    pub fn drop_search_index(&self, name: impl AsRef<str>) -> DropSearchIndex<'_> {
        DropSearchIndex::new(self.target(), name.as_ref().to_owned())
    }
}

action! {
    /// Drops a search index: [`Collection::drop_search_index`].
    pub struct DropSearchIndex<'a> {
        name: String,
    }
    options: DropSearchIndexOptions, drop_search_index_setters;
    runs: |t, this| -> () {
        SearchIndexCommand::drop(t.db(), t.coll(), &this.name)
    }
}
