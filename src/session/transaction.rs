//! Transactions (Transactions specification), as pure decisions over data: the state machine of
//! a session's transaction, the fields each command of a transaction carries, what a command
//! inside a transaction may not carry, the labels its errors get, and the write concern of
//! `commitTransaction`. The executor asks; nothing here does I/O.

use std::sync::Arc;
use std::time::Duration;

use bson::raw::RawBsonRef;
use bson::{Document, RawDocument, Timestamp};

use crate::client::ConnectionHandle;
use crate::error::{
    Error, ErrorKind, Result, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use crate::options::{
    Acknowledgment, ReadConcern, ReadPreferenceMode, ServerAddress, TransactionOptions,
    WriteConcern,
};

/// `wtimeout` of a retried `commitTransaction` whose write concern has none: a majority that
/// cannot be reached must not block the commit for ever.
const RECOMMIT_WTIMEOUT: Duration = Duration::from_millis(10_000);
/// `MaxTimeMSExpired`.
const MAX_TIME_MS_EXPIRED: i32 = 50;
/// `UnsatisfiableWriteConcern` and `UnknownReplWriteConcern`: the write concern itself is
/// wrong, so committing again cannot help.
const INVALID_WRITE_CONCERN_CODES: &[i32] = &[100, 79];

/// Where a session's transaction stands (the Transactions specification's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction: operations run on their own.
    #[default]
    None,
    /// Started; no command has been sent in it yet.
    Starting,
    /// Its first command was sent.
    InProgress,
    /// `commit_transaction` was called (whether or not it succeeded: calling it again retries
    /// the commit).
    Committed,
    /// `abort_transaction` was called.
    Aborted,
}

/// A connection a load-balanced transaction keeps: every command of the transaction goes to the
/// same service, and the session's copies (a cursor's `getMore`) share it.
pub(crate) type PinnedConnection = Arc<tokio::sync::Mutex<ConnectionHandle>>;

/// Where a transaction's commands go once its first command was sent.
#[derive(Clone)]
pub(crate) enum Pin {
    /// A sharded transaction: the mongos that ran the first command.
    Mongos(ServerAddress),
    /// Load-balanced mode: the connection that ran the first command.
    Connection(PinnedConnection),
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pin::Mongos(a) => write!(f, "Mongos({a})"),
            Pin::Connection(_) => f.write_str("Connection"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum State {
    #[default]
    None,
    Starting,
    InProgress,
    /// `sent`: a `commitTransaction` was sent (a transaction without commands commits without
    /// one, and so does every commit after it).
    Committed {
        sent: bool,
    },
    Aborted,
}

/// What [`Transaction::commit`] asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Nothing to send: the transaction ran no command.
    Nothing,
    /// Send `commitTransaction`.
    Send,
    /// Send `commitTransaction` again (the user commits once more): with `w: majority`.
    SendAgain,
}

/// A session's transaction: its state, options, pin and recovery token.
#[derive(Clone, Debug, Default)]
pub(crate) struct Transaction {
    state: State,
    /// Resolved when it started (its own, the session's defaults, the client's).
    options: TransactionOptions,
    pin: Option<Pin>,
    /// The last `recoveryToken` a mongos sent in this transaction, for commit and abort.
    recovery_token: Option<Document>,
}

fn misuse(message: &str) -> Error {
    Error::new(ErrorKind::Transaction {
        message: message.to_owned(),
    })
}

impl Transaction {
    /// The state, as the public API names it.
    pub(crate) fn state(&self) -> TransactionState {
        match self.state {
            State::None => TransactionState::None,
            State::Starting => TransactionState::Starting,
            State::InProgress => TransactionState::InProgress,
            State::Committed { .. } => TransactionState::Committed,
            State::Aborted => TransactionState::Aborted,
        }
    }

    /// Started and neither committed nor aborted: the session's operations belong to it.
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.state, State::Starting | State::InProgress)
    }

    /// The options it started with.
    pub(crate) fn options(&self) -> &TransactionOptions {
        &self.options
    }

    /// Starts a transaction with `options` (already merged with the defaults). An error leaves
    /// everything as it was; the caller then gives the session a new `txnNumber`.
    pub(crate) fn start(&mut self, options: TransactionOptions) -> Result<()> {
        if self.is_active() {
            return Err(misuse(
                "Transaction already in progress: commit or abort it before starting another",
            ));
        }
        if options
            .write_concern
            .as_ref()
            .is_some_and(|wc| !wc.is_acknowledged())
        {
            return Err(misuse(
                "transactions do not support unacknowledged write concerns: give the transaction \
                 (or the session's default transaction options, or the client) an acknowledged \
                 write concern",
            ));
        }
        *self = Transaction {
            state: State::Starting,
            options,
            pin: None,
            recovery_token: None,
        };
        Ok(())
    }

    /// `commitTransaction` was asked for: whether to send it. The state is "committed"
    /// afterwards, whatever the command's outcome.
    pub(crate) fn commit(&mut self) -> Result<Commit> {
        match self.state {
            State::None => Err(misuse(
                "No transaction started: call start_transaction first",
            )),
            State::Aborted => Err(misuse(
                "Cannot call commitTransaction after calling abortTransaction",
            )),
            State::Starting => {
                self.state = State::Committed { sent: false };
                Ok(Commit::Nothing)
            }
            State::InProgress => {
                self.state = State::Committed { sent: true };
                Ok(Commit::Send)
            }
            State::Committed { sent: true } => Ok(Commit::SendAgain),
            State::Committed { sent: false } => Ok(Commit::Nothing),
        }
    }

    /// `abortTransaction` was asked for: whether to send it. The state is "aborted" afterwards;
    /// a transaction that sent nothing is unpinned at once (one that did, once the command ran:
    /// [`unpin`](Self::unpin)).
    pub(crate) fn abort(&mut self) -> Result<bool> {
        match self.state {
            State::None => Err(misuse("No transaction started: nothing to abort")),
            State::Committed { .. } => Err(misuse(
                "Cannot call abortTransaction after calling commitTransaction",
            )),
            State::Aborted => Err(misuse("Cannot call abortTransaction twice")),
            State::Starting => {
                self.state = State::Aborted;
                self.unpin();
                Ok(false)
            }
            State::InProgress => {
                self.state = State::Aborted;
                Ok(true)
            }
        }
    }

    /// An operation that is not `commitTransaction`/`abortTransaction` is about to run in the
    /// session: after a commit or an abort it runs outside any transaction, and the session
    /// forgets the finished one (its pin and recovery token).
    pub(crate) fn before_operation(&mut self) {
        if matches!(self.state, State::Committed { .. } | State::Aborted) {
            *self = Transaction::default();
        }
    }

    /// The transaction's first command reached a server (even if it then failed): later
    /// commands continue the transaction.
    pub(crate) fn first_command_sent(&mut self) {
        if self.state == State::Starting {
            self.state = State::InProgress;
        }
    }

    /// The transaction's first command was refused unread (shed for overload): its retry
    /// starts the transaction again, with `startTransaction` and the read concern.
    pub(crate) fn restart(&mut self) {
        if self.state == State::InProgress {
            self.state = State::Starting;
        }
    }

    /// True until the first command reached a server.
    pub(crate) fn is_starting(&self) -> bool {
        self.state == State::Starting
    }

    pub(crate) fn pin(&self) -> Option<&Pin> {
        self.pin.as_ref()
    }

    /// Pins the transaction to where its first command ran (kept after a commit: the commit
    /// may be retried there).
    pub(crate) fn set_pin(&mut self, pin: Pin) {
        self.pin = Some(pin);
    }

    pub(crate) fn unpin(&mut self) {
        self.pin = None;
    }

    pub(crate) fn recovery_token(&self) -> Option<&Document> {
        self.recovery_token.as_ref()
    }

    /// Keeps the latest `recoveryToken` a reply in the transaction carried.
    pub(crate) fn observe_recovery_token(&mut self, token: Document) {
        self.recovery_token = Some(token);
    }

    /// The fields a command of the transaction carries besides `lsid`: `txnNumber`,
    /// `autocommit: false`, and on the first command `startTransaction: true` and the
    /// transaction's read concern (with `afterClusterTime` in a causally consistent session);
    /// `recoveryToken` on `commitTransaction`/`abortTransaction`. `None` outside a transaction.
    pub(crate) fn fields(
        &self,
        txn_number: i64,
        ends_transaction: bool,
        after_cluster_time: Option<Timestamp>,
    ) -> Option<TransactionFields> {
        let first = match self.state {
            State::Starting => true,
            State::InProgress => false,
            // commitTransaction / abortTransaction, and their retries.
            State::Committed { .. } | State::Aborted if ends_transaction => false,
            _ => return None,
        };
        Some(TransactionFields {
            txn_number,
            first,
            read_concern: self.options.read_concern.clone().filter(|_| first),
            after_cluster_time: after_cluster_time.filter(|_| first),
            recovery_token: self.recovery_token.clone().filter(|_| ends_transaction),
        })
    }
}

/// What [`Transaction::fields`] adds to one command.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TransactionFields {
    txn_number: i64,
    first: bool,
    read_concern: Option<ReadConcern>,
    after_cluster_time: Option<Timestamp>,
    recovery_token: Option<Document>,
}

impl TransactionFields {
    /// Adds the fields to `cmd`. A `readConcern` the command already has (a user's
    /// `run_command` document) is left as it is.
    pub(crate) fn stamp(&self, cmd: &mut Document) {
        cmd.insert("txnNumber", self.txn_number);
        if self.first {
            cmd.insert("startTransaction", true);
        }
        cmd.insert("autocommit", false);
        if self.first && !cmd.contains_key("readConcern") {
            let mut rc = Document::new();
            if let Some(level) = &self.read_concern {
                rc.insert("level", level.level.as_str());
            }
            if let Some(t) = self.after_cluster_time {
                rc.insert("afterClusterTime", t);
            }
            if !rc.is_empty() {
                cmd.insert("readConcern", rc);
            }
        }
        if let Some(token) = &self.recovery_token {
            cmd.insert("recoveryToken", token.clone());
        }
    }
}

/// A command of an operation run inside a transaction must not carry its own concerns: the
/// transaction's read concern goes with its first command, its write concern with the commit
/// (the handles' concerns are not added in a transaction, so these were set on the operation).
/// `user_command`: a `run_command` document, sent as the user wrote it.
pub(crate) fn check_command(cmd: &Document, user_command: bool) -> Result<()> {
    if user_command {
        return Ok(());
    }
    if cmd.contains_key("readConcern") {
        return Err(misuse(
            "Cannot set read concern after starting a transaction: set it in the transaction's \
             options",
        ));
    }
    if cmd.contains_key("writeConcern") {
        return Err(misuse(
            "Cannot set write concern after starting a transaction: set it in the \
             transaction's options (it applies to the commit)",
        ));
    }
    Ok(())
}

/// The read preference of a read inside a transaction must be the primary.
pub(crate) fn check_read_preference(mode: ReadPreferenceMode) -> Result<()> {
    if mode == ReadPreferenceMode::Primary {
        Ok(())
    } else {
        Err(misuse(&format!(
            "read preference in a transaction must be primary (this read's is {}): set \
             read_preference to primary in the transaction's options, or run the read outside \
             the transaction",
            mode.as_str()
        )))
    }
}

/// The connection of a load-balanced transaction is in use by a cursor's `getMore` that a
/// dropped `next` left in flight.
pub(crate) fn connection_busy() -> Error {
    misuse(
        "the transaction's connection is busy with a getMore of one of its cursors, left in \
         flight by a cancelled next(); call next() on that cursor again (or drop it) first",
    )
}

/// Labels an error of a command inside a transaction (not `commitTransaction`): a network
/// error or a server selection error is a `TransientTransactionError` (the client cannot know
/// whether the command ran; the whole transaction may be retried).
pub(crate) fn label_error_in_transaction(e: &mut Error) {
    if e.is_network_error() || matches!(&*e.kind, ErrorKind::ServerSelection { .. }) {
        e.add_label(TRANSIENT_TRANSACTION_ERROR);
    }
}

/// Labels a `commitTransaction` error `UnknownTransactionCommitResult` when the transaction may
/// or may not have committed: a network or server selection error, a retryable write error,
/// `MaxTimeMSExpired`, a write concern error other than an invalid write concern.
pub(crate) fn label_commit_error(e: &mut Error, retryable: bool) {
    let unknown = retryable
        || e.is_network_error()
        || match &*e.kind {
            ErrorKind::ServerSelection { .. } | ErrorKind::OperationTimeout { .. } => true,
            ErrorKind::Command { code, .. } => *code == MAX_TIME_MS_EXPIRED,
            ErrorKind::WriteConcern { code, .. } => !INVALID_WRITE_CONCERN_CODES.contains(code),
            _ => false,
        };
    if unknown {
        e.add_label(UNKNOWN_TRANSACTION_COMMIT_RESULT);
    }
}

/// `MaxTimeMSExpired` as a command error or a write concern error (or `timeoutMS`'s typed
/// timeout, which it becomes under `timeoutMS`): a commit that ran out of its time limit is
/// not retried by the convenient API.
pub(crate) fn is_max_time_ms_expired(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Command { code, .. } | ErrorKind::WriteConcern { code, .. } => {
            *code == MAX_TIME_MS_EXPIRED
        }
        ErrorKind::OperationTimeout { .. } => true,
        _ => false,
    }
}

/// The write concern of a `commitTransaction`: the transaction's; when the commit is sent
/// again (the driver's retry or the user's), `w: majority`, keeping `j` and `wtimeout`, with a
/// `wtimeout` of 10 seconds when it had none.
pub(crate) fn commit_write_concern(wc: Option<&WriteConcern>, again: bool) -> Option<WriteConcern> {
    if !again {
        return wc.filter(|wc| !wc.is_empty()).cloned();
    }
    let mut wc = wc.cloned().unwrap_or_default();
    wc.w = Some(Acknowledgment::Majority);
    wc.w_timeout.get_or_insert(RECOMMIT_WTIMEOUT);
    Some(wc)
}

/// The `writeConcernError` of an `ok: 1` reply to `commitTransaction`/`abortTransaction`, as
/// an error carrying the reply's `errorLabels`.
pub(crate) fn write_concern_error(reply: &RawDocument) -> Option<Error> {
    let wce = match reply.get("writeConcernError").ok().flatten()? {
        RawBsonRef::Document(d) => d,
        _ => {
            return Some(Error::invalid_response(
                "writeConcernError is not a document",
            ))
        }
    };
    let code = match wce.get("code").ok().flatten() {
        Some(RawBsonRef::Int32(c)) => c,
        Some(RawBsonRef::Int64(c)) => i32::try_from(c).unwrap_or(0),
        Some(RawBsonRef::Double(c)) if c.fract() == 0.0 && c.abs() < 2e9 => c as i32,
        _ => 0,
    };
    let text = |key: &str| match wce.get(key).ok().flatten() {
        Some(RawBsonRef::String(s)) => s.to_owned(),
        _ => String::new(),
    };
    let labels = crate::error::reply_labels(reply);
    let error = Error::new(ErrorKind::WriteConcern {
        code,
        code_name: text("codeName"),
        message: text("errmsg"),
    });
    Some(error.with_reply_details(labels, None))
}

/// The `recoveryToken` of a reply (mongos sends one in every reply of a sharded transaction).
pub(crate) fn recovery_token(reply: &RawDocument) -> Option<Document> {
    match reply.get("recoveryToken").ok().flatten()? {
        RawBsonRef::Document(d) => d.try_into().ok(),
        _ => None,
    }
}

/// The convenient API's pause before attempt `attempt` (1 for the first retry): `jitter`
/// (uniform in `[0, 1)`) times 5 ms × 1.5^attempt, at most 500 ms (Convenient API for
/// Transactions specification).
pub(crate) fn backoff(attempt: u32, jitter: f64) -> Duration {
    const INITIAL_MS: f64 = 5.0;
    const MAX_MS: f64 = 500.0;
    let exp = i32::try_from(attempt).unwrap_or(i32::MAX);
    let ms = jitter.clamp(0.0, 1.0) * (INITIAL_MS * 1.5f64.powi(exp)).min(MAX_MS);
    Duration::from_secs_f64(ms / 1000.0)
}

/// The error a convenient transaction returns when its time is up: the last error it saw,
/// wrapped, with that error's labels.
pub(crate) fn out_of_time(limit: Duration, last: Option<Error>) -> Error {
    let mut message = format!(
        "the transaction was retried for {} seconds without succeeding; giving up",
        limit.as_secs()
    );
    if let Some(last) = &last {
        message.push_str(&format!(" (the last error: {last})"));
    }
    let mut e = Error::new(ErrorKind::Transaction { message });
    if let Some(last) = last {
        for label in last.labels() {
            e.add_label(label);
        }
        e = e.with_source(last);
    }
    e
}

/// What the convenient API does after the callback or `commitTransaction` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterError {
    /// Commit again (with `w: majority`); after a commit error only.
    RetryCommit,
    /// Run the whole transaction again.
    RetryTransaction,
    /// Return the error as it is.
    Fail,
    /// Time is up: return [`out_of_time`].
    OutOfTime,
}

/// After the callback failed (the transaction was aborted if it was still active).
pub(crate) fn after_callback_error(e: &Error, elapsed: Duration, limit: Duration) -> AfterError {
    if !e.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        AfterError::Fail
    } else if elapsed < limit {
        AfterError::RetryTransaction
    } else {
        AfterError::OutOfTime
    }
}

/// After `commitTransaction` failed.
pub(crate) fn after_commit_error(e: &Error, elapsed: Duration, limit: Duration) -> AfterError {
    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && !is_max_time_ms_expired(e) {
        if elapsed >= limit {
            AfterError::OutOfTime
        } else {
            AfterError::RetryCommit
        }
    } else if e.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        // The pause before the next attempt checks the time.
        AfterError::RetryTransaction
    } else {
        AfterError::Fail
    }
}

#[cfg(test)]
mod tests;
