//! [`DetachedSession`]: an owned stand-in for an explicit session, for a command that may
//! outlive the `&mut` borrow it started under. A [`SessionCursor`](crate::SessionCursor)'s
//! `getMore` keeps running inside the cursor when the `next` that started it is dropped (a
//! timeout, a `select!`), so it cannot borrow the user's session; it runs in a copy, and what
//! the copy observed is applied to the session on the next `next`.

use super::{ClientSession, ServerSession};

/// A copy of a session's state for one command: the client, the `lsid`, the cluster and
/// operation times, the options, the snapshot time and the transaction (its number, state,
/// pin and recovery token: a `getMore` in a transaction carries its fields). The executor
/// runs a command in it as in the session itself ([`session_mut`](Self::session_mut));
/// [`apply_to`](Self::apply_to) then hands the result back. The copy never returns its
/// server session to the pool: the original owns it.
pub(crate) struct DetachedSession {
    copy: ClientSession,
}

impl DetachedSession {
    /// A copy of `session` as it is now.
    pub(crate) fn of(session: &ClientSession) -> Self {
        let server_session = session.server_session.as_ref().map(|s| ServerSession {
            id: s.id.clone(),
            last_use: s.last_use,
            dirty: s.dirty,
            in_flight: false,
            txn_number: s.txn_number,
        });
        let copy = ClientSession {
            client: session.client.clone(),
            server_session,
            cluster_time: session.cluster_time.clone(),
            operation_time: session.operation_time,
            options: session.options.clone(),
            implicit: session.implicit,
            timeout: session.timeout,
            transaction: session.transaction.clone(),
            snapshot_time: session.snapshot_time,
            convenient_deadline: session.convenient_deadline,
        };
        Self { copy }
    }

    /// The copy, to run a command in.
    pub(crate) fn session_mut(&mut self) -> &mut ClientSession {
        &mut self.copy
    }

    /// Gives `session` (the one this was copied from) what the command observed: the cluster
    /// and operation times of its reply, and a network error that makes the server session
    /// dirty. Times lower than the session's own are ignored, so a session used meanwhile
    /// keeps its newer ones.
    pub(crate) fn apply_to(self, session: &mut ClientSession) {
        let copy = &self.copy;
        session.observe(copy.cluster_time.as_ref(), copy.operation_time);
        if copy.server_session.as_ref().is_some_and(|s| s.dirty) {
            if let Some(s) = session.server_session.as_mut() {
                s.dirty = true;
            }
        }
        if copy.timeout.is_some() {
            session.set_timeout(copy.timeout);
        }
        if session.snapshot_time.is_none() {
            session.snapshot_time = copy.snapshot_time;
        }
        // What the command learnt about its transaction, if the session is still in it.
        let same_transaction = session.transaction.is_active()
            && copy.transaction.is_active()
            && session.txn_number() == copy.txn_number();
        if same_transaction {
            if let Some(token) = copy.transaction.recovery_token() {
                session.transaction.observe_recovery_token(token.clone());
            }
            if copy.transaction.pin().is_none() {
                session.transaction.unpin();
            }
        }
    }
}

impl Drop for DetachedSession {
    fn drop(&mut self) {
        // Not checked in: the server session is the original's.
        self.copy.server_session = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{cluster_time as time, offline_client as client};
    use crate::options::SessionOptions;
    use bson::{doc, Timestamp};

    fn ts(t: u32) -> Timestamp {
        Timestamp {
            time: t,
            increment: 1,
        }
    }

    #[test]
    fn a_copy_runs_as_the_session_and_hands_back_what_it_saw() {
        let c = client();
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        s.advance_cluster_time(&time(5));
        let mut d = DetachedSession::of(&s);
        assert_eq!(d.session_mut().id(), s.id());
        assert_eq!(d.session_mut().cluster_time(), Some(&time(5)));
        assert!(d.session_mut().belongs_to(&c));
        d.session_mut().observe(Some(&time(9)), Some(ts(8)));
        assert_eq!(s.cluster_time(), Some(&time(5)), "nothing until applied");
        d.apply_to(&mut s);
        assert_eq!(s.cluster_time(), Some(&time(9)));
        assert_eq!(s.operation_time(), Some(ts(8)));

        // Older times than the session's own (it was used meanwhile) are ignored.
        let mut d = DetachedSession::of(&s);
        s.observe(Some(&time(20)), Some(ts(20)));
        d.session_mut().observe(Some(&time(10)), Some(ts(10)));
        d.apply_to(&mut s);
        assert_eq!(s.cluster_time(), Some(&time(20)));
        assert_eq!(s.operation_time(), Some(ts(20)));
    }

    #[test]
    fn a_copy_carries_the_transaction_and_hands_back_its_token_and_unpin() {
        use crate::options::TransactionOptions;
        use crate::session::{Pin, TransactionState};
        let c = client();
        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        s.transaction.start(TransactionOptions::default()).unwrap();
        s.next_txn_number();
        s.transaction.first_command_sent();
        let mongos = crate::options::ServerAddress::Tcp {
            host: "mongos".into(),
            port: Some(1),
        };
        s.transaction.set_pin(Pin::Mongos(mongos));
        let mut d = DetachedSession::of(&s);
        let copy = d.session_mut();
        assert_eq!(copy.transaction_state(), TransactionState::InProgress);
        assert_eq!(copy.txn_number(), s.txn_number());
        assert!(copy.is_pinned());
        // The getMore saw a token, then failed with a transient error.
        copy.transaction.observe_recovery_token(doc! { "shard": 2 });
        copy.transaction.unpin();
        d.apply_to(&mut s);
        assert_eq!(s.transaction.recovery_token(), Some(&doc! { "shard": 2 }));
        assert!(!s.is_pinned());

        // Applied to a session that moved on to another transaction: nothing of it.
        let mut d = DetachedSession::of(&s);
        d.session_mut()
            .transaction
            .observe_recovery_token(doc! { "shard": 3 });
        s.transaction.commit().unwrap();
        s.transaction.start(TransactionOptions::default()).unwrap();
        s.next_txn_number();
        d.apply_to(&mut s);
        assert_eq!(s.transaction.recovery_token(), None);
    }

    #[test]
    fn the_copy_never_returns_the_server_session_and_passes_on_dirt() {
        let c = client();
        let s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        drop(DetachedSession::of(&s));
        assert_eq!(
            c.sessions().len(),
            0,
            "the copy's server session is not pooled"
        );
        drop(s);
        assert_eq!(c.sessions().len(), 1, "the original's is");

        let mut s = ClientSession::new(c.clone(), SessionOptions::default(), false, None);
        assert_eq!(c.sessions().len(), 0);
        let mut d = DetachedSession::of(&s);
        d.session_mut().command_started();
        d.session_mut().command_ended(true);
        d.apply_to(&mut s);
        drop(s);
        assert_eq!(c.sessions().len(), 0, "dirty: not reused");
    }
}
