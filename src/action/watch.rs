//! [`Collection::watch`], [`Database::watch`] and [`Client::watch`]: change streams.

use bson::Document;
use serde::de::DeserializeOwned;

use super::{ExplicitSession, ImplicitSession, SessionMode};
use crate::change_stream::event::ChangeStreamEvent;
use crate::change_stream::{self, ChangeStream, SessionChangeStream, WatchArgs};
use crate::coll::Collection;
use crate::error::Result;
use crate::options::ChangeStreamOptions;
use crate::{Client, Database};

impl Client {
    /// The changes to every collection of every database (but `admin`, `local` and
    /// `config`), as they happen. Returns a [`Watch`] action whose output is a
    /// [`ChangeStream`] (a [`SessionChangeStream`] in an explicit session).
    ///
    /// Change streams need a replica set or a sharded cluster, and a `majority` read concern
    /// or none. A pipeline must keep the events' `_id`: the stream resumes with it.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let mut stream = client.watch().await?;
    /// while let Some(event) = stream.try_next().await? {
    ///     println!("{:?} in {:?}", event.operation_type, event.ns);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch(&self) -> Watch<'_, Document> {
        Watch::new(self.target(), Vec::new(), true)
    }
}

impl Database {
    /// The changes to every collection of this database, as they happen. Returns a [`Watch`]
    /// action whose output is a [`ChangeStream`] (a [`SessionChangeStream`] in an explicit
    /// session). See [`Collection::watch`].
    pub fn watch(&self) -> Watch<'_, Document> {
        Watch::new(self.target(), Vec::new(), false)
    }
}

impl<T: Send + Sync> Collection<T> {
    /// The changes to this collection, as they happen. Returns a [`Watch`] action whose
    /// output is a [`ChangeStream`] of [`ChangeStreamEvent<T>`] (a [`SessionChangeStream`]
    /// in an explicit session).
    ///
    /// Change streams need a replica set or a sharded cluster, and a `majority` read concern
    /// or none. A pipeline must keep the events' `_id`: the stream resumes with it; one that
    /// reshapes the events needs [`ChangeStream::with_type`].
    ///
    /// ```no_run
    /// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::change_stream::event::OperationType;
    ///
    /// let mut inserts = coll
    ///     .watch()
    ///     .pipeline([doc! { "$match": { "operationType": "insert" } }])
    ///     .await?;
    /// while let Some(event) = inserts.try_next().await? {
    ///     assert_eq!(event.operation_type, OperationType::Insert);
    ///     println!("{:?}", event.full_document);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch(&self) -> Watch<'_, T> {
        Watch::new(self.target(), Vec::new(), false)
    }
}

action! {
    /// Opens a change stream: [`Collection::watch`], [`Database::watch`], [`Client::watch`].
    pub struct Watch<'a, T> {
        pipeline: Vec<Document>,
        cluster: bool,
    }
    options: ChangeStreamOptions, watch_setters;
}

impl<'a, T, S> Watch<'a, T, S> {
    /// Stages to run on the events after `$changeStream` (`$match`, `$project`,
    /// `$addFields`, `$replaceRoot`, `$redact`…). Keep `_id`: the stream resumes with it.
    pub fn pipeline(mut self, value: impl IntoIterator<Item = Document>) -> Self {
        self.pipeline = value.into_iter().collect();
        self
    }

    fn args(&mut self) -> WatchArgs {
        let t = self.target;
        WatchArgs {
            db: t.db().to_owned(),
            coll: (!t.coll().is_empty()).then(|| t.coll().to_owned()),
            cluster: self.cluster,
            pipeline: std::mem::take(&mut self.pipeline),
            options: std::mem::take(&mut self.options),
            reads: t.reads(),
            timeout: t.timeout(),
        }
    }
}

impl<'a, T: DeserializeOwned + Send + Sync + 'static> Watch<'a, T, ImplicitSession> {
    async fn execute(mut self) -> Result<ChangeStream<ChangeStreamEvent<T>>> {
        self.target
            .check_max_await_time(self.options.max_await_time)?;
        let args = self.args();
        let client = self.target.client();
        let (opened, left) = change_stream::open(client, &args, None).await?;
        Ok(ChangeStream::new(client.clone(), args, opened, left))
    }
}
into_future!(impl<'a, T> Watch<'a, T, ImplicitSession> => ChangeStream<ChangeStreamEvent<T>>
    where T: DeserializeOwned + Send + Sync + 'static);

impl<'a, T: DeserializeOwned + Send + Sync + 'static> Watch<'a, T, ExplicitSession<'a>> {
    async fn execute(mut self) -> Result<SessionChangeStream<ChangeStreamEvent<T>>> {
        self.target
            .check_max_await_time(self.options.max_await_time)?;
        let args = self.args();
        let client = self.target.client();
        let Some(session) = self.session.into_session() else {
            return Err(crate::error::Error::internal(
                "an explicit-session watch without its session",
            ));
        };
        let (opened, left) = change_stream::open(client, &args, Some(&mut *session)).await?;
        Ok(SessionChangeStream::new(
            client.clone(),
            args,
            opened,
            left,
            session,
        ))
    }
}
into_future!(impl<'a, T> Watch<'a, T, ExplicitSession<'a>> => SessionChangeStream<ChangeStreamEvent<T>>
    where T: DeserializeOwned + Send + Sync + 'static);
