//! The event handler, redaction, the command as sent, the log configuration and the topology
//! event rules, without I/O.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, oid::ObjectId};
use tracing::Level;

use super::command::{command_from_message, is_sensitive, redact_error};
use super::log::{config_from, parse_level, truncated_json};
use super::sdam::{same_server, update_events, SdamEvent};
use super::EventHandler;
use crate::error::{Error, ErrorKind};
use crate::options::ServerAddress;
use crate::sdam::{ServerDescription, ServerType, TopologyDescription};
use crate::wire::{self, DocumentSequence, DEFAULT_MAX_MESSAGE_SIZE};

#[test]
fn a_callback_receives_each_event_and_debug_prints_no_closure() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let handler = EventHandler::callback(move |n: u32| sink.lock().unwrap().push(n));
    handler.handle(1);
    handler.clone().handle(2);
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    assert_eq!(format!("{handler:?}"), "EventHandler::Callback(..)");
    assert_eq!(handler, handler.clone(), "a clone is the same handler");
    assert_ne!(handler, EventHandler::callback(|_: u32| {}));
}

#[tokio::test]
async fn a_channel_receives_events_in_order_even_when_full() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let handler: EventHandler<u32> = tx.into();
    for n in 0..2 {
        handler.handle(n);
    }
    // The channel is full: the third is sent from a task once there is room.
    handler.handle(2);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(rx.recv().await.unwrap());
    }
    assert_eq!(got, [0, 1, 2]);
    // A closed channel drops events without failing.
    drop(rx);
    handler.handle(3);
}

#[tokio::test]
async fn an_async_callback_runs_its_future() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = EventHandler::async_callback(move |n: u32| {
        let tx = tx.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            tx.send(n * 10).unwrap();
        })
    });
    handler.handle(4);
    assert_eq!(rx.recv().await, Some(40));
}

#[test]
fn an_async_callback_outside_a_runtime_still_runs() {
    let (tx, rx) = std::sync::mpsc::channel();
    let handler = EventHandler::async_callback(move |n: u32| {
        let tx = tx.clone();
        Box::pin(async move {
            tx.send(n).unwrap();
        })
    });
    handler.handle(7);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
}

#[test]
fn sensitive_commands_are_recognised_without_regard_to_case() {
    let empty = bson::rawdoc! {};
    for name in [
        "authenticate",
        "saslStart",
        "saslcontinue",
        "getnonce",
        "createUser",
        "updateUser",
        "copydbgetnonce",
        "copydbSaslStart",
        "copydb",
    ] {
        assert!(is_sensitive(name, &empty), "{name}");
    }
    assert!(!is_sensitive("find", &empty));
    let speculative = bson::rawdoc! { "hello": 1, "speculativeAuthenticate": { "saslStart": 1 } };
    assert!(is_sensitive("hello", &speculative));
    assert!(is_sensitive("isMaster", &speculative));
    assert!(is_sensitive("ismaster", &speculative));
    assert!(!is_sensitive("hello", &bson::rawdoc! { "hello": 1 }));
}

#[test]
fn a_redacted_server_error_keeps_code_code_name_and_labels_only() {
    let e = Error::new(ErrorKind::Command {
        code: 18,
        code_name: "AuthenticationFailed".into(),
        message: "password s3cr3t is wrong for CN=x".into(),
    })
    .with_reply_details(vec!["Label".into()], Some(doc! { "counter": 1 }));
    let r = redact_error(&e);
    match &*r.kind {
        ErrorKind::Command {
            code,
            code_name,
            message,
        } => {
            assert_eq!((*code, code_name.as_str()), (18, "AuthenticationFailed"));
            assert!(message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.labels(), ["Label"]);
    assert!(!r.to_string().contains("s3cr3t"), "{r}");
    // Not a server error: nothing to redact.
    let io = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    assert_eq!(redact_error(&io).to_string(), io.to_string());
}

#[test]
fn the_command_as_sent_holds_db_and_sequences_as_arrays() {
    let cmd = doc! { "insert": "items", "ordered": true, "$db": "shop" };
    let docs = [doc! { "_id": 1 }, doc! { "_id": 2 }];
    let seq = DocumentSequence::from_documents("documents", &docs).unwrap();
    let message = wire::encode_request(9, &cmd, &[seq], DEFAULT_MAX_MESSAGE_SIZE).unwrap();
    let (body, command) = command_from_message(&message);
    assert_eq!(
        body.and_then(|b| b.iter().next()).map(|e| e.unwrap().0),
        Some("insert")
    );
    assert_eq!(
        command,
        doc! {
            "insert": "items", "ordered": true, "$db": "shop",
            "documents": [{ "_id": 1 }, { "_id": 2 }],
        }
    );
    // A truncated message gives what could be read, never a panic.
    for cut in [0, 10, 21, 30, message.len() - 3] {
        let _ = command_from_message(&message[..cut]);
    }
}

#[test]
fn log_levels_follow_the_logging_specification() {
    assert_eq!(parse_level("off"), Some(None));
    assert_eq!(parse_level("EMERGENCY"), Some(Some(Level::ERROR)));
    assert_eq!(parse_level("notice"), Some(Some(Level::INFO)));
    assert_eq!(parse_level(" debug "), Some(Some(Level::DEBUG)));
    assert_eq!(parse_level("verbose"), None, "invalid: as if unset");

    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    };
    // Nothing set: the subscriber alone decides, documents cut at 1000.
    let (levels, max) = config_from(env(&[]));
    assert_eq!((levels, max), ([None; 4], 1000));
    // A component's variable wins over MONGODB_LOG_ALL; an invalid one counts as unset.
    let (levels, max) = config_from(env(&[
        ("MONGODB_LOG_ALL", "debug"),
        ("MONGODB_LOG_COMMAND", "off"),
        ("MONGODB_LOG_TOPOLOGY", "nonsense"),
        ("MONGODB_LOG_MAX_DOCUMENT_LENGTH", "25"),
    ]));
    assert_eq!(levels[0], Some(None), "command: off");
    assert_eq!(levels[1], Some(Some(Level::DEBUG)), "connection: from ALL");
    assert_eq!(
        levels[3],
        Some(Some(Level::DEBUG)),
        "topology: invalid, so ALL"
    );
    assert_eq!(max, 25);
    let (_, max) = config_from(env(&[("MONGODB_LOG_MAX_DOCUMENT_LENGTH", "-1")]));
    assert_eq!(max, 1000, "invalid length: the default");
}

#[test]
fn documents_are_relaxed_extended_json_cut_on_a_character_boundary() {
    let d = doc! { "a": 1_i64, "id": ObjectId::parse_str("0123456789abcdef01234567").unwrap() };
    assert_eq!(
        truncated_json(&d, 1000),
        r#"{"a":1,"id":{"$oid":"0123456789abcdef01234567"}}"#
    );
    let long = doc! { "s": "é".repeat(20) };
    let full = truncated_json(&long, 1000);
    for max in 0..full.len() {
        let cut = truncated_json(&long, max);
        let text = cut.strip_suffix("...").expect("an ellipsis when cut");
        assert!(text.len() <= max, "{max}: {cut}");
        assert!(max - text.len() < 2, "{max}: cut at the nearest boundary");
        assert!(full.starts_with(text));
    }
    assert_eq!(
        truncated_json(&long, full.len()),
        full,
        "exactly the limit: not cut"
    );
}

fn described(address: &str, server_type: ServerType) -> ServerDescription {
    let mut d = ServerDescription::unknown(ServerAddress::parse(address).unwrap());
    d.server_type = server_type;
    d
}

#[test]
fn a_new_round_trip_time_alone_is_no_change() {
    let a = described("a:27017", ServerType::RsPrimary);
    let mut b = a.clone();
    b.round_trip_time = Some(Duration::from_millis(5));
    b.last_update_time = Duration::from_secs(9);
    assert!(same_server(&a, &b));
    b.hosts = vec!["b:27017".into(), "a:27017".into()];
    let mut c = a.clone();
    c.hosts = vec!["a:27017".into(), "b:27017".into()];
    assert!(same_server(&b, &c), "hosts compare as sets");
    c.error = Some("timed out".into());
    assert!(!same_server(&b, &c), "the error is compared");
}

#[test]
fn an_update_publishes_server_then_closed_and_opened_then_topology() {
    let seeds: Vec<ServerAddress> = ["a:27017", "b:27017"]
        .iter()
        .map(|s| ServerAddress::parse(s).unwrap())
        .collect();
    let before = TopologyDescription::new(&seeds, None, None, false);
    let mut after = before.clone();
    let reply = doc! {
        "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017", "c:27017"],
        "minWireVersion": 0, "maxWireVersion": 21,
    };
    let d = ServerDescription::from_hello(seeds[0].clone(), &reply, None, Duration::ZERO).unwrap();
    after.update(d.clone());
    let id = ObjectId::new();
    let names: Vec<String> = update_events(id, &before, &after, Some(&d))
        .iter()
        .map(|e| match e {
            SdamEvent::ServerDescriptionChanged(e) => format!("changed {}", e.address),
            SdamEvent::ServerClosed(e) => format!("closed {}", e.address),
            SdamEvent::ServerOpening(e) => format!("opening {}", e.address),
            SdamEvent::TopologyDescriptionChanged(_) => "topology".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "changed a:27017",
            "closed b:27017",
            "opening c:27017",
            "topology"
        ]
    );
    // The same again changes nothing.
    assert!(update_events(id, &after, &after.clone(), Some(&d)).is_empty());
}

#[test]
fn a_stale_primary_made_unknown_by_another_members_reply_is_published() {
    let a = ServerAddress::parse("a:27017").unwrap();
    let b = ServerAddress::parse("b:27017").unwrap();
    let mut topology = TopologyDescription::new(&[a.clone(), b.clone()], None, None, false);
    // The description of a primary at `address` with `election` as its electionId.
    let primary = |address: &ServerAddress, election: &str| {
        let hello = doc! {
            "ok": 1, "isWritablePrimary": true, "setName": "rs", "setVersion": 1,
            "electionId": ObjectId::parse_str(election).unwrap(), "me": address.to_string(),
            "hosts": ["a:27017", "b:27017"], "minWireVersion": 0, "maxWireVersion": 21,
        };
        ServerDescription::from_hello(address.clone(), &hello, None, Duration::ZERO).unwrap()
    };
    topology.update(primary(&a, "000000000000000000000001"));
    let before = topology.clone();
    let second = primary(&b, "000000000000000000000002");
    topology.update(second.clone());
    let changes: Vec<(String, ServerType, ServerType)> =
        update_events(ObjectId::new(), &before, &topology, Some(&second))
            .iter()
            .filter_map(|e| match e {
                SdamEvent::ServerDescriptionChanged(c) => Some((
                    c.address.to_string(),
                    c.previous_description.server_type,
                    c.new_description.server_type,
                )),
                _ => None,
            })
            .collect();
    assert_eq!(
        changes,
        [
            (
                "b:27017".to_string(),
                ServerType::Unknown,
                ServerType::RsPrimary
            ),
            (
                "a:27017".to_string(),
                ServerType::RsPrimary,
                ServerType::Unknown
            ),
        ]
    );
}

#[test]
fn only_a_zero_w_makes_a_command_unacknowledged() {
    let raw = |d: bson::Document| bson::RawDocumentBuf::from_document(&d).unwrap();
    for w in [
        bson::Bson::Int32(0),
        bson::Bson::Int64(0),
        bson::Bson::Double(0.0),
    ] {
        let cmd = raw(doc! { "insert": "c", "writeConcern": { "w": w.clone() } });
        assert!(super::command::is_unacknowledged(&cmd), "w: {w}");
    }
    for cmd in [
        doc! { "insert": "c", "writeConcern": { "w": 1 } },
        doc! { "insert": "c", "writeConcern": { "w": "majority" } },
        doc! { "insert": "c", "writeConcern": { "j": true } },
        doc! { "insert": "c" },
    ] {
        assert!(
            !super::command::is_unacknowledged(&raw(cmd.clone())),
            "{cmd}"
        );
    }
}
