//! What following a deployment costs per operation.
//!
//! - `select_server/50_members/<criteria>`: the pure server selection (`sdam::select_server`)
//!   over a 50-member replica set (1 primary, 49 secondaries with tags and round-trip times):
//!   a write, a `secondary` read, and a `nearest` read with two tag sets.
//! - `find_one_fake/<topology>`: `find_one` through a whole client against the scripted fake
//!   deployment (tests/common/fake_deployment.rs), once as a three-member replica set with
//!   monitoring and selection, once as `directConnection=true` to the same primary. The two
//!   differ only by what the client does to choose the server.
//!
//! Run with `scripts/bench.sh topology` or `cargo bench --bench topology`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mongo_x509::bson::{doc, Document};
use mongo_x509::options::{ReadPreference, ReadPreferenceMode, ServerAddress};
use mongo_x509::sdam::{select_server, SelectionCriteria, ServerDescription, TopologyDescription};
use mongo_x509::Client;

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::fake_deployment::{FakeOptions, FakeReplicaSet};

const MEMBERS: usize = 50;

fn member(i: usize) -> String {
    format!("db{i}.example.net:27017")
}

/// A replica set of 50 known members, as the monitors would leave it.
fn fifty_members() -> TopologyDescription {
    let hosts: Vec<String> = (0..MEMBERS).map(member).collect();
    let seed = ServerAddress::parse(&member(0)).unwrap();
    let mut topology = TopologyDescription::new(&[seed], None, Some("rs0".into()), false);
    for (i, host) in hosts.iter().enumerate() {
        let hello = doc! {
            "ok": 1,
            "isWritablePrimary": i == 0,
            "secondary": i != 0,
            "setName": "rs0",
            "hosts": hosts.clone(),
            "primary": member(0),
            "me": host,
            "minWireVersion": 0,
            "maxWireVersion": 21,
            "setVersion": 1,
            "electionId": mongo_x509::bson::oid::ObjectId::from_bytes([0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            "tags": { "dc": if i % 2 == 0 { "east" } else { "west" }, "rack": (i % 5).to_string() },
            "lastWrite": { "lastWriteDate": mongo_x509::bson::DateTime::from_millis(1_000_000) },
        };
        let address = ServerAddress::parse(host).unwrap();
        let rtt = Duration::from_micros(500 + (i as u64 * 37) % 3_000);
        let d = ServerDescription::from_hello(address, &hello, Some(rtt), Duration::ZERO).unwrap();
        topology.update(d);
    }
    assert_eq!(topology.servers.len(), MEMBERS, "every member known");
    topology
}

fn read(mode: ReadPreferenceMode, tag_sets: Vec<Vec<(&str, &str)>>) -> SelectionCriteria {
    let mut rp = ReadPreference::builder().mode(mode).build();
    rp.tag_sets = tag_sets
        .into_iter()
        .map(|set| {
            set.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect();
    SelectionCriteria::Read(rp)
}

fn selection(c: &mut Criterion) {
    let topology = fifty_members();
    let mut group = c.benchmark_group("select_server/50_members");
    let cases = [
        ("write", SelectionCriteria::Write),
        ("secondary", read(ReadPreferenceMode::Secondary, vec![])),
        (
            "nearest_tags",
            read(
                ReadPreferenceMode::Nearest,
                vec![vec![("dc", "north")], vec![("dc", "east"), ("rack", "2")]],
            ),
        ),
    ];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for (name, criteria) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut random = |n: usize| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % n.max(1) as u64) as usize
                };
                let chosen = select_server(&topology, &criteria, &[], |_| 0, &mut random).unwrap();
                assert!(chosen.is_some());
                chosen
            })
        });
    }
    group.finish();
}

fn find_one_fake(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rs = rt.block_on(async { FakeReplicaSet::start("rs0", 3, FakeOptions::default()) });
    rs.seed("bench", "items", [doc! { "_id": 1, "name": "widget" }]);
    let set_uri = rs.uri("client-pkcs8.pem", "");
    let direct_uri = {
        let (_, options) = set_uri.split_once('?').unwrap();
        let options = options.replacen("replicaSet=rs0&", "", 1);
        format!(
            "mongodb://{}/?directConnection=true&{options}",
            rs.address(0)
        )
    };
    let mut group = c.benchmark_group("find_one_fake");
    group.sample_size(30);
    for (name, uri) in [("replica_set", set_uri), ("direct", direct_uri)] {
        let client = rt.block_on(Client::with_uri_str(&uri)).unwrap();
        let coll = client.database("bench").collection::<Document>("items");
        rt.block_on(async { coll.find_one(doc! { "_id": 1 }).await.unwrap() })
            .expect("seeded document");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.to_async(&rt)
                .iter(|| async { coll.find_one(doc! { "_id": 1 }).await.unwrap() })
        });
    }
    group.finish();
}

criterion_group!(benches, selection, find_one_fake);
criterion_main!(benches);
