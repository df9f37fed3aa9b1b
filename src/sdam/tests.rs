use std::time::Duration;

use bson::{doc, Document};

use super::*;
use crate::options::{ReadPreference, ReadPreferenceMode, ServerAddress};

fn addr(port: u16) -> ServerAddress {
    ServerAddress::Tcp {
        host: "127.0.0.1".into(),
        port: Some(port),
    }
}

fn hello(address: ServerAddress, reply: &Document) -> ServerDescription {
    ServerDescription::from_hello(address, reply, None, Duration::ZERO).expect("valid hello")
}

fn select(t: &TopologyDescription, c: &SelectionCriteria) -> Option<ServerAddress> {
    select_server(t, c, &[], |_| 0, &mut |_| 0).expect("valid criteria")
}

fn read(mode: ReadPreferenceMode) -> SelectionCriteria {
    SelectionCriteria::Read(ReadPreference {
        mode,
        ..Default::default()
    })
}

fn primary_hello(set: &str) -> Document {
    doc! {
        "ok": 1.0, "isWritablePrimary": true, "setName": set,
        "hosts": ["127.0.0.1:1", "127.0.0.1:2"], "primary": "127.0.0.1:1",
        "maxWireVersion": 21, "maxBsonObjectSize": 16_777_216, "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000, "logicalSessionTimeoutMinutes": 30,
    }
}

fn secondary_hello(set: &str) -> Document {
    doc! {
        "ok": 1, "isWritablePrimary": false, "secondary": true, "setName": set,
        "hosts": ["127.0.0.1:1", "127.0.0.1:2"], "primary": "127.0.0.1:1", "maxWireVersion": 21,
    }
}

fn standalone_hello() -> Document {
    doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 17, "maxWriteBatchSize": 1000_i64 }
}

#[test]
fn server_types_from_hello() {
    let t = |d: Document| hello(addr(1), &d).server_type;
    assert_eq!(t(standalone_hello()), ServerType::Standalone);
    assert_eq!(t(doc! {"ok": 1, "ismaster": true}), ServerType::Standalone);
    assert_eq!(t(primary_hello("rs")), ServerType::RsPrimary);
    assert_eq!(t(secondary_hello("rs")), ServerType::RsSecondary);
    assert_eq!(
        t(doc! {"ok": 1, "arbiterOnly": true, "setName": "rs"}),
        ServerType::RsArbiter
    );
    assert_eq!(
        t(doc! {"ok": 1, "secondary": true, "hidden": true, "setName": "rs"}),
        ServerType::RsOther
    );
    assert_eq!(t(doc! {"ok": 1, "setName": "rs"}), ServerType::RsOther);
    assert_eq!(t(doc! {"ok": 1, "isreplicaset": true}), ServerType::RsGhost);
    assert_eq!(
        t(doc! {"ok": 1, "isWritablePrimary": true, "msg": "isdbgrid"}),
        ServerType::Mongos
    );
    assert_eq!(t(doc! {"ok": 0, "errmsg": "no"}), ServerType::Unknown);
    assert_eq!(t(doc! {}), ServerType::Unknown);
    let d = hello(addr(1), &doc! {"ok": 0, "errmsg": "auth needed"});
    assert_eq!(d.error.as_deref(), Some("auth needed"));
}

#[test]
fn a_load_balancer_is_known_from_the_options_not_from_hello() {
    let t = TopologyDescription::new(&[addr(1)], None, None, true);
    assert_eq!(t.topology_type, TopologyType::LoadBalanced);
    assert_eq!(
        t.server(&addr(1)).map(|s| s.server_type),
        Some(ServerType::LoadBalancer)
    );
    assert_eq!(select(&t, &SelectionCriteria::Write), Some(addr(1)));
}

#[test]
fn limits_from_hello_with_defaults() {
    let d = hello(addr(1), &standalone_hello());
    assert_eq!(d.max_write_batch_size, 1000);
    assert_eq!(d.max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE);
    assert_eq!(d.max_message_size_bytes, DEFAULT_MAX_MESSAGE_SIZE_BYTES);
    assert_eq!(d.max_wire_version, 17);
    let d = hello(addr(1), &primary_hello("rs"));
    assert_eq!(d.logical_session_timeout, Some(Duration::from_secs(1800)));
    assert_eq!(d.set_name.as_deref(), Some("rs"));
    assert_eq!(d.hosts, vec!["127.0.0.1:1", "127.0.0.1:2"]);
    // A limit that cannot be honoured falls back to the default.
    let d = hello(addr(1), &doc! {"ok": 1, "maxWriteBatchSize": -5});
    assert_eq!(d.max_write_batch_size, DEFAULT_MAX_WRITE_BATCH_SIZE);
}

#[test]
fn wrong_types_in_hello_are_invalid_responses() {
    for bad in [
        doc! {"ok": 1, "maxBsonObjectSize": "big"},
        doc! {"ok": 1, "setName": 5},
        doc! {"ok": 1, "hosts": "a:1"},
        doc! {"ok": 1, "hosts": ["a:1", 2]},
        doc! {"ok": 1, "electionId": "x"},
        doc! {"ok": 1, "topologyVersion": {"processId": 1, "counter": 1}},
        doc! {"ok": 1, "tags": {"dc": 1}},
        doc! {"ok": 1, "isWritablePrimary": "yes"},
        doc! {"ok": 1, "lastWrite": {"lastWriteDate": 5}},
    ] {
        let e = ServerDescription::from_hello(addr(1), &bad, None, Duration::ZERO)
            .expect_err(&format!("{bad} must be refused"));
        assert!(
            matches!(*e.kind, crate::error::ErrorKind::InvalidResponse { .. }),
            "{e}"
        );
    }
}

#[test]
fn hello_fields_are_normalised() {
    let now = Duration::from_secs(7);
    let d = ServerDescription::from_hello(
        addr(1),
        &doc! {
            "ok": 1, "setName": "rs", "secondary": true, "hosts": ["A:1"], "passives": ["B:2"],
            "arbiters": ["C:3"], "me": "X:1", "primary": "A:1", "tags": {"dc": "ny"},
            "lastWrite": {"lastWriteDate": bson::DateTime::from_millis(1234)}, "helloOk": true,
        },
        Some(Duration::from_millis(4)),
        now,
    )
    .expect("valid");
    assert_eq!(d.hosts, ["a:1"]);
    assert_eq!(d.passives, ["b:2"]);
    assert_eq!(d.arbiters, ["c:3"]);
    assert_eq!(d.me.as_deref(), Some("x:1"));
    assert_eq!(d.primary.as_deref(), Some("a:1"));
    assert_eq!(d.tags.get("dc").map(String::as_str), Some("ny"));
    assert_eq!(d.last_write_date, Some(1234));
    assert_eq!(d.last_update_time, now);
    assert_eq!(d.round_trip_time, Some(Duration::from_millis(4)));
    assert!(d.hello_ok);
}

fn single_seed(port: u16, reply: Document, direct: bool) -> TopologyDescription {
    let mut t = TopologyDescription::new(&[addr(port)], direct.then_some(true), None, false);
    t.update(hello(addr(port), &reply));
    t
}

#[test]
fn single_seed_writable_is_selected_for_reads_and_writes() {
    for direct in [false, true] {
        for reply in [standalone_hello(), primary_hello("rs")] {
            let t = single_seed(1, reply, direct);
            assert_eq!(select(&t, &SelectionCriteria::Write), Some(addr(1)));
            assert_eq!(
                select(&t, &SelectionCriteria::primary_read()),
                Some(addr(1))
            );
        }
    }
    let t = single_seed(
        1,
        doc! {"ok": 1, "isWritablePrimary": true, "msg": "isdbgrid", "maxWireVersion": 21},
        false,
    );
    assert_eq!(t.topology_type, TopologyType::Sharded);
    assert_eq!(select(&t, &SelectionCriteria::Write), Some(addr(1)));
}

#[test]
fn a_secondary_seed_without_direct_connection_is_not_used_for_writes() {
    let t = single_seed(2, secondary_hello("rs0"), false);
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
    assert_eq!(select(&t, &SelectionCriteria::primary_read()), None);
    // Discovery added the primary it named, to be checked next.
    assert_eq!(
        t.server(&addr(1)).map(|s| s.server_type),
        Some(ServerType::PossiblePrimary)
    );
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(
        msg.contains("127.0.0.1:2 is a secondary of replica set rs0"),
        "{msg}"
    );
    assert!(msg.contains("no primary is known"), "{msg}");
    assert!(msg.contains("127.0.0.1:1"), "names the primary: {msg}");
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::primary_read());
    assert!(msg.contains("readPreference=secondaryPreferred"), "{msg}");
}

#[test]
fn a_direct_connection_uses_its_server_whatever_its_type() {
    // Server Selection, topology Single: the one server is suitable for reads and writes (a
    // secondary refuses writes itself) and reads ask for primaryPreferred so it answers.
    for reply in [
        secondary_hello("rs0"),
        doc! {"ok": 1, "arbiterOnly": true, "setName": "rs0", "maxWireVersion": 21},
    ] {
        let t = single_seed(2, reply, true);
        assert_eq!(t.topology_type, TopologyType::Single);
        assert_eq!(select(&t, &SelectionCriteria::Write), Some(addr(2)));
        assert_eq!(
            select(&t, &read(ReadPreferenceMode::Nearest)),
            Some(addr(2))
        );
    }
}

#[test]
fn unknown_topology_selects_nothing_and_explains_errors() {
    let mut t = TopologyDescription::new(&[addr(1), addr(2)], None, None, false);
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(msg.contains("has not been reached yet"), "{msg}");
    t.mark_unknown(&addr(1), "connection refused");
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(
        msg.contains("127.0.0.1:1 could not be used: connection refused"),
        "{msg}"
    );
}

#[test]
fn several_seeds_use_the_primary_among_them() {
    let mut t = TopologyDescription::new(&[addr(2), addr(1)], None, None, false);
    t.update(hello(addr(2), &secondary_hello("rs")));
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
    t.update(hello(addr(1), &primary_hello("rs")));
    assert_eq!(t.topology_type, TopologyType::ReplicaSetWithPrimary);
    assert_eq!(select(&t, &SelectionCriteria::Write), Some(addr(1)));
    assert_eq!(
        select(&t, &read(ReadPreferenceMode::Secondary)),
        Some(addr(2))
    );
    // After a "not primary" error the primary is unknown again and nothing is writable.
    t.mark_unknown(&addr(1), "not primary");
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
}

#[test]
fn the_primary_adds_and_removes_members() {
    let mut t = TopologyDescription::new(&[addr(1), addr(9)], None, None, false);
    let change = t.update(hello(addr(1), &primary_hello("rs")));
    assert_eq!(change.added, vec![addr(2)]);
    assert_eq!(change.removed, vec![addr(9)]);
    assert_eq!(t.servers.len(), 2);
}

#[test]
fn replica_set_name_mismatch_is_refused() {
    // Not direct: SDAM removes a server of another set.
    let mut t = TopologyDescription::new(&[addr(1)], None, Some("want".into()), false);
    let change = t.update(hello(addr(1), &primary_hello("other")));
    assert_eq!(change.removed, vec![addr(1)]);
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(msg.contains("no servers are left"), "{msg}");

    // Direct: the server stays, unknown, with an error that says why.
    let mut t = TopologyDescription::new(&[addr(1)], Some(true), Some("want".into()), false);
    t.update(hello(addr(1), &primary_hello("other")));
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(
        msg.contains("belongs to replica set \"other\", not to \"want\""),
        "{msg}"
    );
    t.update(hello(addr(1), &standalone_hello()));
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(msg.contains("standalone server, not a member"), "{msg}");
}

#[test]
fn standalone_among_several_seeds_is_not_used() {
    let mut t = TopologyDescription::new(&[addr(1), addr(2)], None, None, false);
    t.update(hello(addr(1), &standalone_hello()));
    assert!(t.server(&addr(1)).is_none());
    assert_eq!(select(&t, &SelectionCriteria::Write), None);
}

#[test]
fn updates_for_servers_outside_the_topology_are_ignored() {
    let mut t = TopologyDescription::new(&[addr(1)], None, None, false);
    let change = t.update(hello(addr(9), &primary_hello("rs")));
    assert_eq!(change, TopologyChange::default());
    assert_eq!(t.servers.len(), 1);
    assert!(!t.has_known_servers());
}

#[test]
fn wire_versions_out_of_range_make_the_topology_incompatible() {
    let mut t = TopologyDescription::new(&[addr(1)], Some(true), None, false);
    t.update(hello(addr(1), &doc! {"ok": 1, "maxWireVersion": 2}));
    let e = t.compatibility_error.clone().expect("too old");
    assert!(e.contains("requires at least 6"), "{e}");
    assert!(select_server(&t, &SelectionCriteria::Write, &[], |_| 0, &mut |_| 0).is_err());
    t.update(hello(addr(1), &standalone_hello()));
    assert_eq!(t.compatibility_error, None);
}

#[test]
fn state_change_errors() {
    assert!(is_state_change_error(Some(10107), "not primary"));
    assert!(is_state_change_error(Some(91), "shutting down"));
    assert!(is_state_change_error(None, "node is recovering"));
    assert!(is_state_change_error(None, "not master"));
    // A code decides alone: the message is only read without one.
    assert!(!is_state_change_error(Some(1), "node is recovering"));
    assert!(!is_state_change_error(Some(11000), "duplicate key"));
    assert!(is_recovering(None, "not master or secondary"));
    assert!(!is_not_writable_primary(None, "not master or secondary"));
    assert!(is_shutdown_error(Some(11600)));
    assert!(!is_shutdown_error(Some(10107)));
}

fn rs_with_primary() -> TopologyDescription {
    let mut t = TopologyDescription::new(&[addr(1)], None, Some("rs".into()), false);
    t.update(hello(addr(1), &primary_hello("rs")));
    t
}

#[test]
fn application_errors_mark_unknown_and_clear_pools_per_the_rules() {
    let cmd = |code: i32, wire: i32, generation: u32| {
        ApplicationError::new(
            generation,
            ErrorPhase::AfterHandshake,
            ApplicationErrorKind::Command {
                code: Some(code),
                message: "x".into(),
                topology_version: None,
            },
            wire,
        )
    };
    // 4.2+: a step-down keeps the pool; a shutdown clears it.
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &cmd(10107, 8, 0), 0);
    assert!(o.marked_unknown && !o.clear_pool && o.request_check);
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &cmd(91, 8, 0), 0);
    assert!(o.marked_unknown && o.clear_pool);
    // Before 4.2 every state change clears the pool.
    let mut t = rs_with_primary();
    assert!(
        t.handle_application_error(&addr(1), &cmd(189, 7, 0), 0)
            .clear_pool
    );
    // A connection of an older generation says nothing about the server now.
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &cmd(10107, 8, 0), 1);
    assert_eq!(o, ErrorOutcome::default());
    assert_eq!(t.topology_type, TopologyType::ReplicaSetWithPrimary);
    // Other command errors change nothing.
    let o = t.handle_application_error(&addr(1), &cmd(11000, 8, 1), 1);
    assert_eq!(o, ErrorOutcome::default());

    let net = |phase, kind| ApplicationError::new(0, phase, kind, 21);
    let mut t = rs_with_primary();
    let o = t.handle_application_error(
        &addr(1),
        &net(
            ErrorPhase::AfterHandshake,
            ApplicationErrorKind::NetworkTimeout("t".into()),
        ),
        0,
    );
    assert_eq!(o, ErrorOutcome::default());
    let o = t.handle_application_error(
        &addr(1),
        &net(
            ErrorPhase::BeforeHandshake,
            ApplicationErrorKind::Authentication("bad cert".into()),
        ),
        0,
    );
    assert!(o.marked_unknown && o.clear_pool && !o.request_check);
    assert_eq!(
        t.server(&addr(1)).and_then(|s| s.error.clone()).as_deref(),
        Some("bad cert")
    );
    // Load balanced: the server stays, the pool is cleared.
    let mut t = TopologyDescription::new(&[addr(1)], None, None, true);
    let o = t.handle_application_error(
        &addr(1),
        &net(
            ErrorPhase::AfterHandshake,
            ApplicationErrorKind::Network("reset".into()),
        ),
        0,
    );
    assert!(!o.marked_unknown && o.clear_pool);
    assert_eq!(
        t.server(&addr(1)).map(|s| s.server_type),
        Some(ServerType::LoadBalancer)
    );
}

#[test]
fn errors_while_opening_a_connection_follow_the_step_they_happened_in() {
    let err = |phase, kind| ApplicationError::new(0, phase, kind, 21);
    let timeout = || ApplicationErrorKind::NetworkTimeout("timed out".into());
    let reset = || ApplicationErrorKind::Network("connection reset".into());
    // A timeout while connecting or in the `hello` leaves the server as it is (a slow server is
    // not a dead one); during the authentication step it marks it Unknown and clears its pool.
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &err(ErrorPhase::BeforeHandshake, timeout()), 0);
    assert_eq!(o, ErrorOutcome::default());
    let o = t.handle_application_error(&addr(1), &err(ErrorPhase::Authentication, timeout()), 0);
    assert!(o.marked_unknown && o.clear_pool && o.cancel_check, "{o:?}");
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    // A reset at any step of the handshake does too.
    for phase in [ErrorPhase::BeforeHandshake, ErrorPhase::Authentication] {
        let mut t = rs_with_primary();
        let o = t.handle_application_error(&addr(1), &err(phase, reset()), 0);
        assert!(o.marked_unknown && o.clear_pool, "{phase:?}: {o:?}");
    }
    // A refused authentication too, but not once the handshake is over.
    let refused = || ApplicationErrorKind::Authentication("refused".into());
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &err(ErrorPhase::AfterHandshake, refused()), 0);
    assert_eq!(o, ErrorOutcome::default());
    let o = t.handle_application_error(&addr(1), &err(ErrorPhase::Authentication, refused()), 0);
    assert!(o.marked_unknown && o.clear_pool);
    // The error of an attempt started before the pool was cleared is stale.
    let mut t = rs_with_primary();
    let o = t.handle_application_error(&addr(1), &err(ErrorPhase::Authentication, reset()), 1);
    assert_eq!(o, ErrorOutcome::default());
}

#[test]
fn read_preference_documents_follow_the_passing_rules() {
    use ServerType as S;
    use TopologyType as T;
    let rp = |mode| read(mode);
    let primary = SelectionCriteria::primary_read();
    assert_eq!(
        read_preference_document(T::Sharded, S::Mongos, &primary),
        None
    );
    assert_eq!(
        read_preference_document(T::Sharded, S::Mongos, &SelectionCriteria::Write),
        None
    );
    assert_eq!(
        read_preference_document(
            T::Sharded,
            S::Mongos,
            &rp(ReadPreferenceMode::SecondaryPreferred)
        ),
        Some(doc! {"mode": "secondaryPreferred"})
    );
    assert_eq!(
        read_preference_document(T::Single, S::RsSecondary, &primary),
        Some(doc! {"mode": "primaryPreferred"})
    );
    assert_eq!(
        read_preference_document(T::Single, S::Standalone, &rp(ReadPreferenceMode::Nearest)),
        None
    );
    assert_eq!(
        read_preference_document(T::ReplicaSetWithPrimary, S::RsPrimary, &primary),
        None
    );
    let full = SelectionCriteria::Read(ReadPreference {
        mode: ReadPreferenceMode::Nearest,
        tag_sets: vec![[("dc".to_string(), "ny".to_string())].into_iter().collect()],
        max_staleness: Some(Duration::from_secs(120)),
    });
    assert_eq!(
        read_preference_document(T::LoadBalanced, S::LoadBalancer, &full),
        Some(doc! {"mode": "nearest", "tags": [{"dc": "ny"}], "maxStalenessSeconds": 120_i64})
    );
}

fn member(port: u16, t: ServerType, last_write_ms: i64, updated_ms: u64) -> ServerDescription {
    let mut d = ServerDescription::unknown(addr(port));
    d.server_type = t;
    d.last_write_date = Some(last_write_ms);
    d.last_update_time = Duration::from_millis(updated_ms);
    d.round_trip_time = Some(Duration::from_millis(5));
    d
}

fn staleness_topology(tt: TopologyType, servers: Vec<ServerDescription>) -> TopologyDescription {
    let mut t = TopologyDescription::new(&[], None, None, false);
    t.topology_type = tt;
    for s in servers {
        t.servers.insert(s.address.to_string(), s);
    }
    t
}

fn max_staleness(secs: u64) -> SelectionCriteria {
    SelectionCriteria::Read(ReadPreference {
        mode: ReadPreferenceMode::Secondary,
        max_staleness: Some(Duration::from_secs(secs)),
        ..Default::default()
    })
}

#[test]
fn max_staleness_is_validated() {
    let t = staleness_topology(TopologyType::ReplicaSetNoPrimary, vec![]);
    assert!(suitable_servers(&t, &max_staleness(89), &[]).is_err());
    assert!(suitable_servers(&t, &max_staleness(90), &[]).is_ok());
    let mut slow = t.clone();
    slow.heartbeat_frequency = Duration::from_secs(100);
    assert!(suitable_servers(&slow, &max_staleness(109), &[]).is_err());
    assert!(suitable_servers(&slow, &max_staleness(110), &[]).is_ok());
    let primary_with_staleness = ReadPreference {
        max_staleness: Some(Duration::from_secs(120)),
        ..Default::default()
    };
    assert!(validate_max_staleness(&primary_with_staleness, DEFAULT_HEARTBEAT_FREQUENCY).is_err());
}

#[test]
fn max_staleness_filters_stale_secondaries() {
    // With a primary: (S.update - S.write) - (P.update - P.write) + heartbeat (10 s); without
    // one: SMax.write - S.write + heartbeat. Either way server 2 is 90 s stale, server 3 91 s.
    let cases = [
        (
            TopologyType::ReplicaSetWithPrimary,
            vec![
                member(1, ServerType::RsPrimary, 1_000_000, 1_000_000),
                member(2, ServerType::RsSecondary, 1_000_000 - 80_000, 1_000_000),
                member(3, ServerType::RsSecondary, 1_000_000 - 81_000, 1_000_000),
            ],
        ),
        (
            TopologyType::ReplicaSetNoPrimary,
            vec![
                member(2, ServerType::RsSecondary, 500_000, 0),
                member(3, ServerType::RsSecondary, 500_000 - 81_000, 0),
            ],
        ),
    ];
    for (topology_type, members) in cases {
        let t = staleness_topology(topology_type, members);
        let suitable = suitable_servers(&t, &max_staleness(90), &[]).expect("valid");
        let got: Vec<_> = suitable.into_iter().map(|s| s.address.clone()).collect();
        assert_eq!(got, vec![addr(2)], "{topology_type:?}");
    }
}

#[test]
fn the_chooser_prefers_the_less_busy_of_two() {
    let t = staleness_topology(
        TopologyType::Sharded,
        vec![
            member(1, ServerType::Mongos, 0, 0),
            member(2, ServerType::Mongos, 0, 0),
        ],
    );
    let busy = |a: &ServerAddress| if *a == addr(1) { 5 } else { 0 };
    for first in [0, 1] {
        let got = select_server(&t, &SelectionCriteria::Write, &[], busy, &mut |_| first);
        assert_eq!(got.expect("valid"), Some(addr(2)));
    }
}

#[test]
fn rtt_is_a_moving_average() {
    let mut rtt = RttAverage::new();
    assert_eq!(rtt.average(), None);
    assert_eq!(
        rtt.add_sample(Duration::from_millis(10)),
        Duration::from_millis(10)
    );
    let avg = rtt.add_sample(Duration::from_millis(20));
    assert!((avg.as_secs_f64() - 0.012).abs() < 1e-9, "{avg:?}");
    rtt.reset();
    assert_eq!(rtt.average(), None);
}

#[test]
fn rtt_minimum_is_of_the_last_ten_samples_and_needs_two() {
    let mut rtt = RttAverage::new();
    rtt.add_sample(Duration::from_millis(1));
    assert_eq!(rtt.minimum(), None, "one sample is not enough");
    rtt.add_sample(Duration::from_millis(30));
    assert_eq!(rtt.minimum(), Some(Duration::from_millis(1)));
    // Ten larger samples push the 1 ms one out of the window.
    for ms in 20..30 {
        rtt.add_sample(Duration::from_millis(ms));
    }
    assert_eq!(rtt.minimum(), Some(Duration::from_millis(20)));
    rtt.reset();
    assert_eq!(rtt.minimum(), None);
}

#[test]
fn xorshift_stays_in_range_and_moves() {
    let mut r = XorShift64::new(0);
    let draws: Vec<usize> = (0..100).map(|_| r.below(3)).collect();
    assert!(draws.iter().all(|d| *d < 3));
    assert!((0..3).all(|v| draws.contains(&v)));
}

#[test]
fn a_new_primary_demotes_the_old_one() {
    let seeds = [addr(1), addr(2)];
    for (old_wire, cleared) in [(7, true), (8, false)] {
        let mut t = TopologyDescription::new(&seeds, None, Some("rs".into()), false);
        let mut old = primary_hello("rs");
        old.insert("maxWireVersion", old_wire);
        old.insert("electionId", bson::oid::ObjectId::from_bytes([0; 12]));
        old.insert("setVersion", 1);
        t.update(hello(addr(1), &old));
        let mut new = primary_hello("rs");
        new.insert("electionId", bson::oid::ObjectId::from_bytes([1; 12]));
        new.insert("setVersion", 1);
        let change = t.update(hello(addr(2), &new));
        assert_eq!(change.check_now, vec![addr(1)]);
        assert_eq!(
            change.clear_pools.contains(&addr(1)),
            cleared,
            "wire {old_wire}"
        );
        let demoted = t.server(&addr(1)).expect("kept");
        assert_eq!(demoted.server_type, ServerType::Unknown);
        assert_eq!(t.topology_type, TopologyType::ReplicaSetWithPrimary);
        // The old primary answering again as primary with the older electionId is stale.
        t.update(hello(addr(1), &old));
        let stale = t.server(&addr(1)).expect("kept");
        assert_eq!(stale.server_type, ServerType::Unknown);
        assert!(stale
            .error
            .as_deref()
            .is_some_and(|e| e.contains("mismatch")));
    }
}
