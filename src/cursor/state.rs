//! The cursor's state machine: what a cursor holds (the batch's bytes, the server cursor id, the
//! `limit` and `batchSize` bookkeeping, the implicit session and pinned connection) and what it
//! does next. No I/O: the driver ([`super::driver`]) runs the `getMore` or `killCursors` it is
//! told to and hands the result back with [`CursorState::apply`].

use bson::{Document, RawDocument};

use crate::client::Leftovers;
use crate::error::{Error, Result};
use crate::operation::{CursorSpec, GetMore, GetMoreOptions, GetMoreResult, KillCursors, RawBatch};
use crate::options::ServerAddress;

/// What the cursor does next.
pub(crate) enum Step<'a> {
    /// Hand out this document.
    Yield(&'a RawDocument),
    /// Run this `getMore` with the session and connection the cursor kept; give the result to
    /// [`CursorState::apply`].
    GetMore(GetMore, Leftovers),
    /// Free the server cursor (best effort), then ask again.
    Kill(Kill),
    /// The last `getMore` failed: hand out its error. Nothing follows.
    Error(Error),
    /// No more documents.
    Done,
}

/// A server cursor to free: the `killCursors` and what the cursor kept (its pinned connection,
/// where a load-balanced cursor must be killed).
pub(crate) struct Kill {
    pub(crate) op: KillCursors,
    pub(crate) leftovers: Leftovers,
}

/// Everything a cursor knows between two results.
pub(crate) struct CursorState {
    address: ServerAddress,
    db: String,
    coll: String,
    /// 0 once the server cursor is exhausted or killed.
    id: i64,
    batch_size: Option<u32>,
    /// `maxTimeMS`, comment and `timeoutMS` of each `getMore`.
    get_more: GetMoreOptions,
    /// Documents still to hand out under a `limit` (the server honours it too; this stops
    /// early and frees the server cursor as soon as the last one has arrived).
    remaining: Option<u64>,
    buffer: RawBatch,
    /// The implicit session and (load-balanced) connection; `None` while a `getMore` holds
    /// them, and once the server cursor is gone.
    pinned: Option<Leftovers>,
    /// The explicit session's `lsid` ([`SessionCursor`](crate::SessionCursor)).
    lsid: Option<Document>,
    /// A `getMore` is out; its result comes through [`apply`](Self::apply).
    in_flight: bool,
    /// The failed `getMore`'s error, handed out after the kill.
    error: Option<Error>,
    /// Load-balanced mode: a `getMore` failed and its error was handed out, but the cursor
    /// keeps its pinned connection until it is closed (Load Balancer specification), and kills
    /// its server cursor there then. `Some(true)`: a network error, after which the connection
    /// is gone: no `killCursors`.
    failed: Option<bool>,
    /// A kill leaves the implicit session here ([`take_session`](Self::take_session)): a
    /// change stream resumes in the session its cursor ran in.
    keep_session: bool,
}

impl std::fmt::Debug for CursorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("address", &self.address)
            .field("namespace", &format_args!("{}.{}", self.db, self.coll))
            .field("id", &self.id)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl CursorState {
    /// The state after the command that opened the cursor. `lsid`: the explicit session's.
    pub(crate) fn new(spec: CursorSpec, pinned: Leftovers, lsid: Option<Document>) -> Self {
        let mut state = Self {
            address: spec.address,
            db: spec.db,
            coll: spec.coll,
            id: spec.id,
            batch_size: spec.batch_size,
            get_more: spec.get_more,
            remaining: spec.limit.filter(|l| *l > 0),
            buffer: spec.first_batch,
            pinned: Some(pinned),
            lsid,
            in_flight: false,
            error: None,
            failed: None,
            keep_session: false,
        };
        state.after_batch();
        state
    }

    /// The server cursor id; 0 once exhausted or killed.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    /// The server the cursor lives on.
    pub(crate) fn address(&self) -> &ServerAddress {
        &self.address
    }

    /// Documents of the current batch not handed out yet.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The current batch's `postBatchResumeToken` (change streams).
    pub(crate) fn post_batch_resume_token(&self) -> Option<&RawDocument> {
        self.buffer.post_batch_resume_token()
    }

    /// Keeps the implicit session when the server cursor is killed, for
    /// [`take_session`](Self::take_session).
    pub(crate) fn keep_session_for_resume(&mut self) {
        self.keep_session = true;
    }

    /// The implicit session the cursor ran in, once no `getMore` holds it (a change stream
    /// takes it for its resume).
    pub(crate) fn take_session(&mut self) -> Option<crate::ClientSession> {
        self.pinned.as_mut().and_then(|p| p.session.take())
    }

    /// What to do next. Not to be called while a `getMore` is out.
    pub(crate) fn next(&mut self) -> Step<'_> {
        if self.in_flight {
            return Step::Error(Error::internal(
                "the cursor was asked for its next step while a getMore was in flight",
            ));
        }
        if self.failed.is_some() {
            return Step::Done;
        }
        // Load-balanced mode: the error first; the connection stays pinned, and the server
        // cursor is killed on it when the cursor is closed.
        if self.id != 0 && self.holds_connection() {
            if let Some(e) = self.error.take() {
                self.failed = Some(e.is_network_error());
                self.buffer = RawBatch::default();
                return Step::Error(e);
            }
        }
        // Everything asked for has arrived, or the server cursor may have survived an error:
        // free it before handing out what is left.
        if self.id != 0 && (self.error.is_some() || self.limit_reached()) {
            return Step::Kill(self.take_kill());
        }
        if let Some(e) = self.error.take() {
            self.buffer = RawBatch::default();
            return Step::Error(e);
        }
        if self.remaining != Some(0) && self.buffer.front().is_some() {
            if let Some(r) = &mut self.remaining {
                *r -= 1;
            }
            return match self.buffer.pop_front() {
                Some(doc) => Step::Yield(doc),
                None => Step::Error(Error::internal("a batch document vanished")),
            };
        }
        if self.id == 0 {
            self.pinned = None;
            return Step::Done;
        }
        self.in_flight = true;
        let op = self.get_more_op();
        Step::GetMore(op, self.pinned.take().unwrap_or_default())
    }

    /// True when [`next`](Self::next) would ask for a `getMore`: the buffer is used up and the
    /// server cursor is open (no error, limit not reached).
    pub(crate) fn wants_get_more(&self) -> bool {
        !self.in_flight
            && self.id != 0
            && self.error.is_none()
            && self.failed.is_none()
            && !self.limit_reached()
            && self.buffer.front().is_none()
    }

    /// Takes the result of the `getMore` [`next`](Self::next) asked for, and the session and
    /// connection it ran with.
    pub(crate) fn apply(&mut self, result: Result<GetMoreResult>, pinned: Leftovers) {
        self.in_flight = false;
        self.pinned = Some(pinned);
        match result {
            Ok(GetMoreResult { batch, id }) => {
                self.buffer = batch;
                self.id = id;
                self.after_batch();
            }
            Err(e) => {
                self.buffer = RawBatch::default();
                self.error = Some(e);
            }
        }
    }

    /// The `killCursors` for a cursor given up before it is exhausted (dropped), if the server
    /// cursor is still open. Afterwards the cursor is done.
    pub(crate) fn kill(&mut self) -> Option<Kill> {
        self.buffer = RawBatch::default();
        // A getMore given up with the cursor is no longer awaited.
        self.in_flight = false;
        self.error = None;
        if self.failed.take() == Some(true) {
            // The pinned connection saw a network error: no killCursors on it (Load Balancer
            // specification); it goes back to the pool (to be closed) now.
            self.id = 0;
        }
        if self.id == 0 {
            self.pinned = None;
            return None;
        }
        Some(self.take_kill())
    }

    /// True while the cursor holds a load-balanced connection of its own or of its
    /// transaction (a `getMore` in flight holds it meanwhile).
    fn holds_connection(&self) -> bool {
        self.pinned
            .as_ref()
            .is_some_and(|p| p.connection.is_some() || p.txn_connection.is_some())
    }

    fn limit_reached(&self) -> bool {
        self.remaining
            .is_some_and(|r| u64::try_from(self.buffer.len()).unwrap_or(u64::MAX) >= r)
    }

    /// After a batch: keeps no more than the limit allows, and lets go of the session and
    /// connection once the server cursor is gone.
    fn after_batch(&mut self) {
        if let Some(r) = self.remaining {
            self.buffer
                .truncate(usize::try_from(r).unwrap_or(usize::MAX));
        }
        if self.id == 0 {
            self.pinned = None;
        }
    }

    fn take_kill(&mut self) -> Kill {
        let id = std::mem::replace(&mut self.id, 0);
        let mut leftovers = self.pinned.take().unwrap_or_default();
        // The cursor's own session id (spec: killCursors MAY use it).
        let lsid = self
            .lsid
            .clone()
            .or_else(|| leftovers.session.as_ref().map(|s| s.id().clone()));
        if self.keep_session {
            self.pinned = Some(Leftovers {
                session: leftovers.session.take(),
                ..Leftovers::default()
            });
        }
        let op = KillCursors::new(self.address.clone(), self.db.clone(), self.coll.clone(), id)
            .with_lsid(lsid);
        Kill { op, leftovers }
    }

    fn get_more_op(&self) -> GetMore {
        // A batch size of 0 asks for an empty first batch only; getMores take the default.
        let batch = match (self.batch_size.filter(|b| *b > 0), self.remaining) {
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
        .with_options(self.get_more.clone())
    }

    /// True while the cursor keeps a session or connection.
    #[cfg(test)]
    fn holds_leftovers(&self) -> bool {
        self.pinned.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operation::test_util::{description, offline_client, raw, server};
    use crate::operation::Operation;
    use crate::options::SessionOptions;
    use crate::{Client, ClientSession};
    use bson::doc;
    use bson::Bson;

    /// A batch of `n` documents `{i: from..from+n}`.
    fn batch(from: i32, n: i32) -> RawBatch {
        let docs: Vec<_> = (from..from + n).map(|i| doc! { "i": i }).collect();
        let reply = doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": docs } };
        CursorSpec::from_reply(&raw(&reply), &server(), None, None)
            .unwrap()
            .first_batch
    }

    fn spec(id: i64, first: RawBatch, batch_size: Option<u32>, limit: Option<u64>) -> CursorSpec {
        CursorSpec {
            address: server(),
            db: "db".into(),
            coll: "c".into(),
            id,
            first_batch: first,
            batch_size,
            limit,
            get_more: Default::default(),
        }
    }

    fn state(id: i64, first: RawBatch, batch_size: Option<u32>, limit: Option<u64>) -> CursorState {
        CursorState::new(
            spec(id, first, batch_size, limit),
            Leftovers::default(),
            None,
        )
    }

    /// What a step is, for assertions: `i` of a yielded document, the getMore or killCursors
    /// command, the error, or done.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Doc(i32),
        GetMore(Document),
        Kill(Document),
        Error(String),
        Done,
    }

    fn step(s: &mut CursorState) -> Seen {
        match s.next() {
            Step::Yield(d) => Seen::Doc(d.get_i32("i").unwrap()),
            Step::GetMore(mut op, _) => Seen::GetMore(op.build(&description()).unwrap().body),
            Step::Kill(mut k) => Seen::Kill(k.op.build(&description()).unwrap().body),
            Step::Error(e) => Seen::Error(e.to_string()),
            Step::Done => Seen::Done,
        }
    }

    fn get_more(id: i64, batch_size: Option<i64>) -> Seen {
        let mut cmd = doc! { "getMore": id, "collection": "c" };
        if let Some(b) = batch_size {
            cmd.insert("batchSize", b);
        }
        Seen::GetMore(cmd)
    }

    fn kill(id: i64) -> Seen {
        Seen::Kill(doc! { "killCursors": "c", "cursors": [id] })
    }

    /// Leftovers holding an implicit session of `client`.
    fn implicit_session(client: &Client) -> Leftovers {
        let session = ClientSession::new(client.clone(), SessionOptions::default(), true, None);
        Leftovers {
            session: Some(session),
            ..Leftovers::default()
        }
    }

    /// The `lsid` a kill sends.
    fn lsid_sent(kill: &mut Kill) -> Document {
        let body = kill.op.build(&description()).unwrap().body;
        body.get_document("lsid").unwrap().clone()
    }

    #[test]
    fn a_limit_reached_mid_batch_kills_the_server_cursor_first() {
        let mut s = state(42, batch(0, 5), Some(10), Some(3));
        assert_eq!(step(&mut s), kill(42));
        assert_eq!(s.id(), 0);
        for i in 0..3 {
            assert_eq!(step(&mut s), Seen::Doc(i));
        }
        assert_eq!(step(&mut s), Seen::Done);
        assert_eq!(step(&mut s), Seen::Done, "done stays done");
    }

    #[test]
    fn a_batch_size_of_0_shapes_the_first_batch_only_and_options_reach_each_get_more() {
        let mut spec = spec(42, batch(0, 0), Some(0), Some(5));
        spec.get_more = GetMoreOptions {
            max_await_time: Some(std::time::Duration::from_millis(300)),
            comment: Some(bson::Bson::from("c")),
            timeout: None,
        };
        let mut s = CursorState::new(spec, Leftovers::default(), None);
        let mut cmd = doc! { "getMore": 42_i64, "collection": "c", "batchSize": 5_i64 };
        cmd.insert("maxTimeMS", 300_i64);
        cmd.insert("comment", "c");
        assert_eq!(step(&mut s), Seen::GetMore(cmd));
    }

    #[test]
    fn get_more_asks_for_no_more_than_the_limit_or_the_batch_size() {
        // limit 7, batchSize 3: 2 in the first batch, then 3 (batchSize), then 2 (the limit).
        let mut s = state(42, batch(0, 2), Some(3), Some(7));
        assert_eq!(step(&mut s), Seen::Doc(0));
        assert_eq!(step(&mut s), Seen::Doc(1));
        assert_eq!(step(&mut s), get_more(42, Some(3)));
        s.apply(
            Ok(GetMoreResult {
                batch: batch(2, 3),
                id: 42,
            }),
            Leftovers::default(),
        );
        for i in 2..5 {
            assert_eq!(step(&mut s), Seen::Doc(i));
        }
        assert_eq!(step(&mut s), get_more(42, Some(2)));
        s.apply(
            Ok(GetMoreResult {
                batch: batch(5, 2),
                id: 42,
            }),
            Leftovers::default(),
        );
        // The last documents arrived: the server cursor goes before they are handed out.
        assert_eq!(step(&mut s), kill(42));
        assert_eq!(step(&mut s), Seen::Doc(5));
        assert_eq!(step(&mut s), Seen::Doc(6));
        assert_eq!(step(&mut s), Seen::Done);

        // Neither: the server's default batch size.
        let mut s = state(9, batch(0, 0), None, None);
        assert_eq!(step(&mut s), get_more(9, None));
        // A limit alone caps the batch.
        let mut s = state(9, batch(0, 0), None, Some(4));
        assert_eq!(step(&mut s), get_more(9, Some(4)));
        // batchSize alone.
        let mut s = state(9, batch(0, 0), Some(4), None);
        assert_eq!(step(&mut s), get_more(9, Some(4)));
    }

    #[test]
    fn wants_get_more_only_with_an_empty_buffer_and_a_live_cursor() {
        let mut s = state(42, batch(0, 1), None, None);
        assert!(!s.wants_get_more(), "a document is buffered");
        assert_eq!(step(&mut s), Seen::Doc(0));
        assert!(s.wants_get_more());
        assert_eq!(step(&mut s), get_more(42, None));
        assert!(!s.wants_get_more(), "one is in flight");
        s.apply(
            Ok(GetMoreResult {
                batch: batch(0, 0),
                id: 0,
            }),
            Leftovers::default(),
        );
        assert!(!s.wants_get_more(), "the server cursor is gone");
        // Everything asked for has arrived: a kill comes next, not a getMore.
        let limited = state(42, batch(0, 1), None, Some(1));
        assert!(!limited.wants_get_more());
    }

    #[test]
    fn an_empty_batch_with_a_live_id_asks_again() {
        let mut s = state(42, batch(0, 0), Some(2), None);
        assert_eq!(step(&mut s), get_more(42, Some(2)));
        s.apply(
            Ok(GetMoreResult {
                batch: batch(0, 0),
                id: 42,
            }),
            Leftovers::default(),
        );
        assert_eq!(step(&mut s), get_more(42, Some(2)));
        s.apply(
            Ok(GetMoreResult {
                batch: batch(0, 1),
                id: 0,
            }),
            Leftovers::default(),
        );
        assert_eq!(step(&mut s), Seen::Doc(0));
        assert_eq!(step(&mut s), Seen::Done);
    }

    #[test]
    fn id_zero_is_done_and_lets_go_of_the_session_and_connection() {
        let c = offline_client();
        let mut s = CursorState::new(
            spec(42, batch(0, 1), None, None),
            implicit_session(&c),
            None,
        );
        assert!(s.holds_leftovers());
        assert_eq!(step(&mut s), Seen::Doc(0));
        let Step::GetMore(_, left) = s.next() else {
            panic!("expected a getMore");
        };
        assert!(!s.holds_leftovers(), "the getMore holds them");
        assert!(
            left.session.is_some(),
            "the getMore runs in the cursor's session"
        );
        s.apply(
            Ok(GetMoreResult {
                batch: batch(1, 1),
                id: 0,
            }),
            left,
        );
        // Exhausted: the implicit session is back in the pool before the last document.
        assert!(!s.holds_leftovers());
        assert_eq!(c.sessions().len(), 1);
        assert_eq!(step(&mut s), Seen::Doc(1));
        assert_eq!(step(&mut s), Seen::Done);
        // Nothing to kill.
        assert!(s.kill().is_none());

        // Exhausted in the first batch: released at once.
        let s = CursorState::new(spec(0, batch(0, 3), None, None), implicit_session(&c), None);
        assert!(!s.holds_leftovers());
    }

    #[test]
    fn a_failed_get_more_kills_then_reports_then_is_done() {
        let mut s = state(42, batch(0, 0), None, None);
        assert_eq!(step(&mut s), get_more(42, None));
        s.apply(Err(Error::internal("boom")), Leftovers::default());
        assert_eq!(step(&mut s), kill(42));
        assert!(matches!(step(&mut s), Seen::Error(m) if m.contains("boom")));
        assert_eq!(step(&mut s), Seen::Done);
        assert!(s.kill().is_none(), "already killed");
    }

    #[test]
    fn a_dropped_cursor_is_killed_in_its_session() {
        // Explicit session: its lsid.
        let lsid = doc! { "id": 1 };
        let mut s = CursorState::new(
            spec(42, batch(0, 2), None, None),
            Leftovers::default(),
            Some(lsid.clone()),
        );
        assert_eq!(step(&mut s), Seen::Doc(0));
        let mut k = s.kill().expect("still open");
        assert_eq!(
            k.op.build(&description()).unwrap().body,
            doc! { "killCursors": "c", "cursors": [42_i64], "lsid": lsid }
        );
        assert!(s.kill().is_none(), "killed once");
        assert_eq!(step(&mut s), Seen::Done, "nothing more after a kill");

        // Implicit session: the cursor's own, and it goes with the kill.
        let left = implicit_session(&offline_client());
        let id = left.session.as_ref().unwrap().id().clone();
        let mut s = CursorState::new(spec(42, batch(0, 2), None, None), left, None);
        let mut k = s.kill().expect("still open");
        assert_eq!(lsid_sent(&mut k), id);
        assert!(k.leftovers.session.is_some());

        // While a getMore is out: killed all the same (the getMore holds the session).
        let mut s = state(42, batch(0, 0), None, None);
        assert!(matches!(s.next(), Step::GetMore(..)));
        assert!(matches!(s.next(), Step::Error(_)), "not while in flight");
        assert!(s.kill().is_some());
    }

    #[test]
    fn a_change_stream_cursor_repeats_its_await_time_and_comment_and_keeps_its_session() {
        let left = implicit_session(&offline_client());
        let id = left.session.as_ref().unwrap().id().clone();
        let mut spec = spec(42, batch(0, 1), Some(5), None);
        spec.get_more.max_await_time = Some(Duration::from_millis(300));
        spec.get_more.comment = Some(Bson::from("why"));
        let mut s = CursorState::new(spec, left, None);
        s.keep_session_for_resume();
        assert_eq!(s.buffered(), 1);
        assert_eq!(step(&mut s), Seen::Doc(0));
        assert_eq!(s.buffered(), 0);
        let Step::GetMore(mut op, left) = s.next() else {
            panic!("expected a getMore");
        };
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "getMore": 42_i64, "collection": "c", "batchSize": 5_i64,
            "maxTimeMS": 300_i64, "comment": "why" }
        );
        s.apply(Err(Error::internal("connection reset")), left);
        // The kill carries the lsid but leaves the session for the resume.
        let Step::Kill(mut k) = s.next() else {
            panic!("expected a kill");
        };
        assert!(k.leftovers.session.is_none());
        assert_eq!(lsid_sent(&mut k), id);
        assert!(matches!(s.next(), Step::Error(_)));
        let kept = s.take_session().expect("the session stays for the resume");
        assert_eq!(kept.id(), &id);
        assert_eq!(step(&mut s), Seen::Done);
    }
}
