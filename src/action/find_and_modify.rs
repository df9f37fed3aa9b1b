//! `findAndModify`: [`Collection::find_one_and_delete`], [`Collection::find_one_and_update`]
//! and [`Collection::find_one_and_replace`].

use std::borrow::Borrow;

use bson::Document;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{SessionMode, Target};
use crate::coll::{to_document, Collection};
use crate::error::Result;
use crate::operation::FindAndModify;
use crate::options::{
    FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, UpdateModifications,
};
use crate::ClientSession;

impl<T: DeserializeOwned + Send + Sync> Collection<T> {
    /// Atomically finds the first document matching `filter` (in `sort` order), deletes it and
    /// returns it, or `None` when nothing matched. Returns a [`FindOneAndDelete`] action.
    ///
    /// ```no_run
    /// # async fn f(jobs: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// // Take the oldest queued job.
    /// let job = jobs.find_one_and_delete(doc! { "state": "queued" }).sort(doc! { "at": 1 }).await?;
    /// # let _ = job; Ok(()) }
    /// ```
    pub fn find_one_and_delete(&self, filter: Document) -> FindOneAndDelete<'_, T> {
        FindOneAndDelete::new(self.target(), filter)
    }

    /// Atomically finds the first document matching `filter` (in `sort` order), applies the
    /// update operators or pipeline in `update`, and returns the document as it was before
    /// (the default) or after ([`ReturnDocument::After`](crate::options::ReturnDocument)), or
    /// `None` when nothing matched. Returns a [`FindOneAndUpdate`] action.
    ///
    /// ```no_run
    /// # async fn f(counters: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::ReturnDocument;
    /// // A sequence number: increment and read in one step.
    /// let next = counters
    ///     .find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } })
    ///     .upsert(true)
    ///     .return_document(ReturnDocument::After)
    ///     .await?;
    /// # let _ = next; Ok(()) }
    /// ```
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate::new(self.target(), filter, update.into())
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Collection<T> {
    /// Atomically finds the first document matching `filter` (in `sort` order), replaces it
    /// with `replacement` (which must not contain update operators), and returns the document
    /// as it was before (the default) or after, or `None` when nothing matched. Returns a
    /// [`FindOneAndReplace`] action.
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
    ) -> FindOneAndReplace<'_, T> {
        FindOneAndReplace::new(self.target(), filter, to_document(replacement.borrow()))
    }
}

/// Runs the operation and reads the document into `T`.
async fn run<T: DeserializeOwned>(
    target: Target<'_>,
    op: FindAndModify,
    session: Option<&mut ClientSession>,
) -> Result<Option<T>> {
    match target.execute(op, session).await? {
        Some(d) => Ok(Some(bson::from_document(d)?)),
        None => Ok(None),
    }
}

/// Declares a find-and-modify action: the action, and an `execute` that makes its
/// [`FindAndModify`] from the target `t`, the action `this` and its `options` (with the
/// write concern applied), runs it and reads the document into `T`.
macro_rules! find_and_modify_action {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a, T> { $($field:ident: $fty:ty,)* }
        options: $opts:ident, $setters:ident;
        runs: |$t:ident, $this:ident, $options:ident| $op:block
    ) => {
        action! {
            $(#[$meta])*
            pub struct $name<'a, T> { $($field: $fty,)* }
            options: $opts, $setters;
        }

        impl<'a, T: DeserializeOwned + Send + Sync, S: SessionMode<'a>> $name<'a, T, S> {
            async fn execute(self) -> Result<Option<T>> {
                let $this = self;
                let $t = $this.target;
                let $options = $t.writes($this.options);
                let op = $op;
                run($t, op, $this.session.into_session()).await
            }
        }
        into_future!(impl<'a, T, S> $name<'a, T, S> => Option<T>
            where T: DeserializeOwned + Send + Sync + 'a, S: SessionMode<'a>);
    };
}

find_and_modify_action! {
    /// Finds and deletes a document: [`Collection::find_one_and_delete`].
    pub struct FindOneAndDelete<'a, T> {
        filter: Document,
    }
    options: FindOneAndDeleteOptions, find_one_and_delete_setters;
    runs: |t, this, options| { FindAndModify::delete(t.db(), t.coll(), this.filter, options)? }
}

find_and_modify_action! {
    /// Finds and updates a document: [`Collection::find_one_and_update`].
    pub struct FindOneAndUpdate<'a, T> {
        filter: Document,
        update: UpdateModifications,
    }
    options: FindOneAndUpdateOptions, find_one_and_update_setters;
    runs: |t, this, options| {
        FindAndModify::update(t.db(), t.coll(), this.filter, this.update, options)?
    }
}

find_and_modify_action! {
    /// Finds and replaces a document: [`Collection::find_one_and_replace`].
    pub struct FindOneAndReplace<'a, T> {
        filter: Document,
        replacement: Result<Document>,
    }
    options: FindOneAndReplaceOptions, find_one_and_replace_setters;
    runs: |t, this, options| {
        let replacement = this.replacement?;
        FindAndModify::replace(t.db(), t.coll(), this.filter, replacement, options)?
    }
}
