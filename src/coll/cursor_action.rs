//! The actions that open cursors: [`Find`], [`FindOne`] and [`Aggregate`]. With
//! `.session(&mut s)`, `find` and `aggregate` change type and yield a
//! [`SessionCursor`], as in the official crate.

use std::marker::PhantomData;
use std::time::Duration;

use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use super::options::*;
use crate::client::Leftovers;
use crate::cursor::{Cursor, SessionCursor};
use crate::error::Result;
use crate::operation;
use crate::options::WriteConcern;
use crate::{Client, ClientSession};

/// The action runs in an implicit session (the default): it yields a [`Cursor`].
#[derive(Debug, Default)]
pub struct ImplicitSession;

/// The action runs in an explicit session: it yields a [`SessionCursor`].
#[derive(Debug)]
pub struct ExplicitSession<'a>(&'a mut ClientSession);

/// Opens a cursor: the command's cursor, the implicit session it keeps and, in load-balanced
/// mode, the connection it is pinned to.
async fn open_cursor<Op>(
    client: &Client,
    op: Op,
    session: Option<&mut ClientSession>,
) -> Result<(crate::operation::CursorSpec, Leftovers)>
where
    Op: crate::operation::Operation<Output = crate::operation::CursorSpec>,
{
    let run = crate::client::Run {
        session,
        pinned: None,
        keep_connection: client.is_load_balanced(),
        keep_session: true,
        deadline: None,
    };
    let (result, leftovers) = client.run(op, run).await;
    result.map(|spec| (spec, leftovers))
}

/// [`Collection::find`](crate::Collection::find).
#[must_use = "an action does nothing until it is awaited"]
pub struct Find<'a, T, S = ImplicitSession> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: FindOptions,
    session: S,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T> Find<'a, T> {
    pub(crate) fn new(client: &'a Client, db: &'a str, coll: &'a str, filter: Document) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            options: FindOptions::default(),
            session: ImplicitSession,
            _type: PhantomData,
        }
    }

    /// Runs the query in `session`; the result is then a [`SessionCursor`], iterated with the
    /// same session.
    pub fn session(self, session: &'a mut ClientSession) -> Find<'a, T, ExplicitSession<'a>> {
        Find {
            client: self.client,
            db: self.db,
            coll: self.coll,
            filter: self.filter,
            options: self.options,
            session: ExplicitSession(session),
            _type: PhantomData,
        }
    }
}

impl<T, S> Find<'_, T, S> {
    setters!(FindOptions;
        /// Order of the results.
        sort: Document,
        /// Which fields to return.
        projection: Document,
        /// At most this many documents (negative: also a single batch).
        limit: i64,
        /// Skip this many documents first.
        skip: u64,
        /// Documents per batch.
        batch_size: u32,
        /// `maxTimeMS`.
        max_time: Duration,
        /// A comment.
        comment: Bson,
        /// The index to use.
        hint: Hint,
        /// Let the server use temporary files for large sorts.
        allow_disk_use: bool,
    );

    fn op(&mut self) -> operation::Find {
        operation::Find::new(
            self.db,
            self.coll,
            std::mem::take(&mut self.filter),
            std::mem::take(&mut self.options),
            self.client.read_concern(),
            self.client.read_criteria(),
        )
    }
}

impl<T> Find<'_, T> {
    async fn execute(mut self) -> Result<Cursor<T>> {
        let (spec, left) = open_cursor(self.client, self.op(), None).await?;
        Ok(Cursor::new(self.client.clone(), spec, left))
    }
}

impl<T> Find<'_, T, ExplicitSession<'_>> {
    async fn execute(mut self) -> Result<SessionCursor<T>> {
        let op = self.op();
        let session = self.session.0;
        let (spec, left) = open_cursor(self.client, op, Some(&mut *session)).await?;
        Ok(SessionCursor::new(self.client.clone(), spec, left, session))
    }
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> std::future::IntoFuture for Find<'a, T> {
    type Output = Result<Cursor<T>>;
    type IntoFuture = futures_core::future::BoxFuture<'a, Result<Cursor<T>>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

impl<'a, T: DeserializeOwned + Send + Sync + 'a> std::future::IntoFuture
    for Find<'a, T, ExplicitSession<'a>>
{
    type Output = Result<SessionCursor<T>>;
    type IntoFuture = futures_core::future::BoxFuture<'a, Result<SessionCursor<T>>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

/// [`Collection::find_one`](crate::Collection::find_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOne<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: FindOneOptions,
    session: Option<&'a mut ClientSession>,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T> FindOne<'a, T> {
    pub(crate) fn new(client: &'a Client, db: &'a str, coll: &'a str, filter: Document) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            options: FindOneOptions::default(),
            session: None,
            _type: PhantomData,
        }
    }

    /// Runs the query in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(FindOneOptions;
        /// Which document comes first.
        sort: Document,
        /// Which fields to return.
        projection: Document,
        /// Skip this many documents first.
        skip: u64,
        /// `maxTimeMS`.
        max_time: Duration,
        /// A comment.
        comment: Bson,
        /// The index to use.
        hint: Hint,
    );
}

impl<T: DeserializeOwned> FindOne<'_, T> {
    async fn execute(self) -> Result<Option<T>> {
        let o = self.options;
        let options = FindOptions {
            sort: o.sort,
            projection: o.projection,
            skip: o.skip,
            max_time: o.max_time,
            comment: o.comment,
            hint: o.hint,
            limit: Some(-1),
            ..FindOptions::default()
        };
        let op = operation::Find::new(
            self.db,
            self.coll,
            self.filter,
            options,
            self.client.read_concern(),
            self.client.read_criteria(),
        );
        // The first result, deserialized straight from the reply's bytes.
        let item = match self.session {
            Some(session) => {
                let (spec, left) = open_cursor(self.client, op, Some(&mut *session)).await?;
                let mut cursor = SessionCursor::<T>::new(self.client.clone(), spec, left, session);
                cursor.next(session).await
            }
            None => {
                let (spec, left) = open_cursor(self.client, op, None).await?;
                let mut cursor = Cursor::<T>::new(self.client.clone(), spec, left);
                cursor.next_item().await
            }
        };
        item.transpose()
    }
}
into_future!(FindOne<'a, T: DeserializeOwned Send Sync> => Option<T>);

/// [`Collection::aggregate`](crate::Collection::aggregate) and
/// [`Database::aggregate`](crate::Database::aggregate).
#[must_use = "an action does nothing until it is awaited"]
pub struct Aggregate<'a, S = ImplicitSession> {
    client: &'a Client,
    db: String,
    /// `None`: a database-level aggregation.
    coll: Option<String>,
    pipeline: Vec<Document>,
    options: AggregateOptions,
    session: S,
}

impl<'a> Aggregate<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: String,
        coll: Option<String>,
        pipeline: Vec<Document>,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            pipeline,
            options: AggregateOptions::default(),
            session: ImplicitSession,
        }
    }

    /// Runs the aggregation in `session`; the result is then a [`SessionCursor`], iterated
    /// with the same session.
    pub fn session(self, session: &'a mut ClientSession) -> Aggregate<'a, ExplicitSession<'a>> {
        Aggregate {
            client: self.client,
            db: self.db,
            coll: self.coll,
            pipeline: self.pipeline,
            options: self.options,
            session: ExplicitSession(session),
        }
    }
}

impl<S> Aggregate<'_, S> {
    setters!(AggregateOptions;
        /// Let the server use temporary files.
        allow_disk_use: bool,
        /// Documents per batch.
        batch_size: u32,
        /// `maxTimeMS`.
        max_time: Duration,
        /// A comment.
        comment: Bson,
        /// The index to use.
        hint: Hint,
        /// Variables (`let`).
        let_vars: Document,
        /// The write concern for `$out`/`$merge`.
        write_concern: WriteConcern,
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
    );

    fn op(&mut self) -> operation::Aggregate {
        let mut options = std::mem::take(&mut self.options);
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        operation::Aggregate::new(
            std::mem::take(&mut self.db),
            self.coll.take(),
            std::mem::take(&mut self.pipeline),
            options,
            self.client.read_concern(),
            self.client.read_criteria(),
        )
    }
}

impl Aggregate<'_> {
    async fn execute(mut self) -> Result<Cursor<Document>> {
        let (spec, left) = open_cursor(self.client, self.op(), None).await?;
        Ok(Cursor::new(self.client.clone(), spec, left))
    }
}

impl Aggregate<'_, ExplicitSession<'_>> {
    async fn execute(mut self) -> Result<SessionCursor<Document>> {
        let op = self.op();
        let session = self.session.0;
        let (spec, left) = open_cursor(self.client, op, Some(&mut *session)).await?;
        Ok(SessionCursor::new(self.client.clone(), spec, left, session))
    }
}

impl<'a> std::future::IntoFuture for Aggregate<'a> {
    type Output = Result<Cursor<Document>>;
    type IntoFuture = futures_core::future::BoxFuture<'a, Result<Cursor<Document>>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

impl<'a> std::future::IntoFuture for Aggregate<'a, ExplicitSession<'a>> {
    type Output = Result<SessionCursor<Document>>;
    type IntoFuture = futures_core::future::BoxFuture<'a, Result<SessionCursor<Document>>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}
