//! Session operations: ending a session, transactions (explicit and the convenient API), and a
//! snapshot session's time.

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongo_x509::error::Error;
use mongo_x509::options::TransactionOptions;
use mongo_x509::{ClientSession, TransactionState};

use super::{Args, OpResult, Outcome};
use crate::unified::entities::{ClientEntity, SessionEntity};
use crate::unified::events::{CommandKind, Event};
use crate::unified::runner::{run_operation_keeping_error, TestCtx};
use crate::unified::spec::Operation;

/// How many `abortTransaction` commands the client started for the session `lsid`.
fn abort_started(client: &ClientEntity, lsid: &Document) -> usize {
    client
        .recorder
        .events()
        .iter()
        .filter(|e| {
            matches!(e, Event::Command(c) if c.kind == CommandKind::Started
                && c.command_name == "abortTransaction"
                && c.body.get_document("lsid").ok() == Some(lsid))
        })
        .count()
}

pub async fn run(name: &str, mut a: Args, s: &SessionEntity, ctx: &TestCtx) -> OpResult {
    match name {
        "endSession" => {
            a.finish()?;
            // Dropping the session returns its server session to the pool (or discards it when
            // dirty); the lsid stays known for matching.
            let ended = s.lock().await.take();
            let in_progress = ended
                .as_ref()
                .is_some_and(|s| s.transaction_state() == TransactionState::InProgress);
            let started = |c: &ClientEntity| abort_started(c, &s.lsid);
            let client = ctx.client(&s.client)?;
            let before = started(&client);
            drop(ended);
            // A transaction in progress is aborted in the background by the drop: the test's
            // expected events include that abortTransaction, so wait for it to start (when
            // command events are observed), as an application would see it later.
            if in_progress
                && client
                    .recorder
                    .observe
                    .events
                    .contains("commandStartedEvent")
            {
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                loop {
                    let notified = client.recorder.changed.notified();
                    if started(&client) > before {
                        break;
                    }
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Err("endSession: the transaction in progress was not aborted \
                                    within 5 s of the session's drop"
                            .into());
                    }
                }
            }
            Ok(Ok(Outcome::None))
        }
        "startTransaction" => {
            let options = transaction_options(&mut a)?;
            a.finish()?;
            let mut g = s.lock().await;
            let session = g.as_mut().ok_or("the session was ended")?;
            Ok(session
                .start_transaction()
                .with_options(options)
                .await
                .map(|()| Outcome::None))
        }
        "commitTransaction" | "abortTransaction" => {
            a.finish()?;
            let mut g = s.lock().await;
            let session = g.as_mut().ok_or("the session was ended")?;
            let r = if name == "commitTransaction" {
                session.commit_transaction().await
            } else {
                session.abort_transaction().await
            };
            Ok(r.map(|()| Outcome::None))
        }
        "withTransaction" => with_transaction(a, s, ctx).await,
        "getSnapshotTime" => {
            a.finish()?;
            let g = s.lock().await;
            let session = g.as_ref().ok_or("the session was ended")?;
            let ts = session
                .snapshot_time()
                .ok_or("getSnapshotTime: the session has no snapshot time (not a snapshot session, or no read yet)")?;
            Ok(Ok(Outcome::Value(Bson::Timestamp(ts))))
        }
        other => Err(format!(
            "session operation {other}: not in the crate's API (or this runner) yet"
        )),
    }
}

/// `readConcern`, `writeConcern`, `readPreference`, `maxCommitTimeMS` of a transaction (an
/// operation's arguments, or a session's `defaultTransactionOptions`).
pub fn transaction_options(a: &mut Args) -> Result<TransactionOptions, String> {
    let mut o = TransactionOptions::default();
    o.read_concern = a.read_concern()?;
    o.write_concern = a.write_concern()?;
    o.read_preference = a.read_preference()?;
    o.max_commit_time = a.millis("maxCommitTimeMS")?;
    Ok(o)
}

/// What the `withTransaction` callback works with, each time the crate runs it.
struct Callback<'a> {
    ctx: &'a TestCtx,
    entity: SessionEntity,
    operations: Vec<Operation>,
    /// A session that stands in the crate's `&mut ClientSession` while the real one is lent
    /// to its entity (the callback's operations find the session through the entity map).
    spare: Option<ClientSession>,
    /// The first assertion that failed inside the callback: the test's failure.
    failure: Option<String>,
}

impl Callback<'_> {
    /// Runs the operations with `session` lent to its entity; the first error ends the run and
    /// goes to the crate's loop, whether the operation expected it or not (the format's rule).
    async fn run(&mut self, session: &mut ClientSession) -> mongo_x509::error::Result<()> {
        let spare = self
            .spare
            .take()
            .expect("the spare session is back after each run");
        let real = std::mem::replace(session, spare);
        *self.entity.lock().await = Some(real);
        let mut result = Ok(());
        for op in &self.operations {
            match run_boxed(op, self.ctx).await {
                Ok(None) => {}
                Ok(Some(e)) => {
                    result = Err(e);
                    break;
                }
                Err(failure) => {
                    self.failure
                        .get_or_insert(format!("in the callback, {}: {failure}", op.name));
                    result = Err(Error::internal(
                        "an assertion of the unified runner failed in the callback",
                    ));
                    break;
                }
            }
        }
        match self.entity.lock().await.take() {
            Some(real) => self.spare = Some(std::mem::replace(session, real)),
            None => {
                self.failure
                    .get_or_insert("the callback ended its own session".into());
                // The crate keeps the spare; its commit fails on that session's state.
            }
        }
        result
    }
}

async fn with_transaction(mut a: Args, s: &SessionEntity, ctx: &TestCtx) -> OpResult {
    let operations = match a.req("callback")? {
        Bson::Array(ops) => ops
            .into_iter()
            .map(|o| match o {
                Bson::Document(d) => bson::from_document::<Operation>(d)
                    .map_err(|e| format!("withTransaction: a callback operation: {e}")),
                other => Err(format!(
                    "withTransaction: callback holds operations, not {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "withTransaction: callback must be an array, not {other}"
            ))
        }
    };
    let options = transaction_options(&mut a)?;
    a.finish()?;
    let client = ctx.client(&s.client)?.client;
    let spare = client
        .start_session()
        .await
        .map_err(|e| format!("withTransaction: a spare session: {e}"))?;
    let mut session = s.lock().await.take().ok_or("the session was ended")?;
    let mut cb = Callback {
        ctx,
        entity: s.clone(),
        operations,
        spare: Some(spare),
        failure: None,
    };
    let result = session
        .start_transaction()
        .with_options(options)
        .and_run(&mut cb, |session, cb| Box::pin(cb.run(session)))
        .await;
    *s.lock().await = Some(session);
    if let Some(failure) = cb.failure {
        return Err(failure);
    }
    Ok(result.map(|()| Outcome::None))
}

/// The callback's operations, boxed as `Send`: the recursion (an operation running operations)
/// needs a named future type.
fn run_boxed<'a>(
    op: &'a Operation,
    ctx: &'a TestCtx,
) -> BoxFuture<'a, Result<Option<Error>, String>> {
    Box::pin(run_operation_keeping_error(op, ctx))
}

/// `sessionOptions` of a session entity.
pub fn session_options(o: Document, ctx: &TestCtx) -> Result<mongo_x509::SessionOptions, String> {
    let mut a = Args::from_doc("sessionOptions", o);
    let mut options = mongo_x509::SessionOptions::default();
    options.causal_consistency = a.bool("causalConsistency")?;
    options.snapshot = a.bool("snapshot")?;
    if let Some(name) = a.str("snapshotTime")? {
        // The name of the entity holding the time (from getSnapshotTime).
        options.snapshot_time = match ctx.entity(&name)? {
            crate::unified::entities::Entity::Bson(Bson::Timestamp(t)) => Some(t),
            other => {
                return Err(format!(
                    "snapshotTime {name} is a {}, not a timestamp",
                    other.kind()
                ))
            }
        };
    }
    if let Some(d) = a.doc("defaultTransactionOptions")? {
        let mut t = Args::from_doc("defaultTransactionOptions", d);
        options.default_transaction_options = Some(transaction_options(&mut t)?);
        t.finish()?;
    }
    a.finish()?;
    Ok(options)
}
