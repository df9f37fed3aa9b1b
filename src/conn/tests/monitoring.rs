//! Command events of a connection: authentication redacted, operations in full (the command
//! as sent, the reply, ids, durations), failures, cancellation, and the command log.

use std::io::Write;

use bson::raw::RawDocument;

use super::*;
use crate::event::command::{CommandEvent, CommandMonitor};
use crate::event::EventHandler;
use crate::wire::DocumentSequence;

type Events = Arc<Mutex<Vec<CommandEvent>>>;

fn monitored(opts: EstablishOptions) -> (EstablishOptions, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let opts = EstablishOptions {
        command_monitor: CommandMonitor {
            handler: Some(EventHandler::callback(move |e| {
                sink.lock().unwrap().push(e)
            })),
            log: true,
            topology_id: None,
            operation_id: None,
        },
        ..opts
    };
    (opts, events)
}

/// `(started|succeeded|failed) name [redacted]` per event.
fn summary(events: &Events) -> Vec<String> {
    summary_of(&events.lock().unwrap())
}

fn summary_of(events: &[CommandEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let (kind, redacted) = match e {
                CommandEvent::Started(e) => ("started", e.redacted),
                CommandEvent::Succeeded(e) => ("succeeded", e.redacted),
                CommandEvent::Failed(e) => ("failed", e.redacted),
            };
            let r = if redacted { " redacted" } else { "" };
            format!("{kind} {}{r}", e.command_name())
        })
        .collect()
}

/// A server whose `hello` names connection 42, that refuses the speculative authentication
/// (so `authenticate` runs), and answers `fail` with an error carrying a secret.
async fn server() -> FakeServer {
    FakeServer::with_hello(hello_with(doc! {"connectionId": 42}), |cmd| {
        if cmd.contains_key("authenticate") {
            Reply::Doc(doc! {"dbname": "$external", "user": SUBJECT, "ok": 1})
        } else if cmd.contains_key("saslStart") {
            Reply::Doc(
                doc! {"ok": 0, "code": 18, "codeName": "AuthenticationFailed",
                "errmsg": "secret-in-error", "errorLabels": ["L"]},
            )
        } else if cmd.contains_key("fail") {
            Reply::Doc(doc! {"ok": 0, "code": 2, "codeName": "BadValue", "errmsg": "bad value x"})
        } else if cmd.contains_key("hang") {
            Reply::Silent
        } else {
            Reply::Doc(doc! {"ok": 1, "n": 2})
        }
    })
    .await
}

/// Connection `id` to a fresh [`server`] with `opts`, and the command events it publishes.
async fn monitored_connection(opts: EstablishOptions, id: u32) -> (FakeServer, Connection, Events) {
    let server = server().await;
    let (opts, events) = monitored(opts);
    let conn = establish(&server.address, &opts, id).await.unwrap();
    (server, conn, events)
}

#[tokio::test]
async fn authentication_is_published_redacted_then_commands_as_sent() {
    bounded(async {
        let (server, mut conn, events) = monitored_connection(x509_client(), 7).await;
        assert_eq!(
            summary(&events),
            [
                "started hello redacted",
                "succeeded hello redacted",
                "started authenticate redacted",
                "succeeded authenticate redacted",
            ],
            "the speculative hello and authenticate, redacted"
        );
        for e in events.lock().unwrap().iter() {
            match e {
                CommandEvent::Started(e) => assert!(e.command.is_empty(), "{e:?}"),
                CommandEvent::Succeeded(e) => assert!(e.reply.is_empty(), "{e:?}"),
                other => panic!("{other:?}"),
            }
        }
        events.lock().unwrap().clear();

        let seq =
            DocumentSequence::from_documents("documents", &[doc! {"_id": 1}, doc! {"_id": 2}])
                .unwrap();
        let time = bson::rawdoc! { "clusterTime": bson::Timestamp { time: 1, increment: 2 } };
        let cluster_time: &RawDocument = &time;
        conn.command_with_sequences("shop", doc! {"insert": "items"}, &[seq], Some(cluster_time))
            .await
            .unwrap();
        let events = events.lock().unwrap();
        let (CommandEvent::Started(started), CommandEvent::Succeeded(done)) =
            (&events[0], &events[1])
        else {
            panic!("{events:?}");
        };
        assert_eq!(
            started.command,
            doc! {
                "insert": "items",
                "$clusterTime": { "clusterTime": bson::Timestamp { time: 1, increment: 2 } },
                "$db": "shop",
                "documents": [{"_id": 1}, {"_id": 2}],
            },
            "exactly what was sent"
        );
        assert_eq!(
            (started.db.as_str(), started.command_name.as_str()),
            ("shop", "insert")
        );
        assert_eq!(started.request_id, done.request_id);
        assert_eq!(started.connection.id, 7);
        assert_eq!(started.connection.server_id, Some(42));
        assert_eq!(started.connection.address, server.address);
        assert!(!started.redacted && !done.redacted);
        assert_eq!(done.reply, doc! {"ok": 1, "n": 2});
        assert!(done.duration > Duration::ZERO);
        assert_eq!(events.len(), 2);
    })
    .await
}

#[tokio::test]
async fn failures_are_published_and_sensitive_ones_redacted() {
    bounded(async {
        let (_server, mut conn, events) =
            monitored_connection(EstablishOptions::default(), 1).await;
        assert!(
            events.lock().unwrap().is_empty(),
            "a handshake without authentication is not published"
        );
        conn.command("db", doc! {"fail": 1}).await.unwrap_err();
        conn.command("admin", doc! {"saslStart": 1, "payload": "secret-payload"})
            .await
            .unwrap_err();
        let events = events.lock().unwrap();
        assert_eq!(
            summary_of(&events),
            [
                "started fail",
                "failed fail",
                "started saslStart redacted",
                "failed saslStart redacted"
            ]
        );
        let CommandEvent::Failed(plain) = &events[1] else {
            panic!()
        };
        assert!(plain.failure.to_string().contains("bad value x"));
        let CommandEvent::Started(sasl) = &events[2] else {
            panic!()
        };
        assert!(sasl.command.is_empty());
        let CommandEvent::Failed(sasl) = &events[3] else {
            panic!()
        };
        assert_eq!(
            command_error(&sasl.failure),
            (18, "AuthenticationFailed", ""),
            "the message is redacted"
        );
        assert_eq!(sasl.failure.labels(), ["L"]);
        let all = format!("{events:?}");
        assert!(!all.contains("secret"), "{all}");
    })
    .await
}

#[tokio::test]
async fn a_command_dropped_mid_flight_still_gets_its_failed_event() {
    bounded(async {
        let (_server, mut conn, events) =
            monitored_connection(EstablishOptions::default(), 1).await;
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            conn.command("db", doc! {"hang": 1}),
        )
        .await;
        assert!(cancelled.is_err(), "the server never answers");
        let events = events.lock().unwrap();
        assert_eq!(summary_of(&events), ["started hang", "failed hang"]);
        let (CommandEvent::Started(s), CommandEvent::Failed(f)) = (&events[0], &events[1]) else {
            panic!()
        };
        assert_eq!(s.request_id, f.request_id);
        assert!(f.failure.to_string().contains("cancelled"), "{}", f.failure);
    })
    .await
}

/// Collects what a `tracing` subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn commands_are_logged_but_not_the_handshake_or_authentication() {
    bounded(async {
        let server = server().await;
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // Logs only: no handler.
        let topology = bson::oid::ObjectId::new();
        let opts = EstablishOptions {
            command_monitor: CommandMonitor {
                handler: None,
                log: true,
                topology_id: Some(topology),
                operation_id: None,
            },
            ..x509_client()
        };
        let mut conn = establish(&server.address, &opts, 3).await.unwrap();
        // Other tests hit the same log callsites on other threads with no subscriber; one whose
        // registration raced with `set_default` above keeps a cached "never" (tracing caches a
        // callsite's interest). Recompute it now that every registration has finished. An
        // application sets its subscriber before it logs, so this is the tests' problem only.
        tracing::callsite::rebuild_interest_cache();
        conn.command("shop", doc! {"count": "items"}).await.unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let commands: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("mongo_x509::command"))
            .collect();
        assert_eq!(commands.len(), 2, "{text}");
        assert!(commands[0].contains("Command started"), "{text}");
        assert!(
            commands[0].contains(r#"command={"count":"items","$db":"shop"}"#),
            "{text}"
        );
        assert!(
            commands[0].contains("commandName=count")
                && commands[0].contains("driverConnectionId=3")
        );
        assert!(commands[0].contains("serverConnectionId=42"), "{text}");
        assert!(commands[1].contains("Command succeeded") && commands[1].contains("durationMS="));
        // Each message names the client's topology, which tells two clients' logs apart.
        let id = format!("topologyId=\"{}\"", topology.to_hex());
        assert!(commands.iter().all(|c| c.contains(&id)), "{id}: {text}");
        assert!(
            !text.contains("authenticate") && !text.contains("hello"),
            "{text}"
        );
    })
    .await
}
