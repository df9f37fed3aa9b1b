//! Change streams: the changes to a collection, a database or a whole deployment as they
//! happen, from [`Collection::watch`](crate::Collection::watch),
//! [`Database::watch`](crate::Database::watch) or [`Client::watch`](crate::Client::watch).
//!
//! A [`ChangeStream`] resumes by itself after a resumable error (a network error, a stepdown,
//! the errors MongoDB labels `ResumableChangeStreamError`): once per error, selecting a
//! server again with the stream's read preference, in the same session, from the last resume
//! token, so no event is lost or repeated. Any other error ends the stream. Prefer these
//! helpers to an `aggregate` with a `$changeStream` stage of your own, which does not resume.
//!
//! Change streams need a replica set or a sharded cluster (the server answers a standalone
//! with an error) and a `majority` read concern or none (another level is the server's error
//! too). A pipeline stage that removes `_id` from the events makes resuming impossible: the
//! first such event is an error ([`ErrorKind::MissingResumeToken`](crate::error::ErrorKind::MissingResumeToken)).

/// What both change stream types have alike over their [`Typed`] watcher: `Debug`,
/// `resume_token`, `is_alive` and `with_type`.
macro_rules! watcher_methods {
    ($name:ident) => {
        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.watcher.fmt(f)
            }
        }

        impl<T> $name<T> {
            /// The token to resume after the last event handed out (or later, when the server
            /// has scanned further without finding one): what an automatic resume would use.
            /// `None` before the first event when the server gave none.
            pub fn resume_token(&self) -> Option<$crate::change_stream::event::ResumeToken> {
                self.0.watcher.resume_token()
            }

            /// Whether more events may come: false once the server has ended the stream (after
            /// an `invalidate` event) or an error has.
            pub fn is_alive(&self) -> bool {
                self.0.watcher.is_alive()
            }

            /// The same stream, decoding its events as `U` (for a pipeline that reshapes them).
            pub fn with_type<U>(self) -> $name<U> {
                $name(self.0.retype())
            }
        }
    };
}

mod aggregate;
pub mod event;
mod resume;
pub mod session;
mod watcher;

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::de::DeserializeOwned;

use crate::client::Leftovers;
use crate::error::Result;
use crate::{Client, ClientSession};
pub(crate) use aggregate::{Opened, WatchArgs};
pub use session::SessionChangeStream;
pub(crate) use watcher::open;
use watcher::{Next, Watcher};

/// The changes of a collection, database or deployment as they happen: a [`Stream`] of
/// `Result<T>`, where `T` is usually a
/// [`ChangeStreamEvent`](event::ChangeStreamEvent).
///
/// Waiting for the next event runs `getMore`s (each waits on the server up to
/// [`max_await_time`](crate::action::Watch::max_await_time)); the stream ends only when the
/// server ends it (an `invalidate` event: the collection or database was dropped or renamed)
/// or after an error it does not resume from. Polling is cancellation-safe: a `next` dropped
/// while its `getMore` (or a resume) is in flight leaves it in the stream, and the next call
/// continues it.
///
/// ```no_run
/// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
/// use futures_util::TryStreamExt;
/// use mongo_x509::options::FullDocumentType;
///
/// let mut stream = coll.watch().full_document(FullDocumentType::UpdateLookup).await?;
/// while let Some(event) = stream.try_next().await? {
///     println!("{:?} {:?}", event.operation_type, event.full_document);
/// }
/// # Ok(()) }
/// ```
///
/// To store the place reached, so that a restarted application continues from it, save
/// [`resume_token`](Self::resume_token) after each [`next_if_any`](Self::next_if_any): that
/// is the most recent token, moving on even while no events come (the server's
/// `postBatchResumeToken`), and give it to
/// [`resume_after`](crate::action::Watch::resume_after) on restart:
///
/// ```no_run
/// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
/// # fn save<T>(_: T) {}
/// let mut stream = coll.watch().await?;
/// while stream.is_alive() {
///     if let Some(event) = stream.next_if_any().await? {
///         println!("{event:?}");
///     }
///     save(stream.resume_token());
/// }
/// # Ok(()) }
/// ```
///
/// Dropping the stream kills its server cursor in the background.
pub struct ChangeStream<T>(Typed<T>);

watcher_methods!(ChangeStream);

impl<T> ChangeStream<T> {
    /// The stream over what its first `aggregate` returned.
    pub(crate) fn new(client: Client, args: WatchArgs, opened: Opened, left: Leftovers) -> Self {
        Self(Typed::new(Watcher::new(client, args, opened, left, None)))
    }

    /// Closes the stream now: when its server cursor is still open, `killCursors` is sent and
    /// its reply read before this returns (dropping the stream sends it in the background
    /// instead). Errors are ignored. In load-balanced mode the stream's pinned connection is
    /// back in the pool when this returns.
    ///
    /// ```no_run
    /// # async fn f(coll: mongo_x509::Collection<mongo_x509::bson::Document>) -> mongo_x509::error::Result<()> {
    /// let stream = coll.watch().await?;
    /// stream.close().await;
    /// # Ok(()) }
    /// ```
    pub async fn close(self) {
        self.0.watcher.close_now().await
    }
}

impl<T: DeserializeOwned + 'static> ChangeStream<T> {
    /// The next event if one arrives with at most one `getMore`: `Ok(None)` when the batch
    /// came back empty (or the stream has ended, see [`is_alive`](Self::is_alive)). The
    /// [`resume_token`](Self::resume_token) after it is the latest.
    pub async fn next_if_any(&mut self) -> Result<Option<T>> {
        self.0.next(None, true).await
    }
}

impl<T: DeserializeOwned + 'static> Stream for ChangeStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = std::task::ready!(self.get_mut().0.watcher.poll_next::<T>(cx, None, false));
        Poll::Ready(match next {
            Next::Event(e) => Some(e),
            Next::Error(e) => Some(Err(e)),
            Next::Empty | Next::End => None,
        })
    }
}

/// What both kinds of change stream are: the watcher, and the type its events decode to.
struct Typed<T> {
    watcher: Watcher,
    _type: PhantomData<fn() -> T>,
}

impl<T> Typed<T> {
    fn new(watcher: Watcher) -> Self {
        Self {
            watcher,
            _type: PhantomData,
        }
    }

    fn retype<U>(self) -> Typed<U> {
        Typed::new(self.watcher)
    }
}

impl<T: DeserializeOwned + 'static> Typed<T> {
    /// The next event, in `session` if the stream was opened in one; `Ok(None)` once the
    /// stream has ended or, with `stop_when_empty`, when a batch came back empty.
    async fn next(
        &mut self,
        mut session: Option<&mut ClientSession>,
        stop_when_empty: bool,
    ) -> Result<Option<T>> {
        let next = std::future::poll_fn(|cx| {
            self.watcher
                .poll_next::<T>(cx, session.as_deref_mut(), stop_when_empty)
        })
        .await;
        match next {
            Next::Event(e) => e.map(Some),
            Next::Empty | Next::End => Ok(None),
            Next::Error(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::event::ChangeStreamEvent;
    use super::*;
    use crate::gridfs::{GridFsBucket, GridFsDownloadStream, GridFsUploadStream};
    use bson::Document;

    fn sendable<T: Send + Unpin>() {}
    fn shared<T: Send + Sync>() {}

    #[test]
    fn streams_move_between_tasks() {
        sendable::<ChangeStream<ChangeStreamEvent<Document>>>();
        sendable::<SessionChangeStream<ChangeStreamEvent<Document>>>();
        sendable::<GridFsUploadStream>();
        sendable::<GridFsDownloadStream>();
        shared::<GridFsBucket>();
        shared::<event::ResumeToken>();
    }
}
