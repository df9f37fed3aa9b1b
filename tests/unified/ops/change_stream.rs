//! `createChangeStream` on a client, database or collection: the crate's `watch`, its events
//! read as plain documents (what the files match).

use bson::{Bson, Document};
use mongo_x509::change_stream::event::ResumeToken;
use mongo_x509::options::{ChangeStreamOptions, FullDocumentBeforeChangeType, FullDocumentType};

use super::cursor::new_cursor_entity;
use super::{Args, OpResult};
use crate::unified::entities::{CursorEntity, Entity};
use crate::unified::runner::TestCtx;

pub async fn create(target: &Entity, mut a: Args, ctx: &TestCtx) -> OpResult {
    let pipeline = a.docs("pipeline")?.unwrap_or_default();
    let options = options(&mut a)?;
    let timeout = a.millis("timeoutMS")?;
    let sess = a.session(ctx)?;
    a.finish()?;
    let watch = match target {
        Entity::Client(c) => c.client.watch(),
        Entity::Database(d) => d.watch(),
        Entity::Collection(c) => c.watch(),
        other => {
            return Err(format!(
                "createChangeStream on a {}: only on a client, database or collection",
                other.kind()
            ))
        }
    };
    let watch = watch.pipeline(pipeline).with_options(options);
    let watch = match timeout {
        Some(t) => watch.timeout(t),
        None => watch,
    };
    Ok(match sess {
        None => watch
            .await
            .map(|cs| new_cursor_entity(CursorEntity::Stream(cs.with_type::<Document>()))),
        Some(s) => {
            let mut g = s.lock().await;
            let session = g.as_mut().ok_or("the session was ended")?;
            let opened = watch.session(session).await;
            drop(g);
            opened.map(|cs| {
                new_cursor_entity(CursorEntity::SessionStream(cs.with_type::<Document>(), s))
            })
        }
    })
}

fn options(a: &mut Args) -> Result<ChangeStreamOptions, String> {
    let mut o = ChangeStreamOptions::default();
    o.full_document = a.str("fullDocument")?.map(|s| match s.as_str() {
        "updateLookup" => FullDocumentType::UpdateLookup,
        "whenAvailable" => FullDocumentType::WhenAvailable,
        "required" => FullDocumentType::Required,
        _ => FullDocumentType::Other(s),
    });
    o.full_document_before_change = a
        .str("fullDocumentBeforeChange")?
        .map(|s| match s.as_str() {
            "whenAvailable" => FullDocumentBeforeChangeType::WhenAvailable,
            "required" => FullDocumentBeforeChangeType::Required,
            "off" => FullDocumentBeforeChangeType::Off,
            _ => FullDocumentBeforeChangeType::Other(s),
        });
    o.resume_after = token(a, "resumeAfter")?;
    o.start_after = token(a, "startAfter")?;
    o.start_at_operation_time = match a.take("startAtOperationTime") {
        None => None,
        Some(Bson::Timestamp(t)) => Some(t),
        Some(v) => return Err(format!("startAtOperationTime must be a timestamp, not {v}")),
    };
    o.show_expanded_events = a.bool("showExpandedEvents")?;
    o.max_await_time = a.millis("maxAwaitTimeMS")?;
    o.batch_size = a.u32("batchSize")?;
    o.collation = a.collation()?;
    o.comment = a.take("comment");
    Ok(o)
}

fn token(a: &mut Args, key: &str) -> Result<Option<ResumeToken>, String> {
    a.take(key)
        .map(|v| bson::from_bson(v).map_err(|e| format!("{key}: not a resume token: {e}")))
        .transpose()
}
