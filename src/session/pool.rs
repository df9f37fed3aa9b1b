//! The client-wide pool of server sessions (Driver Sessions specification, "Server Session
//! Pool"): LIFO reuse, sessions close to expiry discarded, dirty sessions never reused.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use bson::{doc, spec::BinarySubtype, Binary, Document};
use tokio::time::Instant;

/// A session is not reused when less than this is left before the server may expire it.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// One server session: its `lsid`, when it was last used and its transaction counter.
#[derive(Debug)]
pub(crate) struct ServerSession {
    /// `{id: UUID}`, sent as `lsid`.
    pub(crate) id: Document,
    pub(crate) last_use: Instant,
    /// Set after a network error on a command that used it: the server may hold state for it
    /// that the client no longer knows, so it is never reused.
    pub(crate) dirty: bool,
    /// A command using it was sent and its reply not read yet. Still set when the session comes
    /// back means the operation was cancelled mid-command (its future dropped): the server may
    /// still be running the command under this `lsid`, so the session counts as dirty.
    pub(crate) in_flight: bool,
    /// The last `txnNumber` used (retryable writes increment it first).
    pub(crate) txn_number: i64,
}

impl ServerSession {
    /// A new session with a random (version 4) UUID.
    pub(crate) fn new(now: Instant) -> Self {
        let uuid = bson::Uuid::new();
        Self {
            id: doc! { "id": Binary { subtype: BinarySubtype::Uuid, bytes: uuid.bytes().to_vec() } },
            last_use: now,
            dirty: false,
            in_flight: false,
            txn_number: 0,
        }
    }

    /// True when it may expire within a minute (`timeout`: `logicalSessionTimeoutMinutes`).
    fn about_to_expire(&self, timeout: Duration, now: Instant) -> bool {
        let idle = now.saturating_duration_since(self.last_use);
        idle + EXPIRY_MARGIN >= timeout
    }
}

/// The pool. Sessions are created on demand; the pool never blocks.
#[derive(Debug, Default)]
pub(crate) struct ServerSessionPool {
    /// Most recently used first.
    sessions: Mutex<VecDeque<ServerSession>>,
}

impl ServerSessionPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ServerSession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used session that is not about to expire, or a new one. Expired
    /// sessions met on the way are dropped (the server forgets them by itself).
    pub(crate) fn check_out(&self, timeout: Option<Duration>, now: Instant) -> ServerSession {
        let mut sessions = self.lock();
        while let Some(s) = sessions.pop_front() {
            if timeout.is_some_and(|t| s.about_to_expire(t, now)) {
                continue;
            }
            return s;
        }
        drop(sessions);
        ServerSession::new(now)
    }

    /// Returns a session after use (`last_use` is set to `now`). Dirty sessions are dropped (and
    /// so are sessions with a command still in flight: its operation was cancelled), and so are
    /// expired ones at the old end of the pool.
    pub(crate) fn check_in(
        &self,
        mut session: ServerSession,
        timeout: Option<Duration>,
        now: Instant,
    ) {
        let mut sessions = self.lock();
        if let Some(t) = timeout {
            while sessions.back().is_some_and(|s| s.about_to_expire(t, now)) {
                sessions.pop_back();
            }
        }
        if session.dirty || session.in_flight {
            return;
        }
        session.last_use = now;
        sessions.push_front(session);
    }

    /// Empties the pool and returns the ids, for `endSessions` at shutdown.
    pub(crate) fn drain(&self) -> Vec<Document> {
        self.lock().drain(..).map(|s| s.id).collect()
    }

    /// Sessions in the pool now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// `endSessions` commands for `ids`, at most 10,000 ids each (Driver Sessions specification).
pub(crate) fn end_sessions_commands(ids: Vec<Document>) -> Vec<Document> {
    ids.chunks(10_000)
        .map(|chunk| doc! { "endSessions": chunk.to_vec() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    /// `logicalSessionTimeoutMinutes: 30`.
    const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30 * 60));

    #[test]
    fn sessions_are_reused_most_recent_first() {
        let pool = ServerSessionPool::default();
        let t0 = Instant::now();
        let a = pool.check_out(TIMEOUT, t0);
        let b = pool.check_out(TIMEOUT, t0);
        assert_ne!(a.id, b.id);
        let (a_id, b_id) = (a.id.clone(), b.id.clone());
        pool.check_in(a, TIMEOUT, t0);
        pool.check_in(b, TIMEOUT, t0 + Duration::from_secs(1));
        assert_eq!(pool.check_out(TIMEOUT, t0).id, b_id);
        assert_eq!(pool.check_out(TIMEOUT, t0).id, a_id);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn sessions_close_to_expiry_are_discarded() {
        let pool = ServerSessionPool::default();
        let t0 = Instant::now();
        let old = pool.check_out(TIMEOUT, t0);
        let old_id = old.id.clone();
        pool.check_in(old, TIMEOUT, t0);
        // 29 minutes and a second later, less than a minute is left: not reused.
        let later = t0 + 29 * MINUTE + Duration::from_secs(1);
        assert_ne!(pool.check_out(TIMEOUT, later).id, old_id);
        assert_eq!(pool.len(), 0);

        // Check-in prunes expired sessions at the old end.
        let stale = pool.check_out(TIMEOUT, t0);
        pool.check_in(stale, TIMEOUT, t0);
        let fresh = pool.check_out(None, later);
        pool.check_in(fresh, TIMEOUT, later);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn dirty_sessions_are_not_reused() {
        let pool = ServerSessionPool::default();
        let t0 = Instant::now();
        let mut s = pool.check_out(None, t0);
        s.dirty = true;
        pool.check_in(s, None, t0);
        assert_eq!(pool.len(), 0);
        // Returned with a command in flight: its operation was cancelled mid-command.
        let mut s = pool.check_out(None, t0);
        s.in_flight = true;
        pool.check_in(s, None, t0);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn lsid_is_a_uuid_and_end_sessions_is_batched() {
        let s = ServerSession::new(Instant::now());
        let id = s.id.get_binary_generic("id").err();
        assert!(id.is_some(), "subtype 4, not generic");
        assert!(
            matches!(s.id.get("id"), Some(bson::Bson::Binary(b)) if b.subtype == BinarySubtype::Uuid && b.bytes.len() == 16)
        );
        let ids: Vec<Document> = (0..20_001).map(|i| doc! { "id": i }).collect();
        let cmds = end_sessions_commands(ids);
        let sizes: Vec<usize> = cmds
            .iter()
            .map(|c| c.get_array("endSessions").map_or(0, |a| a.len()))
            .collect();
        assert_eq!(sizes, [10_000, 10_000, 1]);
        assert!(end_sessions_commands(Vec::new()).is_empty());
    }
}
