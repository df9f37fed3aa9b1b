//! [`SessionChangeStream`]: a change stream opened in an explicit session.

use serde::de::DeserializeOwned;

use super::watcher::Watcher;
use super::{Opened, Typed, WatchArgs};
use crate::client::Leftovers;
use crate::error::Result;
use crate::{Client, ClientSession};

/// A change stream opened in an explicit session (`watch().session(&mut s)`): its `getMore`s
/// and resumes run in that session, so iterate it with [`next`](Self::next) and the same
/// session, as in the official driver. Otherwise as [`ChangeStream`](super::ChangeStream):
/// it resumes by itself after a resumable error, and a `next` dropped midway loses nothing.
///
/// ```no_run
/// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
/// use mongo_x509::bson::Document;
/// let mut session = client.start_session().await?;
/// let coll = client.database("app").collection::<Document>("orders");
/// let mut stream = coll.watch().session(&mut session).await?;
/// while let Some(event) = stream.next(&mut session).await? {
///     println!("{:?}", event.operation_type);
/// }
/// # Ok(()) }
/// ```
pub struct SessionChangeStream<T>(Typed<T>);

watcher_methods!(SessionChangeStream);

impl<T> SessionChangeStream<T> {
    /// The stream over what its first `aggregate` returned in `session`.
    pub(crate) fn new(
        client: Client,
        args: WatchArgs,
        opened: Opened,
        left: Leftovers,
        session: &ClientSession,
    ) -> Self {
        let lsid = Some(session.id().clone());
        Self(Typed::new(Watcher::new(client, args, opened, left, lsid)))
    }

    /// Closes the stream now, waiting for its `killCursors` (see
    /// [`ChangeStream::close`](super::ChangeStream::close)).
    pub async fn close(self) {
        self.0.watcher.close_now().await
    }
}

impl<T: DeserializeOwned + 'static> SessionChangeStream<T> {
    /// The next event, waiting for one; `Ok(None)` once the stream has ended. `session` must
    /// be the session the stream was opened in.
    pub async fn next(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        self.0.next(Some(session), false).await
    }

    /// The next event if one arrives with at most one `getMore`: `Ok(None)` when the batch
    /// came back empty. The [`resume_token`](Self::resume_token) after it is the latest.
    pub async fn next_if_any(&mut self, session: &mut ClientSession) -> Result<Option<T>> {
        self.0.next(Some(session), true).await
    }
}
