//! The `findAndModify` actions: [`FindOneAndDelete`], [`FindOneAndUpdate`],
//! [`FindOneAndReplace`].

use std::marker::PhantomData;
use std::time::Duration;

use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use super::options::{
    FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, Hint,
    ReturnDocument,
};
use super::UpdateModifications;
use crate::error::Result;
use crate::operation::FindAndModify;
use crate::options::WriteConcern;
use crate::{Client, ClientSession};

/// Runs the operation and reads the document into `T`.
async fn run<T: DeserializeOwned>(
    client: &Client,
    op: FindAndModify,
    session: Option<&mut ClientSession>,
) -> Result<Option<T>> {
    match client.execute_in(op, session).await? {
        Some(d) => Ok(Some(bson::from_document(d)?)),
        None => Ok(None),
    }
}

/// [`Collection::find_one_and_delete`](crate::Collection::find_one_and_delete).
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOneAndDelete<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: FindOneAndDeleteOptions,
    session: Option<&'a mut ClientSession>,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T> FindOneAndDelete<'a, T> {
    pub(crate) fn new(client: &'a Client, db: &'a str, coll: &'a str, filter: Document) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            options: FindOneAndDeleteOptions::default(),
            session: None,
            _type: PhantomData,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(FindOneAndDeleteOptions;
        /// Which document is deleted when several match.
        sort: Document,
        /// Which fields of the deleted document to return.
        projection: Document,
        /// `maxTimeMS`.
        max_time: Duration,
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );
}

impl<T: DeserializeOwned> FindOneAndDelete<'_, T> {
    async fn execute(self) -> Result<Option<T>> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op = FindAndModify::delete(self.db, self.coll, self.filter, options);
        run(self.client, op, self.session).await
    }
}
into_future!(FindOneAndDelete<'a, T: DeserializeOwned Send Sync> => Option<T>);

/// [`Collection::find_one_and_update`](crate::Collection::find_one_and_update).
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOneAndUpdate<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    update: UpdateModifications,
    options: FindOneAndUpdateOptions,
    session: Option<&'a mut ClientSession>,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T> FindOneAndUpdate<'a, T> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        filter: Document,
        update: UpdateModifications,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            update,
            options: FindOneAndUpdateOptions::default(),
            session: None,
            _type: PhantomData,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(FindOneAndUpdateOptions;
        /// Which document is updated when several match.
        sort: Document,
        /// Which fields of the returned document to return.
        projection: Document,
        /// Insert a document when none matches.
        upsert: bool,
        /// Return the document before (the default) or after the update.
        return_document: ReturnDocument,
        /// Filters for `$[identifier]` array updates.
        array_filters: Vec<Document>,
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// `maxTimeMS`.
        max_time: Duration,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );
}

impl<T: DeserializeOwned> FindOneAndUpdate<'_, T> {
    async fn execute(self) -> Result<Option<T>> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op = FindAndModify::update(self.db, self.coll, self.filter, self.update, options)?;
        run(self.client, op, self.session).await
    }
}
into_future!(FindOneAndUpdate<'a, T: DeserializeOwned Send Sync> => Option<T>);

/// [`Collection::find_one_and_replace`](crate::Collection::find_one_and_replace).
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOneAndReplace<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    replacement: Result<Document>,
    options: FindOneAndReplaceOptions,
    session: Option<&'a mut ClientSession>,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T> FindOneAndReplace<'a, T> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        filter: Document,
        replacement: Result<Document>,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            replacement,
            options: FindOneAndReplaceOptions::default(),
            session: None,
            _type: PhantomData,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(FindOneAndReplaceOptions;
        /// Which document is replaced when several match.
        sort: Document,
        /// Which fields of the returned document to return.
        projection: Document,
        /// Insert the replacement when nothing matches.
        upsert: bool,
        /// Return the document before (the default) or after the replacement.
        return_document: ReturnDocument,
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// `maxTimeMS`.
        max_time: Duration,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );
}

impl<T: DeserializeOwned> FindOneAndReplace<'_, T> {
    async fn execute(self) -> Result<Option<T>> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op =
            FindAndModify::replace(self.db, self.coll, self.filter, self.replacement?, options)?;
        run(self.client, op, self.session).await
    }
}
into_future!(FindOneAndReplace<'a, T: DeserializeOwned Send Sync> => Option<T>);
