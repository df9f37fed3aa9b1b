//! Cursors: iterating results fully, and the cursor entities' operations.

use std::sync::Arc;

use bson::{Bson, Document};
use futures_util::{StreamExt, TryStreamExt};
use mongo_x509::error::Error;
use mongo_x509::{ClientSession, Cursor, SessionCursor};
use tokio::sync::Mutex;

use super::{Args, OpResult, Outcome};
use crate::unified::entities::{CursorEntity, Entity};

pub async fn collect_cursor(c: Cursor<Document>) -> Result<Outcome, Error> {
    let docs: Vec<Document> = c.try_collect().await?;
    Ok(Outcome::Docs(
        docs.into_iter().map(Bson::Document).collect(),
    ))
}

pub async fn collect_session_cursor(
    mut c: SessionCursor<Document>,
    s: &mut ClientSession,
) -> Result<Outcome, Error> {
    let mut docs = Vec::new();
    while let Some(d) = c.next(s).await {
        docs.push(Bson::Document(d?));
    }
    Ok(Outcome::Docs(docs))
}

pub fn new_cursor_entity(c: CursorEntity) -> Outcome {
    Outcome::Entity(Entity::Cursor(Arc::new(Mutex::new(c))))
}

pub async fn run(name: &str, a: Args, cursor: &Arc<Mutex<CursorEntity>>) -> OpResult {
    a.finish()?;
    let mut c = cursor.lock().await;
    match name {
        "iterateUntilDocumentOrError" => {
            let next = match &mut *c {
                CursorEntity::Plain(cur) => cur.next().await,
                CursorEntity::InSession(cur, sess) => {
                    let mut g = sess.lock().await;
                    let s = g.as_mut().ok_or("the cursor's session was ended")?;
                    cur.next(s).await
                }
                // A change stream waits for an event (getMore after getMore).
                CursorEntity::Stream(cs) => cs.next().await,
                CursorEntity::SessionStream(cs, sess) => {
                    let mut g = sess.lock().await;
                    let s = g.as_mut().ok_or("the change stream's session was ended")?;
                    cs.next(s).await.transpose()
                }
                CursorEntity::Closed => return Err(format!("{name} on a closed cursor")),
            };
            Ok(match next {
                Some(Ok(d)) => Ok(Outcome::Value(Bson::Document(d))),
                Some(Err(e)) => Err(e),
                None => Ok(Outcome::None),
            })
        }
        // One iteration: at most one getMore when the batch is used up.
        "iterateOnce" => {
            let next = match &mut *c {
                CursorEntity::Plain(cur) => cur.next_if_any().await,
                CursorEntity::InSession(cur, sess) => {
                    let mut g = sess.lock().await;
                    let s = g.as_mut().ok_or("the cursor's session was ended")?;
                    cur.next_if_any(s).await
                }
                CursorEntity::Stream(cs) => cs.next_if_any().await,
                CursorEntity::SessionStream(cs, sess) => {
                    let mut g = sess.lock().await;
                    let s = g.as_mut().ok_or("the change stream's session was ended")?;
                    cs.next_if_any(s).await
                }
                CursorEntity::Closed => return Err(format!("{name} on a closed cursor")),
            };
            Ok(next.map(|d| d.map_or(Outcome::None, |d| Outcome::Value(Bson::Document(d)))))
        }
        "close" => {
            // Errors are ignored, as the format says.
            match std::mem::replace(&mut *c, CursorEntity::Closed) {
                CursorEntity::Plain(cur) => cur.close().await,
                CursorEntity::InSession(cur, _) => cur.close().await,
                CursorEntity::Stream(cs) => cs.close().await,
                CursorEntity::SessionStream(cs, _) => cs.close().await,
                CursorEntity::Closed => {}
            }
            Ok(Ok(Outcome::None))
        }
        other => Err(format!("cursor operation {other}: not supported")),
    }
}
