//! [`Collection::rename`].

use crate::coll::Collection;
use crate::operation::SimpleCommand;
use crate::options::RenameCollectionOptions;

impl<T: Send + Sync> Collection<T> {
    /// Renames the collection to `to` in the same database (`renameCollection`). Returns a
    /// [`Rename`] action.
    pub fn rename(&self, to: impl AsRef<str>) -> Rename<'_> {
        Rename::new(self.target(), to.as_ref().to_owned())
    }
}

action! {
    /// Renames a collection: [`Collection::rename`].
    pub struct Rename<'a> {
        to: String,
    }
    options: RenameCollectionOptions, rename_setters;
    runs: |t, this| -> () {
        let (from, to) = (
            format!("{}.{}", t.db(), t.coll()),
            format!("{}.{}", t.db(), this.to),
        );
        SimpleCommand::rename(&from, &to, t.writes(this.options))
    }
}
