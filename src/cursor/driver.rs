//! The one poll loop both cursor kinds share: it does what the [`CursorState`] says, keeps the
//! `getMore` in flight inside the cursor (so a dropped `next` loses nothing), and sends
//! `killCursors` in the background.

use std::task::{ready, Context, Poll};
use std::time::Duration;

use bson::RawDocument;
use futures_core::future::BoxFuture;

use super::state::{CursorState, Kill, Step};
use crate::client::{Leftovers, Run, WeakClient};
use crate::csot::Deadline;
use crate::error::{Error, Result};
use crate::operation::{GetMore, GetMoreResult};
use crate::session::DetachedSession;
use crate::{Client, ClientSession};

/// How long a background `killCursors` may take in all (selection, check-out, the round
/// trip). The task holds the client only while it runs: bounded, a dropped client ends soon
/// after, whatever the server does.
pub(crate) const KILL_CURSORS_TIMEOUT: Duration = Duration::from_secs(5);

/// What a `getMore` in flight hands back: the batch, the session and connection it ran with,
/// and for an explicit session the copy it ran in.
struct GetMoreDone {
    result: Result<GetMoreResult>,
    leftovers: Leftovers,
    session: Option<DetachedSession>,
}

/// A cursor's state, its client, and its `getMore` in flight.
pub(crate) struct Driver {
    client: Client,
    pub(crate) state: CursorState,
    in_flight: Option<BoxFuture<'static, GetMoreDone>>,
}

/// What one step of [`Driver::poll_step`] came to.
pub(crate) enum Polled<U> {
    /// A document of the batch, as the caller took it.
    Item(U),
    /// A `getMore` returned no documents (a change stream's token may have moved).
    EmptyBatch,
    /// The `getMore` failed; the server cursor has been killed.
    Error(Error),
    /// No more documents.
    Done,
}

impl Driver {
    pub(crate) fn new(client: Client, state: CursorState) -> Self {
        Self {
            client,
            state,
            in_flight: None,
        }
    }

    /// The client the cursor runs its commands with.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Gives the cursor up now (as a drop would): its server cursor is killed in the
    /// background; afterwards it is done.
    pub(crate) fn abandon(&mut self) {
        self.in_flight = None;
        if let Some(kill) = self.state.kill() {
            spawn_kill(self.client.downgrade(), kill);
        }
    }

    /// Continues with another server cursor (a change stream's resume), giving this one up.
    pub(crate) fn restart(&mut self, state: CursorState) {
        self.abandon();
        self.state = state;
    }

    /// The next result, decoded with `decode`. `session`: the explicit session of a
    /// [`SessionCursor`](crate::SessionCursor), which gets what a finished `getMore`
    /// observed (even one started by an earlier, dropped call).
    ///
    /// `fetched`: when given, at most one `getMore` completes in this call (counted in it across
    /// polls); once it has, an empty buffer yields `None` instead of another `getMore` (a
    /// tailable cursor's empty batch: "nothing now").
    pub(super) fn poll_next<U>(
        &mut self,
        cx: &mut Context<'_>,
        mut session: Option<&mut ClientSession>,
        mut decode: impl FnMut(&RawDocument) -> Result<U>,
        mut fetched: Option<&mut bool>,
    ) -> Poll<Option<Result<U>>> {
        loop {
            return Poll::Ready(
                match ready!(self.poll_step(cx, session.as_deref_mut(), &mut decode)) {
                    Polled::Item(item) => Some(item),
                    Polled::EmptyBatch => {
                        if let Some(f) = fetched.as_deref_mut() {
                            *f = true;
                            if self.state.wants_get_more() {
                                return Poll::Ready(None);
                            }
                        }
                        continue;
                    }
                    Polled::Error(e) => Some(Err(e)),
                    Polled::Done => None,
                },
            );
        }
    }

    /// One step: the next document (given to `take`), or an empty batch, the `getMore`'s
    /// error, or the end. After an item the batch's state (what is left of it, its resume
    /// token) is still in [`state`](Self::state).
    pub(crate) fn poll_step<U>(
        &mut self,
        cx: &mut Context<'_>,
        mut session: Option<&mut ClientSession>,
        mut take: impl FnMut(&RawDocument) -> U,
    ) -> Poll<Polled<U>> {
        let in_flight = &mut self.in_flight;
        loop {
            if let Some(fut) = in_flight.as_mut() {
                let done = ready!(fut.as_mut().poll(cx));
                *in_flight = None;
                if let (Some(copy), Some(s)) = (done.session, session.as_deref_mut()) {
                    copy.apply_to(s);
                }
                let failed = done.result.is_err();
                self.state.apply(done.result, done.leftovers);
                if !failed && self.state.buffered() == 0 {
                    return Poll::Ready(Polled::EmptyBatch);
                }
            }
            match self.state.next() {
                Step::Yield(doc) => return Poll::Ready(Polled::Item(take(doc))),
                Step::Error(e) => return Poll::Ready(Polled::Error(e)),
                Step::Done => return Poll::Ready(Polled::Done),
                Step::Kill(kill) => spawn_kill(self.client.downgrade(), kill),
                Step::GetMore(op, leftovers) => {
                    let copy = session.as_deref().map(DetachedSession::of);
                    let client = self.client.clone();
                    *in_flight = Some(crate::boxed::boxed(move || {
                        get_more(client, op, leftovers, copy)
                    }));
                }
            }
        }
    }
}

impl Driver {
    /// Gives the cursor up now: the `killCursors` (when the server cursor is still open) is
    /// sent and answered before this returns. A `getMore` in flight is dropped first.
    pub(crate) async fn close(mut self) {
        self.in_flight = None;
        if let Some(kill) = self.state.kill() {
            kill_cursors(self.client.downgrade(), kill).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A getMore in flight is dropped with the cursor; its server cursor is killed by id.
        self.abandon();
    }
}

/// Runs a `getMore` with what it needs as owned data: the cursor's implicit session and
/// pinned connection, or a copy of the explicit session.
async fn get_more(
    client: Client,
    op: GetMore,
    mut leftovers: Leftovers,
    mut copy: Option<DetachedSession>,
) -> GetMoreDone {
    let session = match copy.as_mut() {
        Some(c) => Some(c.session_mut()),
        None => leftovers.session.as_mut(),
    };
    let run = Run {
        session,
        pinned: leftovers.connection.as_mut(),
        // Each getMore under the timeoutMS of the operation that opened the cursor.
        deadline: Deadline::start(op.timeout()),
        ..Run::default()
    };
    let (result, _) = client.run(op, run).await;
    GetMoreDone {
        result,
        leftovers,
        session: copy,
    }
}

/// Sends `killCursors` in the background when a Tokio runtime is running (best effort: errors
/// are ignored, the server times cursors out anyway). The task holds the client weakly: once
/// the last `Client` is gone it sends nothing.
fn spawn_kill(client: WeakClient, kill: Kill) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(kill_cursors(client, kill));
}

/// Sends the `killCursors` (errors ignored), for at most [`KILL_CURSORS_TIMEOUT`]. The implicit
/// session is returned to the pool first (a session holds its client); the `killCursors` still
/// carries its `lsid`.
async fn kill_cursors(client: WeakClient, kill: Kill) {
    let Kill { op, leftovers } = kill;
    let Leftovers {
        session,
        mut connection,
        txn_connection,
    } = leftovers;
    drop(session);
    let Some(client) = client.upgrade() else {
        return;
    };
    let kill = async {
        // Load-balanced mode: a cursor opened in a transaction is killed on the connection it
        // shares with the transaction (free once the transaction's command in flight, if any,
        // has run).
        let shared = txn_connection.filter(|_| connection.is_none());
        let mut shared = match shared {
            Some(c) => Some(c.lock_owned().await),
            None => None,
        };
        let run = Run {
            pinned: connection.as_mut().or(shared.as_deref_mut()),
            ..Run::default()
        };
        client.run(op, run).await
    };
    let _ = tokio::time::timeout(KILL_CURSORS_TIMEOUT, kill).await;
}
