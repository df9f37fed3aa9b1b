//! The actions returned by collection operations: set options, then `.await`. Each action
//! only describes its operation(s); [`Client::execute`] runs them.

use std::collections::HashMap;
use std::time::Duration;

use bson::{oid::ObjectId, Bson, Document};

use super::options::*;
use super::UpdateModifications;
use crate::error::{Error, Result};
use crate::operation::{self, write_result};
use crate::options::WriteConcern;
use crate::results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult};
use crate::{Client, ClientSession};

pub use super::cursor_action::{Aggregate, ExplicitSession, Find, FindOne, ImplicitSession};

/// A serialized document to insert with its `_id`: the one it has, or a new ObjectId put
/// first. Works on the bytes, so a document is serialized once, never rebuilt. (The bson crate
/// can only append an element; `_id` goes first as the server would put it, hence the splice,
/// written by hand.)
fn with_id(bytes: Vec<u8>) -> Result<(Vec<u8>, Bson)> {
    let invalid = |e: bson::raw::Error| Error::invalid_argument(format!("invalid document: {e}"));
    let doc = bson::RawDocument::from_bytes(&bytes).map_err(invalid)?;
    if let Some(id) = doc.get("_id").map_err(invalid)? {
        let id = Bson::try_from(id).map_err(invalid)?;
        return Ok((bytes, id));
    }
    let oid = ObjectId::new();
    // Type byte, "_id\0", 12 bytes of ObjectId.
    const ELEMENT: usize = 1 + 4 + 12;
    let len = i32::try_from(bytes.len() + ELEMENT)
        .map_err(|_| Error::invalid_argument("document too large"))?;
    let mut out = Vec::with_capacity(bytes.len() + ELEMENT);
    out.extend_from_slice(&len.to_le_bytes());
    out.push(0x07);
    out.extend_from_slice(b"_id\0");
    out.extend_from_slice(&oid.bytes());
    out.extend_from_slice(&bytes[4..]);
    Ok((out, Bson::ObjectId(oid)))
}

/// [`Collection::insert_one`](crate::Collection::insert_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct InsertOne<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    doc: Result<Vec<u8>>,
    options: InsertOneOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> InsertOne<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        doc: Result<Vec<u8>>,
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
    docs: Vec<Result<Vec<u8>>>,
    options: InsertManyOptions,
    session: Option<&'a mut ClientSession>,
}

impl<'a> InsertMany<'a> {
    pub(crate) fn new(
        client: &'a Client,
        db: &'a str,
        coll: &'a str,
        docs: Vec<Result<Vec<u8>>>,
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
            let (d, id) = with_id(d?)?;
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
        // timeoutMS covers all the batches together (CSOT spec, "Batching").
        let deadline = crate::csot::Deadline::start(self.client.options().timeout);
        // One operation per batch; each batch is cut to the limits of the server it goes to.
        while offset < total {
            let op = operation::Insert::new(self.db, self.coll, &docs, offset, &options);
            let run = crate::client::Run {
                session: self.session.as_deref_mut(),
                deadline,
                ..Default::default()
            };
            let r = self.client.run(op, run).await.0?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_id_goes_first_and_given_id_is_kept() {
        let bytes = |d: Document| bson::to_vec(&d).unwrap();
        let doc = |b: Vec<u8>| Document::from_reader(&b[..]).unwrap();
        let (d, id) = with_id(bytes(bson::doc! { "a": 1, "b": { "c": "x" } })).unwrap();
        let d = doc(d);
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert_eq!(d.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));
        assert_eq!(d.get_document("b").unwrap(), &bson::doc! { "c": "x" });
        assert_eq!(d.len(), 3);
        let (d, id) = with_id(bytes(bson::doc! { "a": 1, "_id": 7 })).unwrap();
        assert_eq!(id, Bson::Int32(7));
        assert_eq!(doc(d), bson::doc! { "a": 1, "_id": 7 });
        // An empty document gets just the id.
        let (d, _) = with_id(bytes(bson::doc! {})).unwrap();
        assert_eq!(doc(d).len(), 1);
    }
}
