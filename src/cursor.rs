//! [`Cursor`]: the results of `find` and `aggregate`, as a [`Stream`](futures_core::Stream);
//! [`SessionCursor`]: the same in an explicit session.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bson::Document;
use futures_core::future::BoxFuture;
use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::client::{Leftovers, Run};
use crate::error::{Error, Result};
use crate::operation::{CursorSpec, GetMore, GetMoreResult, KillCursors, RawBatch};
use crate::options::ServerAddress;
use crate::{Client, ClientSession};

/// A `getMore` in flight: the next batch, and the pinned session/connection back.
type GetMoreFuture = BoxFuture<'static, (Result<GetMoreResult>, Leftovers)>;

/// A server-side cursor over the results of `find` or `aggregate`.
///
/// Batches stay as the bytes the server sent; each result is deserialized straight from its
/// bytes into `T` when it is taken, so a `Cursor<MyStruct>` never builds a [`Document`], and
/// a `Cursor<RawDocumentBuf>` hands out the bytes.
///
/// It is a [`Stream`] of `Result<T>`: use it with `futures::StreamExt::next` or
/// `futures::TryStreamExt::try_collect`. Batches after the first are fetched with `getMore`
/// (with the `batchSize` asked for) from the server that ran the query, in the same implicit
/// session, and in load-balanced mode on the same connection (pinned until the cursor is
/// exhausted or dropped). A cursor dropped before it is exhausted kills its server-side cursor
/// (`killCursors`, sent in the background when a Tokio runtime is running; errors are ignored,
/// the server times cursors out anyway).
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
    state: State,
    get_more: Option<GetMoreFuture>,
    _type: PhantomData<fn() -> T>,
}

/// What both cursor kinds share.
struct State {
    client: Client,
    address: ServerAddress,
    db: String,
    coll: String,
    id: i64,
    batch_size: Option<u32>,
    /// Documents still to return under a `limit` (the server honours it too; this stops early).
    remaining: Option<u64>,
    buffer: RawBatch,
    /// The implicit session and (load-balanced) connection the cursor keeps; `None` while a
    /// `getMore` holds them.
    pinned: Option<Leftovers>,
    /// The explicit session's id ([`SessionCursor`]), for `killCursors`.
    lsid: Option<Document>,
    failed: bool,
}

impl<T> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt(f)
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("address", &self.address)
            .field("namespace", &format_args!("{}.{}", self.db, self.coll))
            .field("id", &self.id)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl State {
    fn new(client: Client, spec: CursorSpec, pinned: Leftovers, lsid: Option<Document>) -> Self {
        let mut state = Self {
            client,
            address: spec.address,
            db: spec.db,
            coll: spec.coll,
            id: spec.id,
            batch_size: spec.batch_size,
            remaining: spec.limit.filter(|l| *l > 0),
            buffer: spec.first_batch,
            pinned: Some(pinned),
            lsid,
            failed: false,
        };
        state.after_batch();
        state
    }

    /// After a batch: trims to the limit, and lets go of the session and connection once the
    /// server cursor is gone.
    fn after_batch(&mut self) {
        if let Some(rem) = self.remaining {
            let rem = usize::try_from(rem).unwrap_or(usize::MAX);
            if self.buffer.len() >= rem {
                self.buffer.truncate(rem);
                // Everything asked for is here; the server cursor is no longer needed.
                self.kill();
            }
        }
        if self.id == 0 {
            self.pinned = None;
        }
    }

    fn kill(&mut self) {
        let id = std::mem::replace(&mut self.id, 0);
        let pinned = self.pinned.take();
        if id == 0 {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let op = KillCursors::new(self.address.clone(), self.db.clone(), self.coll.clone(), id)
            .with_lsid(self.lsid.clone());
        handle.spawn(async move {
            let mut pinned = pinned.unwrap_or_default();
            let run = Run {
                session: pinned.session.as_mut(),
                pinned: pinned.connection.as_mut(),
                ..Run::default()
            };
            // Best effort: the server times the cursor out anyway.
            let _ = client.run(op, run).await;
        });
    }

    fn get_more_op(&self) -> GetMore {
        let batch = match (self.batch_size, self.remaining) {
            (Some(b), Some(r)) => Some(u64::from(b).min(r)),
            (Some(b), None) => Some(u64::from(b)),
            (None, r) => r,
        };
        GetMore::new(
            self.address.clone(),
            self.db.clone(),
            self.coll.clone(),
            self.id,
            batch,
        )
    }

    /// A buffered result, if any, deserialized from its bytes.
    fn pop<T: DeserializeOwned>(&mut self) -> Option<Result<T>> {
        let doc = self.buffer.pop_front()?;
        let item = bson::from_slice(doc.as_bytes()).map_err(Error::from);
        if let Some(rem) = &mut self.remaining {
            *rem = rem.saturating_sub(1);
        }
        Some(item)
    }

    /// True when no more documents will come (after the buffer is empty).
    fn exhausted(&mut self) -> bool {
        if self.failed {
            return true;
        }
        if self.id == 0 || self.remaining == Some(0) {
            self.kill();
            return true;
        }
        false
    }

    fn on_get_more(&mut self, result: Result<GetMoreResult>, pinned: Leftovers) -> Result<()> {
        self.pinned = Some(pinned);
        match result {
            Ok(GetMoreResult { batch, id }) => {
                self.buffer = batch;
                self.id = id;
                self.after_batch();
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                // The server cursor may survive a command error; try to free it.
                self.kill();
                Err(e)
            }
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.kill();
    }
}

impl<T> Cursor<T> {
    /// A cursor from what the command that opened it returned, with the implicit session and
    /// pinned connection it keeps.
    pub(crate) fn new(client: Client, spec: CursorSpec, pinned: Leftovers) -> Self {
        Self {
            state: State::new(client, spec, pinned, None),
            get_more: None,
            _type: PhantomData,
        }
    }

    /// Converts to a cursor over another document type.
    pub fn with_type<U>(self) -> Cursor<U> {
        Cursor {
            state: self.state,
            get_more: self.get_more,
            _type: PhantomData,
        }
    }

    /// The server-side cursor id; 0 once the server has no more results.
    pub fn id(&self) -> i64 {
        self.state.id
    }

    /// The server the cursor lives on.
    pub fn address(&self) -> &ServerAddress {
        &self.state.address
    }

    fn start_get_more(&mut self) {
        let op = self.state.get_more_op();
        let client = self.state.client.clone();
        let mut pinned = self.state.pinned.take().unwrap_or_default();
        self.get_more = Some(Box::pin(async move {
            let run = Run {
                session: pinned.session.as_mut(),
                pinned: pinned.connection.as_mut(),
                ..Run::default()
            };
            let (result, _) = client.run(op, run).await;
            (result, pinned)
        }));
    }

    fn poll_item<U: DeserializeOwned>(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<U>>> {
        loop {
            if let Some(item) = self.state.pop() {
                return Poll::Ready(Some(item));
            }
            if self.get_more.is_none() {
                if self.state.exhausted() {
                    return Poll::Ready(None);
                }
                self.start_get_more();
            }
            let Some(fut) = self.get_more.as_mut() else {
                return Poll::Ready(None);
            };
            let (result, pinned) = match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            self.get_more = None;
            if let Err(e) = self.state.on_get_more(result, pinned) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

impl<T: DeserializeOwned> Cursor<T> {
    /// The next result (what [`Stream::poll_next`] yields), without a `StreamExt` import.
    pub(crate) async fn next_item(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }
}

impl<T: DeserializeOwned> Stream for Cursor<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

/// A cursor opened in an explicit session (`find(...).session(&mut s)`): its `getMore`s run in
/// that session, so iterate it with [`next`](Self::next) and the same session, as in the
/// official driver.
///
/// ```no_run
/// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
/// use mongo_x509::bson::{doc, Document};
/// let mut session = client.start_session().await?;
/// let coll = client.database("app").collection::<Document>("events");
/// let mut cursor = coll.find(doc! {}).session(&mut session).await?;
/// while let Some(event) = cursor.next(&mut session).await {
///     println!("{}", event?);
/// }
/// # Ok(()) }
/// ```
pub struct SessionCursor<T> {
    state: State,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SessionCursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt(f)
    }
}

impl<T> SessionCursor<T> {
    pub(crate) fn new(
        client: Client,
        spec: CursorSpec,
        pinned: Leftovers,
        session: &ClientSession,
    ) -> Self {
        Self {
            state: State::new(client, spec, pinned, Some(session.id().clone())),
            _type: PhantomData,
        }
    }

    /// The server-side cursor id; 0 once the server has no more results.
    pub fn id(&self) -> i64 {
        self.state.id
    }

    /// The server the cursor lives on.
    pub fn address(&self) -> &ServerAddress {
        &self.state.address
    }

    /// Converts to a cursor over another document type.
    pub fn with_type<U>(self) -> SessionCursor<U> {
        SessionCursor {
            state: self.state,
            _type: PhantomData,
        }
    }

    async fn next_item<U: DeserializeOwned>(
        &mut self,
        session: &mut ClientSession,
    ) -> Option<Result<U>> {
        loop {
            if let Some(item) = self.state.pop() {
                return Some(item);
            }
            if self.state.exhausted() {
                return None;
            }
            let op = self.state.get_more_op();
            let mut pinned = self.state.pinned.take().unwrap_or_default();
            let run = Run {
                session: Some(session),
                pinned: pinned.connection.as_mut(),
                ..Run::default()
            };
            let (result, _) = self.state.client.run(op, run).await;
            if let Err(e) = self.state.on_get_more(result, pinned) {
                return Some(Err(e));
            }
        }
    }
}

impl<T: DeserializeOwned> SessionCursor<T> {
    /// The next result, running `getMore` in `session` (the session the cursor was opened in)
    /// when the current batch is used up; `None` at the end.
    pub async fn next(&mut self, session: &mut ClientSession) -> Option<Result<T>> {
        self.next_item(session).await
    }
}
