//! [`Collection::update_search_index`].

use bson::Document;

use crate::coll::Collection;
use crate::operation::SearchIndexCommand;
use crate::options::UpdateSearchIndexOptions;

impl<T: Send + Sync> Collection<T> {
    /// Replaces the definition of the search index named `name` (the `updateSearchIndex`
    /// command; the server rebuilds the index in the background). Returns an
    /// [`UpdateSearchIndex`] action.
    pub fn update_search_index(
        &self,
        name: impl AsRef<str>,
        definition: Document,
    ) -> UpdateSearchIndex<'_> {
        UpdateSearchIndex::new(self.target(), name.as_ref().to_owned(), definition)
    }
}

action! {
    /// Updates a search index: [`Collection::update_search_index`].
    pub struct UpdateSearchIndex<'a> {
        name: String,
        definition: Document,
    }
    options: UpdateSearchIndexOptions, update_search_index_setters;
    runs: |t, this| -> () {
        SearchIndexCommand::update(t.db(), t.coll(), &this.name, this.definition)
    }
}
