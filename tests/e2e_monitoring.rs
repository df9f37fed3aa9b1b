//! Monitoring end to end. Against SecantusDB: the command events of an authentication, an
//! insert, a find with `getMore` and a failed command, in order, with durations and redaction;
//! a connection the server closes (`failCommand` with `closeConnection`) clears the pool and is
//! closed; TLS identity reloads publish identity events. Against the fake replica set: a
//! stepdown publishes the server and topology description changes, and heartbeats.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_deployment::{FakeOptions, FakeReplicaSet};
use common::logs::Captured;
use common::server::server;
use futures_util::TryStreamExt;
use mongo_x509::bson::{doc, Binary, Document};
use mongo_x509::event::cmap::{CmapEvent, ConnectionClosedReason};
use mongo_x509::event::command::CommandEvent;
use mongo_x509::event::identity::{IdentityEvent, ReloadTrigger};
use mongo_x509::event::sdam::{SdamEvent, ServerHeartbeatSucceededEvent};
use mongo_x509::event::EventHandler;
use mongo_x509::options::{ClientOptions, DeleteOneModel, WriteModel};
use mongo_x509::{Client, ServerType, TopologyType};

/// Bound on every wait: a hang is a failure, not a stuck CI job.
const WAIT: Duration = Duration::from_secs(15);

fn backend() -> &'static str {
    if cfg!(feature = "openssl") {
        "openssl"
    } else {
        "native-tls"
    }
}

/// Collects the events of one kind.
struct Recorder<T>(Arc<Mutex<Vec<T>>>);

impl<T: Clone + Send + Sync + 'static> Recorder<T> {
    fn new() -> (Self, EventHandler<T>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let handler = EventHandler::callback(move |e| sink.lock().unwrap().push(e));
        (Self(events), handler)
    }

    fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn snapshot(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until `condition` holds for the events so far.
    async fn wait_for(&self, what: &str, condition: impl Fn(&[T]) -> bool) {
        let start = std::time::Instant::now();
        while !condition(&self.0.lock().unwrap()) {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn options(extra: &str) -> ClientOptions {
    let uri = server().uri(
        "client-pkcs8-aes256.pem",
        &format!(
            "tlsBackend={}&serverSelectionTimeoutMS=20000&{extra}",
            backend()
        ),
    );
    ClientOptions::parse(&uri).await.unwrap()
}

/// `started|succeeded|failed name` per event.
fn summary(events: &[CommandEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = match e {
                CommandEvent::Started(_) => "started",
                CommandEvent::Succeeded(_) => "succeeded",
                CommandEvent::Failed(_) => "failed",
                _ => "other",
            };
            format!("{kind} {}", e.command_name())
        })
        .collect()
}

#[tokio::test]
async fn authentication_insert_find_get_more_and_a_failure_in_order() {
    let (commands, handler) = Recorder::<CommandEvent>::new();
    let mut o = options("appName=monitoring-commands&maxPoolSize=1").await;
    o.command_event_handler = Some(handler);
    let client = Client::with_options(o).unwrap();
    let items = client
        .database("e2e_monitoring")
        .collection::<Document>("items");
    items
        .insert_many((0..5).map(|i| doc! { "i": i }))
        .await
        .unwrap();
    let found: Vec<Document> = items
        .find(doc! {})
        .batch_size(2_u32)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(found.len() >= 5);
    let failure = client
        .database("e2e_monitoring")
        .run_command(doc! { "noSuchCommand": 1 })
        .await;
    assert!(failure.is_err());
    // One operation of two commands: they share an operation id.
    let bulk: [WriteModel; 2] = [
        items.insert_one_model(doc! { "i": 9 }).unwrap().into(),
        DeleteOneModel::builder()
            .namespace(items.namespace())
            .filter(doc! { "i": 9 })
            .build()
            .into(),
    ];
    items.bulk_write(bulk).await.unwrap();
    items.drop().await.unwrap();
    // saslStart as an application would send it: redacted too (last: the
    // server may forget the connection's authentication after it).
    let _ = client
        .database("admin")
        .run_command(doc! {
            "saslStart": 1, "mechanism": "PLAIN",
            "payload": Binary { subtype: mongo_x509::bson::spec::BinarySubtype::Generic, bytes: b"\0user\0sasl-secret".to_vec() },
        })
        .await;

    let events = commands.take();
    let names = summary(&events);
    let gets = names.iter().filter(|n| *n == "started getMore").count();
    assert!(gets >= 2, "5 documents in batches of 2: {names:?}");
    let mut expected: Vec<String> = [
        // The new connection's authentication: the speculative hello, then authenticate
        // (SecantusDB does not answer the speculative X.509 authentication).
        "started hello",
        "succeeded hello",
        "started authenticate",
        "succeeded authenticate",
        "started insert",
        "succeeded insert",
        "started find",
        "succeeded find",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..gets {
        expected.push("started getMore".into());
        expected.push("succeeded getMore".into());
    }
    expected.extend(
        [
            "started noSuchCommand",
            "failed noSuchCommand",
            "started insert",
            "succeeded insert",
            "started delete",
            "succeeded delete",
            "started drop",
            "succeeded drop",
            "started saslStart",
            "failed saslStart",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    assert_eq!(names, expected);

    let mut started = std::collections::HashMap::new();
    for e in &events {
        match e {
            CommandEvent::Started(s) => {
                let sensitive =
                    ["hello", "authenticate", "saslStart"].contains(&s.command_name.as_str());
                assert_eq!(s.redacted, sensitive, "{s:?}");
                if sensitive {
                    assert!(s.command.is_empty(), "{s:?}");
                } else {
                    assert_eq!(s.command.get_str("$db").unwrap(), "e2e_monitoring");
                }
                assert!(s.connection.id >= 1);
                started.insert(s.request_id, s.clone());
            }
            CommandEvent::Succeeded(d) => {
                assert!(d.duration > Duration::ZERO, "{d:?}");
                assert!(started.contains_key(&d.request_id));
                assert_eq!(d.redacted, d.reply.is_empty(), "{d:?}");
            }
            CommandEvent::Failed(f) => {
                assert!(f.duration > Duration::ZERO, "{f:?}");
                assert!(started.contains_key(&f.request_id));
            }
            _ => {}
        }
    }
    // Operation ids: none on the authentication, one per API call on the rest (each getMore
    // its own), shared by the bulk write's two commands, the same on a finished event as on
    // its started one.
    let ids: Vec<(String, Option<i64>)> = events
        .iter()
        .filter_map(|e| match e {
            CommandEvent::Started(s) => Some((s.command_name.clone(), s.operation_id)),
            _ => None,
        })
        .collect();
    for e in &events {
        assert_eq!(e.operation_id(), started[&e.request_id()].operation_id);
    }
    let (auth, rest) = ids.split_at(2);
    assert!(auth.iter().all(|(_, id)| id.is_none()), "{auth:?}");
    assert!(rest.iter().all(|(_, id)| id.is_some()), "{rest:?}");
    let distinct: std::collections::HashSet<_> = rest.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        distinct.len(),
        rest.len() - 1,
        "only the bulk write shares: {ids:?}"
    );
    let n = ids.len();
    assert_eq!(
        ids[n - 4].1,
        ids[n - 3].1,
        "insert and delete of the bulk write: {ids:?}"
    );
    let insert = started
        .values()
        .find(|s| {
            s.command_name == "insert" && s.command.get_array("documents").unwrap().len() == 5
        })
        .unwrap();
    assert_eq!(insert.command.get_array("documents").unwrap().len(), 5);
    assert!(
        insert.command.contains_key("lsid"),
        "the command as sent: {insert:?}"
    );
    let get_more = started
        .values()
        .find(|s| s.command_name == "getMore")
        .unwrap();
    assert_eq!(get_more.command.get_str("collection").unwrap(), "items");
    let all = format!("{events:?}");
    let password = String::from_utf8(common::certs::password()).unwrap();
    for secret in [password.as_str(), "sasl-secret", "MONGODB-X509"] {
        assert!(!all.contains(secret), "{secret} in the events");
    }
}

#[tokio::test]
async fn a_connection_closed_by_the_server_clears_the_pool_and_is_closed() {
    let admin = Client::with_uri_str(server().uri(
        "client-pkcs8-aes256.pem",
        &format!("tlsBackend={}&appName=monitoring-admin", backend()),
    ))
    .await
    .unwrap();
    let (pool, cmap) = Recorder::<CmapEvent>::new();
    let (commands, command_handler) = Recorder::<CommandEvent>::new();
    let app = "monitoring-close";
    let mut o = options(&format!("appName={app}&heartbeatFrequencyMS=60000")).await;
    o.cmap_event_handler = Some(cmap);
    o.command_event_handler = Some(command_handler);
    let client = Client::with_options(o).unwrap();
    let items = client
        .database("e2e_monitoring")
        .collection::<Document>("closing");
    items.insert_one(doc! { "k": 1 }).await.unwrap();
    admin
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand", "mode": { "times": 1 },
            "data": { "failCommands": ["find"], "closeConnection": true, "appName": app },
        })
        .await
        .expect("configureFailPoint (the test server runs with --enable-test-commands)");
    // The read is retried once, on a new connection.
    assert!(items.find_one(doc! { "k": 1 }).await.unwrap().is_some());

    let events = pool.snapshot();
    let cleared = events
        .iter()
        .position(|e| matches!(e, CmapEvent::PoolCleared(_)))
        .unwrap_or_else(|| panic!("no pool cleared event: {events:#?}"));
    let closed = events
        .iter()
        .position(|e| {
            matches!(e, CmapEvent::ConnectionClosed(c) if c.reason == ConnectionClosedReason::Error)
        })
        .unwrap_or_else(|| panic!("no connection closed event: {events:#?}"));
    let ready_again = events
        .iter()
        .rposition(|e| matches!(e, CmapEvent::PoolReady(_)))
        .unwrap();
    assert!(
        ready_again > cleared,
        "the monitor found the server again: {events:#?}"
    );
    // The connection the failed find used is the one closed.
    let commands = commands.snapshot();
    let failed_on = commands
        .iter()
        .find_map(|e| match e {
            CommandEvent::Failed(f) if f.command_name == "find" => Some(f.connection.id),
            _ => None,
        })
        .expect("the first find failed");
    let CmapEvent::ConnectionClosed(c) = &events[closed] else {
        unreachable!()
    };
    assert_eq!(c.connection_id, failed_on);
    // After the clear, a new connection was opened and the retry succeeded on it.
    assert!(events[cleared..]
        .iter()
        .any(|e| matches!(e, CmapEvent::ConnectionReady(r) if r.connection_id != failed_on)));
    assert_eq!(
        summary(&commands)
            .iter()
            .filter(|n| n.ends_with(" find"))
            .collect::<Vec<_>>(),
        [
            "started find",
            "failed find",
            "started find",
            "succeeded find"
        ]
    );
}

#[tokio::test]
async fn a_stepdown_publishes_server_and_topology_description_changes() {
    let rs = FakeReplicaSet::start("rs0", 3, FakeOptions::default());
    let (sdam, handler) = Recorder::<SdamEvent>::new();
    let mut o =
        ClientOptions::parse(rs.uri("client-pkcs8-aes256.pem", "heartbeatFrequencyMS=60000"))
            .await
            .unwrap();
    o.sdam_event_handler = Some(handler);
    let client = Client::with_options(o).unwrap();
    client
        .database("shop")
        .collection::<Document>("items")
        .insert_one(doc! { "n": 1 })
        .await
        .unwrap();
    // Each member's monitor streams: its awaitable hello is published as it starts (the
    // server holds it until something changes).
    sdam.wait_for("streaming heartbeats on every member", |events| {
        events
            .iter()
            .filter(|e| matches!(e, SdamEvent::ServerHeartbeatStarted(h) if h.awaited))
            .count()
            >= 3
    })
    .await;
    let opening = sdam.take();
    // Heartbeats name their monitoring connection: one id per member's connection, never 0,
    // the same on a check's started and finished events.
    let mut monitor_ids = std::collections::HashMap::new();
    for e in &opening {
        let (address, id) = match e {
            SdamEvent::ServerHeartbeatStarted(h) => (&h.server_address, h.driver_connection_id),
            SdamEvent::ServerHeartbeatSucceeded(h) => (&h.server_address, h.driver_connection_id),
            SdamEvent::ServerHeartbeatFailed(h) => (&h.server_address, h.driver_connection_id),
            _ => continue,
        };
        assert_ne!(id, 0, "{e:?}");
        assert_eq!(
            *monitor_ids.entry(address.clone()).or_insert(id),
            id,
            "{e:?}"
        );
    }
    assert_eq!(monitor_ids.len(), 3, "{opening:#?}");
    let distinct: std::collections::HashSet<_> = monitor_ids.values().collect();
    assert_eq!(distinct.len(), 3, "{monitor_ids:?}");
    assert!(
        matches!(opening[0], SdamEvent::TopologyOpening(_)),
        "{opening:#?}"
    );
    assert!(matches!(
        opening[1],
        SdamEvent::TopologyDescriptionChanged(ref t)
            if t.previous_description.servers.is_empty()
                && t.new_description.topology_type == TopologyType::ReplicaSetNoPrimary
    ));
    assert_eq!(
        opening
            .iter()
            .filter(|e| matches!(e, SdamEvent::ServerOpening(_)))
            .count(),
        3
    );

    rs.step_down(1);
    sdam.wait_for("member 1 the primary", |events| {
        events.iter().any(|e| {
            matches!(e, SdamEvent::ServerDescriptionChanged(c)
                if c.new_description.server_type == ServerType::RsPrimary
                    && c.address.to_string() == rs.address(1))
        })
    })
    .await;
    let events = sdam.snapshot();
    let changed = |i: usize, from: ServerType, to: ServerType| {
        events.iter().position(|e| {
            matches!(e, SdamEvent::ServerDescriptionChanged(c)
                if c.address.to_string() == rs.address(i)
                    && c.previous_description.server_type == from
                    && c.new_description.server_type == to)
        })
    };
    let new_primary = changed(1, ServerType::RsSecondary, ServerType::RsPrimary)
        .unwrap_or_else(|| panic!("member 1 promoted: {events:#?}"));
    let topology_after = events[new_primary..].iter().any(|e| {
        matches!(e, SdamEvent::TopologyDescriptionChanged(t)
            if t.new_description.servers.values().any(|s| s.server_type == ServerType::RsPrimary
                && s.address.to_string() == rs.address(1)))
    });
    assert!(topology_after, "the topology changed with it: {events:#?}");
    // The old primary's demotion (streamed or learnt from the new primary) is published too.
    sdam.wait_for("member 0 demoted", |events| {
        events.iter().any(|e| {
            matches!(e, SdamEvent::ServerDescriptionChanged(c)
                if c.address.to_string() == rs.address(0)
                    && c.previous_description.server_type == ServerType::RsPrimary)
        })
    })
    .await;

    client.shutdown().await;
    let last = sdam.snapshot();
    assert!(
        matches!(last.last(), Some(SdamEvent::TopologyClosed(_))),
        "the topology closes last: {:#?}",
        &last[last.len().saturating_sub(5)..]
    );
}

#[tokio::test]
async fn identity_reloads_publish_identity_events() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client.pem");
    std::fs::copy(server().cert("client-pkcs8-aes256.pem"), &key).unwrap();
    let (identity, handler) = Recorder::<IdentityEvent>::new();
    let mut o = options("appName=monitoring-identity").await;
    if let Some(mongo_x509::options::Tls::Enabled(tls)) = &mut o.tls {
        tls.cert_key_file_path = Some(key.clone());
    }
    o.identity_event_handler = Some(handler);
    let client = Client::with_options(o).unwrap();
    client.reload_tls_identity().await.unwrap();
    std::fs::write(&key, b"half-written").unwrap();
    client.reload_tls_identity().await.unwrap_err();
    let events = identity.take();
    match &events[..] {
        [IdentityEvent::Reloaded(ok), IdentityEvent::ReloadFailed(failed)] => {
            assert_eq!(ok.trigger, ReloadTrigger::Call);
            assert_eq!(ok.subject, client.client_subject());
            assert_eq!(ok.previous_subject, ok.subject);
            let not_after = ok.not_after.expect("the backend knows the expiry");
            assert!(not_after > std::time::SystemTime::now());
            assert_eq!(failed.subject, ok.subject, "the identity in use is kept");
            assert_eq!(failed.not_after, ok.not_after);
            let password = String::from_utf8(common::certs::password()).unwrap();
            assert!(!format!("{failed:?}").contains(&password));
        }
        other => panic!("{other:#?}"),
    }
}

/// The server-selection lines printed so far.
fn selection_lines(out: &Captured) -> Vec<String> {
    out.text()
        .lines()
        .filter(|l| l.contains("mongo_x509::server_selection"))
        .map(str::to_owned)
        .collect()
}

/// Server selection logs (Logging and Server Selection specifications): started and succeeded
/// for an operation, with the operation's name, the topology and the server chosen; started,
/// waiting and failed, with the failure, when no server can be found.
#[tokio::test(flavor = "current_thread")]
async fn server_selection_is_logged() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(out.subscriber(tracing::Level::DEBUG));
    // Other tests' threads may have cached "no interest" for these callsites.
    tracing::callsite::rebuild_interest_cache();

    let client = Client::with_options(options("").await).unwrap();
    let admin = client.database("admin");
    let ping = || admin.run_command(doc! { "ping": 1 });
    // The first operation of a new client may find the deployment still unknown and select
    // for its implicit session first ("startSession"); the second selects for itself.
    ping().await.unwrap();
    let before = selection_lines(&out).len();
    // And a callsite that another test's thread registered meanwhile is recomputed.
    tracing::callsite::rebuild_interest_cache();
    ping().await.unwrap();
    let lines = selection_lines(&out).split_off(before);
    let started = lines
        .iter()
        .position(|l| {
            l.contains("Server selection started") && l.contains("operation=\"runCommand\"")
        })
        .unwrap_or_else(|| panic!("no selection started for runCommand: {lines:#?}"));
    let succeeded = &lines[started + 1..]
        .iter()
        .find(|l| {
            l.contains("Server selection succeeded") && l.contains("operation=\"runCommand\"")
        })
        .unwrap_or_else(|| panic!("no selection succeeded for runCommand: {lines:#?}"));
    let port = server().port.to_string();
    for field in [
        "topologyId=",
        "selector=",
        "topologyDescription=",
        "serverHost=",
    ] {
        assert!(succeeded.contains(field), "{field}: {succeeded}");
    }
    assert!(
        succeeded.contains(&format!("serverPort={port}")),
        "{succeeded}"
    );
    client.shutdown().await;

    let unreachable = Client::with_uri_str(
        "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=50&connectTimeoutMS=50",
    )
    .await
    .unwrap();
    let err = unreachable
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_err();
    let lines = selection_lines(&out);
    let last: Vec<&String> = lines.iter().rev().take(3).rev().collect();
    assert!(
        last[0].contains("Server selection started")
            && last[1].contains("Waiting for suitable server to become available")
            && last[1].contains("remainingTimeMS=")
            && last[2].contains("Server selection failed")
            && last[2].contains("failure="),
        "{err}: {lines:#?}"
    );
    unreachable.shutdown().await;
}

/// The SDAM events of a client with `extra` options (a 500 ms heartbeat) that has run one
/// `ping`, once three heartbeats that `counts` accepts have succeeded.
async fn heartbeats(
    extra: &str,
    counts: fn(&ServerHeartbeatSucceededEvent) -> bool,
) -> Vec<SdamEvent> {
    let (sdam, handler) = Recorder::<SdamEvent>::new();
    let mut o = options(&format!("heartbeatFrequencyMS=500&{extra}")).await;
    o.sdam_event_handler = Some(handler);
    let client = Client::with_options(o).unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    sdam.wait_for("three heartbeats", |events| {
        events
            .iter()
            .filter(|e| matches!(e, SdamEvent::ServerHeartbeatSucceeded(h) if counts(h)))
            .count()
            >= 3
    })
    .await;
    // Taken before the shutdown, which ends the check in flight.
    let events = sdam.snapshot();
    client.shutdown().await;
    events
}

/// The monitor reads the server's stream of awaitable `hello` replies (`moreToCome`) one after
/// another without losing step: several streamed heartbeats succeed, none fails, and the
/// server stays known (SecantusDB answers each streamed reply to the request that started the
/// stream, mongod to the previous reply: both keep a stream in step).
#[tokio::test]
async fn streamed_heartbeats_from_the_real_server_all_succeed() {
    let events = heartbeats("", |h| h.awaited).await;
    let failed: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, SdamEvent::ServerHeartbeatFailed(_)))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// `serverMonitoringMode=poll` against a server that can stream: every heartbeat is a plain
/// `hello` (none awaited), a heartbeatFrequencyMS apart.
#[tokio::test]
async fn poll_mode_never_streams() {
    let events = heartbeats("serverMonitoringMode=poll", |_| true).await;
    let awaited: Vec<_> = events
        .into_iter()
        .filter(|e| match e {
            SdamEvent::ServerHeartbeatStarted(h) => h.awaited,
            SdamEvent::ServerHeartbeatSucceeded(h) => h.awaited,
            SdamEvent::ServerHeartbeatFailed(h) => h.awaited,
            _ => false,
        })
        .collect();
    assert!(awaited.is_empty(), "{awaited:#?}");
}
