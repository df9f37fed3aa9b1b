use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::*;

#[derive(Debug)]
struct FakeConn {
    id: u32,
    broken: bool,
    service: Option<ObjectId>,
    /// Bytes of its buffers (a large reply makes them grow; check-in gives them back).
    buffer: usize,
    interrupter: Arc<Interrupter>,
}

impl PoolConnection for FakeConn {
    fn id(&self) -> u32 {
        self.id
    }

    fn is_broken(&self) -> bool {
        self.broken
    }

    fn service_id(&self) -> Option<ObjectId> {
        self.service
    }

    fn release_memory(&mut self) {
        self.buffer = self.buffer.min(1024);
    }

    fn buffer_bytes(&self) -> usize {
        self.buffer
    }

    fn interrupter(&self) -> Option<&Arc<Interrupter>> {
        Some(&self.interrupter)
    }
}

#[derive(Clone, Default)]
struct Fake {
    delay: Duration,
    fail: Arc<AtomicBool>,
    connecting: Arc<AtomicU32>,
    max_connecting_seen: Arc<AtomicU32>,
    /// Load-balanced mode: odd connection ids reach the first service, even ids the second.
    services: Option<[ObjectId; 2]>,
    /// The generation each failed connect was made for, in order.
    failed_generations: Arc<Mutex<Vec<u32>>>,
}

impl Connector for Fake {
    type Conn = FakeConn;
    fn connect(
        &self,
        _address: &ServerAddress,
        id: u32,
        generation: u32,
    ) -> impl Future<Output = Result<FakeConn>> + Send {
        let this = self.clone();
        async move {
            let now = this.connecting.fetch_add(1, Ordering::SeqCst) + 1;
            this.max_connecting_seen.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(this.delay).await;
            this.connecting.fetch_sub(1, Ordering::SeqCst);
            if this.fail.load(Ordering::SeqCst) {
                this.failed_generations.lock().unwrap().push(generation);
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into());
            }
            let service = this.services.map(|s| s[(id % 2) as usize]);
            Ok(FakeConn {
                id,
                broken: false,
                service,
                buffer: 0,
                interrupter: Arc::default(),
            })
        }
    }
}

fn addr() -> ServerAddress {
    ServerAddress::Tcp {
        host: "fake".into(),
        port: Some(1),
    }
}

/// A ready pool (SDAM marks a pool ready once its server is found).
fn pool(fake: Fake, options: PoolOptions) -> Pool<Fake> {
    let pool = Pool::new(addr(), fake, options);
    drop(pool.ready());
    pool
}

/// A fake whose connections take `millis` to open.
fn slow(millis: u64) -> Fake {
    Fake {
        delay: Duration::from_millis(millis),
        ..Fake::default()
    }
}

/// A ready pool of at most `max_pool_size` connections, the other options default.
fn capped_pool(fake: Fake, max_pool_size: u32) -> Pool<Fake> {
    pool(
        fake,
        PoolOptions {
            max_pool_size,
            ..PoolOptions::default()
        },
    )
}

/// Runs `tasks` check-outs at once, each holding its connection for `hold`; all must succeed.
async fn check_out_concurrently(p: &Pool<Fake>, tasks: usize, hold: Duration) {
    let tasks: Vec<_> = (0..tasks)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                let c = p.check_out().await?;
                tokio::time::sleep(hold).await;
                drop(c);
                Ok::<_, Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

/// A check-out in a task of its own.
fn spawn_check_out(p: &Pool<Fake>) -> tokio::task::JoinHandle<Result<()>> {
    let p = p.clone();
    tokio::spawn(async move { p.check_out().await.map(|_| ()) })
}

/// Yields until `done` holds.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn connections_are_reused() {
    let p = pool(Fake::default(), PoolOptions::default());
    let c = p.check_out().await.unwrap();
    let id = c.id;
    drop(c);
    let c = p.check_out().await.unwrap();
    assert_eq!(c.id, id);
    let s = p.stats();
    assert_eq!(
        (s.connections_created, s.open, s.checked_out, s.idle),
        (1, 1, 1, 0)
    );
    drop(c);
    let s = p.stats();
    assert_eq!((s.open, s.checked_out, s.idle), (1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_pool_size_bounds_open_connections_under_load() {
    let p = capped_pool(slow(5), 8);
    check_out_concurrently(&p, 64, Duration::from_millis(2)).await;
    let s = p.stats();
    assert!(s.peak_open <= 8, "peak {} > maxPoolSize 8", s.peak_open);
    assert!(s.connections_created <= 8, "{s:?}");
    assert_eq!((s.checked_out, s.waiting, s.pending), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connecting_bounds_concurrent_opens() {
    let fake = slow(20);
    let seen = Arc::clone(&fake.max_connecting_seen);
    let p = pool(
        fake,
        PoolOptions {
            max_pool_size: 0,
            max_connecting: 2,
            ..PoolOptions::default()
        },
    );
    check_out_concurrently(&p, 10, Duration::from_millis(50)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn broken_connections_are_closed_not_returned() {
    let p = pool(Fake::default(), PoolOptions::default());
    let mut c = p.check_out().await.unwrap();
    let first = c.id;
    c.broken = true;
    drop(c);
    let s = p.stats();
    assert_eq!((s.open, s.connections_closed), (0, 1));
    let c = p.check_out().await.unwrap();
    assert_ne!(c.id, first);
    let mut c2 = p.check_out().await.unwrap();
    c2.discard();
    drop(c2);
    assert_eq!(p.stats().connections_closed, 2);
}

#[tokio::test]
async fn wait_queue_timeout_names_the_option() {
    let p = pool(
        Fake::default(),
        PoolOptions {
            max_pool_size: 1,
            wait_queue_timeout: Duration::from_millis(100),
            wait_queue_timeout_option: "waitQueueTimeoutMS",
            ..PoolOptions::default()
        },
    );
    let held = p.check_out().await.unwrap();
    let err = p.check_out().await.err().expect("times out");
    match &*err.kind {
        ErrorKind::WaitQueueTimeout { message } => {
            assert!(
                !err.is_network_error(),
                "a full pool is not a network error"
            );
            assert!(message.contains("waitQueueTimeoutMS"), "{message}");
            assert!(message.contains("maxPoolSize=1"), "{message}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(p.stats().wait_queue_timeouts, 1);
    assert_eq!(p.stats().waiting, 0);
    drop(held);
    // Once the connection is back, check-out succeeds at once.
    p.check_out().await.unwrap();
}

#[tokio::test]
async fn a_load_balanced_wait_queue_timeout_counts_pinned_connections() {
    let p = pool(
        Fake::default(),
        PoolOptions {
            max_pool_size: 3,
            wait_queue_timeout: Duration::from_millis(50),
            load_balanced: true,
            ..PoolOptions::default()
        },
    );
    async fn message(p: &Pool<Fake>) -> String {
        match *p.check_out().await.err().expect("times out").kind {
            ErrorKind::WaitQueueTimeout { message } => message,
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
    let mut cursor = p.check_out().await.unwrap();
    let mut txn = p.check_out().await.unwrap();
    let other = p.check_out().await.unwrap();
    cursor.pin_to(PinnedTo::Cursor);
    txn.pin_to(PinnedTo::Cursor);
    // A transaction's connection that a cursor shares counts for the transaction.
    txn.pin_to(PinnedTo::Transaction);
    txn.pin_to(PinnedTo::Cursor);
    let m = message(&p).await;
    assert!(
        m.contains(
            "maxPoolSize: 3, connections in use by cursors: 1, connections in use by \
             transactions: 1, connections in use by other operations: 1"
        ),
        "{m}"
    );
    // Checked in: no longer counted.
    drop((cursor, other));
    let _held = (p.check_out().await.unwrap(), p.check_out().await.unwrap());
    let m = message(&p).await;
    assert!(
        m.contains("cursors: 0, connections in use by transactions: 1, connections in use by other operations: 2"),
        "{m}"
    );
}

#[tokio::test]
async fn waiter_gets_the_returned_connection() {
    let p = capped_pool(Fake::default(), 1);
    let held = p.check_out().await.unwrap();
    let id = held.id;
    let p2 = p.clone();
    let waiter = tokio::spawn(async move { p2.check_out().await.map(|c| c.id) });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(p.stats().waiting, 1);
    drop(held);
    assert_eq!(waiter.await.unwrap().unwrap(), id);
}

#[tokio::test]
async fn clear_closes_idle_now_and_checked_out_on_return() {
    let p = pool(Fake::default(), PoolOptions::default());
    let a = p.check_out().await.unwrap();
    let b = p.check_out().await.unwrap();
    drop(a);
    assert_eq!(p.stats().idle, 1);
    let generation = b.generation();
    p.clear(generation);
    let s = p.stats();
    assert_eq!((s.idle, s.connections_closed, s.generation), (0, 1, 1));
    // A second clear for the same event does nothing.
    p.clear(generation);
    assert_eq!(p.stats().generation, 1);
    drop(b);
    let s = p.stats();
    assert_eq!((s.open, s.connections_closed), (0, 2));
}

#[tokio::test]
async fn a_clear_that_interrupts_in_use_connections_interrupts_them_and_closes_them_stale() {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&closed);
    let options = PoolOptions {
        events: CmapEmitter {
            handler: Some(crate::event::EventHandler::callback(move |e| {
                if let CmapEvent::ConnectionClosed(c) = e {
                    sink.lock().unwrap().push((c.connection_id, c.reason));
                }
            })),
            ..CmapEmitter::default()
        },
        ..PoolOptions::default()
    };
    let p = pool(Fake::default(), options);
    let a = p.check_out().await.unwrap();
    let b = p.check_out().await.unwrap();
    let (a_id, b_id) = (a.id, b.id);
    drop(a);
    // A clear without interruption leaves the one in use alone.
    drop(p.clear_with(b.generation(), false));
    assert!(!b.interrupter.is_interrupted());
    drop(p.ready());
    let c = p.check_out().await.unwrap();
    let c_id = c.id;
    drop(p.clear_with(c.generation(), true));
    assert!(c.interrupter.is_interrupted(), "in use at the clear");
    // Checked out before the previous clear: interrupted as well (an older generation).
    assert!(b.interrupter.is_interrupted());
    drop((b, c));
    assert_eq!(
        *closed.lock().unwrap(),
        [
            (a_id, ConnectionClosedReason::Stale),
            (b_id, ConnectionClosedReason::Stale),
            (c_id, ConnectionClosedReason::Stale),
        ]
    );
    // A connection opened after the clear is not interrupted.
    drop(p.ready());
    let d = p.check_out().await.unwrap();
    assert!(!d.interrupter.is_interrupted());
}

/// A failed connect is the connector's to report, with the generation the attempt started in
/// (SDAM then decides on clearing): the pool does not clear itself, which would make the report
/// look stale.
#[tokio::test]
async fn a_failed_connect_is_reported_with_its_generation_not_cleared_by_the_pool() {
    let fake = Fake::default();
    let fail = Arc::clone(&fake.fail);
    let failed = Arc::clone(&fake.failed_generations);
    let p = pool(fake, PoolOptions::default());
    drop(p.check_out().await.unwrap());
    p.clear(0);
    drop(p.ready());
    fail.store(true, Ordering::SeqCst);
    let err = p.check_out().await.err().expect("refused");
    assert!(err.is_network_error());
    let s = p.stats();
    assert_eq!((s.generation, s.pending), (1, 0), "{s:?}");
    assert_eq!(*failed.lock().unwrap(), [1]);
}

#[tokio::test]
async fn idle_connections_past_max_idle_time_are_closed() {
    let p = pool(
        Fake::default(),
        PoolOptions {
            max_idle_time: Some(Duration::from_millis(300)),
            ..PoolOptions::default()
        },
    );
    let c = p.check_out().await.unwrap();
    let first = c.id;
    drop(c);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = p.check_out().await.unwrap();
    assert_eq!(c.id, first, "idle for 50 ms: reused");
    drop(c);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The background task (or the check-out) has closed it.
    let c = p.check_out().await.unwrap();
    assert_ne!(c.id, first, "idle for 600 ms > maxIdleTimeMS: closed");
    assert_eq!(p.stats().connections_closed, 1);
}

#[tokio::test]
async fn min_pool_size_is_filled_in_the_background() {
    let p = pool(
        slow(1),
        PoolOptions {
            min_pool_size: 3,
            ..PoolOptions::default()
        },
    );
    drop(p.check_out().await.unwrap());
    // The first maintenance round runs at once; give it a moment.
    let mut s = p.stats();
    for _ in 0..100 {
        if s.open == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        s = p.stats();
    }
    assert_eq!((s.open, s.idle), (3, 3), "{s:?}");
}

#[tokio::test]
async fn closed_pool_refuses_check_out() {
    let p = pool(Fake::default(), PoolOptions::default());
    let c = p.check_out().await.unwrap();
    p.close();
    assert!(matches!(
        *p.check_out().await.err().expect("closed").kind,
        ErrorKind::Shutdown
    ));
    drop(c);
    assert_eq!(p.stats().open, 0);
}

/// The pool of a server that left the topology: operations waiting for a connection are told
/// so at once (not that the client shut down), so that they select another server.
#[tokio::test]
async fn a_removed_servers_pool_sends_its_waiters_back_to_selection() {
    let p = capped_pool(Fake::default(), 1);
    let held = p.check_out().await.unwrap();
    let waiter = spawn_check_out(&p);
    until(|| p.stats().waiting >= 1).await;
    p.close_removed();
    let err = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter is woken")
        .unwrap()
        .unwrap_err();
    let ErrorKind::ServerSelection { message } = &*err.kind else {
        panic!("{err}");
    };
    assert!(message.contains("left the deployment"), "{message}");
    drop(held);
    assert_eq!(
        p.stats().open,
        0,
        "its connection is closed when it comes back"
    );
}

/// A connection whose opening finishes after the pool was closed serves no one.
#[tokio::test]
async fn a_connection_opened_after_the_pool_closed_is_not_handed_out() {
    let p = pool(slow(100), PoolOptions::default());
    let opening = spawn_check_out(&p);
    until(|| p.stats().pending >= 1).await;
    p.close_removed();
    let err = opening.await.unwrap().unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "{err}"
    );
    let s = p.stats();
    assert_eq!(
        (s.open, s.pending, s.connections_closed),
        (0, 0, 1),
        "{s:?}"
    );
}

/// After an identity reload, a connection opened before it finishes its operation (it is not
/// interrupted) and is then closed, never handed out again; the pool is not cleared.
#[tokio::test]
async fn an_identity_rotation_drains_the_older_connections() {
    let p = pool(Fake::default(), PoolOptions::default());
    let idle = p.check_out().await.unwrap();
    let busy = p.check_out().await.unwrap();
    let (idle_id, busy_id) = (idle.id, busy.id);
    drop(idle);
    p.rotate_identity();
    let s = p.stats();
    assert_eq!(
        (s.idle, s.connections_closed),
        (0, 1),
        "the idle one goes now: {s:?}"
    );
    assert!(!busy.is_broken(), "the busy one is left to finish");
    drop(busy);
    let s = p.stats();
    assert_eq!(
        (s.open, s.connections_closed, s.generation),
        (0, 2, 0),
        "{s:?}"
    );
    let fresh = p.check_out().await.unwrap();
    assert!(![idle_id, busy_id].contains(&fresh.id));
    drop(fresh);
    assert_eq!(
        p.stats().idle,
        1,
        "a connection of the new identity is reused"
    );
}

/// A connection checked in gives back what a large reply made its buffers grow to.
#[tokio::test]
async fn checked_in_connections_release_large_buffers() {
    let p = pool(Fake::default(), PoolOptions::default());
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut c = p.check_out().await.unwrap();
        c.buffer = 20 << 20;
        conns.push(c);
    }
    drop(conns);
    let s = p.stats();
    assert_eq!(s.idle, 4);
    assert!(s.idle_buffer_bytes <= 4 * 1024, "{s:?}");
}

#[tokio::test]
async fn abandoned_check_out_releases_its_slot() {
    let p = capped_pool(slow(300), 1);
    let r = tokio::time::timeout(Duration::from_millis(10), p.check_out()).await;
    assert!(r.is_err());
    assert_eq!(p.stats().pending, 0);
    // The slot is free again: a new check-out can open a connection.
    tokio::time::timeout(Duration::from_secs(5), p.check_out())
        .await
        .unwrap()
        .unwrap();
}

/// CMAP: the wait queue is fair. Waiters are served in the order they started waiting, a
/// newcomer does not jump the queue, and a waiter that gives up leaves it without blocking the
/// others.
#[tokio::test]
async fn waiters_are_served_first_come_first_served() {
    let p = capped_pool(Fake::default(), 1);
    let held = p.check_out().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..4u32 {
        let (waiter, order) = (p.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let c = waiter.check_out().await.unwrap();
            order.lock().unwrap().push(n);
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(c);
        }));
        // Let it reach the queue before the next one starts.
        until(|| p.stats().waiting > n).await;
    }
    // One more waiter that gives up: abandoning its place must not stall the rest.
    let quitter = spawn_check_out(&p);
    until(|| p.stats().waiting >= 5).await;
    quitter.abort();
    drop(held);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .expect("every waiter is served")
            .unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(p.stats().waiting, 0);
}

#[tokio::test]
async fn clearing_a_service_closes_only_its_connections() {
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let fake = Fake {
        services: Some([b, a]),
        ..Fake::default()
    };
    let p = pool(fake, PoolOptions::default());
    // Ids 1 and 3 reach service a, 2 and 4 service b.
    let conns: Vec<_> = futures_util::future::join_all((0..4).map(|_| p.check_out()))
        .await
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    let generation_a = conns
        .iter()
        .find(|c| c.service == Some(a))
        .unwrap()
        .service_generation();
    drop(conns);
    assert_eq!(p.stats().idle, 4);
    p.clear_service(a, generation_a);
    let s = p.stats();
    assert_eq!(
        (s.idle, s.generation),
        (2, 0),
        "b's connections stay; the pool is not cleared"
    );
    // A stale generation clears nothing more.
    p.clear_service(a, generation_a);
    assert_eq!(p.stats().idle, 2);
    let c = p.check_out().await.unwrap();
    assert_eq!(c.service, Some(b));
}

#[tokio::test]
async fn a_connection_of_a_cleared_service_is_not_returned() {
    let a = ObjectId::new();
    let fake = Fake {
        services: Some([a, a]),
        ..Fake::default()
    };
    let p = pool(fake, PoolOptions::default());
    let c = p.check_out().await.unwrap();
    p.clear_service(a, c.service_generation());
    drop(c);
    let s = p.stats();
    assert_eq!((s.idle, s.connections_closed), (0, 1));
}
