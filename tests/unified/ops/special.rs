//! The special test operations (`object: testRunner`).

use std::time::Duration;

use bson::Document;
use mongo_x509::error::ErrorKind;
use mongo_x509::{TopologyType, TransactionState};

use super::Args;
use crate::unified::entities::{create_all, Entity};
use crate::unified::events::match_event;
use crate::unified::runner::TestCtx;
use crate::unified::spec::Operation;

/// How long `waitForEvent`, `waitForThread` and `waitForPrimaryChange` wait by default.
const WAIT: Duration = Duration::from_secs(10);

pub async fn run(op: &Operation, ctx: &TestCtx) -> Result<(), String> {
    if op.expect_error.is_some() || op.expect_result.is_some() || op.save_result_as_entity.is_some()
    {
        return Err(format!(
            "{}: a testRunner operation takes no expectError, expectResult or saveResultAsEntity",
            op.name
        ));
    }
    let mut a = Args::new(op);
    match op.name.as_str() {
        "failPoint" => {
            let fp = a.req_doc("failPoint")?;
            let client = ctx.client(&a.req_str("client")?)?;
            // Not an argument of the format's failPoint, yet some transactions files pass the
            // session the fail point is meant for; the fail point is the client's all the same.
            a.str("session")?;
            a.finish()?;
            ctx.set_fail_point(&client.client, fp).await
        }
        "targetedFailPoint" => {
            let fp = a.req_doc("failPoint")?;
            let s = a.session(ctx)?.ok_or("targetedFailPoint needs a session")?;
            a.finish()?;
            let pinned = s
                .lock()
                .await
                .as_ref()
                .ok_or("the session was ended")?
                .is_pinned();
            if !pinned {
                return Err("targetedFailPoint: the session is not pinned".into());
            }
            // Every deployment here has one server: the one the session is pinned to.
            let client = ctx.client(&s.client)?;
            ctx.set_fail_point(&client.client, fp).await
        }
        "assertSessionDirty" | "assertSessionNotDirty" => {
            let s = a.session(ctx)?.ok_or("a session is required")?;
            a.finish()?;
            let dirty = s
                .lock()
                .await
                .as_ref()
                .ok_or("the session was ended")?
                .is_dirty();
            let want = op.name == "assertSessionDirty";
            if dirty == want {
                Ok(())
            } else {
                Err(format!(
                    "expected the session {}dirty",
                    if want { "" } else { "not " }
                ))
            }
        }
        "assertSameLsidOnLastTwoCommands" | "assertDifferentLsidOnLastTwoCommands" => {
            let client = ctx.client(&a.req_str("client")?)?;
            a.finish()?;
            let last = client.recorder.last_started(2);
            if last.len() < 2 {
                return ctx.event_assertion(Err(format!(
                    "{}: fewer than two commandStartedEvents observed{}",
                    op.name,
                    crate::unified::monitor::missing_note()
                )));
            }
            let lsid = |d: &Document| d.get_document("lsid").ok().cloned();
            let (a0, a1) = (lsid(&last[0]), lsid(&last[1]));
            if a0.is_none() || a1.is_none() {
                return Err(format!("{}: a command without lsid: {last:?}", op.name));
            }
            let same = a0 == a1;
            if same == (op.name == "assertSameLsidOnLastTwoCommands") {
                Ok(())
            } else {
                Err(format!("{}: lsids {a0:?} and {a1:?}", op.name))
            }
        }
        "assertSessionPinned" | "assertSessionUnpinned" => {
            let s = a.session(ctx)?.ok_or("a session is required")?;
            a.finish()?;
            let pinned = s
                .lock()
                .await
                .as_ref()
                .ok_or("the session was ended")?
                .is_pinned();
            if pinned == (op.name == "assertSessionPinned") {
                Ok(())
            } else {
                Err(format!(
                    "{}: the session is {}pinned",
                    op.name,
                    if pinned { "" } else { "not " }
                ))
            }
        }
        "assertSessionTransactionState" => {
            let s = a.session(ctx)?.ok_or("a session is required")?;
            let want = a.req_str("state")?;
            a.finish()?;
            let state = s
                .lock()
                .await
                .as_ref()
                .ok_or("the session was ended")?
                .transaction_state();
            let got = match state {
                TransactionState::None => "none",
                TransactionState::Starting => "starting",
                TransactionState::InProgress => "in_progress",
                TransactionState::Committed => "committed",
                TransactionState::Aborted => "aborted",
                _ => "(a state this runner does not know)",
            };
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "expected transaction state {want}, the session's is {got}"
                ))
            }
        }
        "assertNumberConnectionsCheckedOut" => {
            let client = ctx.client(&a.req_str("client")?)?;
            let want = a.i64("connections")?.ok_or("connections is required")?;
            a.finish()?;
            let got: i64 = client
                .client
                .pool_stats()
                .iter()
                .map(|p| i64::from(p.checked_out))
                .sum();
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "expected {want} connections checked out, got {got}"
                ))
            }
        }
        "assertCollectionExists" | "assertCollectionNotExists" => {
            let coll = a.req_str("collectionName")?;
            let db = a.req_str("databaseName")?;
            a.finish()?;
            let names = ctx
                .env
                .internal
                .database(&db)
                .list_collection_names()
                .await
                .map_err(|e| format!("listCollections: {e}"))?;
            let exists = names.contains(&coll);
            if exists == (op.name == "assertCollectionExists") {
                Ok(())
            } else {
                Err(format!("{}: {db}.{coll} (collections: {names:?})", op.name))
            }
        }
        "assertIndexExists" | "assertIndexNotExists" => {
            let coll = a.req_str("collectionName")?;
            let db = a.req_str("databaseName")?;
            let index = a.req_str("indexName")?;
            a.finish()?;
            const NAMESPACE_NOT_FOUND: i32 = 26;
            let names = match ctx
                .env
                .internal
                .database(&db)
                .collection::<Document>(&coll)
                .list_index_names()
                .await
            {
                Ok(names) => names,
                // No collection, no index.
                Err(e)
                    if matches!(
                        &*e.kind,
                        ErrorKind::Command {
                            code: NAMESPACE_NOT_FOUND,
                            ..
                        }
                    ) =>
                {
                    Vec::new()
                }
                Err(e) => return Err(format!("listIndexes: {e}")),
            };
            let exists = names.contains(&index);
            if exists == (op.name == "assertIndexExists") {
                Ok(())
            } else {
                Err(format!(
                    "{}: {index} on {db}.{coll} (indexes: {names:?})",
                    op.name
                ))
            }
        }
        "createEntities" => {
            let list = a.req_docs("entities")?;
            a.finish()?;
            create_all(&list, ctx).await
        }
        "wait" => {
            let ms = a.u64("ms")?.ok_or("ms is required")?;
            a.finish()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        }
        "waitForEvent" | "assertEventCount" => {
            let client = ctx.client(&a.req_str("client")?)?;
            let event = a.req_doc("event")?;
            let count = a.u64("count")?.ok_or("count is required")? as usize;
            a.finish()?;
            let m = ctx.match_ctx();
            let counted = || {
                client
                    .recorder
                    .events()
                    .iter()
                    .filter(|e| match_event(&event, e, &m).is_ok())
                    .count()
            };
            if op.name == "assertEventCount" {
                let n = counted();
                return ctx.event_assertion(if n == count {
                    Ok(())
                } else {
                    Err(format!(
                        "expected {count} events {event}, observed {n}{}",
                        crate::unified::monitor::missing_note()
                    ))
                });
            }
            // Without an event API nothing will come: no point in waiting.
            if !crate::unified::monitor::AVAILABLE && counted() < count {
                return ctx.event_assertion(Err(format!(
                    "waitForEvent: {count} events {event}, observed {}{}",
                    counted(),
                    crate::unified::monitor::missing_note()
                )));
            }
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let notified = client.recorder.changed.notified();
                if counted() >= count {
                    return Ok(());
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Err(format!(
                        "waited {WAIT:?} for {count} events {event}, observed {}{}",
                        counted(),
                        crate::unified::monitor::missing_note()
                    ));
                }
            }
        }
        "runOnThread" => {
            let thread = a.req_str("thread")?;
            let operation = a.req_doc("operation")?;
            a.finish()?;
            let operation: Operation = bson::from_document(operation)
                .map_err(|e| format!("runOnThread: not an operation: {e}"))?;
            match ctx.entity(&thread)? {
                Entity::Thread(t) => t.send(operation),
                other => Err(format!("{thread} is a {}, not a thread", other.kind())),
            }
        }
        "waitForThread" => {
            let thread = a.req_str("thread")?;
            a.finish()?;
            match ctx.entity(&thread)? {
                Entity::Thread(t) => t.wait(WAIT).await,
                other => Err(format!("{thread} is a {}, not a thread", other.kind())),
            }
        }
        "recordTopologyDescription" => {
            let client = ctx.client(&a.req_str("client")?)?;
            let id = a.req_str("id")?;
            a.finish()?;
            ctx.insert(
                &id,
                Entity::TopologyDescription(client.client.topology_description()),
            )
        }
        "assertTopologyType" => {
            let name = a.req_str("topologyDescription")?;
            let want = a.req_str("topologyType")?;
            a.finish()?;
            let Entity::TopologyDescription(t) = ctx.entity(&name)? else {
                return Err(format!("{name} is not a topology description"));
            };
            let got = topology_type_name(t.topology_type);
            if got == want {
                Ok(())
            } else {
                Err(format!("expected topology type {want}, got {got}"))
            }
        }
        "waitForPrimaryChange" => {
            let client = ctx.client(&a.req_str("client")?)?;
            let prior = a.req_str("priorTopologyDescription")?;
            let timeout = a.millis("timeoutMS")?.unwrap_or(WAIT);
            a.finish()?;
            let Entity::TopologyDescription(prior) = ctx.entity(&prior)? else {
                return Err(format!("{prior} is not a topology description"));
            };
            let primary = |t: &mongo_x509::TopologyDescription| {
                t.servers
                    .values()
                    .find(|s| s.server_type == mongo_x509::ServerType::RsPrimary)
                    .map(|s| s.address.clone())
            };
            let before = primary(&prior);
            let mut watch = client.client.watch_topology();
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let now = primary(&client.client.topology_description());
                if now.is_some() && now != before {
                    return Ok(());
                }
                if tokio::time::timeout_at(deadline, watch.changed())
                    .await
                    .is_err()
                {
                    return Err(format!("no new primary within {timeout:?}"));
                }
            }
        }
        "loop" => Err("loop: removed from the format in schema 1.24".into()),
        other => Err(format!("unknown testRunner operation {other}")),
    }
}

fn topology_type_name(t: TopologyType) -> &'static str {
    match t {
        TopologyType::Single => "Single",
        TopologyType::ReplicaSetNoPrimary => "ReplicaSetNoPrimary",
        TopologyType::ReplicaSetWithPrimary => "ReplicaSetWithPrimary",
        TopologyType::Sharded => "Sharded",
        TopologyType::LoadBalanced => "LoadBalanced",
        _ => "Unknown",
    }
}
