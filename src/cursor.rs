//! [`Cursor`]: the results of `find` and `aggregate`, as a [`Stream`](futures_core::Stream).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bson::Document;
use futures_core::future::BoxFuture;
use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::operation::{CursorSpec, GetMore, GetMoreResult, KillCursors};
use crate::options::ServerAddress;
use crate::Client;

/// A `getMore` in flight: the next batch and the cursor id after it.
type GetMoreFuture = BoxFuture<'static, Result<GetMoreResult>>;

/// A server-side cursor over the results of `find` or `aggregate`.
///
/// It is a [`Stream`] of `Result<T>`: use it with `futures::StreamExt::next` or
/// `futures::TryStreamExt::try_collect`. Batches after the first are fetched with `getMore`
/// (with the `batchSize` asked for) from the server that ran the query. A cursor dropped before
/// it is exhausted kills its server-side cursor (`killCursors`, sent in the background when a
/// Tokio runtime is running; errors are ignored, the server times cursors out anyway).
///
/// ```no_run
/// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
/// use futures_util::TryStreamExt;
/// use mongo_x509::bson::doc;
///
/// let docs: Vec<_> = coll.find(doc! { "qty": { "$gt": 5 } }).batch_size(100).await?.try_collect().await?;
/// # Ok(()) }
/// ```
pub struct Cursor<T> {
    client: Client,
    address: ServerAddress,
    db: String,
    coll: String,
    id: i64,
    batch_size: Option<u32>,
    /// Documents still to return under a `limit` (the server honours it too; this stops early).
    remaining: Option<u64>,
    buffer: VecDeque<Document>,
    get_more: Option<GetMoreFuture>,
    failed: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("address", &self.address)
            .field("namespace", &format_args!("{}.{}", self.db, self.coll))
            .field("id", &self.id)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<T> Cursor<T> {
    /// A cursor from what the command that opened it returned.
    pub(crate) fn new(client: Client, spec: CursorSpec) -> Self {
        let mut cursor = Self {
            client,
            address: spec.address,
            db: spec.db,
            coll: spec.coll,
            id: spec.id,
            batch_size: spec.batch_size,
            remaining: spec.limit.filter(|l| *l > 0),
            buffer: spec.first_batch,
            get_more: None,
            failed: false,
            _type: PhantomData,
        };
        cursor.trim_to_limit();
        cursor
    }

    /// Converts to a cursor over another document type.
    pub fn with_type<U>(mut self) -> Cursor<U> {
        // Move the fields out without running our Drop (which would kill the server cursor).
        let id = std::mem::replace(&mut self.id, 0);
        Cursor {
            client: self.client.clone(),
            address: self.address.clone(),
            db: std::mem::take(&mut self.db),
            coll: std::mem::take(&mut self.coll),
            id,
            batch_size: self.batch_size,
            remaining: self.remaining,
            buffer: std::mem::take(&mut self.buffer),
            get_more: self.get_more.take(),
            failed: self.failed,
            _type: PhantomData,
        }
    }

    /// The server-side cursor id; 0 once the server has no more results.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The server the cursor lives on.
    pub fn address(&self) -> &ServerAddress {
        &self.address
    }

    fn trim_to_limit(&mut self) {
        if let Some(rem) = self.remaining {
            let rem = usize::try_from(rem).unwrap_or(usize::MAX);
            if self.buffer.len() >= rem {
                self.buffer.truncate(rem);
                // Everything asked for is here; the server cursor is no longer needed.
                self.kill();
            }
        }
    }

    fn kill(&mut self) {
        let id = std::mem::replace(&mut self.id, 0);
        if id == 0 {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let op = KillCursors::new(self.address.clone(), self.db.clone(), self.coll.clone(), id);
        handle.spawn(async move {
            // Best effort: the server times the cursor out anyway.
            let _ = client.execute(op).await;
        });
    }

    fn start_get_more(&mut self) {
        let batch = match (self.batch_size, self.remaining) {
            (Some(b), Some(r)) => Some(u64::from(b).min(r)),
            (Some(b), None) => Some(u64::from(b)),
            (None, r) => r,
        };
        let op = GetMore::new(
            self.address.clone(),
            self.db.clone(),
            self.coll.clone(),
            self.id,
            batch,
        );
        let client = self.client.clone();
        self.get_more = Some(Box::pin(async move { client.execute(op).await }));
    }

    /// The next document, undeserialized.
    pub(crate) async fn next_document(&mut self) -> Result<Option<Document>> {
        std::future::poll_fn(|cx| self.poll_document(cx))
            .await
            .transpose()
    }

    fn poll_document(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Document>>> {
        loop {
            if self.failed {
                return Poll::Ready(None);
            }
            if let Some(doc) = self.buffer.pop_front() {
                if let Some(rem) = &mut self.remaining {
                    *rem = rem.saturating_sub(1);
                }
                return Poll::Ready(Some(Ok(doc)));
            }
            if self.id == 0 || self.remaining == Some(0) {
                self.kill();
                return Poll::Ready(None);
            }
            if self.get_more.is_none() {
                self.start_get_more();
            }
            let Some(fut) = self.get_more.as_mut() else {
                return Poll::Ready(None);
            };
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(GetMoreResult { batch, id })) => {
                    self.get_more = None;
                    self.buffer = batch;
                    self.id = id;
                    self.trim_to_limit();
                }
                Poll::Ready(Err(e)) => {
                    self.get_more = None;
                    self.failed = true;
                    // The server cursor may survive a command error; try to free it.
                    self.kill();
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl<T: DeserializeOwned> Stream for Cursor<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.poll_document(cx) {
            Poll::Ready(Some(Ok(doc))) => {
                Poll::Ready(Some(bson::from_document(doc).map_err(Error::from)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        self.kill();
    }
}
