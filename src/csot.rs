//! Client Side Operations Timeout (`timeoutMS`): one deadline for a whole operation, from server
//! selection and connection check-out to writing the request and reading the reply, retries
//! included. Pure: every function takes the current time, so it is tested without I/O.
//!
//! How the specification's rules are applied:
//! - `maxTimeMS` is the time left minus the server's minimum round trip of its last 10 checks
//!   (zero until two were measured).
//! - A cursor's `next` call gets a fresh `timeoutMS` (its `getMore`s share it) in `timeoutMode:
//!   iteration`, the default of tailable cursors and change streams; a non-tailable cursor's
//!   `getMore`s share the deadline of the command that opened it (`cursorLifetime`).
//!   A `getMore` carries no `maxTimeMS` but a tailable-await one's wait, shortened to the
//!   time left; a cursor's `killCursors` gets the cursor's `timeoutMS` afresh.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind};

/// The deadline of one operation under `timeoutMS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// `None`: `timeoutMS=0`, no limit (but the deprecated timeouts are still ignored).
    expires: Option<Instant>,
    /// The `timeoutMS` it was made from, for messages.
    timeout: Duration,
    /// Commands under it carry no `maxTimeMS` (a cursor's command in `timeoutMode:
    /// iteration`, a tailable non-awaitData cursor's).
    no_max_time_ms: bool,
}

impl Deadline {
    /// The deadline of an operation starting now, when `timeoutMS` is set; `None` keeps the
    /// legacy timeouts (`socketTimeoutMS`, `waitQueueTimeoutMS`).
    pub(crate) fn start(timeout_ms: Option<Duration>) -> Option<Self> {
        timeout_ms.map(|t| Self::starting_at(t, Instant::now()))
    }

    /// The deadline of an operation that started at `now`. Zero means no limit.
    pub(crate) fn starting_at(timeout: Duration, now: Instant) -> Self {
        let expires = (!timeout.is_zero())
            .then(|| now.checked_add(timeout))
            .flatten();
        Self {
            expires,
            timeout,
            no_max_time_ms: false,
        }
    }

    /// The same deadline, for commands that must not carry `maxTimeMS`.
    pub(crate) fn without_max_time_ms(self) -> Self {
        Self {
            no_max_time_ms: true,
            ..self
        }
    }

    /// Whether commands under it carry `maxTimeMS`.
    pub(crate) fn sends_max_time_ms(&self) -> bool {
        !self.no_max_time_ms
    }

    /// When it expires; `None` for `timeoutMS=0`.
    pub(crate) fn expires(&self) -> Option<Instant> {
        self.expires
    }

    /// The time left at `now` (zero once expired); `None` without a limit.
    pub(crate) fn remaining(&self, now: Instant) -> Option<Duration> {
        self.expires.map(|e| e.saturating_duration_since(now))
    }

    /// True once the deadline has passed.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// The earlier of this deadline and `now + other` (e.g. `serverSelectionTimeoutMS`: the
    /// spec's `computedServerSelectionTimeout`).
    pub(crate) fn earlier_than(&self, now: Instant, other: Duration) -> Instant {
        let by_other = now
            .checked_add(other)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        match self.expires {
            Some(e) if e < by_other => e,
            _ => by_other,
        }
    }

    /// The `maxTimeMS` to send at `now` to a server whose round trip takes `rtt`: the time left
    /// minus the round trip, in whole milliseconds, at least 1 (0 would mean "no limit" to the
    /// server). `Ok(None)` without a limit. An error when the time left does not cover the
    /// round trip plus a millisecond: the request would only time out, so it is not sent.
    pub(crate) fn max_time_ms(&self, now: Instant, rtt: Duration) -> Result<Option<i64>, Error> {
        let Some(remaining) = self.remaining(now) else {
            return Ok(None);
        };
        let ms = remaining.saturating_sub(rtt).as_millis();
        if ms == 0 {
            return Err(self.expired(&format!(
                "before sending the command: {} ms left, less than the server's round trip ({} ms)",
                remaining.as_millis(),
                rtt.as_millis()
            )));
        }
        Ok(Some(i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// The typed timeout error: `timeoutMS` expired `during` some step.
    pub(crate) fn expired(&self, during: &str) -> Error {
        Error::new(ErrorKind::OperationTimeout {
            message: format!(
                "timeoutMS ({} ms) expired {during}; raise timeoutMS or make the operation \
                 cheaper",
                self.timeout.as_millis()
            ),
        })
    }

    /// An error of an operation under this deadline, as the application sees it: a timeout
    /// of any kind (a socket read or write, the wait for a pooled connection, server selection
    /// once the deadline passed, the server's `MaxTimeMSExpired`, code 50) becomes the typed
    /// timeout error, which quotes the original.
    pub(crate) fn transform(&self, error: Error, now: Instant) -> Error {
        let timed_out = match &*error.kind {
            ErrorKind::OperationTimeout { .. } => return error,
            ErrorKind::Timeout { .. } | ErrorKind::WaitQueueTimeout { .. } => true,
            ErrorKind::Command { code: 50, .. } | ErrorKind::WriteConcern { code: 50, .. } => true,
            // A write concern error `MaxTimeMSExpired` of a write (its words end with the
            // code, as `operation::write_reply::write_concern_error` writes them).
            ErrorKind::Write {
                write_errors,
                write_concern_error: Some(wce),
                ..
            } if write_errors.is_empty() && wce.ends_with(MAX_TIME_MS_EXPIRED) => true,
            _ => self.is_expired(now),
        };
        if timed_out {
            self.expired(&format!("({error})"))
        } else {
            error
        }
    }
}

/// How a write concern error `MaxTimeMSExpired` (code 50) ends in words.
const MAX_TIME_MS_EXPIRED: &str = "(code 50)";

/// An error of an operation's attempt, under its deadline if any ([`Deadline::transform`]).
pub(crate) fn on_error(deadline: Option<&Deadline>, error: Error) -> Error {
    match deadline {
        Some(d) => d.transform(error, Instant::now()),
        None => error,
    }
}

/// The commands that never carry `maxTimeMS` from the time left: a cursor's `getMore` (the
/// spec forbids it; a tailable-await one carries its wait).
pub(crate) fn takes_max_time_ms(command_name: &str) -> bool {
    command_name != "getMore"
}

#[cfg(test)]
mod tests;
