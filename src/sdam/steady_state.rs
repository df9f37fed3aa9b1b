//! A reply that says nothing new only refreshes the server's timings; it must leave the
//! topology exactly as running every transition again would.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Document};

use super::*;
use crate::options::ServerAddress;

fn addr(port: u16) -> ServerAddress {
    ServerAddress::Tcp {
        host: "db".into(),
        port: Some(port),
    }
}

fn hello(port: u16, reply: &Document, tick: u64) -> ServerDescription {
    let rtt = Duration::from_millis(1 + tick % 7);
    let mut reply = reply.clone();
    // Every real heartbeat carries a new lastWriteDate.
    reply.insert(
        "lastWrite",
        doc! { "lastWriteDate": bson::DateTime::from_millis(1_000 * tick as i64) },
    );
    ServerDescription::from_hello(addr(port), &reply, Some(rtt), Duration::from_secs(tick)).unwrap()
}

fn member(set: &str, port: u16, role: &str, hosts: &[u16]) -> Document {
    let hosts: Vec<String> = hosts.iter().map(|p| format!("db:{p}")).collect();
    let mut d = doc! {
        "ok": 1, "setName": set, "hosts": hosts, "me": format!("db:{port}"),
        "primary": "db:1", "maxWireVersion": 21, "logicalSessionTimeoutMinutes": 30,
    };
    match role {
        "primary" => {
            d.insert("isWritablePrimary", true);
            d.insert("setVersion", 1);
            d.insert("electionId", ObjectId::from_bytes([0; 12]));
        }
        _ => {
            d.insert("secondary", true);
        }
    }
    d
}

/// The state the two paths must agree on: everything but the timings.
fn assert_same(fast: &TopologyDescription, full: &TopologyDescription, step: &str) {
    assert_eq!(fast.topology_type, full.topology_type, "{step}");
    assert_eq!(fast.set_name, full.set_name, "{step}");
    assert_eq!(fast.max_set_version, full.max_set_version, "{step}");
    assert_eq!(fast.max_election_id, full.max_election_id, "{step}");
    assert_eq!(fast.compatibility_error, full.compatibility_error, "{step}");
    assert_eq!(
        fast.logical_session_timeout, full.logical_session_timeout,
        "{step}"
    );
    assert_eq!(
        fast.servers.keys().collect::<Vec<_>>(),
        full.servers.keys().collect::<Vec<_>>(),
        "{step}"
    );
    for (key, s) in &fast.servers {
        assert!(s.same_state(&full.servers[key]), "{step}: {key}");
        // The timings are the latest ones in both.
        assert_eq!(
            s.round_trip_time, full.servers[key].round_trip_time,
            "{step}"
        );
        assert_eq!(
            s.last_write_date, full.servers[key].last_write_date,
            "{step}"
        );
    }
}

#[test]
fn an_unchanged_reply_refreshes_the_timings_only() {
    let mut t = TopologyDescription::new(&[addr(1)], None, None, false);
    let reply = member("rs", 1, "primary", &[1, 2, 3]);
    assert_eq!(t.update(hello(1, &reply, 1)).added.len(), 2);
    let before = t.clone();
    let change = t.update(hello(1, &reply, 2));
    assert_eq!(change, TopologyChange::default());
    let s = t.server(&addr(1)).unwrap();
    assert_eq!(s.round_trip_time, Some(Duration::from_millis(3)));
    assert_eq!(s.last_update_time, Duration::from_secs(2));
    assert_eq!(s.last_write_date, Some(2_000));
    assert!(s.same_state(before.server(&addr(1)).unwrap()));
    // A reply that does say something new is applied in full.
    let change = t.update(hello(1, &member("rs", 1, "primary", &[1, 2]), 3));
    assert_eq!(change.removed, vec![addr(3)]);
}

#[test]
fn a_member_removed_meanwhile_is_added_again_by_the_next_primary_reply() {
    let mut t = TopologyDescription::new(&[addr(1)], None, None, false);
    let primary = member("rs", 1, "primary", &[1, 2]);
    t.update(hello(1, &primary, 1));
    // db:2 says it belongs to another set: removed.
    let change = t.update(hello(2, &member("other", 2, "secondary", &[2]), 2));
    assert_eq!(change.removed, vec![addr(2)]);
    // The primary still lists it: the same reply as before adds it back, as the SDAM rules say.
    let change = t.update(hello(1, &primary, 3));
    assert_eq!(change.added, vec![addr(2)]);
}

#[test]
fn a_possible_primary_is_marked_again_after_it_failed() {
    let mut t = TopologyDescription::new(&[addr(1), addr(2)], None, Some("rs".into()), false);
    let secondary = member("rs", 2, "secondary", &[1, 2]);
    t.update(hello(2, &secondary, 1));
    assert_eq!(
        t.server(&addr(1)).unwrap().server_type,
        ServerType::PossiblePrimary
    );
    t.update(ServerDescription::unknown_with_error(addr(1), "timed out"));
    assert_eq!(t.server(&addr(1)).unwrap().server_type, ServerType::Unknown);
    t.update(hello(2, &secondary, 2));
    assert_eq!(
        t.server(&addr(1)).unwrap().server_type,
        ServerType::PossiblePrimary
    );
}

/// Thousands of replies drawn at random from a set that repeats itself (steady heartbeats,
/// members leaving and coming back, a stepdown, failures, a stale primary, a wrong set name):
/// after each, the topology is the same whether unchanged replies took the short path or
/// every reply ran every transition.
#[test]
fn the_short_path_agrees_with_running_every_transition() {
    let newer_election = {
        let mut d = member("rs", 2, "primary", &[1, 2, 3]);
        d.insert(
            "electionId",
            ObjectId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        );
        d
    };
    let replies: Vec<(u16, Option<Document>)> = vec![
        (1, Some(member("rs", 1, "primary", &[1, 2, 3]))),
        (1, Some(member("rs", 1, "primary", &[1, 2]))),
        (1, Some(member("rs", 1, "primary", &[1, 2, 3, 4]))),
        (1, Some(member("rs", 1, "secondary", &[1, 2, 3]))),
        (2, Some(member("rs", 2, "secondary", &[1, 2, 3]))),
        (2, Some(newer_election)),
        (3, Some(member("rs", 3, "secondary", &[1, 2, 3]))),
        (3, Some(member("other", 3, "secondary", &[3]))),
        (3, Some(member("rs", 9, "secondary", &[1, 2, 3]))),
        (4, Some(member("rs", 4, "secondary", &[1, 2, 3, 4]))),
        (
            4,
            Some(doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 }),
        ),
        (1, None),
        (2, None),
        (3, None),
    ];
    let mut short = 0;
    for seed in 1..=10u64 {
        let mut rng = XorShift64::new(seed);
        let mut fast = TopologyDescription::new(&[addr(1)], None, None, false);
        let mut full = fast.clone();
        let mut pick = 0;
        for tick in 0..400u64 {
            // Half the time the same server says the same again, as heartbeats do.
            if rng.below(2) == 0 {
                pick = rng.below(replies.len());
            }
            let (port, reply) = &replies[pick];
            let d = match reply {
                Some(r) => hello(*port, r, tick),
                None => ServerDescription::unknown_with_error(addr(*port), "connection refused"),
            };
            let step = format!("seed {seed}, step {tick}: db:{port} {reply:?}");
            if fast
                .server(&addr(*port))
                .is_some_and(|s| s.same_state(&d) && fast.is_settled(&addr(*port)))
            {
                short += 1;
            }
            let fast_change = fast.update(d.clone());
            full.forget_settled();
            let full_change = full.update(d);
            assert_eq!(fast_change, full_change, "{step}");
            assert_same(&fast, &full, &step);
        }
    }
    // The short path was taken often enough for the comparison to mean something.
    assert!(short > 500, "{short} short paths");
}
