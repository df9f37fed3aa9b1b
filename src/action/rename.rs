//! [`Collection::rename`].

use super::SessionMode;
use crate::coll::Collection;
use crate::error::Result;
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
}

impl<'a, S: SessionMode<'a>> Rename<'a, S> {
    async fn execute(self) -> Result<()> {
        let t = self.target;
        let (from, to) = (
            format!("{}.{}", t.db(), t.coll()),
            format!("{}.{}", t.db(), self.to),
        );
        let op = SimpleCommand::rename(&from, &to, t.writes(self.options));
        t.execute(op, self.session.into_session()).await
    }
}
into_future!(impl<'a, S> Rename<'a, S> => () where S: SessionMode<'a>);
