//! Database operations.

use std::time::Duration;

use bson::{doc, Bson, Document};
use mongo_x509::action::Action;
use mongo_x509::error::Error;
use mongo_x509::results::{CollectionSpecification, CollectionType};
use mongo_x509::Database;

use super::collection::{session_guard, session_mut};
use super::cursor::{collect_cursor, collect_session_cursor, new_cursor_entity};
use super::{with_session, Args, OpResult, Outcome};
use crate::unified::entities::CursorEntity;
use crate::unified::runner::TestCtx;

pub async fn run(name: &str, mut a: Args, db: &Database, ctx: &TestCtx) -> OpResult {
    let sess = a.session(ctx)?;
    let mut guard = session_guard!(sess);
    let s = session_mut!(guard);
    let r: Result<Outcome, Error> = match name {
        "runCommand" => {
            let command = a.req_doc("command")?;
            // Key order is kept by the parser, so the name is only checked.
            let command_name = a.req_str("commandName")?;
            if command.keys().next() != Some(&command_name) {
                return Err(format!(
                    "runCommand: commandName {command_name} is not the command's first key"
                ));
            }
            let act = db
                .run_command(command)
                .optional(a.read_preference()?, |x, v| x.read_preference(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|d| Outcome::Value(Bson::Document(d)))
        }
        "runCursorCommand" | "createCommandCursor" => {
            let command = a.req_doc("command")?;
            // Optional for createCommandCursor (the format's operation takes none).
            let command_name = a.str("commandName")?;
            if let Some(command_name) = command_name.filter(|n| command.keys().next() != Some(n)) {
                return Err(format!(
                    "{name}: commandName {command_name} is not the command's first key"
                ));
            }
            let act = db
                .run_cursor_command(command)
                .optional(a.read_preference()?, |x, v| x.selection_criteria(v))
                .optional(super::collection::cursor_type(&mut a)?, |x, v| {
                    x.cursor_type(v)
                })
                .optional(super::collection::timeout_mode(&mut a)?, |x, v| {
                    x.timeout_mode(v)
                })
                .optional(a.u32("batchSize")?, |x, v| x.batch_size(v))
                .optional(a.millis("maxTimeMS")?, |x, v| x.max_time(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            let keep = name == "createCommandCursor";
            match s {
                Some(s) => match act.session(&mut *s).await {
                    Err(e) => Err(e),
                    Ok(c) if keep => {
                        let sess = sess.clone().expect("a session");
                        drop(guard);
                        return Ok(Ok(new_cursor_entity(CursorEntity::InSession(c, sess))));
                    }
                    Ok(c) => collect_session_cursor(c, s).await,
                },
                None => match act.await {
                    Err(e) => Err(e),
                    Ok(c) if keep => Ok(new_cursor_entity(CursorEntity::Plain(c))),
                    Ok(c) => collect_cursor(c).await,
                },
            }
        }
        "aggregate" => {
            let pipeline = a.req_docs("pipeline")?;
            let act = db
                .aggregate(pipeline)
                .optional(super::collection::timeout_mode(&mut a)?, |x, v| {
                    x.timeout_mode(v)
                })
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
        // listCollectionObjects: the format's name for a driver whose listing of specifications is
        // a method of its own; the crate's list_collections is that listing.
        "listCollections" | "listCollectionObjects" => {
            let act = db
                .list_collections()
                .optional(super::collection::timeout_mode(&mut a)?, |x, v| {
                    x.timeout_mode(v)
                })
                .optional(a.doc("filter")?, |x, v| x.filter(v))
                .optional(a.u32("batchSize")?, |x, v| x.batch_size(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            let specs: Result<Vec<CollectionSpecification>, Error> = match s {
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
            specs.map(|v| Outcome::Docs(v.iter().map(|c| collection_spec(c).into()).collect()))
        }
        "listCollectionNames" => {
            let act = db
                .list_collection_names()
                .optional(a.doc("filter")?, |x, v| x.filter(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|v| Outcome::Value(v.into_iter().map(Bson::String).collect()))
        }
        "createCollection" => {
            let coll = a.req_str("collection")?;
            let act = db
                .create_collection(&coll)
                .optional(a.bool("capped")?, |x, v| x.capped(v))
                .optional(a.u64("size")?, |x, v| x.size(v))
                .optional(a.u64("max")?, |x, v| x.max(v))
                .optional(a.doc("storageEngine")?, |x, v| x.storage_engine(v))
                .optional(a.doc("validator")?, |x, v| x.validator(v))
                .optional(a.str("viewOn")?, |x, v| x.view_on(v))
                .optional(a.docs("pipeline")?, |x, v| x.pipeline(v))
                .optional(a.collation()?, |x, v| x.collation(v))
                .optional(a.doc("indexOptionDefaults")?, |x, v| {
                    x.index_option_defaults(v)
                })
                .optional(decode(&mut a, "timeseries")?, |x, v| x.timeseries(v))
                .optional(a.u64("expireAfterSeconds")?, |x, v| {
                    x.expire_after_seconds(Duration::from_secs(v))
                })
                .optional(decode(&mut a, "changeStreamPreAndPostImages")?, |x, v| {
                    x.change_stream_pre_and_post_images(v)
                })
                .optional(decode(&mut a, "clusteredIndex")?, |x, v| {
                    x.clustered_index(v)
                })
                .optional(a.write_concern()?, |x, v| x.write_concern(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            // The new collection: saveResultAsEntity keeps it as a collection entity.
            let created = db.collection::<Document>(&coll);
            with_session!(act, s)
                .map(|()| Outcome::Entity(crate::unified::entities::Entity::Collection(created)))
        }
        "modifyCollection" => {
            // The official crate has no collMod helper either; its runner sends the command,
            // as here: `collMod` with the arguments as they are.
            let coll = a.req_str("collection")?;
            let mut command = doc! {"collMod": coll};
            command.extend(std::mem::take(&mut a.doc));
            let act = db.run_command(command);
            with_session!(act, s).map(|_| Outcome::None)
        }
        "dropCollection" => {
            let coll = a.req_str("collection")?;
            let c = db.collection::<Document>(&coll);
            let act = c
                .drop()
                .optional(a.write_concern()?, |x, v| x.write_concern(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        "drop" => {
            let act = db
                .drop()
                .optional(a.write_concern()?, |x, v| x.write_concern(v))
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|()| Outcome::None)
        }
        other => {
            return Err(format!(
                "database operation {other}: not in the crate's API (or this runner) yet"
            ))
        }
    };
    Ok(r)
}

/// A typed option read from its document.
fn decode<T: serde::de::DeserializeOwned>(a: &mut Args, key: &str) -> Result<Option<T>, String> {
    match a.take(key) {
        None => Ok(None),
        Some(v) => bson::from_bson(v)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

/// A collection specification as the server lists it.
pub fn collection_spec(c: &CollectionSpecification) -> Document {
    let kind = match c.collection_type {
        CollectionType::Collection => "collection",
        CollectionType::View => "view",
        CollectionType::Timeseries => "timeseries",
        _ => "other",
    };
    let mut d =
        doc! {"name": &c.name, "type": kind, "options": c.options.clone(), "info": c.info.clone()};
    if let Some(idx) = &c.id_index {
        if let Ok(i) = bson::to_document(idx) {
            d.insert("idIndex", i);
        }
    }
    d
}
