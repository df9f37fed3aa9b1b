//! Server monitors (Server Monitoring specification): one task per server, on its own
//! connection (TLS with the client certificate, never authenticated), calling `hello` every
//! `heartbeatFrequencyMS`, or, when the server offers it (its reply carries a
//! `topologyVersion`), the streaming protocol: an awaitable `hello` the server answers as soon
//! as something changes, with a separate task measuring round-trip times.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Document};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Server, Shared, WeakShared, MIN_HEARTBEAT_FREQUENCY};
use crate::conn::{self, Connection, EstablishOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::event::command::CommandMonitor;
use crate::event::sdam::{
    SdamEvent, ServerHeartbeatFailedEvent, ServerHeartbeatStartedEvent,
    ServerHeartbeatSucceededEvent,
};
use crate::options::ServerAddress;
use crate::sdam::{RttAverage, ServerDescription, ServerType};

/// Starts the monitor of `server`.
pub(super) fn spawn(runtime: &tokio::runtime::Handle, shared: &Arc<Shared>, server: Arc<Server>) {
    let mut establish = EstablishOptions::clone(&shared.options.establish);
    // Monitoring connections are never authenticated (Server Monitoring specification) and
    // their reads are bounded per check, not by socketTimeoutMS.
    establish.credential = None;
    establish.socket_timeout = None;
    // One connection attempt per check: SDAM says what follows a failed check (an immediate
    // retry only after a network error on a known server); a close right after the TLS
    // handshake is diagnosed across checks (`Closes`).
    establish.single_attempt = true;
    // Heartbeats are SDAM events, not command events (and are not logged as commands).
    establish.command_monitor = CommandMonitor::default();
    let monitor = Monitor {
        topology: Arc::downgrade(shared),
        stop: shared.stop.subscribe(),
        establish: Arc::new(establish),
        heartbeat: shared.options.heartbeat_frequency,
        streaming: shared.options.streaming,
        connect_timeout: shared.options.connect_timeout,
        rtt: Arc::clone(&server.rtt),
        server,
    };
    runtime.spawn(monitor.run());
}

struct Monitor {
    topology: WeakShared,
    stop: watch::Receiver<bool>,
    establish: Arc<EstablishOptions>,
    heartbeat: Duration,
    /// The streaming protocol is allowed (`serverMonitoringMode`); else this monitor polls
    /// and measures no separate round-trip times.
    streaming: bool,
    connect_timeout: Duration,
    /// The moving average of round-trip times, shared with the RTT task while streaming.
    rtt: Arc<Mutex<RttAverage>>,
    server: Arc<Server>,
}

/// Aborts the RTT task when the monitor ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Monitor {
    fn stopped(&self) -> bool {
        *self.stop.borrow() || self.server.is_removed() || self.topology.strong_count() == 0
    }

    async fn run(self) {
        let mut conn: Option<Connection> = None;
        let mut previous: Option<ServerDescription> = None;
        let mut rtt_task: Option<AbortOnDrop> = None;
        let mut closes = Closes::default();
        let mut stop = self.stop.clone();
        loop {
            if self.stopped() {
                break;
            }
            let started = Instant::now();
            let streaming = self.streaming
                && conn.is_some()
                && previous
                    .as_ref()
                    .is_some_and(|p| topology_version(p).is_some());
            let check = self.check(&mut conn, previous.as_ref(), streaming, &mut closes);
            let outcome = tokio::select! {
                outcome = check => outcome,
                _ = self.server.cancel_check.notified() => {
                    // The server is already marked Unknown by the error that cancelled the
                    // check. Server Monitoring: wait before the next check, on a new
                    // connection (a heartbeat, or a requested check but not sooner than
                    // minHeartbeatFrequencyMS): a server that answers its monitor but fails
                    // every application connection must not be rediscovered in a tight loop.
                    conn = None;
                    rtt_task = None;
                    previous = None;
                    let cancelled = Instant::now();
                    tokio::select! {
                        _ = tokio::time::sleep(self.heartbeat) => {}
                        _ = self.server.check_now.notified() => {
                            tokio::time::sleep_until(cancelled + MIN_HEARTBEAT_FREQUENCY).await;
                        }
                        _ = stop.changed() => break,
                    }
                    continue;
                }
                _ = stop.changed() => break,
            };
            let was_known = previous
                .as_ref()
                .is_some_and(|p| p.server_type != ServerType::Unknown);
            let mut timed_out = false;
            let mut retry_now = false;
            let description = match outcome {
                Ok(d) => {
                    self.server.set_last_error(None);
                    closes = Closes::default();
                    d
                }
                Err(e) => {
                    timed_out = is_network_timeout(&e);
                    retry_now = retries_at_once(was_known, &e);
                    conn = None;
                    rtt_task = None;
                    self.rtt.lock().unwrap_or_else(|p| p.into_inner()).reset();
                    tracing::debug!(address = %self.server.address, error = %e, "server check failed");
                    let d = ServerDescription::unknown_with_error(
                        self.server.address.clone(),
                        e.to_string(),
                    );
                    self.server.set_last_error(Some(e));
                    d
                }
            };
            let failed = description.server_type == ServerType::Unknown;
            let Some(topology) = self.topology.upgrade() else {
                break;
            };
            topology.apply(description.clone(), timed_out);
            drop(topology);
            let now_streaming =
                self.streaming && !failed && topology_version(&description).is_some();
            if now_streaming && rtt_task.is_none() {
                rtt_task = Some(self.spawn_rtt_task());
            }
            let previous_tv = previous.as_ref().and_then(topology_version);
            if retry_now {
                previous = Some(description);
                continue;
            }
            if now_streaming && conn.is_some() {
                // The next awaitable hello waits on the server side. A server that answers at
                // once without a change (not honouring maxAwaitTimeMS) must not make this a
                // busy loop: keep to minHeartbeatFrequencyMS then.
                let unchanged =
                    previous_tv.is_some() && previous_tv == topology_version(&description);
                if unchanged {
                    tokio::select! {
                        _ = tokio::time::sleep_until(started + MIN_HEARTBEAT_FREQUENCY) => {}
                        _ = stop.changed() => break,
                    }
                }
                previous = Some(description);
                continue;
            }
            previous = Some(description);
            // Polling: wait for the next heartbeat or an immediate-check request, but never
            // check more often than minHeartbeatFrequencyMS.
            let next = started + self.heartbeat;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.server.check_now.notified() => {
                    tokio::time::sleep_until(started + MIN_HEARTBEAT_FREQUENCY).await;
                }
                _ = stop.changed() => break,
            }
        }
        tracing::trace!(address = %self.server.address, "monitor stopped");
    }

    /// One check: a new connection's handshake, a `hello`, or an awaitable `hello`.
    async fn check(
        &self,
        conn: &mut Option<Connection>,
        previous: Option<&ServerDescription>,
        streaming: bool,
        closes: &mut Closes,
    ) -> Result<ServerDescription> {
        if conn.as_ref().is_some_and(Connection::is_broken) {
            *conn = None;
        }
        let address = &self.server.address;
        let Some(c) = conn.as_mut() else {
            // SDAM: the started event comes before the socket is opened.
            let id = next_monitoring_connection_id();
            let beat = Beat::start(&self.topology, address, false, id, None);
            let c = match conn::establish_with_step(address, &self.establish, id).await {
                Ok(c) => {
                    *closes = Closes::default();
                    c
                }
                Err(failure) => {
                    let e = closes.diagnose(address, &self.establish, failure);
                    Beat::failed(beat, &e);
                    return Err(e);
                }
            };
            Beat::succeeded(beat, &c);
            let rtt = record_rtt(&self.rtt, c.handshake_rtt());
            let mut description = c.hello().description.clone();
            description.round_trip_time = Some(rtt);
            description.last_update_time = self.now();
            *conn = Some(c);
            return Ok(description);
        };
        if let (true, Some(tv)) = (streaming, previous.and_then(topology_version)) {
            // The server answers when its state changes or after maxAwaitTimeMS.
            c.set_read_timeout(Some(self.connect_timeout + self.heartbeat));
            // SDAM: published before the next streamed reply is awaited.
            let beat = Beat::start(
                &self.topology,
                address,
                true,
                c.id(),
                c.server_connection_id(),
            );
            let replied = if c.is_streaming() {
                c.next_streamed().await
            } else {
                let max_await = i64::try_from(self.heartbeat.as_millis()).unwrap_or(i64::MAX);
                c.command_exhaust(
                    "admin",
                    doc! { "hello": 1, "topologyVersion": tv, "maxAwaitTimeMS": max_await },
                )
                .await
            };
            let reply = Beat::outcome(beat, replied.map(|(reply, _more)| reply))?;
            Ok(self.describe(&reply, None))
        } else {
            c.set_read_timeout(Some(self.connect_timeout));
            let beat = Beat::start(
                &self.topology,
                address,
                false,
                c.id(),
                c.server_connection_id(),
            );
            let start = Instant::now();
            let replied = c.command("admin", doc! { "hello": 1 }).await;
            let sample = start.elapsed();
            let reply = Beat::outcome(beat, replied)?;
            Ok(self.describe(&reply, Some(sample)))
        }
    }

    /// The description of a reply, with the round-trip time folded into the moving average.
    fn describe(&self, reply: &Document, sample: Option<Duration>) -> ServerDescription {
        let rtt = match sample {
            Some(s) => Some(record_rtt(&self.rtt, s)),
            None => self.rtt.lock().unwrap_or_else(|p| p.into_inner()).average(),
        };
        ServerDescription::from_hello(self.server.address.clone(), reply, rtt, self.now())
            .unwrap_or_else(|e| {
                ServerDescription::unknown_with_error(self.server.address.clone(), e.to_string())
            })
    }

    fn now(&self) -> Duration {
        self.topology.upgrade().map(|t| t.now()).unwrap_or_default()
    }

    /// Measures round-trip times on a connection of its own while the monitor streams.
    fn spawn_rtt_task(&self) -> AbortOnDrop {
        let establish = Arc::clone(&self.establish);
        let address = self.server.address.clone();
        let rtt = Arc::clone(&self.rtt);
        let heartbeat = self.heartbeat;
        let connect_timeout = self.connect_timeout;
        let mut stop = self.stop.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut conn: Option<Connection> = None;
            loop {
                let sample = async {
                    match conn.as_mut().filter(|c| !c.is_broken()) {
                        Some(c) => {
                            c.set_read_timeout(Some(connect_timeout));
                            let start = Instant::now();
                            c.command("admin", doc! { "hello": 1 }).await?;
                            Ok(Some(start.elapsed()))
                        }
                        // The connection's handshake is no sample (the monitor's own was one,
                        // and TLS setup is no round trip): the first comes a heartbeat later.
                        None => {
                            let id = next_monitoring_connection_id();
                            conn = Some(conn::establish(&address, &establish, id).await?);
                            Ok::<_, crate::error::Error>(None)
                        }
                    }
                };
                let started = Instant::now();
                tokio::select! {
                    r = sample => match r {
                        Ok(Some(s)) => { record_rtt(&rtt, s); }
                        Ok(None) => {}
                        Err(_) => conn = None,
                    },
                    _ = stop.changed() => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(started + heartbeat) => {}
                    _ = stop.changed() => return,
                }
            }
        }))
    }
}

/// How many consecutive checks must find their fresh connection closed right after the TLS
/// handshake before the monitor calls it a refusal of the client certificate (which a TLS 1.3
/// server that sends no alert looks like). Two do not suffice: a server that fails the
/// `hello` of a check twice (a restart, a fail point) gets the Unknown state and the waiting
/// SDAM prescribes, not a configuration error that ends server selection at once.
const CLOSES_FOR_REFUSAL: u32 = 3;

/// The checks of a monitor whose new connection the server closed right after the TLS
/// handshake, in a row (none once a check gets a reply or fails otherwise).
#[derive(Default)]
struct Closes {
    count: u32,
    first: Option<Error>,
}

impl Closes {
    /// The error a failed connection attempt of a check reports: after
    /// [`CLOSES_FOR_REFUSAL`] closes in a row, the diagnosis (a configuration error, which
    /// server selection reports at once).
    fn diagnose(
        &mut self,
        address: &ServerAddress,
        opts: &conn::EstablishOptions,
        failure: conn::EstablishError,
    ) -> Error {
        if !failure.closed_after_tls {
            *self = Closes::default();
            return failure.error;
        }
        self.count += 1;
        let first = self.first.get_or_insert_with(|| failure.error.clone());
        if self.count >= CLOSES_FOR_REFUSAL {
            conn::refused_after_closes(address, opts, first, self.count)
        } else {
            failure.error
        }
    }
}

/// The id of a new monitoring connection (or RTT connection), in the heartbeat events: unique
/// in the process, from a range of its own (pooled connections are numbered per pool).
fn next_monitoring_connection_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One heartbeat whose started event was published: its succeeded or failed event follows,
/// a failure if the check is cancelled (dropped) first.
struct Beat {
    topology: WeakShared,
    address: ServerAddress,
    awaited: bool,
    driver_connection_id: u32,
    server_connection_id: Option<i64>,
    started: Instant,
    done: bool,
}

impl Beat {
    /// Publishes the started event, if anyone listens.
    fn start(
        topology: &WeakShared,
        address: &ServerAddress,
        awaited: bool,
        driver_connection_id: u32,
        server_connection_id: Option<i64>,
    ) -> Option<Beat> {
        let shared = topology.upgrade()?;
        if !shared.events.active() {
            return None;
        }
        shared.publish(|| {
            SdamEvent::ServerHeartbeatStarted(ServerHeartbeatStartedEvent {
                server_address: address.clone(),
                awaited,
                driver_connection_id,
                server_connection_id,
            })
        });
        Some(Beat {
            topology: topology.clone(),
            address: address.clone(),
            awaited,
            driver_connection_id,
            server_connection_id,
            started: Instant::now(),
            done: false,
        })
    }

    /// Publishes the outcome of a `hello` and passes it on.
    fn outcome(beat: Option<Beat>, replied: Result<Document>) -> Result<Document> {
        if let Some(mut beat) = beat {
            beat.done = true;
            match &replied {
                Ok(reply) => beat.publish_succeeded(reply.clone(), beat.server_connection_id),
                Err(e) => beat.publish_failed(e),
            }
        }
        replied
    }

    /// A new monitoring connection's handshake succeeded: its reply is the heartbeat's.
    fn succeeded(beat: Option<Beat>, conn: &Connection) {
        if let Some(mut beat) = beat {
            beat.done = true;
            let reply = conn::to_document(conn.reply()).unwrap_or_default();
            beat.publish_succeeded(reply, conn.server_connection_id());
        }
    }

    fn failed(beat: Option<Beat>, e: &Error) {
        if let Some(mut beat) = beat {
            beat.done = true;
            beat.publish_failed(e);
        }
    }

    fn publish_succeeded(&self, reply: Document, server_connection_id: Option<i64>) {
        if let Some(shared) = self.topology.upgrade() {
            shared.publish(|| {
                SdamEvent::ServerHeartbeatSucceeded(ServerHeartbeatSucceededEvent {
                    duration: self.started.elapsed(),
                    reply,
                    server_address: self.address.clone(),
                    awaited: self.awaited,
                    driver_connection_id: self.driver_connection_id,
                    server_connection_id,
                })
            });
        }
    }

    fn publish_failed(&self, e: &Error) {
        if let Some(shared) = self.topology.upgrade() {
            shared.publish(|| {
                SdamEvent::ServerHeartbeatFailed(ServerHeartbeatFailedEvent {
                    duration: self.started.elapsed(),
                    failure: e.clone(),
                    server_address: self.address.clone(),
                    awaited: self.awaited,
                    driver_connection_id: self.driver_connection_id,
                    server_connection_id: self.server_connection_id,
                })
            });
        }
    }
}

impl Drop for Beat {
    fn drop(&mut self) {
        if !self.done {
            self.publish_failed(&Error::from(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the check was cancelled: an operation on the server failed, or the client shut \
                 down",
            )));
        }
    }
}

/// Server Monitoring, "Network or command error during server check": after a network error
/// (a timeout included) on a server that was known, the next check begins at once (a single
/// blip should not leave it Unknown for a whole heartbeat); after a command error, or on a
/// server not known before, it waits like any other.
fn retries_at_once(was_known: bool, e: &Error) -> bool {
    was_known && e.is_network_error()
}

/// True for a check that failed because the server did not answer in time (SDAM: its pool's
/// clear then interrupts the connections in use, which are likely stuck too).
fn is_network_timeout(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Timeout { .. } => true,
        ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
        _ => false,
    }
}

/// Adds a sample to the moving average.
fn record_rtt(average: &Mutex<RttAverage>, sample: Duration) -> Duration {
    average
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add_sample(sample)
}

/// The `topologyVersion` a server reported, as it must be sent back in an awaitable `hello`.
fn topology_version(d: &ServerDescription) -> Option<Document> {
    d.topology_version
        .as_ref()
        .map(|tv| doc! { "processId": tv.process_id, "counter": tv.counter })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a check the server did not answer in time interrupts the connections in use; a
    /// refused or reset connection clears the pool without interrupting.
    /// Two checks whose new connection is closed right after the TLS handshake leave the
    /// server Unknown with a network error (SDAM waits); the third in a row is called a refusal
    /// of the client certificate (a configuration error, reported at once). Any other outcome
    /// starts the count again.
    #[test]
    fn three_closes_after_tls_in_a_row_are_a_refusal() {
        let opts = conn::EstablishOptions {
            tls: Some(crate::conn::tests::pass_through_tls(Some("CN=client"))),
            ..Default::default()
        };
        let address = ServerAddress::Tcp {
            host: "db1".into(),
            port: Some(27017),
        };
        let failure = |kind: std::io::ErrorKind, closed_after_tls: bool| conn::EstablishError {
            error: Error::from(std::io::Error::from(kind)),
            step: conn::EstablishStep::Handshake,
            closed_after_tls,
            io_in_handshake: true,
        };
        let closed = || failure(std::io::ErrorKind::UnexpectedEof, true);
        let mut closes = Closes::default();
        // Two closes in a row are network errors (a restart, a fail point); the third is a
        // refusal; any other failure starts the count again.
        let two_closes_are_network_errors = |closes: &mut Closes| {
            for n in 1..=2 {
                let e = closes.diagnose(&address, &opts, closed());
                assert!(e.is_network_error(), "close {n}: {e:?}");
            }
        };
        two_closes_are_network_errors(&mut closes);
        let refused = closes.diagnose(&address, &opts, closed());
        assert!(
            matches!(&*refused.kind, ErrorKind::TlsHandshake { reason, .. }
                if reason.contains("on 3 consecutive fresh connections")
                    && reason.contains("refused the client certificate CN=client")),
            "{refused:?}"
        );
        let other = failure(std::io::ErrorKind::ConnectionRefused, false);
        assert!(closes.diagnose(&address, &opts, other).is_network_error());
        two_closes_are_network_errors(&mut closes);
    }

    #[test]
    fn only_a_network_error_on_a_known_server_is_checked_again_at_once() {
        let reset = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let timeout = Error::new(ErrorKind::Timeout {
            message: "hello to db1:27017 within 10000 ms".into(),
        });
        let shutting_down = Error::new(ErrorKind::Command {
            code: 91,
            code_name: "ShutdownInProgress".into(),
            message: "Failing command via 'failCommand' failpoint".into(),
        });
        assert!(retries_at_once(true, &reset));
        assert!(retries_at_once(true, &timeout));
        assert!(!retries_at_once(true, &shutting_down));
        assert!(!retries_at_once(false, &reset));
    }

    #[test]
    fn only_a_timed_out_check_interrupts_connections_in_use() {
        let timeout = Error::new(ErrorKind::Timeout {
            message: "hello to db1:27017 within 10000 ms".into(),
        });
        let io_timeout = Error::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let refused = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let reset = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_network_timeout(&timeout));
        assert!(is_network_timeout(&io_timeout));
        assert!(!is_network_timeout(&refused));
        assert!(!is_network_timeout(&reset));
    }
}
