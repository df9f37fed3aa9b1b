//! The actions returned by collection operations: set options, then `.await`.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use bson::{doc, oid::ObjectId, Bson, Document};
use futures_core::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::options::*;
use super::{parse_write_reply, write_concern_doc, write_result, UpdateModifications};
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::options::WriteConcern;
use crate::results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult};
use crate::sdam::SelectionCriteria;
use crate::wire::DocumentSequence;
use crate::Client;

impl From<Document> for Hint {
    fn from(d: Document) -> Self {
        Hint::Keys(d)
    }
}

impl From<&str> for Hint {
    fn from(s: &str) -> Self {
        Hint::Name(s.to_owned())
    }
}

impl From<String> for Hint {
    fn from(s: String) -> Self {
        Hint::Name(s)
    }
}

/// Setters for option fields, plus `with_options`.
macro_rules! setters {
    ($opts:ty; $($(#[$doc:meta])* $name:ident: $t:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $t) -> Self {
                self.options.$name = Some(value);
                self
            }
        )*
        /// Sets all the options at once, replacing those set before.
        pub fn with_options(mut self, options: impl Into<Option<$opts>>) -> Self {
            self.options = options.into().unwrap_or_default();
            self
        }
    };
}

/// `.await` runs the action.
macro_rules! into_future {
    ($name:ident<$lt:lifetime $(, $t:ident: $($bound:ident)+)?> => $out:ty) => {
        impl<$lt $(, $t: $($bound +)+ $lt)?> IntoFuture for $name<$lt $(, $t)?> {
            type Output = Result<$out>;
            type IntoFuture = BoxFuture<$lt, Result<$out>>;
            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.execute())
            }
        }
    };
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Adds the options common to write commands.
fn write_options(
    client: &Client,
    cmd: &mut Document,
    write_concern: Option<&WriteConcern>,
    bypass: Option<bool>,
    comment: Option<&Bson>,
    let_vars: Option<&Document>,
) {
    let wc = write_concern.or(client.options().write_concern.as_ref());
    if let Some(wc) = write_concern_doc(wc) {
        cmd.insert("writeConcern", wc);
    }
    if let Some(b) = bypass {
        cmd.insert("bypassDocumentValidation", b);
    }
    if let Some(c) = comment {
        cmd.insert("comment", c.clone());
    }
    if let Some(l) = let_vars {
        cmd.insert("let", l.clone());
    }
}

fn read_concern(client: &Client, cmd: &mut Document) {
    if let Some(rc) = &client.options().read_concern {
        cmd.insert("readConcern", doc! { "level": rc.level.as_str() });
    }
}

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
        }
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

/// Room left in a message for the command around the documents.
const COMMAND_OVERHEAD: usize = 16 * 1024;

/// [`Collection::insert_many`](crate::Collection::insert_many).
#[must_use = "an action does nothing until it is awaited"]
pub struct InsertMany<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    docs: Vec<Result<Document>>,
    options: InsertManyOptions,
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
        }
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

    async fn execute(self) -> Result<InsertManyResult> {
        if self.docs.is_empty() {
            return Err(Error::invalid_argument(
                "insert_many: no documents to insert; pass at least one",
            ));
        }
        let total = self.docs.len();
        let mut docs = Vec::with_capacity(total);
        for d in self.docs {
            docs.push(with_id(d?));
        }
        let ordered = self.options.ordered.unwrap_or(true);
        let mut conn = self.client.select(&SelectionCriteria::Write).await?;
        let max_count = usize::try_from(conn.hello().max_write_batch_size)
            .unwrap_or(usize::MAX)
            .max(1);
        let max_doc = usize::try_from(conn.hello().max_bson_object_size).unwrap_or(usize::MAX);
        let max_bytes = conn
            .hello()
            .max_message_size()
            .saturating_sub(COMMAND_OVERHEAD)
            .max(max_doc);

        let mut inserted_ids = HashMap::new();
        let mut write_errors = Vec::new();
        let mut wc_error = None;
        let mut iter = docs.into_iter().enumerate().peekable();
        while iter.peek().is_some() {
            // One batch: at most maxWriteBatchSize documents and one message's worth of bytes.
            let offset = iter.peek().map(|(i, _)| *i).unwrap_or(0);
            let mut batch = Vec::new();
            let mut ids = Vec::new();
            let mut bytes = 0usize;
            while let Some((_, (d, _))) = iter.peek() {
                let size = bson::to_vec(d)?.len();
                if size > max_doc {
                    let idx = iter.peek().map(|(i, _)| *i).unwrap_or(0);
                    return Err(Error::invalid_argument(format!(
                        "insert: document {idx} is {size} bytes, more than the server's \
                         maxBsonObjectSize ({max_doc} bytes)"
                    )));
                }
                if !batch.is_empty() && (batch.len() >= max_count || bytes + size > max_bytes) {
                    break;
                }
                bytes += size;
                if let Some((_, (d, id))) = iter.next() {
                    batch.push(d);
                    ids.push(id);
                }
            }
            let mut cmd = doc! { "insert": self.coll, "ordered": ordered };
            write_options(
                self.client,
                &mut cmd,
                self.options.write_concern.as_ref(),
                self.options.bypass_document_validation,
                self.options.comment.as_ref(),
                None,
            );
            let seq = DocumentSequence {
                identifier: "documents".into(),
                documents: batch,
            };
            let reply = conn.command_with_sequences(self.db, cmd, vec![seq]).await?;
            let r = parse_write_reply(&reply, offset);
            let failed: HashSet<usize> = r.write_errors.iter().map(|e| e.index).collect();
            let stop = ordered && !r.write_errors.is_empty();
            for (i, id) in ids.into_iter().enumerate() {
                let index = offset + i;
                // With ordered inserts nothing after the first error was inserted.
                let first_err = r.write_errors.iter().map(|e| e.index).min();
                let after_error = ordered && first_err.is_some_and(|f| index > f);
                if !failed.contains(&index) && !after_error {
                    inserted_ids.insert(index, id);
                }
            }
            write_errors.extend(r.write_errors);
            if r.write_concern_error.is_some() {
                wc_error = r.write_concern_error;
            }
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
        }
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
        let u = match self.update {
            UpdateModifications::Document(d) => {
                if !d.keys().next().is_some_and(|k| k.starts_with('$')) {
                    return Err(Error::invalid_argument(
                        "update: the update document must use update operators such as \
                         {\"$set\": {...}}; to replace a whole document use replace_one",
                    ));
                }
                Bson::Document(d)
            }
            UpdateModifications::Pipeline(p) => {
                Bson::Array(p.into_iter().map(Bson::Document).collect())
            }
        };
        let o = &self.options;
        let mut stmt = doc! { "q": self.filter, "u": u, "multi": self.multi };
        if let Some(up) = o.upsert {
            stmt.insert("upsert", up);
        }
        if let Some(af) = &o.array_filters {
            stmt.insert("arrayFilters", af.clone());
        }
        if let Some(h) = &o.hint {
            stmt.insert("hint", h.to_bson());
        }
        run_update(
            self.client,
            self.db,
            self.coll,
            stmt,
            o.write_concern.as_ref(),
            o.bypass_document_validation,
            o.comment.as_ref(),
            o.let_vars.as_ref(),
        )
        .await
    }
}
into_future!(Update<'a> => UpdateResult);

#[allow(clippy::too_many_arguments)]
async fn run_update(
    client: &Client,
    db: &str,
    coll: &str,
    stmt: Document,
    write_concern: Option<&WriteConcern>,
    bypass: Option<bool>,
    comment: Option<&Bson>,
    let_vars: Option<&Document>,
) -> Result<UpdateResult> {
    let mut cmd = doc! { "update": coll, "updates": [stmt], "ordered": true };
    write_options(client, &mut cmd, write_concern, bypass, comment, let_vars);
    let reply = client.run_write(db, cmd).await?;
    let r = parse_write_reply(&reply, 0);
    write_result(r.write_errors, r.write_concern_error, 1)?;
    let upserted = r.upserted.into_iter().next().map(|(_, id)| id);
    let matched = r.n.saturating_sub(u64::from(upserted.is_some()));
    Ok(UpdateResult {
        matched_count: matched,
        modified_count: r.n_modified,
        upserted_id: upserted,
    })
}

/// [`Collection::replace_one`](crate::Collection::replace_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct ReplaceOne<'a> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    replacement: Result<Document>,
    options: ReplaceOptions,
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
        }
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
        let replacement = self.replacement?;
        if replacement
            .keys()
            .next()
            .is_some_and(|k| k.starts_with('$'))
        {
            return Err(Error::invalid_argument(
                "replace_one: the replacement must not contain update operators ($...); \
                 use update_one to apply operators",
            ));
        }
        let o = &self.options;
        let mut stmt = doc! { "q": self.filter, "u": replacement, "multi": false };
        if let Some(up) = o.upsert {
            stmt.insert("upsert", up);
        }
        if let Some(h) = &o.hint {
            stmt.insert("hint", h.to_bson());
        }
        run_update(
            self.client,
            self.db,
            self.coll,
            stmt,
            o.write_concern.as_ref(),
            o.bypass_document_validation,
            o.comment.as_ref(),
            o.let_vars.as_ref(),
        )
        .await
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
        }
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
        let o = &self.options;
        let mut stmt = doc! { "q": self.filter, "limit": if self.many { 0 } else { 1 } };
        if let Some(h) = &o.hint {
            stmt.insert("hint", h.to_bson());
        }
        let mut cmd = doc! { "delete": self.coll, "deletes": [stmt], "ordered": true };
        write_options(
            self.client,
            &mut cmd,
            o.write_concern.as_ref(),
            None,
            o.comment.as_ref(),
            o.let_vars.as_ref(),
        );
        let reply = self.client.run_write(self.db, cmd).await?;
        let r = parse_write_reply(&reply, 0);
        write_result(r.write_errors, r.write_concern_error, 1)?;
        Ok(DeleteResult { deleted_count: r.n })
    }
}
into_future!(Delete<'a> => DeleteResult);

/// [`Collection::find`](crate::Collection::find).
#[must_use = "an action does nothing until it is awaited"]
pub struct Find<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: FindOptions,
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
            _type: PhantomData,
        }
    }

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
}

impl<T> Find<'_, T> {
    fn command(&self) -> (Document, Option<u64>) {
        let o = &self.options;
        let mut cmd = doc! { "find": self.coll, "filter": self.filter.clone() };
        if let Some(s) = &o.sort {
            cmd.insert("sort", s.clone());
        }
        if let Some(p) = &o.projection {
            cmd.insert("projection", p.clone());
        }
        if let Some(s) = o.skip {
            cmd.insert("skip", i64::try_from(s).unwrap_or(i64::MAX));
        }
        let mut limit = None;
        match o.limit {
            Some(l) if l < 0 => {
                cmd.insert("limit", l.saturating_abs());
                cmd.insert("singleBatch", true);
                limit = Some(l.unsigned_abs());
            }
            Some(l) if l > 0 => {
                cmd.insert("limit", l);
                limit = Some(l.unsigned_abs());
            }
            _ => {}
        }
        if let Some(b) = o.batch_size {
            cmd.insert("batchSize", i64::from(b));
        }
        if let Some(t) = o.max_time {
            cmd.insert("maxTimeMS", millis(t));
        }
        if let Some(c) = &o.comment {
            cmd.insert("comment", c.clone());
        }
        if let Some(h) = &o.hint {
            cmd.insert("hint", h.to_bson());
        }
        if let Some(a) = o.allow_disk_use {
            cmd.insert("allowDiskUse", a);
        }
        read_concern(self.client, &mut cmd);
        (cmd, limit)
    }

    async fn execute(self) -> Result<Cursor<T>> {
        let (cmd, limit) = self.command();
        let (reply, address) = self.client.run_read_on(self.db, cmd).await?;
        Cursor::from_reply(
            self.client.clone(),
            address,
            &reply,
            self.options.batch_size,
            limit,
        )
    }
}
into_future!(Find<'a, T: DeserializeOwned Send Sync> => Cursor<T>);

/// [`Collection::find_one`](crate::Collection::find_one).
#[must_use = "an action does nothing until it is awaited"]
pub struct FindOne<'a, T> {
    client: &'a Client,
    db: &'a str,
    coll: &'a str,
    filter: Document,
    options: FindOneOptions,
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
            _type: PhantomData,
        }
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
        let find = Find::<Document> {
            client: self.client,
            db: self.db,
            coll: self.coll,
            filter: self.filter,
            options: FindOptions {
                sort: o.sort,
                projection: o.projection,
                skip: o.skip,
                max_time: o.max_time,
                comment: o.comment,
                hint: o.hint,
                limit: Some(-1),
                ..FindOptions::default()
            },
            _type: PhantomData,
        };
        let mut cursor = find.execute().await?;
        match cursor.next_document().await? {
            Some(d) => Ok(Some(bson::from_document(d)?)),
            None => Ok(None),
        }
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
}

impl<'a> CountDocuments<'a> {
    pub(crate) fn new(client: &'a Client, db: &'a str, coll: &'a str, filter: Document) -> Self {
        Self {
            client,
            db,
            coll,
            filter,
            options: CountOptions::default(),
        }
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
        let o = self.options;
        let mut pipeline = vec![doc! { "$match": self.filter }];
        if let Some(s) = o.skip {
            pipeline.push(doc! { "$skip": i64::try_from(s).unwrap_or(i64::MAX) });
        }
        if let Some(l) = o.limit {
            pipeline.push(doc! { "$limit": i64::try_from(l).unwrap_or(i64::MAX) });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let agg = Aggregate {
            client: self.client,
            db: self.db.to_owned(),
            coll: Some(self.coll.to_owned()),
            pipeline,
            options: AggregateOptions {
                max_time: o.max_time,
                hint: o.hint,
                comment: o.comment,
                ..AggregateOptions::default()
            },
        };
        let mut cursor = agg.execute().await?;
        let Some(d) = cursor.next_document().await? else {
            return Ok(0);
        };
        match d.get("n") {
            Some(Bson::Int32(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            Some(Bson::Int64(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            Some(Bson::Double(n)) if *n >= 0.0 && n.is_finite() => Ok(*n as u64),
            _ => Err(Error::invalid_response(
                "count_documents: the $group result has no numeric n",
            )),
        }
    }
}
into_future!(CountDocuments<'a> => u64);

/// [`Collection::aggregate`](crate::Collection::aggregate) and
/// [`Database::aggregate`](crate::Database::aggregate).
#[must_use = "an action does nothing until it is awaited"]
pub struct Aggregate<'a> {
    client: &'a Client,
    db: String,
    /// `None`: a database-level aggregation.
    coll: Option<String>,
    pipeline: Vec<Document>,
    options: AggregateOptions,
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
        }
    }

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

    async fn execute(self) -> Result<Cursor<Document>> {
        let o = &self.options;
        let writes = self
            .pipeline
            .last()
            .and_then(|s| s.keys().next())
            .is_some_and(|k| k == "$out" || k == "$merge");
        let target = match &self.coll {
            Some(c) => Bson::String(c.clone()),
            None => Bson::Int32(1),
        };
        let mut cursor_opts = Document::new();
        // $out/$merge return nothing; batchSize 0 there would be wrong only for the reply.
        if let (Some(b), false) = (o.batch_size, writes) {
            cursor_opts.insert("batchSize", i64::from(b));
        }
        let mut cmd =
            doc! { "aggregate": target, "pipeline": self.pipeline.clone(), "cursor": cursor_opts };
        if let Some(a) = o.allow_disk_use {
            cmd.insert("allowDiskUse", a);
        }
        if let Some(t) = o.max_time {
            cmd.insert("maxTimeMS", millis(t));
        }
        if let Some(h) = &o.hint {
            cmd.insert("hint", h.to_bson());
        }
        let (reply, address) = if writes {
            write_options(
                self.client,
                &mut cmd,
                o.write_concern.as_ref(),
                o.bypass_document_validation,
                o.comment.as_ref(),
                o.let_vars.as_ref(),
            );
            let mut conn = self.client.select(&SelectionCriteria::Write).await?;
            let reply = conn.command(&self.db, cmd).await?;
            (reply, conn.address().clone())
        } else {
            if let Some(c) = &o.comment {
                cmd.insert("comment", c.clone());
            }
            if let Some(l) = &o.let_vars {
                cmd.insert("let", l.clone());
            }
            read_concern(self.client, &mut cmd);
            self.client.run_read_on(&self.db, cmd).await?
        };
        Cursor::from_reply(self.client.clone(), address, &reply, o.batch_size, None)
    }
}
into_future!(Aggregate<'a> => Cursor<Document>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_id_goes_first_and_given_id_is_kept() {
        let (d, id) = with_id(doc! { "a": 1 });
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert_eq!(d.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));
        let (d, id) = with_id(doc! { "a": 1, "_id": 7 });
        assert_eq!(id, Bson::Int32(7));
        assert_eq!(d, doc! { "a": 1, "_id": 7 });
    }
}
