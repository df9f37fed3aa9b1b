//! What a server may say about the topology is bounded: no more members than a replica set can
//! have, and no Unix socket anywhere a server names a host.

use std::time::Duration;

use bson::{doc, Bson, Document};

use super::*;
use crate::error::ErrorKind;
use crate::options::ServerAddress;

fn seed() -> ServerAddress {
    ServerAddress::parse("db1:27017").unwrap()
}

fn parse(reply: &Document) -> crate::error::Result<ServerDescription> {
    ServerDescription::from_hello(seed(), reply, None, Duration::ZERO)
}

fn primary(hosts: Vec<String>) -> Document {
    doc! {
        "ok": 1, "isWritablePrimary": true, "setName": "rs", "maxWireVersion": 21,
        "me": "db1:27017", "primary": "db1:27017", "hosts": hosts,
    }
}

fn members(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("db{}:27017", i + 1)).collect()
}

fn assert_invalid(reply: &Document, needle: &str) {
    let e = parse(reply).unwrap_err();
    assert!(
        matches!(&*e.kind, ErrorKind::InvalidResponse { .. }),
        "{reply}: {e}"
    );
    assert!(e.to_string().contains(needle), "{e}");
}

#[test]
fn a_reply_listing_more_members_than_a_replica_set_can_have_is_refused() {
    // Fifty members, the most a replica set has, are all kept.
    let d = parse(&primary(members(MAX_REPLICA_SET_MEMBERS))).unwrap();
    assert_eq!(d.hosts.len(), MAX_REPLICA_SET_MEMBERS);
    let mut topology = TopologyDescription::new(&[seed()], None, None, false);
    let change = topology.update(d);
    assert_eq!(change.added.len(), MAX_REPLICA_SET_MEMBERS - 1);

    // One more, in any of the three lists, and the reply is refused.
    assert_invalid(&primary(members(MAX_REPLICA_SET_MEMBERS + 1)), "51 members");
    let mut split = primary(members(30));
    split.insert("passives", members(15)[..].to_vec());
    split.insert("arbiters", members(6)[..].to_vec());
    assert_invalid(&split, "more than the 50");
    // A hostile list of a hundred thousand names is refused as fast, before any is copied.
    let huge = primary(members(100_000));
    let started = std::time::Instant::now();
    assert_invalid(&huge, "100000 members");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The monitor records a refused reply as an Unknown server with the reason.
    let mut topology = TopologyDescription::new(&[seed()], None, Some("rs".into()), false);
    let error = parse(&huge).unwrap_err().to_string();
    let change = topology.update(ServerDescription::unknown_with_error(seed(), error));
    assert!(change.added.is_empty());
    assert_eq!(topology.servers.len(), 1);
}

#[test]
fn a_unix_socket_named_by_a_server_is_refused() {
    let socket = "/tmp/mongodb-27017.sock";
    for field in ["hosts", "passives", "arbiters"] {
        let mut reply = primary(vec!["db1:27017".into()]);
        reply.insert(field, vec![Bson::from("db2:27017"), Bson::from(socket)]);
        assert_invalid(&reply, socket);
    }
    for field in ["primary", "me"] {
        let mut reply = primary(vec!["db1:27017".into()]);
        reply.insert(field, socket);
        assert_invalid(&reply, socket);
    }
    // Upper case is lower-cased first, as every host is.
    assert_invalid(
        &primary(vec!["db1:27017".into(), "/TMP/M.SOCK".into()]),
        "/tmp/m.sock",
    );
    // A host name that merely ends in .sock (no '/') is a TCP host, as in a connection string.
    let d = parse(&primary(vec![
        "db1:27017".into(),
        "mongodb-27017.sock".into(),
    ]))
    .unwrap();
    assert_eq!(d.hosts[1], "mongodb-27017.sock");

    // The user's own seed may be a socket: its reply is read as usual.
    let seed = ServerAddress::parse(socket).unwrap();
    let d = ServerDescription::from_hello(
        seed.clone(),
        &doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 },
        None,
        Duration::ZERO,
    )
    .unwrap();
    let mut topology = TopologyDescription::new(std::slice::from_ref(&seed), None, None, false);
    topology.update(d);
    assert_eq!(
        topology.server(&seed).unwrap().server_type,
        ServerType::Standalone
    );
}
