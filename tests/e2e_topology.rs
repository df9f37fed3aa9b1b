//! Replica-set discovery against SecantusDB, a one-member replica set named `secantus` whose
//! member calls itself `127.0.0.1:PORT`: seeded with `localhost:PORT`, the client must find
//! the set, follow the member under its own name, and read and write with X.509 and an
//! encrypted key; with `directConnection=true` it keeps to the seed.

#![cfg(any(feature = "openssl", feature = "native-tls"))]

mod common;

use common::server::server;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::ErrorKind;
use mongo_x509::{Client, ServerType, TopologyType};

const KEY: &str = "client-pkcs8-aes256.pem";

#[tokio::test]
async fn a_single_seed_discovers_the_replica_set_and_follows_its_member() {
    let s = server();
    for backend in common::backend_names() {
        let uri = s.uri(
            KEY,
            &format!("tlsBackend={backend}&heartbeatFrequencyMS=500"),
        );
        let client = Client::with_uri_str(&uri).await.unwrap();
        let coll = client
            .database("e2e_topology")
            .collection::<Document>(&format!("discovery_{backend}"));
        coll.insert_one(doc! { "n": 1 }).await.unwrap();
        let found = coll.find_one(doc! { "n": 1 }).await.unwrap();
        assert!(found.is_some(), "{backend}: read back what was written");

        let topology = client.topology_description();
        assert_eq!(
            topology.topology_type,
            TopologyType::ReplicaSetWithPrimary,
            "{backend}: {topology:?}"
        );
        assert_eq!(topology.set_name.as_deref(), Some("secantus"));
        let member = format!("127.0.0.1:{}", s.port);
        let addresses: Vec<String> = topology
            .servers
            .values()
            .map(|d| d.address.to_string())
            .collect();
        assert_eq!(
            addresses,
            std::slice::from_ref(&member),
            "{backend}: the seed localhost is replaced by the member's own name"
        );
        assert_eq!(
            topology.servers.values().next().unwrap().server_type,
            ServerType::RsPrimary
        );
        let stats = client.pool_stats();
        assert_eq!(stats.len(), 1, "{backend}: one pool, for the member");
        assert_eq!(stats[0].address.to_string(), member);
        coll.drop().await.unwrap();
    }
}

#[tokio::test]
async fn direct_connection_keeps_to_the_seed() {
    let s = server();
    let client = Client::with_uri_str(s.uri(KEY, "directConnection=true"))
        .await
        .unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    let topology = client.topology_description();
    assert_eq!(topology.topology_type, TopologyType::Single);
    assert_eq!(topology.servers.len(), 1);
    assert_eq!(
        topology
            .servers
            .values()
            .next()
            .unwrap()
            .address
            .to_string(),
        s.host()
    );
}

#[tokio::test]
async fn a_wrong_replica_set_name_times_out_with_an_explanation() {
    let s = server();
    let client = Client::with_uri_str(s.uri(
        KEY,
        "replicaSet=other&serverSelectionTimeoutMS=1500&heartbeatFrequencyMS=500",
    ))
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap_err();
    let ErrorKind::ServerSelection { message } = &*err.kind else {
        panic!("expected a server selection error, got {err}");
    };
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by serverSelectionTimeoutMS"
    );
    assert!(message.contains("1500"), "{message}");
    assert!(
        client.topology_description().servers.is_empty() || message.contains("secantus"),
        "the error or the topology says why: {message}"
    );
}
