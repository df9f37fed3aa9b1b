//! Connects a client entity's recorder to the crate's monitoring: one callback handler per
//! kind (command, CMAP, SDAM), each turning the crate's events into the runner's shapes.

use std::sync::Arc;
use std::time::Duration;

use bson::Document;
use mongo_x509::event::cmap::{
    CmapEvent as Cmap, ConnectionCheckoutFailedReason, ConnectionClosedReason,
};
use mongo_x509::event::command::CommandEvent as Command;
use mongo_x509::event::sdam::SdamEvent as Sdam;
use mongo_x509::event::EventHandler;
use mongo_x509::options::ClientOptions;
use mongo_x509::{Client, ServerType, TopologyType};

use super::events::{CmapEvent, CommandEvent, CommandKind, Event, Recorder, SdamEvent};

/// Whether the crate reports command, pool and topology events.
pub const AVAILABLE: bool = true;

/// What to add to an error about missing events.
pub fn missing_note() -> &'static str {
    if AVAILABLE {
        ""
    } else {
        " (the crate has no command/CMAP/SDAM event API yet, so no event is observed)"
    }
}

/// Installs the handlers that feed `recorder`; `log` is `observeLogMessages`.
pub fn attach(
    options: &mut ClientOptions,
    recorder: &Arc<Recorder>,
    log: Option<Document>,
) -> Result<(), String> {
    if let Some(log) = log {
        super::logs::observe(recorder, &log)?;
    }
    let r = Arc::clone(recorder);
    options.command_event_handler = Some(EventHandler::callback(move |e: Command| {
        r.record(Event::Command(command(e)))
    }));
    let r = Arc::clone(recorder);
    options.cmap_event_handler = Some(EventHandler::callback(move |e: Cmap| {
        if let Some(e) = cmap(e) {
            r.record(Event::Cmap(e))
        }
    }));
    let r = Arc::clone(recorder);
    options.sdam_event_handler = Some(EventHandler::callback(move |e: Sdam| {
        if let Sdam::TopologyOpening(o) = &e {
            let _ = r.topology_id.set(o.topology_id.to_hex());
        }
        if let Some(e) = sdam(e) {
            r.record(Event::Sdam(e))
        }
    }));
    Ok(())
}

fn command(e: Command) -> CommandEvent {
    match e {
        Command::Started(e) => CommandEvent {
            kind: CommandKind::Started,
            command_name: e.command_name,
            database_name: e.db,
            body: e.command,
            has_service_id: e.service_id.is_some(),
            has_server_connection_id: e.connection.server_id.is_some(),
            failure: None,
        },
        Command::Succeeded(e) => CommandEvent {
            kind: CommandKind::Succeeded,
            command_name: e.command_name,
            database_name: e.db,
            body: e.reply,
            has_service_id: e.service_id.is_some(),
            has_server_connection_id: e.connection.server_id.is_some(),
            failure: None,
        },
        Command::Failed(e) => CommandEvent {
            kind: CommandKind::Failed,
            command_name: e.command_name,
            database_name: e.db,
            body: Document::new(),
            has_service_id: e.service_id.is_some(),
            has_server_connection_id: e.connection.server_id.is_some(),
            failure: Some(e.failure.to_string()),
        },
        // The enum is non-exhaustive; a kind this runner does not know is an empty failure.
        other => CommandEvent {
            kind: CommandKind::Failed,
            command_name: format!("{other:?}"),
            database_name: String::new(),
            body: Document::new(),
            has_service_id: false,
            has_server_connection_id: false,
            failure: Some("an event kind the runner does not know".into()),
        },
    }
}

fn cmap(e: Cmap) -> Option<CmapEvent> {
    Some(match e {
        Cmap::PoolCreated(_) => CmapEvent::PoolCreated,
        Cmap::PoolReady(_) => CmapEvent::PoolReady,
        Cmap::PoolCleared(e) => CmapEvent::PoolCleared {
            has_service_id: e.service_id.is_some(),
            interrupt_in_use_connections: e.interrupt_in_use_connections,
        },
        Cmap::PoolClosed(_) => CmapEvent::PoolClosed,
        Cmap::ConnectionCreated(_) => CmapEvent::ConnectionCreated,
        Cmap::ConnectionReady(_) => CmapEvent::ConnectionReady,
        Cmap::ConnectionClosed(e) => CmapEvent::ConnectionClosed {
            reason: match e.reason {
                ConnectionClosedReason::Stale => "stale",
                ConnectionClosedReason::Idle => "idle",
                ConnectionClosedReason::Error => "error",
                ConnectionClosedReason::PoolClosed => "poolClosed",
                _ => "unknown",
            }
            .into(),
        },
        Cmap::ConnectionCheckoutStarted(_) => CmapEvent::ConnectionCheckOutStarted,
        Cmap::ConnectionCheckoutFailed(e) => CmapEvent::ConnectionCheckOutFailed {
            reason: match e.reason {
                ConnectionCheckoutFailedReason::Timeout => "timeout",
                ConnectionCheckoutFailedReason::ConnectionError => "connectionError",
                ConnectionCheckoutFailedReason::PoolClosed => "poolClosed",
                _ => "unknown",
            }
            .into(),
        },
        Cmap::ConnectionCheckedOut(_) => CmapEvent::ConnectionCheckedOut,
        Cmap::ConnectionCheckedIn(_) => CmapEvent::ConnectionCheckedIn,
        _ => return None,
    })
}

fn sdam(e: Sdam) -> Option<SdamEvent> {
    Some(match e {
        Sdam::ServerDescriptionChanged(e) => SdamEvent::ServerDescriptionChanged {
            previous: server_type(e.previous_description.server_type).into(),
            new: server_type(e.new_description.server_type).into(),
        },
        Sdam::TopologyDescriptionChanged(e) => SdamEvent::TopologyDescriptionChanged {
            previous: topology_type(e.previous_description.topology_type).into(),
            new: topology_type(e.new_description.topology_type).into(),
        },
        Sdam::ServerHeartbeatStarted(e) => SdamEvent::ServerHeartbeatStarted { awaited: e.awaited },
        Sdam::ServerHeartbeatSucceeded(e) => {
            SdamEvent::ServerHeartbeatSucceeded { awaited: e.awaited }
        }
        Sdam::ServerHeartbeatFailed(e) => SdamEvent::ServerHeartbeatFailed { awaited: e.awaited },
        Sdam::TopologyOpening(_) => SdamEvent::TopologyOpening,
        Sdam::TopologyClosed(_) => SdamEvent::TopologyClosed,
        Sdam::ServerOpening(_) => SdamEvent::ServerOpening,
        Sdam::ServerClosed(_) => SdamEvent::ServerClosed,
        _ => return None,
    })
}

/// The SDAM specification's name of a server type.
fn server_type(t: ServerType) -> &'static str {
    match t {
        ServerType::Standalone => "Standalone",
        ServerType::RsPrimary => "RSPrimary",
        ServerType::RsSecondary => "RSSecondary",
        ServerType::RsArbiter => "RSArbiter",
        ServerType::RsOther => "RSOther",
        ServerType::RsGhost => "RSGhost",
        ServerType::Mongos => "Mongos",
        ServerType::LoadBalancer => "LoadBalancer",
        ServerType::PossiblePrimary => "PossiblePrimary",
        _ => "Unknown",
    }
}

/// The SDAM specification's name of a topology type.
fn topology_type(t: TopologyType) -> &'static str {
    match t {
        TopologyType::Single => "Single",
        TopologyType::ReplicaSetNoPrimary => "ReplicaSetNoPrimary",
        TopologyType::ReplicaSetWithPrimary => "ReplicaSetWithPrimary",
        TopologyType::Sharded => "Sharded",
        TopologyType::LoadBalanced => "LoadBalanced",
        _ => "Unknown",
    }
}

/// `awaitMinPoolSizeMS`: waits until every pool holds `minPoolSize` connections.
pub async fn await_min_pool(
    client: &Client,
    _recorder: &Arc<Recorder>,
    limit: Duration,
    min: u32,
) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    let deadline = start + limit;
    loop {
        let pools = client.pool_stats();
        if !pools.is_empty() && pools.iter().all(|p| p.open >= min) {
            return Ok(());
        }
        // A pool fills once its server's first check marks it ready; one that has not begun to
        // open connections two seconds after the client started is stuck: say so now rather
        // than at the deadline.
        let idle = pools
            .iter()
            .all(|p| p.connections_created == 0 && p.pending == 0);
        if idle && start.elapsed() > Duration::from_secs(2) {
            return Err(format!(
                "awaitMinPoolSizeMS: no pool began to open its minPoolSize {min} connections \
                 within 2 s of the client's creation: {pools:?}"
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "awaitMinPoolSizeMS: the pools did not reach minPoolSize {min} within {limit:?}: {pools:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
