//! [`Cursor`]: the results of `find` and `aggregate`, as a [`Stream`](futures_core::Stream);
//! [`SessionCursor`]: the same in an explicit session.
//!
//! Both are thin drivers of one state machine ([`state`]: what to do next, no I/O) through one
//! poll loop ([`driver`]: runs the `getMore`, keeps it in flight across dropped calls, sends
//! `killCursors` in the background).

pub(crate) mod decode;
mod driver;
mod state;

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::client::Leftovers;
use crate::error::Result;
use crate::operation::CursorSpec;
use crate::options::ServerAddress;
use crate::{Client, ClientSession};
use decode::decode;
pub(crate) use driver::{Driver, Polled, KILL_CURSORS_TIMEOUT};
pub(crate) use state::CursorState;

/// A server-side cursor over the results of `find` or `aggregate`.
///
/// Batches stay as the bytes the server sent; each result is decoded straight from its bytes
/// into `T` when it is taken, so a `Cursor<MyStruct>` never builds a
/// [`Document`](bson::Document), a `Cursor<RawDocumentBuf>` hands out the bytes, and a
/// `Cursor<Document>` is built by the bson crate's own converter rather than serde.
///
/// It is a [`Stream`] of `Result<T>`: use it with `futures::StreamExt::next` or
/// `futures::TryStreamExt::try_collect`. Batches after the first are fetched with `getMore`
/// (with the `batchSize` asked for) from the server that ran the query, in the same implicit
/// session, and in load-balanced mode on the same connection (pinned until the cursor is
/// exhausted or dropped). Polling is cancellation-safe: a `next` dropped while its `getMore` is
/// in flight (a timeout, a `select!`) leaves the `getMore` in the cursor, and the following
/// `next` continues it, so no batch is skipped.
///
/// A cursor dropped before it is exhausted kills its server-side cursor (`killCursors`, sent in
/// the background when a Tokio runtime is running, for at most five seconds; errors are
/// ignored, the server times cursors out anyway). That task does not keep the client alive:
/// once every `Client` handle is dropped it sends nothing.
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
    driver: Driver,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.driver.state.fmt(f)
    }
}

impl<T> Cursor<T> {
    /// A cursor from what the command that opened it returned, with the implicit session and
    /// pinned connection it keeps.
    pub(crate) fn new(client: Client, spec: CursorSpec, pinned: Leftovers) -> Self {
        Self {
            driver: Driver::new(client, CursorState::new(spec, pinned, None)),
            _type: PhantomData,
        }
    }

    /// Converts to a cursor over another document type.
    pub fn with_type<U>(self) -> Cursor<U> {
        Cursor {
            driver: self.driver,
            _type: PhantomData,
        }
    }

    /// The server-side cursor id; 0 once the server has no more results.
    pub fn id(&self) -> i64 {
        self.driver.state.id()
    }

    /// The server the cursor lives on.
    pub fn address(&self) -> &ServerAddress {
        self.driver.state.address()
    }

    /// Closes the cursor now: when its server cursor is still open, `killCursors` is sent and
    /// its reply read before this returns (dropping the cursor sends it in the background
    /// instead). Errors are ignored: the server times cursors out anyway. In load-balanced mode
    /// the cursor's pinned connection is back in the pool when this returns.
    ///
    /// ```no_run
    /// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let cursor = coll.find(doc! {}).batch_size(10).await?;
    /// cursor.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn close(self) {
        self.driver.close().await
    }
}

impl<T> Cursor<T> {
    /// The next document as the server sent it, given to `take` rather than decoded as `T`
    /// (GridFS reads a chunk's bytes in place).
    pub(crate) fn poll_next_raw<U>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&bson::RawDocument) -> U,
    ) -> Poll<Option<Result<U>>> {
        self.driver.poll_next(cx, None, |doc| Ok(take(doc)), None)
    }
}

impl<T: DeserializeOwned + 'static> Cursor<T> {
    /// The next result (what [`Stream::poll_next`] yields), without a `StreamExt` import.
    pub(crate) async fn next_item(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.driver.poll_next(cx, None, decode::<T>, None)).await
    }

    /// The next result if there is one now: from the current batch, or else from at most one
    /// `getMore`. `Ok(None)` when that `getMore` brought an empty batch (a tailable cursor with
    /// nothing new yet; call again later) or the cursor is exhausted ([`id`](Self::id) is 0
    /// then). Iterating with [`Stream::poll_next`] instead keeps sending `getMore`s until a
    /// document arrives.
    ///
    /// ```no_run
    /// # async fn f(log: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::options::CursorType;
    /// let mut tail = log.find(doc! {}).cursor_type(CursorType::Tailable).await?;
    /// while let Some(entry) = tail.next_if_any().await? {
    ///     println!("{entry}");
    /// }
    /// // Nothing new for now; the cursor stays open for later calls.
    /// # Ok(()) }
    /// ```
    pub async fn next_if_any(&mut self) -> Result<Option<T>> {
        let mut fetched = false;
        std::future::poll_fn(|cx| {
            self.driver
                .poll_next(cx, None, decode::<T>, Some(&mut fetched))
        })
        .await
        .transpose()
    }
}

impl<T: DeserializeOwned + 'static> Stream for Cursor<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().driver.poll_next(cx, None, decode::<T>, None)
    }
}

/// A cursor opened in an explicit session (`find(...).session(&mut s)`): its `getMore`s run in
/// that session, so iterate it with [`next`](Self::next) and the same session, as in the
/// official driver.
///
/// [`next`](Self::next) is cancellation-safe, as [`Cursor`]'s polling is: a `next` dropped
/// while its `getMore` is in flight leaves the `getMore` running in the cursor (with a copy of
/// the session's `lsid` and cluster time), and the next call continues it, hands out its batch
/// and gives the session the cluster and operation times the reply carried.
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
    driver: Driver,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SessionCursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.driver.state.fmt(f)
    }
}

impl<T> SessionCursor<T> {
    /// A cursor from what the command that opened it in `session` returned.
    pub(crate) fn new(
        client: Client,
        spec: CursorSpec,
        pinned: Leftovers,
        session: &ClientSession,
    ) -> Self {
        let state = CursorState::new(spec, pinned, Some(session.id().clone()));
        Self {
            driver: Driver::new(client, state),
            _type: PhantomData,
        }
    }

    /// The server-side cursor id; 0 once the server has no more results.
    pub fn id(&self) -> i64 {
        self.driver.state.id()
    }

    /// The server the cursor lives on.
    pub fn address(&self) -> &ServerAddress {
        self.driver.state.address()
    }

    /// Converts to a cursor over another document type.
    pub fn with_type<U>(self) -> SessionCursor<U> {
        SessionCursor {
            driver: self.driver,
            _type: PhantomData,
        }
    }

    /// Closes the cursor now, as [`Cursor::close`] does; the `killCursors` carries the
    /// session's `lsid`.
    pub async fn close(self) {
        self.driver.close().await
    }
}

impl<T: DeserializeOwned + 'static> SessionCursor<T> {
    /// The next result, running `getMore` in `session` (the session the cursor was opened in)
    /// when the current batch is used up; `None` at the end.
    pub async fn next(&mut self, session: &mut ClientSession) -> Option<Result<T>> {
        std::future::poll_fn(|cx| {
            self.driver
                .poll_next(cx, Some(&mut *session), decode::<T>, None)
        })
        .await
    }

    /// The next result if there is one now, with at most one `getMore` (run in `session`), as
    /// [`Cursor::next_if_any`] does.
    pub async fn next_if_any(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        let mut fetched = false;
        std::future::poll_fn(|cx| {
            self.driver
                .poll_next(cx, Some(&mut *session), decode::<T>, Some(&mut fetched))
        })
        .await
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::RawBatch;
    use bson::Document;

    #[tokio::test]
    async fn a_cursor_dropped_after_its_client_keeps_nothing_alive() {
        let client = crate::operation::test_util::offline_client();
        let spec = CursorSpec {
            address: client.options().hosts[0].clone(),
            db: "db".into(),
            coll: "c".into(),
            id: 42,
            first_batch: RawBatch::default(),
            batch_size: None,
            limit: None,
            get_more: Default::default(),
        };
        let cursor = Cursor::<Document>::new(client.clone(), spec, Leftovers::default());
        let weak = client.downgrade();
        drop(client);
        assert!(weak.upgrade().is_some(), "the cursor uses its client");
        // Unexhausted: its killCursors task is spawned, holding the client weakly.
        drop(cursor);
        assert!(weak.upgrade().is_none(), "nothing keeps the client alive");
        tokio::task::yield_now().await;
    }
}
