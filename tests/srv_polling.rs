//! Polling SRV records for mongos discovery, end to end: a `mongodb+srv://` client of scripted
//! mongos routers (tests/common/fake_deployment.rs) resolved through the test DNS server
//! (tests/common/dns.rs); records changed while the client runs add and remove routers.

#![cfg(all(feature = "dns-srv", any(feature = "openssl", feature = "native-tls")))]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::dns::{dns, DnsRelay};
use common::fake_deployment::{FakeMongos, FakeOptions};
use mongo_x509::bson::{doc, Document};
use mongo_x509::options::ClientOptions;
use mongo_x509::{Client, TopologyDescription, TopologyType};

const WAIT: Duration = Duration::from_secs(10);

fn names(t: &TopologyDescription) -> Vec<String> {
    t.servers.values().map(|s| s.address.to_string()).collect()
}

#[tokio::test]
async fn changed_srv_records_add_and_remove_mongos_routers() {
    let routers = FakeMongos::start(3, FakeOptions::default());
    let d = dns();
    for i in 0..3 {
        d.set_a(&format!("poll-r{i}.mongo.test"), Ipv4Addr::LOCALHOST)
            .await;
    }
    let srv = "_mongodb._tcp.poll.mongo.test";
    let target = |i: usize| (format!("poll-r{i}.mongo.test"), routers.port(i));
    let set = |ids: &[usize]| {
        let t: Vec<(String, u16)> = ids.iter().map(|i| target(*i)).collect();
        async move {
            let refs: Vec<(&str, u16)> = t.iter().map(|(h, p)| (h.as_str(), *p)).collect();
            // A short TTL: the client rescans every second, whenever its first rescan ran.
            d.set_srv_with_ttl(srv, &refs, 1).await;
        }
    };
    set(&[0, 1]).await;

    let uri = routers
        .uri("client-pkcs8-aes256.pem", "heartbeatFrequencyMS=500")
        .split_once('?')
        .map(|(_, options)| format!("mongodb+srv://poll.mongo.test/?{options}"))
        .unwrap();
    let mut options = ClientOptions::parse_with_resolver_config(&uri, d.config())
        .await
        .unwrap();
    options.test_srv_rescan_interval = Some(Duration::from_millis(200));
    let client = tokio::task::spawn_blocking(move || Client::with_options(options))
        .await
        .unwrap()
        .unwrap();
    client
        .database("shop")
        .collection::<Document>("items")
        .insert_one(doc! { "n": 1 })
        .await
        .unwrap();
    let t = client.topology_description();
    assert_eq!(t.topology_type, TopologyType::Sharded);
    let host = |i: usize| format!("{}:{}", target(i).0, target(i).1);
    assert_eq!(names(&t), [host(0), host(1)]);

    // A router added and one removed in DNS: the topology follows, leaving r1 alone.
    set(&[1, 2]).await;
    let mut watcher = client.watch_topology();
    let t = watcher
        .wait_for(WAIT, |t| names(t) == [host(1), host(2)])
        .await
        .unwrap_or_else(|| {
            panic!(
                "rescan not applied: {:?}",
                names(&client.topology_description())
            )
        });
    assert_eq!(t.topology_type, TopologyType::Sharded);
    routers
        .wait_for("r0's sockets closed", WAIT, |r| {
            r.stats(0).connections_open == 0
        })
        .await;
    routers
        .wait_for("r2 monitored", WAIT, |r| r.stats(2).hellos() > 0)
        .await;

    // No records at all: the old list is kept (the spec: never empty the topology).
    d.set_srv(srv, &[]).await;
    let unchanged = watcher
        .wait_for(Duration::from_millis(800), |t| {
            names(t) != [host(1), host(2)]
        })
        .await;
    assert!(
        unchanged.is_none(),
        "an empty answer must not change the hosts"
    );
}

/// A rescan waiting on a name server that stopped answering does not keep a dropped client
/// alive: its topology (pools, connections) goes at once, not when the lookup times out.
#[tokio::test]
async fn a_dropped_client_is_not_kept_alive_by_a_slow_rescan() {
    let routers = FakeMongos::start(1, FakeOptions::default());
    let d = dns();
    d.set_a("slow-r0.mongo.test", Ipv4Addr::LOCALHOST).await;
    let srv = "_mongodb._tcp.slow.mongo.test";
    d.set_srv(srv, &[("slow-r0.mongo.test", routers.port(0))])
        .await;
    let relay = DnsRelay::start(d.addr);
    let uri = routers
        .uri("client-pkcs8-aes256.pem", "connectTimeoutMS=30000")
        .split_once('?')
        .map(|(_, options)| format!("mongodb+srv://slow.mongo.test/?{options}"))
        .unwrap();
    let mut options =
        ClientOptions::parse_with_resolver_config(&uri, relay.config(Duration::from_secs(30)))
            .await
            .unwrap();
    options.test_srv_rescan_interval = Some(Duration::from_millis(50));
    // The initial lookup is done; from now on the SRV records get no answer (the hosts'
    // addresses still do).
    relay.set_srv_silent(true);
    let client = tokio::task::spawn_blocking(move || Client::with_options(options))
        .await
        .unwrap()
        .unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while relay.swallowed() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rescan reached the name server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut watcher = client.watch_topology();
    drop(client);
    let gone = tokio::time::timeout(Duration::from_secs(2), async {
        while watcher.changed().await.is_some() {}
    })
    .await;
    assert!(
        gone.is_ok() && watcher.current().is_none(),
        "the topology outlived the client by 2 s: a rescan holds it"
    );
    routers
        .wait_for(
            "the pooled connection closed",
            Duration::from_secs(2),
            |r| r.stats(0).connections_open == 0,
        )
        .await;
}
