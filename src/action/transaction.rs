//! [`ClientSession::start_transaction`], [`ClientSession::commit_transaction`],
//! [`ClientSession::abort_transaction`], and the convenient API
//! ([`StartTransaction::and_run`], [`StartTransaction::and_run2`]).

use std::time::Duration;

use futures_core::future::BoxFuture;
use tokio::time::Instant;

use crate::csot::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::operation::EndTransaction;
use crate::options::TransactionOptions;
use crate::sdam::{ServerType, TopologyType};
use crate::session::transaction::{self, AfterError, Commit};
use crate::session::DetachedSession;
use crate::ClientSession;

/// How long the convenient API keeps retrying a transaction (Convenient API for Transactions
/// specification, without `timeoutMS`).
const CONVENIENT_TIME_LIMIT: Duration = Duration::from_secs(120);
/// How long an abort sent for a dropped session may take.
const BACKGROUND_ABORT_TIMEOUT: Duration = Duration::from_secs(5);

impl ClientSession {
    /// Starts a transaction in this session. Options not set here come from the session's
    /// [`default_transaction_options`](crate::options::SessionOptions::default_transaction_options),
    /// then from the client. Run the transaction's operations with `.session(&mut session)`,
    /// then [`commit_transaction`](Self::commit_transaction) (or
    /// [`abort_transaction`](Self::abort_transaction)); an operation run without the session
    /// is not part of the transaction.
    ///
    /// An error with the [`TRANSIENT_TRANSACTION_ERROR`](crate::error::TRANSIENT_TRANSACTION_ERROR)
    /// label means the whole transaction may be retried from its start. A command error inside
    /// a transaction may abort it on the server, after which the commit fails with
    /// `NoSuchTransaction`. [`StartTransaction::and_run`] retries for you.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// use mongo_x509::options::{ReadConcern, WriteConcern};
    /// let accounts = client.database("bank").collection::<Document>("accounts");
    /// let log = client.database("bank").collection::<Document>("log");
    /// let mut session = client.start_session().await?;
    /// session
    ///     .start_transaction()
    ///     .read_concern(ReadConcern::snapshot())
    ///     .write_concern(WriteConcern::majority())
    ///     .await?;
    /// accounts
    ///     .update_one(doc! { "_id": 1 }, doc! { "$inc": { "balance": -10 } })
    ///     .session(&mut session)
    ///     .await?;
    /// log.insert_one(doc! { "from": 1, "amount": 10 }).session(&mut session).await?;
    /// session.commit_transaction().await?;
    /// # Ok(()) }
    /// ```
    pub fn start_transaction(&mut self) -> StartTransaction<'_> {
        StartTransaction::new(self)
    }

    /// Commits the session's transaction. A transaction that ran no command commits without
    /// a round trip. Retried once on a retryable error (with `w: majority`).
    ///
    /// An error with the
    /// [`UNKNOWN_TRANSACTION_COMMIT_RESULT`](crate::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
    /// label leaves it unknown whether the transaction committed: calling `commit_transaction`
    /// again is safe (it commits with `w: majority`). Fails with [`ErrorKind::Transaction`]
    /// when no transaction was started or it was aborted.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// use mongo_x509::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
    /// let coll = client.database("app").collection::<Document>("items");
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// coll.insert_one(doc! { "x": 1 }).session(&mut session).await?;
    /// loop {
    ///     match session.commit_transaction().await {
    ///         Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
    ///         other => break other?,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn commit_transaction(&mut self) -> CommitTransaction<'_> {
        CommitTransaction::new(self)
    }

    /// Aborts the session's transaction: nothing it wrote is kept. The server's answer is not
    /// waited for in vain: errors of `abortTransaction` are ignored (the server aborts the
    /// transaction by itself in the end). Fails with [`ErrorKind::Transaction`] when no
    /// transaction was started, or it was committed or aborted already. Dropping a session
    /// aborts its transaction too.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let coll = client.database("app").collection::<Document>("items");
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// coll.insert_one(doc! { "x": 1 }).session(&mut session).await?;
    /// session.abort_transaction().await?; // the insert is gone
    /// # Ok(()) }
    /// ```
    pub fn abort_transaction(&mut self) -> AbortTransaction<'_> {
        AbortTransaction::new(self)
    }
}

/// A session's actions run against the client that started it.
#[cfg(feature = "sync")]
impl crate::sync::ActionClient for ClientSession {
    fn action_client(&self) -> crate::Client {
        self.client()
    }
}

/// Declares an action that ends the transaction: [`handle_action!`] on the session, its
/// `.await` running the block with the session and the deadline of the commit or abort
/// ([`end_deadline`]).
///
/// ```text
/// ends_transaction! {
///     /// Doc of the action.
///     pub struct CommitTransaction;
///     /// Doc of its `timeout`.
///     timeout;
///     runs: |session, deadline| { /* the commit */ }
/// }
/// ```
macro_rules! ends_transaction {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        $(#[$tmeta:meta])*
        timeout;
        runs: |$session:ident, $deadline:ident| $body:block
    ) => {
        handle_action! {
            $(#[$meta])*
            pub struct $name<'a> { session: &'a mut ClientSession }
            $(#[$tmeta])*
            timeout;
        }

        impl $name<'_> {
            async fn execute(self) -> Result<()> {
                let $deadline = end_deadline(self.session, self.timeout);
                let $session = self.session;
                $body
            }
        }
        into_future!(impl<'a> $name<'a> => ());
    };
}

handle_action! {
    /// Starts a transaction: [`ClientSession::start_transaction`]. `.await` it, or run a whole
    /// transaction with [`and_run`](Self::and_run) / [`and_run2`](Self::and_run2).
    pub struct StartTransaction<'a> { session: &'a mut ClientSession }
    options: TransactionOptions, transaction_setters;
    /// `timeoutMS` of a convenient transaction ([`and_run`](Self::and_run),
    /// [`and_run2`](Self::and_run2)) as a whole: every operation the callback runs in the
    /// session and the commit share it (the operations may not set one of their own: that is
    /// an error), and the transaction is not retried past it. Unset: the session's
    /// [`default_timeout`](crate::options::SessionOptions::default_timeout), else the
    /// client's; without any, retries stop after 120 seconds. A plain `.await` ignores it.
    timeout;
}

impl StartTransaction<'_> {
    async fn execute(self) -> Result<()> {
        start(self.session, self.options)
    }
}
into_future!(impl<'a> StartTransaction<'a> => ());

fn start(session: &mut ClientSession, options: TransactionOptions) -> Result<()> {
    if session.is_snapshot() {
        return Err(Error::new(ErrorKind::Transaction {
            message: "Transactions are not supported in snapshot sessions: start a session \
                      without snapshot(true) for the transaction"
                .into(),
        }));
    }
    let client = session.client();
    let topology = client.topology_description();
    let standalone = topology.topology_type == TopologyType::Single
        && topology
            .servers
            .values()
            .any(|s| s.server_type == ServerType::Standalone);
    if standalone {
        return Err(Error::new(ErrorKind::NotSupported {
            message: "transactions need a replica set or a sharded cluster; this deployment is a \
                      standalone mongod"
                .into(),
        }));
    }
    let defaults = session
        .options()
        .default_transaction_options
        .clone()
        .unwrap_or_default();
    let from_client = TransactionOptions {
        read_concern: client.options().read_concern.clone(),
        write_concern: client.options().write_concern.clone(),
        read_preference: client.options().read_preference.clone(),
        max_commit_time: None,
    };
    let options = options.or(&defaults).or(&from_client);
    session.transaction.start(options)?;
    session.next_txn_number();
    Ok(())
}

/// The deadline of a commit or abort starting now: its own `timeoutMS`, else the convenient
/// transaction's deadline, else the session's `defaultTimeoutMS`; `None`: the client's.
fn end_deadline(session: &ClientSession, timeout: Option<Duration>) -> Option<Deadline> {
    match timeout {
        Some(t) => Deadline::start(Some(t)),
        None => session
            .convenient_deadline
            .or_else(|| Deadline::start(session.options().default_timeout)),
    }
}

ends_transaction! {
    /// Commits a transaction: [`ClientSession::commit_transaction`].
    pub struct CommitTransaction;
    /// `timeoutMS` for this commit, over the session's
    /// [`default_timeout`](crate::options::SessionOptions::default_timeout) and the client's.
    timeout;
    runs: |session, deadline| {
        let again = match session.transaction.commit()? {
            Commit::Nothing => return Ok(()),
            Commit::Send => false,
            Commit::SendAgain => true,
        };
        let options = session.transaction.options();
        let op = EndTransaction::commit(
            options.write_concern.clone(),
            options.max_commit_time,
            again,
        );
        session
            .client()
            .execute_in(op, Some(session), deadline)
            .await
    }
}

ends_transaction! {
    /// Aborts a transaction: [`ClientSession::abort_transaction`].
    pub struct AbortTransaction;
    /// `timeoutMS` for this abort, over the session's
    /// [`default_timeout`](crate::options::SessionOptions::default_timeout) and the client's.
    timeout;
    runs: |session, deadline| {
        if !session.transaction.abort()? {
            return Ok(());
        }
        let wc = session.transaction.options().write_concern.clone();
        let result = session
            .client()
            .execute_in(EndTransaction::abort(wc), Some(&mut *session), deadline)
            .await;
        // Whatever the outcome: the next transaction selects its own server.
        session.transaction.unpin();
        if let Err(e) = result {
            tracing::debug!(
                error = %e,
                "abortTransaction failed; ignored (the server aborts the transaction by itself)"
            );
        }
        Ok(())
    }
}

/// Aborts the transaction of a dropped session, in a copy of it (best effort, bounded).
pub(crate) async fn abort_in_background(mut copy: DetachedSession) {
    let session = copy.session_mut();
    let _ = tokio::time::timeout(BACKGROUND_ABORT_TIMEOUT, async {
        let _ = session.abort_transaction().await;
    })
    .await;
}

/// A uniform number in `[0, 1)` for the backoff's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 1.0;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// The error a convenient transaction ends with when its time is up: under `timeoutMS` the
/// typed timeout, else [`transaction::out_of_time`]; either quotes the last error.
fn out_of_time(deadline: Option<&Deadline>, limit: Duration, last: Option<Error>) -> Error {
    match deadline {
        Some(d) => {
            let mut e = d.expired(&match &last {
                Some(last) => format!("retrying the transaction (the last error: {last})"),
                None => "retrying the transaction".to_owned(),
            });
            if let Some(last) = last {
                e = e.with_source(last);
            }
            e
        }
        None => transaction::out_of_time(limit, last),
    }
}

/// The Convenient API's loop: start, run the callback, commit; retry the whole transaction
/// after a `TransientTransactionError` (with a growing, jittered pause), the commit after an
/// `UnknownTransactionCommitResult`, for at most 120 seconds, or under `timeoutMS` (the
/// action's, the session's default, the client's) until it expires: the callback's
/// operations in the session and the commit share that deadline, an abort after a failed
/// callback gets a `timeoutMS` afresh (CSOT specification, "Convenient Transactions API").
macro_rules! convenient_run {
    ($action:ident, $session:ident => $callback:expr) => {{
        let $session = $action.session;
        let options = $action.options;
        let timeout = $action
            .timeout
            .or($session.options().default_timeout)
            .or($session.client().options().timeout);
        let deadline = Deadline::start(timeout);
        let started = Instant::now();
        let limit = match deadline {
            None => CONVENIENT_TIME_LIMIT,
            Some(d) => d
                .expires()
                .map_or(Duration::MAX, |e| e.saturating_duration_since(started)),
        };
        $session.convenient_deadline = deadline;
        let result = async {
            let mut attempt: u32 = 0;
            let mut last_error: Option<Error> = None;
            loop {
                if attempt > 0 {
                    let pause = transaction::backoff(attempt, jitter());
                    if started.elapsed() + pause >= limit {
                        return Err(out_of_time(deadline.as_ref(), limit, last_error));
                    }
                    tokio::time::sleep(pause).await;
                }
                start(&mut *$session, options.clone())?;
                attempt += 1;
                // One attempt: the callback, then the commit (again while its result is
                // unknown); ends with the value, or with an error and what to do about it.
                let (e, next) = 'attempt: {
                    let value = match $callback {
                        Ok(value) => value,
                        Err(e) => {
                            if $session.transaction.is_active() {
                                // The abort gets a timeoutMS of its own.
                                $session.convenient_deadline = None;
                                let abort = $session.abort_transaction();
                                let aborted = match timeout {
                                    Some(t) => abort.timeout(t).await,
                                    None => abort.await,
                                };
                                $session.convenient_deadline = deadline;
                                aborted?;
                            }
                            let next =
                                transaction::after_callback_error(&e, started.elapsed(), limit);
                            break 'attempt (e, next);
                        }
                    };
                    // The callback committed or aborted by itself.
                    if !$session.transaction.is_active() {
                        return Ok(value);
                    }
                    loop {
                        let Err(e) = $session.commit_transaction().await else {
                            return Ok(value);
                        };
                        match transaction::after_commit_error(&e, started.elapsed(), limit) {
                            AfterError::RetryCommit => continue,
                            next => break 'attempt (e, next),
                        }
                    }
                };
                match next {
                    AfterError::RetryTransaction => last_error = Some(e),
                    AfterError::OutOfTime => {
                        return Err(out_of_time(deadline.as_ref(), limit, Some(e)))
                    }
                    // (RetryCommit is the commit loop's own.)
                    AfterError::Fail | AfterError::RetryCommit => return Err(e),
                }
            }
        }
        .await;
        $session.convenient_deadline = None;
        result
    }};
}

impl StartTransaction<'_> {
    /// Runs a whole transaction: starts it, runs `callback`, commits it. A
    /// `TransientTransactionError` (from the callback or the commit) runs everything again,
    /// after a short growing pause; an `UnknownTransactionCommitResult` commits again; after
    /// 120 seconds of retries the last error is returned inside an
    /// [`ErrorKind::Transaction`] (as its [`source`](std::error::Error::source), its labels
    /// copied). Any other error aborts the transaction and is returned.
    ///
    /// Under `timeoutMS` ([`timeout`](Self::timeout), the session's default, the client's)
    /// the retries stop when it expires, with [`ErrorKind::OperationTimeout`] (its source the
    /// last error); the operations the callback runs **in the session** share the deadline
    /// (one run without the session does not), and setting `.timeout()` on them is an error.
    ///
    /// **The callback may run several times**: keep its side effects to the operations it
    /// runs in the session. Return every error an operation gave it (do not handle them
    /// silently): a failed command may have aborted the transaction on the server, and only
    /// the error tells the loop to start again. `context` is handed to each run, so the
    /// callback need not capture (and move) what it uses; the callback returns a boxed future
    /// (`async move { ... }.boxed()` with `futures::FutureExt`, or `Box::pin(async move {
    /// ... })`). The callback's value is returned.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let coll = client.database("shop").collection::<Document>("orders");
    /// let mut session = client.start_session().await?;
    /// let order = doc! { "item": "pen", "qty": 2 };
    /// let id = session
    ///     .start_transaction()
    ///     .and_run((&coll, &order), |session, (coll, order)| {
    ///         Box::pin(async move {
    ///             let id = coll.insert_one(&**order).session(&mut *session).await?.inserted_id;
    ///             coll.update_one(doc! { "_id": "stats" }, doc! { "$inc": { "orders": 1 } })
    ///                 .upsert(true)
    ///                 .session(session)
    ///                 .await?;
    ///             Ok(id)
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn and_run<R, C, F>(self, mut context: C, mut callback: F) -> Result<R>
    where
        F: for<'b> FnMut(&'b mut ClientSession, &'b mut C) -> BoxFuture<'b, Result<R>>,
    {
        convenient_run!(self, session => callback(&mut *session, &mut context).await)
    }

    /// [`and_run`](Self::and_run) with an async closure that takes the session only
    /// (`async |session| { ... }`), as the official driver's `and_run2`: no context to pass,
    /// no boxing. The same retry rules apply; the closure may run several times, so it cannot
    /// consume what it captures (clone inside it).
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::{doc, Document};
    /// let coll = client.database("shop").collection::<Document>("orders");
    /// let item = "ink".to_string();
    /// let mut session = client.start_session().await?;
    /// let n = session
    ///     .start_transaction()
    ///     .and_run2(async |session| {
    ///         coll.insert_one(doc! { "item": item.clone() }).session(&mut *session).await?;
    ///         coll.count_documents(doc! { "item": item.clone() }).session(session).await
    ///     })
    ///     .await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn and_run2<R, F>(self, mut callback: F) -> Result<R>
    where
        F: for<'b> AsyncFnMut(&'b mut ClientSession) -> Result<R>,
    {
        convenient_run!(self, session => callback(&mut *session).await)
    }
}
