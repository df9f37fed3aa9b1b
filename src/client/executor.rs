//! The one executor: every operation is selected, built, sent, read and retried here.
//!
//! Touch points with the topology (kept to these so the topology can change underneath):
//! [`Client::select`] / [`Client::connection_to`] to check out a connection,
//! [`stream_description`] for the server's limits, and on the handle `apply_read_preference`
//! and `command_with_sequences` (which reports errors to the topology by itself).

use bson::Document;

use super::{Client, ConnectionHandle};
use crate::csot::{self, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::operation::{Operation, ResponseContext, Retryability, Selection, StreamDescription};
use crate::options::ClientOptions;
use crate::sdam::{DEFAULT_MAX_BSON_OBJECT_SIZE, DEFAULT_MAX_WRITE_BATCH_SIZE};

/// The limits of the server a connection is to, from its handshake: the only place operations
/// get them.
pub(crate) fn stream_description(conn: &ConnectionHandle) -> StreamDescription {
    let hello = conn.description();
    let positive = |v: i64, default: i64| {
        usize::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .or_else(|| usize::try_from(default).ok())
            .unwrap_or(1)
    };
    StreamDescription {
        address: conn.address().clone(),
        max_bson_object_size: positive(hello.max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE),
        max_write_batch_size: positive(hello.max_write_batch_size, DEFAULT_MAX_WRITE_BATCH_SIZE),
        max_message_size: conn.max_message_size(),
    }
}

impl Client {
    /// Runs an operation: checks out a connection where the operation may run, builds the
    /// command against that server, sends it and reads the reply. A retryable read that fails
    /// with a retryable error is tried once more, after selecting a server again.
    pub(crate) async fn execute<Op: Operation>(&self, op: Op) -> Result<Op::Output> {
        self.execute_within(op, Deadline::start(self.options().timeout))
            .await
    }

    /// [`Client::execute`] under a given `timeoutMS` deadline (`None`: the legacy timeouts),
    /// for several operations that share one (the batches of an `insert_many`).
    pub(crate) async fn execute_within<Op: Operation>(
        &self,
        mut op: Op,
        deadline: Option<Deadline>,
    ) -> Result<Op::Output> {
        // The first attempt's error, once a retry is under way.
        let mut first_error: Option<Error> = None;
        loop {
            let selection = op.selection();
            let mut conn = match self.check_out(&selection, deadline.as_ref()).await {
                Ok(conn) => conn,
                // The retry found no server: the error that caused the retry says more (unless
                // timeoutMS expired).
                Err(e) => return op.handle_error(csot::final_error(first_error, e)),
            };
            let server = stream_description(&conn);
            let mut cmd = match op.build(&server) {
                Ok(cmd) => cmd,
                Err(e) => return op.handle_error(e),
            };
            if let Selection::Criteria(criteria) = &selection {
                conn.apply_read_preference(&mut cmd.body, criteria);
            }
            // Retryable writes will add the session and txnNumber here (the same on the retry).
            // timeoutMS: maxTimeMS from the time left; the deadline bounds the write and read.
            if let Err(e) = conn.apply_deadline(deadline.as_ref(), &mut cmd.body) {
                return op.handle_error(csot::final_error(first_error, e));
            }
            let sent = conn
                .command_with_sequences(&cmd.db, cmd.body, cmd.sequences)
                .await
                .map_err(|e| csot::on_error(deadline.as_ref(), e));
            let reply: Document = match sent {
                Ok(reply) => reply,
                Err(e) => {
                    if first_error.is_none() && should_retry(&e, op.retryability(), self.options())
                    {
                        tracing::debug!(operation = Op::NAME, error = %e, "retrying once");
                        first_error = Some(e);
                        continue;
                    }
                    return op.handle_error(e);
                }
            };
            let ctx = ResponseContext {
                address: conn.address(),
            };
            // A reply that does not parse is the server's answer, not a network failure: not
            // retried.
            return op
                .handle_response(reply, &ctx)
                .or_else(|e| op.handle_error(e));
        }
    }

    async fn check_out(
        &self,
        selection: &Selection,
        deadline: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        match selection {
            Selection::Criteria(criteria) => self.select(criteria, deadline).await,
            Selection::Server(address) => self.connection_to(address, deadline).await,
        }
    }
}

/// Whether a failed attempt is tried again (once; the executor counts). Retryable Reads
/// specification: reads, unless `retryReads=false`, after a network error or an error of the
/// "not primary"/"recovering" family. Writes are not retried yet.
pub(crate) fn should_retry(
    error: &Error,
    retryability: Retryability,
    options: &ClientOptions,
) -> bool {
    match retryability {
        Retryability::Read => options.retry_reads != Some(false) && is_retryable_read_error(error),
        Retryability::Write | Retryability::None => false,
    }
}

/// Network errors and the "not primary"/"recovering" codes (plus HostUnreachable,
/// HostNotFound, NetworkTimeout, SocketException, ExceededTimeLimit, ReadConcernMajorityNot
/// AvailableYet).
fn is_retryable_read_error(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Command { code, message, .. } => {
            // Code 0: the reply had none, so SDAM decides by the message.
            crate::sdam::is_state_change_error((*code != 0).then_some(*code), message)
                || matches!(code, 6 | 7 | 89 | 9001 | 262 | 134)
        }
        _ => e.is_network_error(),
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

    fn io() -> Error {
        Error::new(ErrorKind::Io(Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))))
    }

    #[test]
    fn reads_are_retried_after_network_and_not_primary_errors() {
        let o = ClientOptions::default();
        for e in [
            io(),
            command(10107, "not writable primary"),
            command(91, "shutting down"),
            command(0, "node is recovering"),
            command(89, "network timeout"),
            command(262, "exceeded time limit"),
        ] {
            assert!(should_retry(&e, Retryability::Read, &o), "{e}");
        }
        for e in [
            command(11000, "duplicate key"),
            command(13, "unauthorized"),
            Error::invalid_argument("x"),
            Error::new(ErrorKind::ServerSelection {
                message: "x".into(),
            }),
        ] {
            assert!(!should_retry(&e, Retryability::Read, &o), "{e}");
        }
    }

    #[test]
    fn retry_reads_false_writes_and_commands_are_not_retried() {
        let mut o = ClientOptions::default();
        assert!(!should_retry(&io(), Retryability::Write, &o));
        assert!(!should_retry(&io(), Retryability::None, &o));
        o.retry_reads = Some(false);
        assert!(!should_retry(&io(), Retryability::Read, &o));
        o.retry_reads = Some(true);
        assert!(should_retry(&io(), Retryability::Read, &o));
    }
}
