//! The poll loop both change stream kinds share: it drives the cursor ([`Driver`]), caches the
//! resume token as events and batches go by ([`ResumeState`]), and on a resumable error runs
//! the resume's `aggregate` (selecting a server again, in the same session) and continues on
//! the new cursor. The `getMore` and the resume's `aggregate` stay in flight inside the stream,
//! so a call dropped midway (a timeout, a `select!`) loses no event.

use std::task::{ready, Context, Poll};

use bson::{Document, RawDocument};
use futures_core::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::aggregate::{ChangeStreamAggregate, Opened, WatchArgs};
use super::event::ResumeToken;
use super::resume::{ResumeState, Start};
use crate::client::{Leftovers, Run};
use crate::cursor::decode::decode;
use crate::cursor::{CursorState, Driver, Polled};
use crate::error::{Error, Result};
use crate::session::DetachedSession;
use crate::{Client, ClientSession};

/// What one poll of a change stream came to.
pub(super) enum Next<T> {
    /// An event (or the error decoding it: the stream goes on).
    Event(Result<T>),
    /// A batch came back empty (only when asked to stop there).
    Empty,
    /// An error that ends the stream.
    Error(Error),
    /// The stream has ended (after an `invalidate` event, or an error).
    End,
}

/// What a resume's `aggregate` hands back: the new cursor, its session and connection, and
/// for an explicit session the copy it ran in.
struct Reopened {
    result: Result<Opened>,
    leftovers: Leftovers,
    session: Option<DetachedSession>,
}

/// A change stream's state: its cursor, what it was opened with, the resume rules' memory,
/// and a resume in flight.
pub(super) struct Watcher {
    driver: Driver,
    args: WatchArgs,
    resume: ResumeState,
    reopening: Option<BoxFuture<'static, Reopened>>,
    /// The explicit session's `lsid` ([`SessionChangeStream`](super::SessionChangeStream)).
    lsid: Option<Document>,
    /// Ended by an error (the cursor's own end is the driver's).
    closed: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream")
            .field("cursor", &self.driver.state)
            .field("resume_token", &self.resume.token())
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

/// Opens a change stream's first cursor: `session` is the explicit one, if any.
pub(crate) async fn open(
    client: &Client,
    args: &WatchArgs,
    session: Option<&mut ClientSession>,
) -> Result<(Opened, Leftovers)> {
    let run = Run {
        session,
        keep_connection: client.is_load_balanced(),
        keep_session: true,
        ..Run::default()
    };
    let (result, leftovers) = client
        .run(ChangeStreamAggregate::new(args.clone()), run)
        .await;
    result.map(|opened| (opened, leftovers))
}

impl Watcher {
    /// The stream over what the first `aggregate` returned.
    pub(super) fn new(
        client: Client,
        args: WatchArgs,
        opened: Opened,
        leftovers: Leftovers,
        lsid: Option<Document>,
    ) -> Self {
        let resume = ResumeState::started(&args.options, start_of(&opened));
        let state = cursor_state(opened, leftovers, lsid.clone());
        Self {
            driver: Driver::new(client, state),
            args,
            resume,
            reopening: None,
            lsid,
            closed: false,
        }
    }

    /// The cached resume token.
    pub(super) fn resume_token(&self) -> Option<ResumeToken> {
        self.resume.token().cloned()
    }

    /// Whether more events may come: not after the server closed the stream (an
    /// `invalidate`) or an error ended it.
    pub(super) fn is_alive(&self) -> bool {
        !self.closed
            && (self.reopening.is_some()
                || self.driver.state.id() != 0
                || self.driver.state.buffered() > 0)
    }

    /// The next event. `session`: the explicit session of a
    /// [`SessionChangeStream`](super::SessionChangeStream). `stop_when_empty`: return
    /// [`Next::Empty`] when a batch comes back empty, rather than asking again.
    pub(super) fn poll_next<T: DeserializeOwned + 'static>(
        &mut self,
        cx: &mut Context<'_>,
        mut session: Option<&mut ClientSession>,
        stop_when_empty: bool,
    ) -> Poll<Next<T>> {
        loop {
            if let Some(fut) = self.reopening.as_mut() {
                let done = ready!(fut.as_mut().poll(cx));
                self.reopening = None;
                if let (Some(copy), Some(s)) = (done.session, session.as_deref_mut()) {
                    copy.apply_to(s);
                }
                match done.result {
                    Ok(opened) => {
                        self.resume.resumed(start_of(&opened));
                        let state = cursor_state(opened, done.leftovers, self.lsid.clone());
                        self.driver.restart(state);
                        if stop_when_empty && self.driver.state.buffered() == 0 {
                            return Poll::Ready(Next::Empty);
                        }
                    }
                    // The resume's own error is not resumed (only a getMore's is).
                    Err(e) => {
                        self.closed = true;
                        return Poll::Ready(Next::Error(e));
                    }
                }
            }
            if self.closed {
                return Poll::Ready(Next::End);
            }
            let step = self.driver.poll_step(cx, session.as_deref_mut(), |doc| {
                (token_of(doc), decode::<T>(doc))
            });
            match ready!(step) {
                Polled::Item((id, event)) => {
                    let state = &self.driver.state;
                    let last = state.buffered() == 0;
                    let handed = self
                        .resume
                        .handed_out(id, last, state.post_batch_resume_token());
                    if let Err(e) = handed {
                        self.close();
                        return Poll::Ready(Next::Error(e));
                    }
                    return Poll::Ready(Next::Event(event));
                }
                Polled::EmptyBatch => {
                    let token = self.driver.state.post_batch_resume_token();
                    self.resume.empty_batch(token);
                    if stop_when_empty {
                        return Poll::Ready(Next::Empty);
                    }
                }
                Polled::Done => {
                    self.closed = true;
                    return Poll::Ready(Next::End);
                }
                Polled::Error(e) if self.resume.resumes_after(&e) => {
                    // The old server cursor has been killed (where it lived); select a
                    // server again and continue where the cached token says.
                    tracing::debug!(error = %e, "resuming the change stream");
                    let implicit = self.driver.state.take_session();
                    // Load-balanced mode: the old cursor lets go of its connection (killed
                    // there unless the error closed it) before the resume checks one out.
                    self.driver.abandon();
                    let copy = session.as_deref().map(DetachedSession::of);
                    let op = ChangeStreamAggregate::resume(self.args.clone(), self.resume.point());
                    let client = self.driver.client().clone();
                    self.reopening = Some(Box::pin(reopen(client, op, implicit, copy)));
                }
                Polled::Error(e) => {
                    self.closed = true;
                    return Poll::Ready(Next::Error(e));
                }
            }
        }
    }

    /// Ends the stream, waiting for its server cursor's `killCursors` (a resume in flight is
    /// given up).
    pub(super) async fn close_now(self) {
        drop(self.reopening);
        self.driver.close().await;
    }

    /// Ends the stream now, killing its server cursor.
    fn close(&mut self) {
        self.closed = true;
        self.reopening = None;
        self.driver.abandon();
    }
}

/// What the resume rules need of an opening `aggregate`'s reply.
fn start_of(opened: &Opened) -> Start<'_> {
    let batch = &opened.spec.first_batch;
    Start {
        empty: batch.len() == 0,
        post_batch_resume_token: batch.post_batch_resume_token(),
        operation_time: opened.operation_time,
        wire_version: opened.wire_version,
    }
}

/// The cursor over an opening `aggregate`'s reply; a kill leaves its implicit session for the
/// resume.
fn cursor_state(opened: Opened, leftovers: Leftovers, lsid: Option<Document>) -> CursorState {
    let mut state = CursorState::new(opened.spec, leftovers, lsid);
    state.keep_session_for_resume();
    state
}

/// An event's resume token, its `_id`.
fn token_of(doc: &RawDocument) -> Option<ResumeToken> {
    doc.get("_id")
        .ok()
        .flatten()
        .map(|id| ResumeToken(id.to_raw_bson()))
}

/// Runs a resume's `aggregate` with what it needs as owned data: the implicit session the
/// stream ran in, or a copy of the explicit session.
async fn reopen(
    client: Client,
    op: ChangeStreamAggregate,
    mut implicit: Option<ClientSession>,
    mut copy: Option<DetachedSession>,
) -> Reopened {
    let session = match copy.as_mut() {
        Some(c) => Some(c.session_mut()),
        None => implicit.as_mut(),
    };
    let run = Run {
        session,
        keep_connection: client.is_load_balanced(),
        keep_session: true,
        ..Run::default()
    };
    let (result, mut leftovers) = client.run(op, run).await;
    // The implicit session went in as the caller's: it comes back here, not in the leftovers.
    if leftovers.session.is_none() {
        leftovers.session = implicit;
    }
    Reopened {
        result,
        leftovers,
        session: copy,
    }
}
