//! Client operations.

use bson::{doc, Bson};
use mongo_x509::action::Action;
use mongo_x509::error::Error;

use super::collection::{session_guard, session_mut};
use super::{with_session, Args, OpResult, Outcome};
use crate::unified::entities::ClientEntity;
use crate::unified::runner::TestCtx;

pub async fn run(name: &str, mut a: Args, c: &ClientEntity, ctx: &TestCtx) -> OpResult {
    let client = &c.client;
    let sess = a.session(ctx)?;
    let mut guard = session_guard!(sess);
    let s = session_mut!(guard);
    let r: Result<Outcome, Error> = match name {
        // listDatabaseObjects: as listCollectionObjects, the listing of specifications.
        "listDatabases" | "listDatabaseObjects" => {
            let act = client
                .list_databases()
                .optional(a.doc("filter")?, |x, v| x.filter(v))
                .optional(a.bool("authorizedDatabases")?, |x, v| {
                    x.authorized_databases(v)
                })
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|v| {
                Outcome::Docs(
                    v.into_iter()
                        .map(|d| {
                            let mut doc = doc! {
                                "name": d.name,
                                "sizeOnDisk": d.size_on_disk as i64,
                                "empty": d.empty,
                            };
                            if let Some(shards) = d.shards {
                                doc.insert("shards", shards);
                            }
                            Bson::Document(doc)
                        })
                        .collect(),
                )
            })
        }
        "listDatabaseNames" => {
            let act = client
                .list_database_names()
                .optional(a.doc("filter")?, |x, v| x.filter(v))
                .optional(a.bool("authorizedDatabases")?, |x, v| {
                    x.authorized_databases(v)
                })
                .optional(a.take("comment"), |x, v| x.comment(v));
            let act = act.optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            with_session!(act, s).map(|v| Outcome::Value(v.into_iter().map(Bson::String).collect()))
        }
        "clientBulkWrite" => {
            let models = super::bulk::models(a.req_docs("models")?, None)?;
            let verbose = a.bool("verboseResults")?.unwrap_or(false);
            let act = client
                .bulk_write(models)
                .optional(a.bool("ordered")?, |x, v| x.ordered(v))
                .optional(a.bool("bypassDocumentValidation")?, |x, v| {
                    x.bypass_document_validation(v)
                })
                .optional(a.doc("let")?, |x, v| x.let_vars(v))
                .optional(a.write_concern()?, |x, v| x.write_concern(v))
                .optional(a.take("comment"), |x, v| x.comment(v))
                .optional(a.bool("rawData")?, |x, v| x.raw_data(v))
                .optional(a.millis("timeoutMS")?, |x, v| x.timeout(v));
            a.finish()?;
            if verbose {
                let act = act.verbose_results();
                with_session!(act, s)
                    .map(|r| Outcome::Value(super::bulk::verbose_result(&r).into()))
            } else {
                with_session!(act, s)
                    .map(|r| Outcome::Value(super::bulk::summary_result(&r).into()))
            }
        }
        "close" => {
            a.finish()?;
            drop(guard);
            client.clone().shutdown().await;
            Ok(Outcome::None)
        }
        other => {
            return Err(format!(
                "client operation {other}: not in the crate's API (or this runner) yet"
            ))
        }
    };
    Ok(r)
}
