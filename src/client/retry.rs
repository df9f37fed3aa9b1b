//! The retry decision, as pure functions over the error, the operation and the server
//! (Retryable Reads and Retryable Writes specifications). The executor retries at most once.

use crate::error::{Error, ErrorKind};
use crate::operation::Retryability;
use crate::sdam::{ServerDescription, ServerType};

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

/// Whether writes to `server` carry a `txnNumber` and may be retried (Retryable Writes
/// specification): the server supports sessions (`logicalSessionTimeoutMinutes`) and is not a
/// standalone; in load-balanced mode always (Load Balancer specification: sessions are always
/// supported there).
///
/// `server` is the description from the connection's handshake. `mongod` accepts a `txnNumber`
/// only as a replica set member or `mongos`, which is how it was started and cannot change
/// under a live connection; its role in the set (primary, secondary) can, so every member type
/// counts. A standalone refuses every command with a `txnNumber` (IllegalOperation, 20).
pub(crate) fn supports_retryable_writes(server: &ServerDescription, load_balanced: bool) -> bool {
    if load_balanced {
        return true;
    }
    server.logical_session_timeout.is_some()
        && matches!(
            server.server_type,
            ServerType::RsPrimary
                | ServerType::RsSecondary
                | ServerType::RsArbiter
                | ServerType::RsOther
                | ServerType::RsGhost
                | ServerType::Mongos
                | ServerType::LoadBalancer
        )
}

/// How far a failed attempt got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reached {
    /// It failed before anything was written to a server: server selection, connection
    /// check-out or connect, a session or command that could not be made.
    Client,
    /// The command was written (at least in part): the server may have acted on it.
    Server,
}

/// The error the caller sees when the retry failed too (Retryable Writes specification): the
/// retry's error when the retry may have written something (it reached a server and is not
/// labelled `NoWritesPerformed`), since it is the more recent view; otherwise the first error,
/// which tells what really happened to the write.
pub(crate) fn error_after_retry(first: Error, retry: Error, reached: Reached) -> Error {
    if reached == Reached::Client || retry.contains_label(NO_WRITES_PERFORMED) {
        first
    } else {
        retry
    }
}

/// The error to keep while retrying, returned if every later attempt writes nothing
/// (Retryable Writes specification, "more than one error"): the latest error of an attempt
/// that may have written (it reached a server and is not labelled `NoWritesPerformed`), else
/// the first error.
pub(crate) fn kept_error(kept: Option<Error>, latest: Error, reached: Reached) -> Error {
    match kept {
        Some(kept) if reached == Reached::Client || latest.contains_label(NO_WRITES_PERFORMED) => {
            kept
        }
        _ => latest,
    }
}

/// A deployment that refuses `txnNumber` (IllegalOperation, code 20, "Transaction numbers
/// ...", e.g. a storage engine without document-level locking) gets the actionable message the
/// Retryable Writes specification asks for; other errors are returned as they are.
pub(crate) fn explain_refused_txn_number(mut error: Error) -> Error {
    if let ErrorKind::Command {
        code: 20, message, ..
    } = &mut *error.kind
    {
        if message.starts_with("Transaction numbers") {
            *message = format!(
                "this MongoDB deployment does not support retryable writes; add \
                 retryWrites=false to the connection string (the server said: {message})"
            );
        }
    }
    error
}

/// The error an operation ends with: once `timeoutMS` expired, the typed timeout (even when
/// a retry was under way for another error); after a retry, the more useful of the two errors
/// (Retryable Writes specification: the first when the retry wrote nothing or never reached a
/// server, `reached` saying how far the retry got).
pub(crate) fn final_error(first: Option<Error>, last: Error, reached: Reached) -> Error {
    if matches!(&*last.kind, ErrorKind::OperationTimeout { .. }) {
        return last;
    }
    match first {
        Some(first) => error_after_retry(first, last, reached),
        None => last,
    }
}

/// An error read out of an `ok: 1` reply (a write concern error, a write error) with the
/// reply's `errorLabels` added: the server puts a write concern error's labels there
/// (`RetryableWriteError` on MongoDB 4.4+).
pub(crate) fn with_reply_labels(mut error: Error, reply: &bson::RawDocument) -> Error {
    if let Ok(Some(bson::raw::RawBsonRef::Array(labels))) = reply.get("errorLabels") {
        for label in labels.into_iter().flatten() {
            if let bson::raw::RawBsonRef::String(l) = label {
                error.add_label(l);
            }
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_ok_reply_gives_its_labels_to_the_error_read_from_it() {
        let reply = bson::rawdoc! {
            "ok": 1, "n": 1,
            "writeConcernError": { "code": 91, "errmsg": "Replication is being shut down" },
            "errorLabels": ["RetryableWriteError"],
        };
        let e = with_reply_labels(command(91, "x"), &reply);
        assert_eq!(e.labels(), ["RetryableWriteError".to_string()]);
        let none = with_reply_labels(command(91, "x"), &bson::rawdoc! { "ok": 1 });
        assert!(none.labels().is_empty());
    }

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
    fn the_retry_error_is_returned_only_when_the_retry_may_have_written() {
        let first = || command(91, "first");
        // The retry reached a server and may have written: its error is the more recent one.
        let chosen = error_after_retry(first(), command(11000, "second"), Reached::Server);
        assert!(chosen.to_string().contains("second"), "{chosen}");
        // The server says the retry wrote nothing.
        let chosen = error_after_retry(
            first(),
            labelled(10107, NO_WRITES_PERFORMED),
            Reached::Server,
        );
        assert!(chosen.to_string().contains("first"), "{chosen}");
        // The retry never reached a server, whatever the error: selection, a check-out timeout,
        // a failed connect (an I/O or authentication error), a session that could not be used.
        for retry in [
            Error::new(ErrorKind::ServerSelection {
                message: "none".into(),
            }),
            Error::new(ErrorKind::WaitQueueTimeout {
                message: "pool busy".into(),
            }),
            io(),
            Error::new(ErrorKind::Authentication {
                message: "refused".into(),
                mechanism: "MONGODB-X509".into(),
                user: None,
                code: Some(18),
                subject: None,
            }),
            Error::new(ErrorKind::NotSupported {
                message: "no sessions".into(),
            }),
        ] {
            let chosen = error_after_retry(first(), retry.clone(), Reached::Client);
            assert!(chosen.to_string().contains("first"), "{retry} -> {chosen}");
        }
        // Both attempts wrote nothing: the first error.
        let chosen = error_after_retry(
            labelled(91, NO_WRITES_PERFORMED),
            labelled(10107, NO_WRITES_PERFORMED),
            Reached::Server,
        );
        assert!(
            matches!(*chosen.kind, ErrorKind::Command { code: 91, .. }),
            "{chosen}"
        );
    }

    fn server(
        server_type: ServerType,
        session_minutes: Option<u64>,
    ) -> crate::sdam::ServerDescription {
        let mut d = crate::sdam::ServerDescription::unknown(crate::options::ServerAddress::Tcp {
            host: "a".into(),
            port: Some(1),
        });
        d.server_type = server_type;
        d.logical_session_timeout = session_minutes.map(|m| std::time::Duration::from_secs(m * 60));
        d
    }

    #[test]
    fn retryable_writes_need_sessions_and_a_replica_set_member_or_mongos() {
        use ServerType::*;
        // A standalone mongod reports logicalSessionTimeoutMinutes too, and refuses txnNumber.
        assert!(!supports_retryable_writes(
            &server(Standalone, Some(30)),
            false
        ));
        for t in [RsPrimary, RsSecondary, RsOther, RsGhost, RsArbiter, Mongos] {
            assert!(
                supports_retryable_writes(&server(t, Some(30)), false),
                "{t:?}"
            );
            // Without sessions, no txnNumber.
            assert!(!supports_retryable_writes(&server(t, None), false), "{t:?}");
        }
        for t in [Unknown, PossiblePrimary] {
            assert!(
                !supports_retryable_writes(&server(t, Some(30)), false),
                "{t:?}"
            );
        }
        // Load-balanced mode: sessions are always supported.
        assert!(supports_retryable_writes(&server(Mongos, None), true));
        assert!(supports_retryable_writes(&server(Mongos, Some(30)), true));
    }

    #[test]
    fn a_refused_txn_number_gets_an_actionable_message() {
        let refused = command(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos",
        );
        let explained = explain_refused_txn_number(refused);
        assert!(matches!(
            *explained.kind,
            ErrorKind::Command { code: 20, .. }
        ));
        let text = explained.to_string();
        assert!(text.contains("retryWrites=false"), "{text}");
        assert!(
            text.contains("Transaction numbers are only allowed"),
            "{text}"
        );
        // Other code-20 errors and other codes are untouched.
        for e in [
            command(20, "something else"),
            command(11000, "Transaction numbers"),
        ] {
            assert_eq!(
                explain_refused_txn_number(e.clone()).to_string(),
                e.to_string()
            );
        }
    }

    #[test]
    fn the_final_error_is_the_timeout_once_expired() {
        let first = Error::invalid_response("first");
        let timeout = crate::csot::Deadline::starting_at(
            std::time::Duration::from_millis(1),
            tokio::time::Instant::now(),
        )
        .expired("during a retry");
        for reached in [Reached::Client, Reached::Server] {
            let chosen = final_error(Some(first.clone()), timeout.clone(), reached);
            assert!(matches!(&*chosen.kind, ErrorKind::OperationTimeout { .. }));
        }
        // A retry that never reached a server: the first error says more.
        let last = Error::new(ErrorKind::ServerSelection {
            message: "none".into(),
        });
        assert_eq!(
            final_error(Some(first.clone()), last, Reached::Client).to_string(),
            "invalid server response: first"
        );
        // One that reached a server: the retry's error is the more recent view.
        let last = Error::invalid_response("second");
        assert_eq!(
            final_error(Some(first), last.clone(), Reached::Server).to_string(),
            "invalid server response: second"
        );
        assert_eq!(
            final_error(None, last, Reached::Client).to_string(),
            "invalid server response: second"
        );
    }
}
