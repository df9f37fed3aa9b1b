//! Running one test: initial data, entities, operations, then the event and outcome
//! assertions, and the clean-up that always follows (fail points off, entities dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bson::{doc, Bson, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::options::{Acknowledgment, WriteConcern};
use mongo_x509::Client;

use super::entities::{create_all, ClientEntity, Entity, SessionEntity};
use super::env::Env;
use super::errors;
use super::events::match_events;
use super::matching::{equal_unordered, match_root, match_root_list, show, Entities, MatchCtx};
use super::monitor;
use super::ops::{self, Outcome};
use super::spec::{CollectionData, Operation, TestCase, TestFile};

/// The state of one test: its entity map and the fail points to turn off.
pub struct TestCtx {
    this: Weak<TestCtx>,
    pub env: Arc<Env>,
    entities: Mutex<HashMap<String, Entity>>,
    fail_points: Mutex<Vec<(Client, String)>>,
    /// Event assertions that failed while the crate reports no events: the test goes on, so
    /// the report can tell a test that fails only for want of events from any other.
    missing_events: Mutex<Vec<String>>,
}

/// How the error of a test that failed only on event assertions begins.
pub const EVENTS_ONLY: &str = "only the event assertions failed";

impl TestCtx {
    pub fn new(env: Arc<Env>) -> Arc<TestCtx> {
        Arc::new_cyclic(|this| TestCtx {
            this: this.clone(),
            env,
            entities: Mutex::new(HashMap::new()),
            fail_points: Mutex::new(Vec::new()),
            missing_events: Mutex::new(Vec::new()),
        })
    }

    pub fn arc(&self) -> Arc<TestCtx> {
        self.this.upgrade().expect("the test is running")
    }

    pub fn insert(&self, id: &str, e: Entity) -> Result<(), String> {
        let mut map = self.entities.lock().unwrap();
        if map.contains_key(id) {
            return Err(format!("entity {id} already exists"));
        }
        map.insert(id.to_owned(), e);
        Ok(())
    }

    pub fn entity(&self, id: &str) -> Result<Entity, String> {
        self.entities
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no entity {id}"))
    }

    pub fn client(&self, id: &str) -> Result<ClientEntity, String> {
        match self.entity(id)? {
            Entity::Client(c) => Ok(c),
            other => Err(format!("{id} is a {}, not a client", other.kind())),
        }
    }

    pub fn database(&self, id: &str) -> Result<mongo_x509::Database, String> {
        match self.entity(id)? {
            Entity::Database(d) => Ok(d),
            other => Err(format!("{id} is a {}, not a database", other.kind())),
        }
    }

    pub fn session(&self, id: &str) -> Result<SessionEntity, String> {
        match self.entity(id)? {
            Entity::Session(s) => Ok(s),
            other => Err(format!("{id} is a {}, not a session", other.kind())),
        }
    }

    /// The outcome of an event assertion: a failure ends the test, unless the crate reports no
    /// events at all ([`monitor::AVAILABLE`]); then it is kept and the test goes on.
    pub fn event_assertion(&self, r: Result<(), String>) -> Result<(), String> {
        match r {
            Err(e) if !monitor::AVAILABLE => {
                self.missing_events.lock().unwrap().push(e);
                Ok(())
            }
            r => r,
        }
    }

    /// Matching with this test's entities.
    pub fn match_ctx(&self) -> MatchCtx<'_> {
        MatchCtx { entities: self }
    }

    /// Runs `configureFailPoint` through `client` and remembers to turn it off.
    pub async fn set_fail_point(&self, client: &Client, fp: Document) -> Result<(), String> {
        let name = fp
            .get_str("configureFailPoint")
            .map_err(|_| format!("not a configureFailPoint command: {fp}"))?
            .to_owned();
        client
            .database("admin")
            .run_command(fp.clone())
            .await
            .map_err(|e| format!("configureFailPoint {fp}: {e}"))?;
        self.fail_points
            .lock()
            .unwrap()
            .push((client.clone(), name));
        Ok(())
    }

    async fn disable_fail_points(&self) -> Result<(), String> {
        let fps = std::mem::take(&mut *self.fail_points.lock().unwrap());
        let mut result = Ok(());
        for (client, name) in fps.into_iter().rev() {
            // The internal client: the entity's may be closed by now.
            let _ = client;
            if let Err(e) = self
                .env
                .internal
                .database("admin")
                .run_command(doc! {"configureFailPoint": &name, "mode": "off"})
                .await
            {
                result = Err(format!("turning fail point {name} off: {e}"));
            }
        }
        result
    }

    fn clients(&self) -> Vec<ClientEntity> {
        self.entities
            .lock()
            .unwrap()
            .values()
            .filter_map(|e| match e {
                Entity::Client(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Entities for TestCtx {
    fn bson(&self, id: &str) -> Option<Bson> {
        match self.entity(id).ok()? {
            Entity::Bson(b) => Some(b),
            _ => None,
        }
    }

    fn lsid(&self, id: &str) -> Option<Document> {
        self.session(id).ok().map(|s| s.lsid)
    }
}

/// Runs one test of `file`; `Err` is the first failure.
pub async fn run_test(env: &Arc<Env>, file: &TestFile, test: &TestCase) -> Result<(), String> {
    let ctx = TestCtx::new(env.clone());
    let result = body(&ctx, file, test).await;
    // Clean-up, whatever happened: fail points off, then every entity dropped (sessions end,
    // cursors are killed, clients close).
    let cleanup = ctx.disable_fail_points().await;
    let entities = std::mem::take(&mut *ctx.entities.lock().unwrap());
    for (_, e) in entities {
        if let Entity::Thread(t) = &e {
            let _ = t.wait(std::time::Duration::from_secs(10)).await;
        }
        drop(e);
    }
    let missing = std::mem::take(&mut *ctx.missing_events.lock().unwrap());
    result.and(cleanup)?;
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{EVENTS_ONLY} ({} of them; everything else passed): {first}",
            missing.len()
        )),
    }
}

async fn body(ctx: &TestCtx, file: &TestFile, test: &TestCase) -> Result<(), String> {
    kill_all_sessions(&ctx.env.internal).await?;
    for data in file.initial_data.iter().flatten() {
        initial_data(&ctx.env.internal, data).await?;
    }
    if let Some(list) = &file.create_entities {
        create_all(list, ctx).await?;
    }
    for (i, op) in test.operations.iter().enumerate() {
        run_operation(op, ctx)
            .await
            .map_err(|e| format!("operation [{i}] {} on {}: {e}", op.name, op.object))?;
    }
    for c in ctx.clients() {
        c.recorder.stop();
    }
    ctx.disable_fail_points().await?;
    if let Some(expected) = &test.expect_events {
        let m = ctx.match_ctx();
        for exp in expected {
            let client = ctx.client(&exp.client)?;
            let kind = exp.event_type.as_deref().unwrap_or("command");
            let observed: Vec<_> = client
                .recorder
                .events()
                .into_iter()
                .filter(|e| e.event_type() == kind)
                .collect();
            ctx.event_assertion(
                match_events(
                    &exp.events,
                    &observed,
                    exp.ignore_extra_events.unwrap_or(false),
                    &m,
                )
                .map_err(|e| {
                    format!(
                        "expectEvents ({kind}) for {}: {e}{}",
                        exp.client,
                        monitor::missing_note()
                    )
                }),
            )?;
        }
    }
    for expected in test.expect_log_messages.iter().flatten() {
        let client = ctx.client(expected.get_str("client").unwrap_or_default())?;
        super::logs::check(expected, &client.recorder, &ctx.match_ctx())?;
    }
    if test.expect_tracing_messages.is_some() {
        return Err("expectTracingMessages: the crate has no tracing spans".into());
    }
    for data in test.outcome.iter().flatten() {
        outcome(&ctx.env.internal, data).await?;
    }
    Ok(())
}

/// Ends every session on the server, and with them the transactions an earlier test left open
/// (a failed test, or an abort the server refused): they would block this test's writes.
async fn kill_all_sessions(internal: &Client) -> Result<(), String> {
    const INTERRUPTED: i32 = 11601;
    match internal
        .database("admin")
        .run_command(doc! {"killAllSessions": []})
        .await
    {
        Err(e)
            if !matches!(
                &*e.kind,
                ErrorKind::Command {
                    code: INTERRUPTED,
                    ..
                }
            ) =>
        {
            Err(format!("killAllSessions: {e}"))
        }
        _ => Ok(()),
    }
}

fn majority() -> WriteConcern {
    WriteConcern::builder().w(Acknowledgment::Majority).build()
}

async fn initial_data(internal: &Client, data: &CollectionData) -> Result<(), String> {
    let db = internal.database(&data.database_name);
    let coll = db.collection::<Document>(&data.collection_name);
    coll.drop()
        .write_concern(majority())
        .await
        .map_err(|e| format!("initialData: dropping {}: {e}", data.collection_name))?;
    if let Some(opts) = &data.create_options {
        let mut cmd = doc! {"create": &data.collection_name};
        cmd.extend(opts.clone());
        cmd.insert("writeConcern", doc! {"w": "majority"});
        db.run_command(cmd)
            .await
            .map_err(|e| format!("initialData: creating {}: {e}", data.collection_name))?;
    } else if data.documents.is_empty() {
        db.create_collection(&data.collection_name)
            .write_concern(majority())
            .await
            .map_err(|e| format!("initialData: creating {}: {e}", data.collection_name))?;
    }
    if !data.documents.is_empty() {
        coll.insert_many(&data.documents)
            .write_concern(majority())
            .await
            .map_err(|e| format!("initialData: inserting into {}: {e}", data.collection_name))?;
    }
    Ok(())
}

async fn outcome(internal: &Client, data: &CollectionData) -> Result<(), String> {
    use futures_util::TryStreamExt;
    let coll = internal
        .database(&data.database_name)
        .collection::<Document>(&data.collection_name);
    let actual: Vec<Document> = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .map_err(|e| format!("outcome: reading {}: {e}", data.collection_name))?
        .try_collect()
        .await
        .map_err(|e| format!("outcome: reading {}: {e}", data.collection_name))?;
    let (a, e): (Bson, Bson) = (
        actual
            .iter()
            .cloned()
            .map(Bson::Document)
            .collect::<Vec<_>>()
            .into(),
        data.documents
            .iter()
            .cloned()
            .map(Bson::Document)
            .collect::<Vec<_>>()
            .into(),
    );
    if equal_unordered(&e, &a) {
        Ok(())
    } else {
        Err(format!(
            "outcome of {}.{}: expected {}, found {}",
            data.database_name,
            data.collection_name,
            show(&e),
            show(&a)
        ))
    }
}

/// Runs one operation and checks what it expects.
pub async fn run_operation(op: &Operation, ctx: &TestCtx) -> Result<(), String> {
    run_operation_keeping_error(op, ctx).await.map(|_| ())
}

/// [`run_operation`], also handing back the crate's error the operation ended with, once
/// checked (expected, or ignored by `ignoreResultAndError`): a `withTransaction` callback
/// passes it on to the crate's retry loop, as the format says.
pub async fn run_operation_keeping_error(
    op: &Operation,
    ctx: &TestCtx,
) -> Result<Option<mongo_x509::error::Error>, String> {
    if op.object == "testRunner" {
        return ops::special::run(op, ctx).await.map(|()| None);
    }
    if op.ignore_result_and_error == Some(true)
        && (op.expect_error.is_some()
            || op.expect_result.is_some()
            || op.save_result_as_entity.is_some())
    {
        return Err(
            "ignoreResultAndError excludes expectError, expectResult and saveResultAsEntity".into(),
        );
    }
    let result = ops::run(op, ctx).await?;
    if op.ignore_result_and_error == Some(true) {
        return Ok(result.err());
    }
    let m = ctx.match_ctx();
    match (result, &op.expect_error) {
        (Err(e), Some(expected)) => {
            errors::check(expected, &errors::facts(&e), &m)?;
            Ok(Some(e))
        }
        (Err(e), None) => Err(format!("unexpected error: {e}")),
        (Ok(out), Some(_)) => Err(format!(
            "expected an error, the operation succeeded{}",
            match &out {
                Outcome::Value(v) => format!(" with {}", show(v)),
                Outcome::Docs(d) => format!(" with {}", show(&Bson::Array(d.clone()))),
                _ => String::new(),
            }
        )),
        (Ok(out), None) => {
            if let Some(expected) = &op.expect_result {
                match &out {
                    Outcome::None => match_root(expected, None, &m),
                    Outcome::Value(v) => match_root(expected, Some(v), &m),
                    Outcome::Docs(d) => match_root_list(expected, d, &m),
                    Outcome::Entity(_) => {
                        Err("expectResult on an operation that returns a cursor".into())
                    }
                }
                .map_err(|e| format!("expectResult: {e}"))?;
            }
            if let Some(name) = &op.save_result_as_entity {
                let entity = match out {
                    Outcome::None => return Err(format!("saveResultAsEntity {name}: no result")),
                    Outcome::Value(v) => Entity::Bson(v),
                    Outcome::Docs(d) => Entity::Bson(Bson::Array(d)),
                    Outcome::Entity(e) => e,
                };
                ctx.insert(name, entity)?;
            }
            Ok(None)
        }
    }
}
