//! The actions returned by collection operations: set options, then `.await`. Each action
//! only describes its operation(s); [`Client::execute`] runs them.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use bson::{oid::ObjectId, Bson, Document};
use serde::de::DeserializeOwned;

use super::options::*;
use super::UpdateModifications;
use crate::client::Leftovers;
use crate::cursor::Cursor;
use crate::cursor::SessionCursor;
use crate::error::{Error, Result};
use crate::operation::{self, write_result};
use crate::options::WriteConcern;
use crate::results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult};
use crate::{Client, ClientSession};

/// Puts `_id` first, generating an ObjectId when the document has none.
fn with_id(mut d: Document) -> (Document, Bson) {
    if let Some(id) = d.get("_id") {
        let id = id.clone();
        return (d, id);
    }
    let id = Bson::ObjectId(ObjectId::new());
    let mut out = Document::new();
    out.insert("_id", id.clone());
    out.extend(std::mem::take(&mut d));
    (out, id)
}

/// [`Collection::insert_one`](crate::Collection::insert_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct InsertOne<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    doc: Result<Document>,
    options: InsertOneOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> InsertOne<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        doc: Result<Document>,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            doc,
            options: InsertOneOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(InsertOneOptions;
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// The write concern.
        write_concern: WriteConcern,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<InsertOneResult> {
        let many = InsertMany {
            client: self.client,
            db: self.db,
            coll: self.coll,
            docs: vec![self.doc],
            session: self.session,
            options: InsertManyOptions {
                bypass_document_validation: self.options.bypass_document_validation,
                ordered: Some(true),
                write_concern: self.options.write_concern,
                comment: self.options.comment,
            },
        };
        let mut result = many.execute().await?;
        let inserted_id = result
            .inserted_ids
            .remove(&0)
            .ok_or_else(|| Error::internal("insert succeeded without an inserted id"))?;
        Ok(InsertOneResult { inserted_id })
    }
}
into_future!(InsertOne<'a> => InsertOneResult);

/// [`Collection::insert_many`](crate::Collection::insert_many).
#[must_use = "an action does nothing until it is awaited"]
pub struct InsertMany<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    docs: Vec<Result<Document>>,
    options: InsertManyOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> InsertMany<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        docs: Vec<Result<Document>>,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            docs,
            options: InsertManyOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(InsertManyOptions;
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// Stop at the first error (default `true`) or insert all the others.
        ordered: bool,
        /// The write concern.
        write_concern: WriteConcern,
        /// A comment.
        comment: Bson,
    );

    async fn execute(mut self) -> Result<InsertManyResult> {
        if self.docs.is_empty() {
            return Err(Error::invalid_argument(
                "insert_many: no documents to insert; pass at least one",
            ));
        }
        let total = self.docs.len();
        let (mut docs, mut ids) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for d in self.docs {
            let (d, id) = with_id(d?);
            docs.push(d);
            ids.push(id);
        }
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let ordered = options.ordered.unwrap_or(true);

        let mut inserted_ids = HashMap::new();
        let mut write_errors = Vec::new();
        let mut wc_error = None;
        let mut offset = 0;
        // One operation per batch; each batch is cut to the limits of the server it goes to.
        while offset < total {
            let op = operation::Insert::new(self.db, self.coll, &docs, offset, &options);
            let r = self
                .client
                .execute_in(op, self.session.as_deref_mut())
                .await?;
            if r.taken == 0 {
                return Err(Error::internal("insert: a batch sent no documents"));
            }
            for i in r.inserted {
                if let Some(id) = ids.get(i) {
                    inserted_ids.insert(i, id.clone());
                }
            }
            let stop = ordered && !r.write_errors.is_empty();
            write_errors.extend(r.write_errors);
            if r.write_concern_error.is_some() {
                wc_error = r.write_concern_error;
            }
            offset += r.taken;
            if stop {
                break;
            }
        }
        write_result(write_errors, wc_error, total)?;
        Ok(InsertManyResult { inserted_ids })
    }
}
into_future!(InsertMany<'a> => InsertManyResult);

/// [`Collection::update_one`](crate::Collection::update_one) and
/// [`Collection::update_many`](crate::Collection::update_many).
#[must_use = "an action does nothing until it is awaited"]
pub struct Update<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    update: UpdateModifications,
    multi: bool,
    options: UpdateOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> Update<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        filter: Document,
        update: UpdateModifications,
        multi: bool,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            update,
            multi,
            options: UpdateOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(UpdateOptions;
        /// Insert a document when none matches.
        upsert: bool,
        /// Filters for `$[identifier]` array updates.
        array_filters: Vec<Document>,
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<UpdateResult> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op = operation::Update::modify(
            self.db,
            self.coll,
            self.filter,
            self.update,
            self.multi,
            options,
        )?;
        self.client.execute_in(op, self.session).await
    }
}
into_future!(Update<'a> => UpdateResult);

/// [`Collection::replace_one`](crate::Collection::replace_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct ReplaceOne<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    replacement: Result<Document>,
    options: ReplaceOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> ReplaceOne<'a> {
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
            options: ReplaceOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(ReplaceOptions;
        /// Insert the replacement when nothing matches.
        upsert: bool,
        /// Skip the collection's schema validation.
        bypass_document_validation: bool,
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<UpdateResult> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op = operation::Update::replace(
            self.db,
            self.coll,
            self.filter,
            self.replacement?,
            options,
        )?;
        self.client.execute_in(op, self.session).await
    }
}
into_future!(ReplaceOne<'a> => UpdateResult);

/// [`Collection::delete_one`](crate::Collection::delete_one) and
/// [`Collection::delete_many`](crate::Collection::delete_many).
#[must_use = "an action does nothing until it is awaited"]
pub struct Delete<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    many: bool,
    options: DeleteOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> Delete<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        filter: Document,
        many: bool,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            many,
            options: DeleteOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(DeleteOptions;
        /// The index to use.
        hint: Hint,
        /// The write concern.
        write_concern: WriteConcern,
        /// Variables (`let`).
        let_vars: Document,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<DeleteResult> {
        let mut options = self.options;
        options.write_concern = self.client.write_concern_or_default(options.write_concern);
        let op = operation::Delete::new(self.db, self.coll, self.filter, self.many, options);
        self.client.execute_in(op, self.session).await
    }
}
into_future!(Delete<'a> => DeleteResult);

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
        let doc = match self.session {
            Some(session) => {
                let (spec, left) = open_cursor(self.client, op, Some(&mut *session)).await?;
                let mut cursor =
                    SessionCursor::<Document>::new(self.client.clone(), spec, left, session);
                cursor.next_document(session).await?
            }
            None => {
                let (spec, left) = open_cursor(self.client, op, None).await?;
                let mut cursor = Cursor::<Document>::new(self.client.clone(), spec, left);
                cursor.next_document().await?
            }
        };
        doc.map(|d| bson::from_document(d).map_err(Into::into))
            .transpose()
    }
}
into_future!(FindOne<'a, T: DeserializeOwned Send Sync> => Option<T>);

/// [`Collection::count_documents`](crate::Collection::count_documents).
#[must_use = "an action does nothing until it is awaited"]
pub struct CountDocuments<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: CountOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> CountDocuments<'a> {
    pub(crate) fn new(client: &'a Client, db: &'a str, coll: &'a str, filter: Document) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            options: CountOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(CountOptions;
        /// Count at most this many.
        limit: u64,
        /// Skip this many matching documents first.
        skip: u64,
        /// `maxTimeMS`.
        max_time: Duration,
        /// The index to use.
        hint: Hint,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<u64> {
        let op = operation::CountDocuments::new(
            self.db,
            self.coll,
            self.filter,
            self.options,
            self.client.read_concern(),
            self.client.read_criteria(),
        );
        self.client.execute_in(op, self.session).await
    }
}
into_future!(CountDocuments<'a> => u64);

/// [`Collection::distinct`](crate::Collection::distinct).
#[must_use = "an action does nothing until it is awaited"]
pub struct Distinct<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    field: String,
    filter: Document,
    options: DistinctOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> Distinct<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        field: String,
        filter: Document,
    ) -> Self {
        Self {
            client,
            db,
            coll,
            field,
            filter,
            options: DistinctOptions::default(),
            session: None,
        }
    }

    /// Runs the operation in `session` (an explicit session from
    /// [`Client::start_session`](crate::Client::start_session)).
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.session = Some(session);
        self
    }

    setters!(DistinctOptions;
        /// `maxTimeMS`.
        max_time: Duration,
        /// The index to use.
        hint: Hint,
        /// A comment.
        comment: Bson,
    );

    async fn execute(self) -> Result<Vec<Bson>> {
        let op = operation::Distinct::new(
            self.db,
            self.coll,
            &self.field,
            self.filter,
            self.options,
            self.client.read_concern(),
            self.client.read_criteria(),
        );
        self.client.execute_in(op, self.session).await
    }
}
into_future!(Distinct<'a> => Vec<Bson>);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_id_goes_first_and_given_id_is_kept() {
        let (d, id) = with_id(bson::doc! { "a": 1 });
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert_eq!(d.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));
        let (d, id) = with_id(bson::doc! { "a": 1, "_id": 7 });
        assert_eq!(id, Bson::Int32(7));
        assert_eq!(d, bson::doc! { "a": 1, "_id": 7 });
    }
}
