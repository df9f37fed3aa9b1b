//! Collection operations.

use bson::{doc, Bson, Document};
use mongo_x509::action::Action;
use mongo_x509::error::Error;
use mongo_x509::options::{
    AggregateOptions, CursorType, IndexModel, IndexOptions, ReturnDocument, SearchIndexModel,
    SearchIndexType, TimeoutMode, UpdateModifications,
};
use mongo_x509::results::{DeleteResult, InsertManyResult, UpdateResult};
use mongo_x509::Collection;

use super::cursor::{collect_cursor, collect_session_cursor, new_cursor_entity};
use super::{with_session, Args, OpResult, Outcome};
use crate::unified::entities::SessionEntity;
use crate::unified::runner::TestCtx;

type Coll = Collection<Document>;

/// Locks the session (when the operation has one) for the whole operation.
macro_rules! session_guard {
    ($sess:expr) => {
        match &$sess {
            Some(s) => Some(s.lock().await),
            None => None,
        }
    };
}

/// `&mut ClientSession` from a guard; an ended session is a runner error.
macro_rules! session_mut {
    ($guard:expr) => {
        match $guard.as_mut() {
            Some(g) => Some(
                g.as_mut()
                    .ok_or_else(|| "the session was ended".to_string())?,
            ),
            None => None,
        }
    };
}
pub(crate) use {session_guard, session_mut};

pub async fn run(name: &str, mut a: Args, coll: &Coll, ctx: &TestCtx) -> OpResult {
    let sess = a.session(ctx)?;
    let mut guard = session_guard!(sess);
    let s = session_mut!(guard);
    let r: Result<Outcome, Error> = match name {
        "insertOne" => {
            let d = a.req_doc("document")?;
            let act = coll
                .insert_one(d)
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(doc! {"insertedId": r.inserted_id}.into()))
        }
        "insertMany" => {
            let docs = a.req_docs("documents")?;
            let act = coll
                .insert_many(docs)
                .optional(a.bool("ordered")?, |x, v| x.ordered(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(insert_many_result(&r).into()))
        }
        "updateOne" | "updateMany" => {
            let filter = a.req_doc("filter")?;
            let update = modifications(a.req("update")?)?;
            let act = if name == "updateOne" {
                coll.update_one(filter, update)
            } else {
                coll.update_many(filter, update)
            };
            let act = act
                .optional(a.bool("upsert")?, |x, v| x.upsert(v))
                .optional(a.docs("arrayFilters")?, |x, v| x.array_filters(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(update_result(&r).into()))
        }
        "replaceOne" => {
            let filter = a.req_doc("filter")?;
            let replacement = a.req_doc("replacement")?;
            let act = coll
                .replace_one(filter, replacement)
                .optional(a.bool("upsert")?, |x, v| x.upsert(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(update_result(&r).into()))
        }
        "deleteOne" | "deleteMany" => {
            let filter = a.req_doc("filter")?;
            let act = if name == "deleteOne" {
                coll.delete_one(filter)
            } else {
                coll.delete_many(filter)
            };
            let act = act
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(delete_result(&r).into()))
        }
        "find" | "createFindCursor" => {
            let filter = a.req_doc("filter")?;
            let act = coll
                .find(filter)
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("projection")?, |x, v| x.projection(v))
                .optional(a.i64("limit")?, |x, v| x.limit(v))
                .optional(a.u64("skip")?, |x, v| x.skip(v))
                .optional(a.u32("batchSize")?, |x, v| x.batch_size(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.bool("allowDiskUse")?, |x, v| x.allow_disk_use(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(cursor_type(&mut a)?, |x, v| x.cursor_type(v))
                .optional(timeout_mode(&mut a)?, |x, v| x.timeout_mode(v))
                .optional(a.millis("maxAwaitTimeMS")?, |x, v| x.max_await_time(v))
                .optional(a.bool("noCursorTimeout")?, |x, v| x.no_cursor_timeout(v))
                .optional(a.bool("allowPartialResults")?, |x, v| {
                    x.allow_partial_results(v)
                })
                .optional(a.bool("returnKey")?, |x, v| x.return_key(v))
                .optional(a.bool("showRecordId")?, |x, v| x.show_record_id(v))
                .optional(a.doc("max")?, |x, v| x.max(v))
                .optional(a.doc("min")?, |x, v| x.min(v))
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            let keep = name == "createFindCursor";
            match s {
                Some(s) => match act.session(&mut *s).await {
                    Err(e) => Err(e),
                    Ok(c) if keep => {
                        let sess: SessionEntity = sess.clone().expect("a session");
                        drop(guard);
                        return Ok(Ok(new_cursor_entity(
                            crate::unified::entities::CursorEntity::InSession(c, sess),
                        )));
                    }
                    Ok(c) => collect_session_cursor(c, s).await,
                },
                None => match act.await {
                    Err(e) => Err(e),
                    Ok(c) if keep => Ok(new_cursor_entity(
                        crate::unified::entities::CursorEntity::Plain(c),
                    )),
                    Ok(c) => collect_cursor(c).await,
                },
            }
        }
        "findOne" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let act = coll
                .find_one(filter)
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("projection")?, |x, v| x.projection(v))
                .optional(a.u64("skip")?, |x, v| x.skip(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|d| Outcome::Value(d.map_or(Bson::Null, Bson::Document)))
        }
        "aggregate" => {
            let pipeline = a.req_docs("pipeline")?;
            let act = coll
                .aggregate(pipeline)
                .optional(timeout_mode(&mut a)?, |x, v| x.timeout_mode(v))
                .optional(a.millis("maxAwaitTimeMS")?, |x, v| x.max_await_time(v))
                .optional(a.bool("allowDiskUse")?, |x, v| x.allow_disk_use(v))
                .optional(a.u32("batchSize")?, |x, v| x.batch_size(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.write_concern()?, |x, v| x.write_concern(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            match s {
                Some(s) => match act.session(&mut *s).await {
                    Ok(c) => collect_session_cursor(c, s).await,
                    Err(e) => Err(e),
                },
                None => match act.await {
                    Ok(c) => collect_cursor(c).await,
                    Err(e) => Err(e),
                },
            }
        }
        "countDocuments" => {
            let filter = a.req_doc("filter")?;
            let act = coll
                .count_documents(filter)
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v))
                .optional(a.u64("limit")?, |x, v| x.limit(v))
                .optional(a.u64("skip")?, |x, v| x.skip(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|n| Outcome::Value(Bson::Int64(n as i64)))
        }
        "count" => {
            let filter = a.req_doc("filter")?;
            let act = coll
                .count(filter)
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v))
                .optional(a.u64("limit")?, |x, v| x.limit(v))
                .optional(a.u64("skip")?, |x, v| x.skip(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|n| Outcome::Value(Bson::Int64(n as i64)))
        }
        "estimatedDocumentCount" => {
            let act = coll
                .estimated_document_count()
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|n| Outcome::Value(Bson::Int64(n as i64)))
        }
        "distinct" => {
            let field = a.req_str("fieldName")?;
            let filter = a.req_doc("filter")?;
            let act = coll
                .distinct(field, filter)
                .optional(a.read_concern()?, |x, v| x.read_concern(v))
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|v| Outcome::Value(Bson::Array(v)))
        }
        "findOneAndDelete" => {
            let filter = a.req_doc("filter")?;
            let act = coll
                .find_one_and_delete(filter)
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("projection")?, |x, v| x.projection(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|d| Outcome::Value(d.map_or(Bson::Null, Bson::Document)))
        }
        "findOneAndUpdate" => {
            let filter = a.req_doc("filter")?;
            let update = modifications(a.req("update")?)?;
            let act = coll
                .find_one_and_update(filter, update)
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("projection")?, |x, v| x.projection(v))
                .optional(a.bool("upsert")?, |x, v| x.upsert(v))
                .optional(return_document(&mut a)?, |x, v| x.return_document(v))
                .optional(a.docs("arrayFilters")?, |x, v| x.array_filters(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|d| Outcome::Value(d.map_or(Bson::Null, Bson::Document)))
        }
        "findOneAndReplace" => {
            let filter = a.req_doc("filter")?;
            let replacement = a.req_doc("replacement")?;
            let act = coll
                .find_one_and_replace(filter, replacement)
                .optional(a.doc("sort")?, |x, v| x.sort(v))
                .optional(a.doc("projection")?, |x, v| x.projection(v))
                .optional(a.bool("upsert")?, |x, v| x.upsert(v))
                .optional(return_document(&mut a)?, |x, v| x.return_document(v))
                .optional(a.hint("hint")?, |x, v| x.hint(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|d| Outcome::Value(d.map_or(Bson::Null, Bson::Document)))
        }
        "bulkWrite" => {
            let ns = coll.namespace();
            let models = super::bulk::models(a.req_docs("requests")?, Some(&ns))?;
            let act = coll
                .bulk_write(models)
                .optional(a.bool("ordered")?, |x, v| x.ordered(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(super::bulk::collection_result(&r).into()))
        }
        "createIndex" => {
            let keys = a.req_doc("keys")?;
            let mut options = IndexOptions::default();
            options.name = a.str("name")?;
            options.unique = a.bool("unique")?;
            let model = IndexModel::builder().keys(keys).options(options).build();
            let act = coll
                .create_index(model)
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|r| Outcome::Value(Bson::String(r.index_name)))
        }
        "listIndexes" => {
            let act = coll
                .list_indexes()
                .optional(timeout_mode(&mut a)?, |x, v| x.timeout_mode(v))
                .optional(a.u32("batchSize")?, |x, v| x.batch_size(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            let models: Result<Vec<IndexModel>, Error> = match s {
                Some(s) => match act.session(&mut *s).await {
                    Ok(mut c) => {
                        let mut v = Vec::new();
                        let mut err = None;
                        while let Some(r) = c.next(s).await {
                            match r {
                                Ok(m) => v.push(m),
                                Err(e) => {
                                    err = Some(e);
                                    break;
                                }
                            }
                        }
                        err.map_or(Ok(v), Err)
                    }
                    Err(e) => Err(e),
                },
                None => match act.await {
                    Ok(c) => futures_util::TryStreamExt::try_collect(c).await,
                    Err(e) => Err(e),
                },
            };
            models.and_then(|m| {
                m.iter()
                    .map(|m| {
                        bson::to_document(m)
                            .map(Bson::Document)
                            .map_err(Error::from)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Outcome::Docs)
            })
        }
        "listIndexNames" => {
            let act = coll
                .list_index_names()
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|v| Outcome::Value(v.into_iter().map(Bson::String).collect()))
        }
        "dropIndex" => {
            let index = a.req_str("name")?;
            let act = coll
                .drop_index(index)
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        "dropIndexes" => {
            let act = coll
                .drop_indexes()
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        "createSearchIndex" | "createSearchIndexes" => {
            let models = match name {
                "createSearchIndex" => vec![a.req_doc("model")?],
                _ => a.req_docs("models")?,
            };
            let models = models
                .into_iter()
                .map(search_index_model)
                .collect::<Result<Vec<_>, _>>()?;
            a.finish()?;
            if name == "createSearchIndex" {
                let model = models.into_iter().next().expect("one model");
                with_session!(coll.create_search_index(model), s)
                    .map(|n| Outcome::Value(Bson::String(n)))
            } else {
                with_session!(coll.create_search_indexes(models), s)
                    .map(|v| Outcome::Value(v.into_iter().map(Bson::String).collect()))
            }
        }
        "updateSearchIndex" => {
            let index = a.req_str("name")?;
            let definition = a.req_doc("definition")?;
            a.finish()?;
            with_session!(coll.update_search_index(index, definition), s).map(|()| Outcome::None)
        }
        "dropSearchIndex" => {
            let index = a.req_str("name")?;
            a.finish()?;
            with_session!(coll.drop_search_index(index), s).map(|()| Outcome::None)
        }
        "listSearchIndexes" => {
            let index = a.str("name")?;
            let mut options = AggregateOptions::default();
            if let Some(mut o) = a.doc("aggregationOptions")? {
                options.batch_size = match o.remove("batchSize") {
                    Some(b) => Some(bson_u32(&b).ok_or("aggregationOptions.batchSize")?),
                    None => None,
                };
                if let Some(k) = o.keys().next() {
                    return Err(format!(
                        "listSearchIndexes: aggregationOptions.{k}: not in this runner"
                    ));
                }
            }
            let act = coll
                .list_search_indexes()
                .optional(index, |x, v| x.name(v))
                .aggregate_options(options);
            a.finish()?;
            match s {
                Some(s) => match act.session(&mut *s).await {
                    Ok(c) => collect_session_cursor(c, s).await,
                    Err(e) => Err(e),
                },
                None => match act.await {
                    Ok(c) => collect_cursor(c).await,
                    Err(e) => Err(e),
                },
            }
        }
        "drop" => {
            let act = coll.drop().optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        "rename" => {
            let to = a.req_str("to")?;
            let act = coll
                .rename(to)
                .optional(a.bool("dropTarget")?, |x, v| x.drop_target(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        "mapReduce" => {
            // Deprecated since MongoDB 5.0; the crate (like the official one) has no helper,
            // so the runner sends the command with the arguments as they are.
            let mut command = doc! {"mapReduce": coll.name()};
            command.extend(std::mem::take(&mut a.doc));
            let db = coll.client().database(&coll.namespace().db);
            let act = db.run_command(command);
            with_session!(act, s).map(|mut d| match d.remove("results") {
                Some(results) => Outcome::Value(results),
                None => Outcome::Value(Bson::Document(d)),
            })
        }
        other => {
            return Err(format!(
                "collection operation {other}: not in the crate's API (or this runner) yet"
            ))
        }
    };
    Ok(r)
}

pub fn modifications(v: Bson) -> Result<UpdateModifications, String> {
    match v {
        Bson::Document(d) => Ok(UpdateModifications::Document(d)),
        Bson::Array(a) => a
            .into_iter()
            .map(|s| match s {
                Bson::Document(d) => Ok(d),
                other => Err(format!("update pipeline stage must be a document: {other}")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(UpdateModifications::Pipeline),
        other => Err(format!("update must be a document or a pipeline: {other}")),
    }
}

fn return_document(a: &mut Args) -> Result<Option<ReturnDocument>, String> {
    match a.str("returnDocument")? {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("before") => Ok(Some(ReturnDocument::Before)),
        Some(s) if s.eq_ignore_ascii_case("after") => Ok(Some(ReturnDocument::After)),
        Some(s) => Err(format!("returnDocument must be Before or After, not {s:?}")),
    }
}

/// `timeoutMode`: `cursorLifetime` or `iteration`.
pub fn timeout_mode(a: &mut Args) -> Result<Option<TimeoutMode>, String> {
    match a.str("timeoutMode")?.as_deref() {
        None => Ok(None),
        Some("cursorLifetime") => Ok(Some(TimeoutMode::CursorLifetime)),
        Some("iteration") => Ok(Some(TimeoutMode::Iteration)),
        Some(other) => Err(format!("timeoutMode {other:?}: unknown")),
    }
}

pub fn cursor_type(a: &mut Args) -> Result<Option<CursorType>, String> {
    match a.str("cursorType")?.as_deref() {
        None => Ok(None),
        Some("nonTailable") => Ok(Some(CursorType::NonTailable)),
        Some("tailable") => Ok(Some(CursorType::Tailable)),
        Some("tailableAwait") => Ok(Some(CursorType::TailableAwait)),
        Some(other) => Err(format!("cursorType {other:?}: unknown")),
    }
}

/// `insertMany`'s result: `insertedIds` by index.
pub fn insert_many_result(r: &InsertManyResult) -> Document {
    let mut ids: Vec<_> = r.inserted_ids.iter().collect();
    ids.sort_by_key(|(i, _)| **i);
    let ids: Document = ids
        .into_iter()
        .map(|(i, id)| (i.to_string(), id.clone()))
        .collect();
    doc! {"insertedIds": ids}
}

pub fn update_result(r: &UpdateResult) -> Document {
    let mut d = doc! {
        "matchedCount": r.matched_count as i64,
        "modifiedCount": r.modified_count as i64,
        "upsertedCount": i64::from(r.upserted_id.is_some()),
    };
    if let Some(id) = &r.upserted_id {
        d.insert("upsertedId", id.clone());
    }
    d
}

pub fn delete_result(r: &DeleteResult) -> Document {
    doc! {"deletedCount": r.deleted_count as i64}
}

/// A `SearchIndexModel` from its document (`definition`, `name`, `type`).
fn search_index_model(mut d: Document) -> Result<SearchIndexModel, String> {
    let definition = match d.remove("definition") {
        Some(Bson::Document(def)) => def,
        other => return Err(format!("search index model: definition {other:?}")),
    };
    let mut model = SearchIndexModel::builder().definition(definition).build();
    model.name = match d.remove("name") {
        Some(Bson::String(n)) => Some(n),
        None => None,
        Some(other) => return Err(format!("search index model: name {other}")),
    };
    model.index_type = match d.remove("type") {
        Some(Bson::String(t)) if t == "search" => Some(SearchIndexType::Search),
        Some(Bson::String(t)) if t == "vectorSearch" => Some(SearchIndexType::VectorSearch),
        None => None,
        Some(other) => return Err(format!("search index model: type {other}")),
    };
    match d.keys().next() {
        Some(k) => Err(format!("search index model: {k} is not in this runner")),
        None => Ok(model),
    }
}

/// A whole number that fits a `u32`.
fn bson_u32(b: &Bson) -> Option<u32> {
    match b {
        Bson::Int32(v) => u32::try_from(*v).ok(),
        Bson::Int64(v) => u32::try_from(*v).ok(),
        Bson::Double(v) if v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX) => {
            Some(*v as u32)
        }
        _ => None,
    }
}
