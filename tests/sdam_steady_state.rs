//! A heartbeat that says nothing new costs the same whatever the size of the replica set: the
//! topology update counts its allocations while it runs, for a primary listing 3 members and
//! one listing 50, replies that differ from the previous one only in their round-trip time,
//! update time and last-write date (as every heartbeat does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use mongo_x509::bson::{doc, DateTime};
use mongo_x509::options::ServerAddress;
use mongo_x509::sdam::{ServerDescription, TopologyDescription, MAX_REPLICA_SET_MEMBERS};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counter;

// SAFETY: every call is forwarded to the system allocator; the thread-locals are const
// initialised and have no destructor, so touching them never allocates.
unsafe impl GlobalAlloc for Counter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counter = Counter;

fn hello(members: usize, tick: u64) -> ServerDescription {
    let hosts: Vec<String> = (1..=members).map(|i| format!("db{i}:27017")).collect();
    let reply = doc! {
        "ok": 1, "isWritablePrimary": true, "setName": "rs", "setVersion": 1,
        "electionId": mongo_x509::bson::oid::ObjectId::from_bytes([0; 12]),
        "hosts": hosts, "me": "db1:27017", "primary": "db1:27017", "maxWireVersion": 21,
        "logicalSessionTimeoutMinutes": 30,
        "lastWrite": { "lastWriteDate": DateTime::from_millis(1_000 * tick as i64) },
    };
    ServerDescription::from_hello(
        ServerAddress::parse("db1:27017").unwrap(),
        &reply,
        Some(Duration::from_millis(1 + tick % 5)),
        Duration::from_secs(tick),
    )
    .unwrap()
}

/// Allocations made by the update for the 20th unchanged reply of a primary of `members`.
fn allocations_per_unchanged_reply(members: usize) -> usize {
    let seed = ServerAddress::parse("db1:27017").unwrap();
    let mut topology = TopologyDescription::new(&[seed], None, None, false);
    let change = topology.update(hello(members, 0));
    assert_eq!(change.added.len(), members - 1);
    let mut counted = 0;
    for tick in 1..20 {
        let reply = hello(members, tick);
        ALLOCATIONS.with(|a| a.set(0));
        COUNTING.with(|c| c.set(true));
        let change = topology.update(reply);
        COUNTING.with(|c| c.set(false));
        counted = ALLOCATIONS.with(Cell::get);
        assert!(change.added.is_empty() && change.removed.is_empty());
    }
    let primary = topology
        .server(&ServerAddress::parse("db1:27017").unwrap())
        .unwrap();
    // The timings did follow the replies.
    assert_eq!(primary.last_update_time, Duration::from_secs(19));
    assert_eq!(primary.last_write_date, Some(19_000));
    counted
}

#[test]
fn an_unchanged_heartbeat_costs_the_same_for_3_or_50_members() {
    let small = allocations_per_unchanged_reply(3);
    let large = allocations_per_unchanged_reply(MAX_REPLICA_SET_MEMBERS);
    assert!(
        large <= small && small <= 4,
        "allocations per unchanged reply: {small} with 3 members, {large} with {MAX_REPLICA_SET_MEMBERS}"
    );
}
