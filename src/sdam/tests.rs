use bson::doc;

use super::*;

fn addr(port: u16) -> ServerAddress {
    ServerAddress::Tcp {
        host: "127.0.0.1".into(),
        port: Some(port),
    }
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
    let t = |d: Document| ServerDescription::from_hello_document(addr(1), &d).server_type;
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
    assert_eq!(
        t(doc! {"ok": 1, "isWritablePrimary": true, "serviceId": bson::oid::ObjectId::new()}),
        ServerType::LoadBalancer
    );
    assert_eq!(t(doc! {"ok": 0, "errmsg": "no"}), ServerType::Unknown);
    assert_eq!(t(doc! {}), ServerType::Unknown);
}

#[test]
fn limits_from_hello_with_defaults() {
    let d = ServerDescription::from_hello_document(addr(1), &standalone_hello());
    assert_eq!(d.max_write_batch_size, 1000);
    assert_eq!(d.max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE);
    assert_eq!(d.max_message_size_bytes, DEFAULT_MAX_MESSAGE_SIZE_BYTES);
    assert_eq!(d.max_wire_version, 17);
    let d = ServerDescription::from_hello_document(addr(1), &primary_hello("rs"));
    assert_eq!(d.logical_session_timeout, Some(Duration::from_secs(1800)));
    assert_eq!(d.set_name.as_deref(), Some("rs"));
    assert_eq!(d.hosts, vec!["127.0.0.1:1", "127.0.0.1:2"]);
    // Nonsense limits are ignored rather than trusted.
    let d = ServerDescription::from_hello_document(
        addr(1),
        &doc! {"ok": 1, "maxWriteBatchSize": -5, "maxBsonObjectSize": "big"},
    );
    assert_eq!(d.max_write_batch_size, DEFAULT_MAX_WRITE_BATCH_SIZE);
    assert_eq!(d.max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE);
}

fn single_seed(port: u16, hello: Document, direct: bool) -> TopologyDescription {
    let mut t = TopologyDescription::new(&[addr(port)], direct, None);
    t.update(ServerDescription::from_hello_document(addr(port), &hello));
    t
}

#[test]
fn single_seed_writable_is_selected_for_reads_and_writes() {
    for direct in [false, true] {
        for hello in [standalone_hello(), primary_hello("rs")] {
            let t = single_seed(1, hello, direct);
            assert_eq!(select_server(&t, &SelectionCriteria::Write), Some(addr(1)));
            assert_eq!(
                select_server(&t, &SelectionCriteria::primary_read()),
                Some(addr(1))
            );
        }
    }
    let t = single_seed(
        1,
        doc! {"ok": 1, "isWritablePrimary": true, "msg": "isdbgrid"},
        false,
    );
    assert_eq!(t.topology_type, TopologyType::Sharded);
    assert_eq!(select_server(&t, &SelectionCriteria::Write), Some(addr(1)));
}

#[test]
fn single_seed_secondary_is_refused_with_a_clear_message() {
    for direct in [false, true] {
        let t = single_seed(2, secondary_hello("rs0"), direct);
        assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
        assert_eq!(select_server(&t, &SelectionCriteria::primary_read()), None);
        let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
        assert!(
            msg.contains("127.0.0.1:2 is a secondary of replica set rs0"),
            "{msg}"
        );
        assert!(
            msg.contains("replica-set discovery is not supported yet: connect to the primary"),
            "{msg}"
        );
        assert!(
            msg.contains("127.0.0.1:1"),
            "names the primary it reported: {msg}"
        );
    }
}

#[test]
fn secondary_reads_allowed_with_non_primary_read_preference() {
    let t = single_seed(2, secondary_hello("rs0"), true);
    let rp = ReadPreference {
        mode: ReadPreferenceMode::SecondaryPreferred,
        ..Default::default()
    };
    assert_eq!(
        select_server(&t, &SelectionCriteria::Read(rp)),
        Some(addr(2))
    );
    let t = single_seed(
        2,
        doc! {"ok": 1, "arbiterOnly": true, "setName": "rs0"},
        true,
    );
    let rp = ReadPreference {
        mode: ReadPreferenceMode::Nearest,
        ..Default::default()
    };
    assert_eq!(select_server(&t, &SelectionCriteria::Read(rp)), None);
}

#[test]
fn unknown_topology_selects_nothing_and_explains_errors() {
    let mut t = TopologyDescription::new(&[addr(1), addr(2)], false, None);
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
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
    let mut t = TopologyDescription::new(&[addr(2), addr(1)], false, None);
    t.update(ServerDescription::from_hello_document(
        addr(2),
        &secondary_hello("rs"),
    ));
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
    t.update(ServerDescription::from_hello_document(
        addr(1),
        &primary_hello("rs"),
    ));
    assert_eq!(t.topology_type, TopologyType::ReplicaSetWithPrimary);
    assert_eq!(select_server(&t, &SelectionCriteria::Write), Some(addr(1)));
    let sp = ReadPreference {
        mode: ReadPreferenceMode::Secondary,
        ..Default::default()
    };
    assert_eq!(
        select_server(&t, &SelectionCriteria::Read(sp)),
        Some(addr(2))
    );
    // After a "not primary" error the primary is unknown again and nothing is writable.
    t.mark_unknown(&addr(1), "not primary");
    assert_eq!(t.topology_type, TopologyType::ReplicaSetNoPrimary);
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
}

#[test]
fn replica_set_name_mismatch_is_refused() {
    let mut t = TopologyDescription::new(&[addr(1)], false, Some("want".into()));
    t.update(ServerDescription::from_hello_document(
        addr(1),
        &primary_hello("other"),
    ));
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(
        msg.contains("belongs to replica set \"other\", not to \"want\""),
        "{msg}"
    );

    let mut t = TopologyDescription::new(&[addr(1)], true, Some("want".into()));
    t.update(ServerDescription::from_hello_document(
        addr(1),
        &standalone_hello(),
    ));
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
    let msg = explain_no_suitable_server(&t, &SelectionCriteria::Write);
    assert!(msg.contains("standalone server, not a member"), "{msg}");
}

#[test]
fn standalone_among_several_seeds_is_not_used() {
    let mut t = TopologyDescription::new(&[addr(1), addr(2)], false, None);
    t.update(ServerDescription::from_hello_document(
        addr(1),
        &standalone_hello(),
    ));
    assert_eq!(select_server(&t, &SelectionCriteria::Write), None);
}

#[test]
fn updates_for_servers_outside_the_seed_list_are_ignored() {
    let mut t = TopologyDescription::new(&[addr(1)], false, None);
    t.update(ServerDescription::from_hello_document(
        addr(9),
        &primary_hello("rs"),
    ));
    assert_eq!(t.servers.len(), 1);
    assert!(!t.has_known_servers());
}

#[test]
fn state_change_errors() {
    assert!(is_state_change_error(10107, "not primary"));
    assert!(is_state_change_error(91, "shutting down"));
    assert!(is_state_change_error(1, "node is recovering"));
    assert!(!is_state_change_error(11000, "duplicate key"));
    assert!(is_shutdown_error(11600));
    assert!(!is_shutdown_error(10107));
}
