//! Polling SRV Records for mongos Discovery: a task that rescans the SRV records of a
//! `mongodb+srv://` name and updates the topology's hosts.
//!
//! The topology starts it (`topology/srv_poll.rs`) with [`SrvPoller::from_options`], and calls
//! [`SrvPoller::rescan`] with itself as the [`SrvPollTarget`] until it is stopped.

use std::sync::Weak;
use std::time::Duration;

use super::lookup::lookup_srv_hosts;
use super::rules::apply_srv_poll;
use crate::options::{ClientOptions, ServerAddress, SrvOrigin};

/// The shortest rescan interval (spec: never below 60 s, whatever the TTL).
const MIN_RESCAN_INTERVAL: Duration = Duration::from_secs(60);
/// `heartbeatFrequencyMS` when none is given.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// `connectTimeoutMS` when none is given; it bounds each rescan.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the poller needs from the topology.
pub(crate) trait SrvPollTarget: Send + Sync {
    /// Whether rescans still apply: the topology is Sharded or Unknown. Once false, the poller
    /// stops (a replica set is never rescanned).
    fn srv_polling_allowed(&self) -> bool;
    /// The hosts of the topology now.
    fn current_hosts(&self) -> Vec<ServerAddress>;
    /// Replaces the hosts: those not in `current_hosts` are new (Unknown), the missing ones
    /// are removed, the others left alone.
    fn set_hosts(&self, hosts: Vec<ServerAddress>);
}

/// Rescans the SRV records of one `mongodb+srv://` name.
#[derive(Clone, Debug)]
pub(crate) struct SrvPoller {
    origin: SrvOrigin,
    srv_max_hosts: u32,
    heartbeat: Duration,
    timeout: Option<Duration>,
    min_interval: Duration,
}

impl SrvPoller {
    /// A poller for options that came from a `mongodb+srv://` lookup; `None` otherwise.
    pub(crate) fn from_options(options: &ClientOptions) -> Option<Self> {
        let origin = options.srv_origin.clone()?;
        let timeout = match options.connect_timeout {
            None => Some(DEFAULT_CONNECT_TIMEOUT),
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
        };
        Some(Self {
            origin,
            srv_max_hosts: options.srv_max_hosts.unwrap_or(0),
            heartbeat: options.heartbeat_freq.unwrap_or(DEFAULT_HEARTBEAT),
            timeout,
            min_interval: options
                .test_srv_rescan_interval
                .unwrap_or(MIN_RESCAN_INTERVAL),
        })
    }

    /// One rescan: updates `target` when the hosts changed, and returns how long to wait
    /// before the next one (the records' smallest TTL, at least 60 s; `heartbeatFrequencyMS`
    /// after a failed or empty rescan, which leaves the hosts as they are).
    #[cfg(test)]
    pub(crate) async fn rescan(&self, target: &dyn SrvPollTarget) -> Duration {
        let found = self.lookup().await;
        self.apply(found, target)
    }

    /// The SRV records now: the hosts and their smallest TTL.
    async fn lookup(&self) -> crate::error::Result<(Vec<ServerAddress>, Duration)> {
        lookup_srv_hosts(
            &self.origin.name,
            &self.origin.service_name,
            &self.origin.resolver,
            self.timeout,
        )
        .await
    }

    /// Applies the outcome of a lookup to `target`; returns the wait before the next rescan.
    fn apply(
        &self,
        found: crate::error::Result<(Vec<ServerAddress>, Duration)>,
        target: &dyn SrvPollTarget,
    ) -> Duration {
        match found {
            Ok((hosts, min_ttl)) => {
                let current = target.current_hosts();
                let next = apply_srv_poll(&current, &hosts, self.srv_max_hosts, &mut rand::rng());
                if next != current {
                    tracing::debug!(name = %self.origin.name, ?next, "SRV rescan: hosts changed");
                    target.set_hosts(next);
                }
                min_ttl.max(self.min_interval)
            }
            Err(e) => {
                tracing::warn!(name = %self.origin.name, "SRV rescan failed, hosts unchanged: {e}");
                self.heartbeat
            }
        }
    }

    /// Rescans until the topology is gone, is stopped (`stop` turns true or its sender is
    /// dropped), or is no longer Sharded or Unknown. Each wait counts from the end of the
    /// previous scan; the first from the end of the initial lookup.
    ///
    /// The topology is held only while a result is applied, never during a lookup, and the
    /// stop signal ends a lookup in progress: a slow or silent name server never keeps a
    /// dropped client alive.
    pub(crate) async fn run(
        self,
        target: Weak<dyn SrvPollTarget>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut wait = self.min_interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let allowed = target.upgrade().map(|t| t.srv_polling_allowed());
            if allowed != Some(true) {
                return;
            }
            let found = tokio::select! {
                found = self.lookup() => found,
                _ = stop.changed() => return,
            };
            if *stop.borrow() {
                return;
            }
            let Some(target) = target.upgrade() else {
                return;
            };
            if !target.srv_polling_allowed() {
                return;
            }
            wait = self.apply(found, &*target);
        }
    }
}

// The integration tests' DNS server (records changed while the poller runs).
#[cfg(test)]
#[path = "../../tests/common/dns.rs"]
#[allow(dead_code)]
mod test_dns;

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    use super::test_dns as dns;

    /// A stop signal that never fires (its sender is leaked for the test's life).
    fn never_stop() -> tokio::sync::watch::Receiver<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    struct FakeTopology {
        hosts: Mutex<Vec<ServerAddress>>,
        allowed: Mutex<bool>,
    }

    impl FakeTopology {
        /// A topology of `hosts` (`host:port`) that allows polling.
        fn of(hosts: &[&str]) -> Self {
            let hosts = hosts.iter().map(|h| ServerAddress::parse(h).unwrap());
            Self {
                hosts: Mutex::new(hosts.collect()),
                allowed: Mutex::new(true),
            }
        }
    }

    impl SrvPollTarget for FakeTopology {
        fn srv_polling_allowed(&self) -> bool {
            *self.allowed.lock().unwrap()
        }
        fn current_hosts(&self) -> Vec<ServerAddress> {
            self.hosts.lock().unwrap().clone()
        }
        fn set_hosts(&self, hosts: Vec<ServerAddress>) {
            *self.hosts.lock().unwrap() = hosts;
        }
    }

    fn names(t: &FakeTopology) -> Vec<String> {
        let mut v: Vec<String> = t.current_hosts().iter().map(|h| h.to_string()).collect();
        v.sort();
        v
    }

    async fn poller(uri: &str, d: &dns::TestDns) -> SrvPoller {
        let options = ClientOptions::parse_with_resolver_config(uri, d.config())
            .await
            .unwrap();
        let mut p = SrvPoller::from_options(&options).expect("a mongodb+srv:// poller");
        p.min_interval = Duration::from_millis(50);
        p.heartbeat = Duration::from_millis(20);
        p
    }

    #[tokio::test]
    async fn a_rescan_adds_and_removes_hosts_and_keeps_them_on_failure() {
        let d = dns::dns();
        let srv = "_mongodb._tcp.poll1.mongo.test";
        d.set_srv(srv, &[("a.mongo.test", 1), ("b.mongo.test", 1)])
            .await;
        let p = poller("mongodb+srv://poll1.mongo.test", d).await;
        let topology = FakeTopology::of(&[]);
        topology.set_hosts(
            ClientOptions::parse_with_resolver_config("mongodb+srv://poll1.mongo.test", d.config())
                .await
                .unwrap()
                .hosts,
        );

        d.set_srv(srv, &[("b.mongo.test", 1), ("c.mongo.test", 1)])
            .await;
        let wait = p.rescan(&topology).await;
        assert_eq!(names(&topology), ["b.mongo.test:1", "c.mongo.test:1"]);
        // Next rescan after the records' TTL (above the minimum).
        assert_eq!(wait, Duration::from_secs(u64::from(dns::TTL)));

        // Nothing there, or only hosts outside the domain: hosts unchanged, heartbeat wait.
        d.set_srv(srv, &[]).await;
        assert_eq!(p.rescan(&topology).await, Duration::from_millis(20));
        d.set_srv(srv, &[("x.evil.test", 1)]).await;
        assert_eq!(p.rescan(&topology).await, Duration::from_millis(20));
        assert_eq!(names(&topology), ["b.mongo.test:1", "c.mongo.test:1"]);

        // A bad host among good ones is left out, without failing the rescan.
        d.set_srv(srv, &[("x.evil.test", 1), ("d.mongo.test", 1)])
            .await;
        p.rescan(&topology).await;
        assert_eq!(names(&topology), ["d.mongo.test:1"]);
    }

    /// A rescan stuck on a silent name server neither holds the topology nor outlives the stop
    /// signal.
    #[tokio::test]
    async fn a_slow_rescan_holds_no_topology_and_ends_on_stop() {
        let d = dns::dns();
        let srv = "_mongodb._tcp.poll4.mongo.test";
        d.set_srv(srv, &[("a.mongo.test", 4)]).await;
        let mut p = poller("mongodb+srv://poll4.mongo.test", d).await;
        let silent = dns::SilentDns::new();
        p.origin.resolver = crate::options::ResolverConfig::with_name_servers(vec![silent.addr])
            .timeout(Duration::from_secs(60))
            .attempts(1);
        p.timeout = None;
        p.min_interval = Duration::from_millis(10);
        let topology = Arc::new(FakeTopology::of(&["a.mongo.test:4"]));
        let weak: Weak<dyn SrvPollTarget> = Arc::downgrade(&topology) as Weak<dyn SrvPollTarget>;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(p.run(weak.clone(), stop_rx));
        // The silent server got the query: the rescan is waiting for an answer.
        let socket = silent.socket().try_clone().unwrap();
        tokio::task::spawn_blocking(move || {
            socket.set_read_timeout(Some(Duration::from_secs(5)))?;
            socket.recv(&mut [0u8; 512])
        })
        .await
        .unwrap()
        .expect("the rescan's query");
        drop(topology);
        assert_eq!(weak.strong_count(), 0, "the lookup holds the topology");
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the poller ends on stop during a lookup")
            .unwrap();
    }

    #[tokio::test]
    async fn a_rescan_respects_srv_max_hosts() {
        let d = dns::dns();
        let srv = "_mongodb._tcp.poll2.mongo.test";
        d.set_srv(srv, &[("a.mongo.test", 2), ("b.mongo.test", 2)])
            .await;
        let p = poller("mongodb+srv://poll2.mongo.test/?srvMaxHosts=2", d).await;
        let topology = FakeTopology::of(&[]);
        topology.set_hosts(vec![
            ServerAddress::parse("a.mongo.test:2").unwrap(),
            ServerAddress::parse("b.mongo.test:2").unwrap(),
        ]);
        d.set_srv(
            srv,
            &[
                ("b.mongo.test", 2),
                ("c.mongo.test", 2),
                ("d.mongo.test", 2),
            ],
        )
        .await;
        p.rescan(&topology).await;
        let now = names(&topology);
        assert_eq!(now.len(), 2);
        assert!(now.contains(&"b.mongo.test:2".to_string()), "{now:?}");
    }

    #[tokio::test]
    async fn the_poller_runs_until_the_topology_is_not_sharded_or_is_gone() {
        let d = dns::dns();
        let srv = "_mongodb._tcp.poll3.mongo.test";
        d.set_srv(srv, &[("a.mongo.test", 3)]).await;
        let p = poller("mongodb+srv://poll3.mongo.test", d).await;
        let topology = Arc::new(FakeTopology::of(&["a.mongo.test:3"]));
        let weak: Weak<dyn SrvPollTarget> = Arc::downgrade(&topology) as Weak<dyn SrvPollTarget>;
        let task = tokio::spawn(p.clone().run(weak, never_stop()));

        // The records change while it runs: the next rescan (50 ms) picks it up.
        d.set_srv(srv, &[("b.mongo.test", 3)]).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while names(&topology) != ["b.mongo.test:3"] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                names(&topology)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();

        // A replica set is never rescanned: the task ends at its next tick.
        let replica_set = Arc::new(FakeTopology::of(&[]));
        *replica_set.allowed.lock().unwrap() = false;
        let weak: Weak<dyn SrvPollTarget> = Arc::downgrade(&replica_set) as Weak<dyn SrvPollTarget>;
        let task = tokio::spawn(p.clone().run(weak, never_stop()));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the poller stops")
            .unwrap();
        assert!(replica_set.current_hosts().is_empty());

        // A dropped topology ends it too.
        let topology = Arc::new(FakeTopology::of(&[]));
        let weak: Weak<dyn SrvPollTarget> = Arc::downgrade(&topology) as Weak<dyn SrvPollTarget>;
        let task = tokio::spawn(p.run(weak, never_stop()));
        drop(topology);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the poller stops")
            .unwrap();
    }
}
