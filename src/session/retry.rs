//! The retry decision, as pure functions over the error, the operation and the server
//! (Retryable Reads and Retryable Writes specifications). The executor retries at most once.

use crate::error::{Error, ErrorKind};
use crate::operation::Retryability;

/// Codes a pre-4.4 server (no `RetryableWriteError` label) fails retryable writes with.
const RETRYABLE_WRITE_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];
/// Codes after which a read is retried (network and "not primary"/"recovering" family, plus
/// ReadConcernMajorityNotAvailableYet).
const RETRYABLE_READ_CODES: &[i32] = &[6, 7, 89, 9001, 262, 134];
/// `maxWireVersion` of MongoDB 4.4: from it on the server labels retryable write errors.
const WIRE_4_4: i32 = 9;

/// The label of a write error worth retrying.
pub(crate) const RETRYABLE_WRITE_ERROR: &str = "RetryableWriteError";
/// The label of a retry that wrote nothing: the first error says more.
pub(crate) const NO_WRITES_PERFORMED: &str = "NoWritesPerformed";

/// What the decision needs to know about the attempt that failed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt {
    /// `retryReads` (default true).
    pub(crate) retry_reads: bool,
    /// `retryWrites` (default true).
    pub(crate) retry_writes: bool,
    /// The attempt carried a `txnNumber`: a retryable write to a deployment with sessions,
    /// acknowledged, with `retryWrites` on.
    pub(crate) had_txn_number: bool,
    /// The server's `maxWireVersion` (0 when the failure came before a connection).
    pub(crate) max_wire_version: i32,
}

/// Whether a failed first attempt is tried once more.
pub(crate) fn should_retry(error: &Error, retryability: Retryability, attempt: &Attempt) -> bool {
    match retryability {
        Retryability::Read => attempt.retry_reads && is_retryable_read_error(error),
        Retryability::Write => {
            attempt.retry_writes
                && attempt.had_txn_number
                && is_retryable_write_error(error, attempt.max_wire_version)
        }
        Retryability::None => false,
    }
}

/// Network errors and the "not primary"/"recovering" family.
pub(crate) fn is_retryable_read_error(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Command { code, message, .. } => {
            // Code 0: the reply had none, so SDAM decides by the message.
            crate::sdam::is_state_change_error((*code != 0).then_some(*code), message)
                || RETRYABLE_READ_CODES.contains(code)
        }
        _ => e.is_network_error(),
    }
}

/// Network errors, errors the server labelled `RetryableWriteError`, and before 4.4 (which
/// sets no labels) the retryable codes.
pub(crate) fn is_retryable_write_error(e: &Error, max_wire_version: i32) -> bool {
    if e.contains_label(RETRYABLE_WRITE_ERROR) || e.is_network_error() {
        return true;
    }
    match &*e.kind {
        ErrorKind::Command { code, .. } if max_wire_version < WIRE_4_4 => {
            RETRYABLE_WRITE_CODES.contains(code)
        }
        _ => false,
    }
}

/// The error the caller sees when the retry failed too: the retry's, unless it wrote nothing
/// (`NoWritesPerformed`) or never reached a server, when the first error says more.
pub(crate) fn error_after_retry(first: Error, retry: Error) -> Error {
    let never_sent = matches!(
        &*retry.kind,
        ErrorKind::ServerSelection { .. } | ErrorKind::Shutdown
    );
    if retry.contains_label(NO_WRITES_PERFORMED) || never_sent {
        first
    } else {
        retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn command(code: i32, message: &str) -> Error {
        Error::new(ErrorKind::Command {
            code,
            code_name: String::new(),
            message: message.into(),
        })
    }

    fn labelled(code: i32, label: &str) -> Error {
        command(code, "x").with_reply_details(vec![label.into()], None)
    }

    fn io() -> Error {
        Error::new(ErrorKind::Io(Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))))
    }

    fn attempt() -> Attempt {
        Attempt {
            retry_reads: true,
            retry_writes: true,
            had_txn_number: true,
            max_wire_version: 21,
        }
    }

    #[test]
    fn reads_are_retried_after_network_and_not_primary_errors() {
        let a = attempt();
        for e in [
            io(),
            command(10107, "not writable primary"),
            command(91, "shutting down"),
            command(0, "node is recovering"),
            command(89, "network timeout"),
            command(262, "exceeded time limit"),
            command(134, "read concern majority not available yet"),
        ] {
            assert!(should_retry(&e, Retryability::Read, &a), "{e}");
        }
        for e in [
            command(11000, "duplicate key"),
            command(13, "unauthorized"),
            Error::invalid_argument("x"),
            Error::new(ErrorKind::ServerSelection {
                message: "x".into(),
            }),
        ] {
            assert!(!should_retry(&e, Retryability::Read, &a), "{e}");
        }
        let off = Attempt {
            retry_reads: false,
            ..a
        };
        assert!(!should_retry(&io(), Retryability::Read, &off));
    }

    #[test]
    fn writes_are_retried_by_label_network_error_or_old_server_code() {
        let a = attempt();
        assert!(should_retry(&io(), Retryability::Write, &a));
        assert!(should_retry(
            &labelled(91, RETRYABLE_WRITE_ERROR),
            Retryability::Write,
            &a
        ));
        // 4.4+: no label, no retry, whatever the code.
        assert!(!should_retry(
            &command(10107, "not primary"),
            Retryability::Write,
            &a
        ));
        assert!(!should_retry(
            &command(11000, "dup"),
            Retryability::Write,
            &a
        ));
        // Before 4.4 the code decides.
        let old = Attempt {
            max_wire_version: 8,
            ..a
        };
        assert!(should_retry(
            &command(10107, "not primary"),
            Retryability::Write,
            &old
        ));
        assert!(!should_retry(
            &command(11000, "dup"),
            Retryability::Write,
            &old
        ));
    }

    #[test]
    fn writes_need_retry_writes_and_a_txn_number() {
        let a = attempt();
        let off = Attempt {
            retry_writes: false,
            ..a
        };
        // No txnNumber: no sessions, an unacknowledged write, or retryWrites=false.
        let no_txn = Attempt {
            had_txn_number: false,
            ..a
        };
        for a in [off, no_txn] {
            assert!(!should_retry(&io(), Retryability::Write, &a));
        }
        // Multi-document writes and runCommand are never retried.
        assert!(!should_retry(&io(), Retryability::None, &attempt()));
        assert!(!should_retry(
            &labelled(91, RETRYABLE_WRITE_ERROR),
            Retryability::None,
            &attempt()
        ));
    }

    #[test]
    fn the_more_useful_error_is_returned() {
        let first = command(91, "first");
        let chosen = error_after_retry(first.clone(), command(11000, "second"));
        assert!(chosen.to_string().contains("second"));
        let chosen = error_after_retry(first.clone(), labelled(10107, NO_WRITES_PERFORMED));
        assert!(chosen.to_string().contains("first"));
        let selection = Error::new(ErrorKind::ServerSelection {
            message: "none".into(),
        });
        assert!(error_after_retry(first, selection)
            .to_string()
            .contains("first"));
    }
}
