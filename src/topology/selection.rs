//! Server selection with waiting: pick a suitable server from the current description, or ask
//! the monitors to check now and wait for the description to change, up to
//! `serverSelectionTimeoutMS`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;

use super::{ConnectionHandle, Server, Shared, Topology};
use crate::csot::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::event::log;
use crate::event::sdam::describe_topology;
use crate::sdam::{self, SelectionCriteria, ServerType};

impl Topology {
    /// Selects a server for `criteria` (avoiding the `deprioritized` servers when others suit,
    /// for a retry on a sharded cluster; the SDAM selection function decides) and checks out
    /// one of its connections.
    ///
    /// Errors that no amount of waiting fixes end the selection at once: the deployment's
    /// wire versions are incompatible, or opening a connection failed for another reason than
    /// the network (authentication, TLS, a full pool's wait queue, shutdown).
    ///
    /// Under `timeoutMS` (`csot`), selection and check-out together end by the earlier of the
    /// operation's deadline and `serverSelectionTimeoutMS`, and fail with the typed timeout.
    /// Not logged: when [`selection_logged`](super::selection_logged) says so, callers use
    /// [`Topology::select_logged`].
    pub(crate) async fn select_with(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        csot: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        // As `select_bounded`, written out: one future level less for every operation.
        let Some(csot) = csot else {
            return self.select_until(criteria, deprioritized, None, None).await;
        };
        let until = csot.earlier_than(Instant::now(), self.shared.options.server_selection_timeout);
        // The check-out (which may open a connection) is bounded by the deadline as well.
        let work = self.select_until(criteria, deprioritized, Some(until), None);
        bounded_outcome(csot, tokio::time::timeout_at(until, work).await)
    }

    /// [`Topology::select_with`] with the server selection log messages, for `operation` (the
    /// command's name).
    #[cold]
    pub(crate) async fn select_logged(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        csot: Option<&Deadline>,
        operation: &str,
    ) -> Result<ConnectionHandle> {
        // The fields every selection message carries (Logging specification).
        macro_rules! selection_log {
            ($($field:tt)*) => {
                tracing::debug!(
                    target: log::SERVER_SELECTION,
                    topologyId = %self.shared.events.topology_id,
                    selector = ?criteria,
                    operation,
                    topologyDescription = %describe_topology(&self.shared.lock().description),
                    $($field)*
                )
            };
        }
        selection_log!("Server selection started");
        let result = self
            .select_bounded(criteria, deprioritized, csot, Some(&operation))
            .await;
        match &result {
            Ok(handle) => selection_log!(
                serverHost = %handle.address().host(),
                serverPort = handle.address().port(),
                "Server selection succeeded"
            ),
            Err(e) => selection_log!(failure = %e, "Server selection failed"),
        }
        result
    }

    /// Selection bounded by `timeoutMS` when given. `logged`: the operation's name when the
    /// selection is logged (for the waiting message; by reference, so that it costs an
    /// unlogged selection's future 8 bytes, not 16).
    async fn select_bounded(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        csot: Option<&Deadline>,
        logged: Option<&&str>,
    ) -> Result<ConnectionHandle> {
        let Some(csot) = csot else {
            return self
                .select_until(criteria, deprioritized, None, logged)
                .await;
        };
        let until = csot.earlier_than(Instant::now(), self.shared.options.server_selection_timeout);
        let work = self.select_until(criteria, deprioritized, Some(until), logged);
        bounded_outcome(csot, tokio::time::timeout_at(until, work).await)
    }

    /// [`Topology::select_with`] up to `until` when given (`timeoutMS`), else up to
    /// `serverSelectionTimeoutMS`.
    async fn select_until(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        until: Option<Instant>,
        logged: Option<&&str>,
    ) -> Result<ConnectionHandle> {
        let shared = &self.shared;
        shared.ensure_monitors();
        let timeout = shared.options.server_selection_timeout;
        let deadline = until.unwrap_or_else(|| Instant::now() + timeout);
        let mut changed = shared.changed.subscribe();
        // Logging spec: the waiting message once per operation.
        let mut waiting_logged = logged.is_none();
        loop {
            shared.check_shutdown()?;
            changed.borrow_and_update();
            match shared.pick(criteria, deprioritized)? {
                Some(server) => {
                    tracing::trace!(address = %server.address, ?criteria, "server selected");
                    let selected = Arc::clone(&server);
                    match ConnectionHandle::check_out(shared, server, until).await {
                        Ok(handle) => return Ok(handle),
                        // The server left the topology (a new `hosts` list, an SRV rescan)
                        // while this operation waited for one of its connections: select again.
                        Err(e) if selected.is_removed() && Instant::now() < deadline => {
                            tracing::debug!(address = %selected.address, error = %e, "the selected server left the topology; selecting again");
                            continue;
                        }
                        // Load-balanced: the one server stays selectable, so selecting again
                        // would only retry the same connect; the operation sees the error.
                        Err(e)
                            if (e.is_network_error()
                                || matches!(&*e.kind, ErrorKind::PoolCleared { .. }))
                                && !shared.is_load_balanced()
                                && Instant::now() < deadline =>
                        {
                            // Reported to the topology by the check-out (which marks the
                            // server Unknown unless it was a timeout); select again.
                            tracing::debug!(error = %e, "could not connect to the selected server");
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    if let Some(e) = shared.configuration_error() {
                        return Err(e);
                    }
                    shared.request_checks();
                    if !waiting_logged {
                        waiting_logged = true;
                        if log::selection_info_enabled() {
                            tracing::info!(
                                target: log::SERVER_SELECTION,
                                topologyId = %shared.events.topology_id,
                                selector = ?criteria,
                                operation = logged.copied().unwrap_or_default(),
                                topologyDescription = %describe_topology(&shared.lock().description),
                                remainingTimeMS = deadline.saturating_duration_since(Instant::now()).as_millis() as u64,
                                "Waiting for suitable server to become available"
                            );
                        }
                    }
                    let waited = tokio::time::timeout_at(deadline, changed.changed()).await;
                    if waited.is_err() || Instant::now() >= deadline {
                        let e = shared.selection_error(criteria);
                        tracing::debug!(error = %e, "server selection failed");
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The outcome of a selection bounded by `timeoutMS`: a wait that ran out of time is the
/// typed timeout.
fn bounded_outcome(
    csot: &Deadline,
    outcome: std::result::Result<Result<ConnectionHandle>, tokio::time::error::Elapsed>,
) -> Result<ConnectionHandle> {
    match outcome {
        Ok(Ok(handle)) => Ok(handle),
        Ok(Err(e)) if is_wait_expiry(&e) => {
            Err(csot.expired(&format!("during server selection ({e})")))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(csot.expired("during server selection and connection check-out")),
    }
}

/// The errors of a wait that ran out of time (not of a deployment that cannot serve).
fn is_wait_expiry(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::WaitQueueTimeout { .. } => true,
        ErrorKind::ServerSelection { message } => message.contains("serverSelectionTimeoutMS"),
        _ => false,
    }
}

impl Shared {
    /// The server for `criteria` now, if any: among the suitable servers in the latency window,
    /// the less busy of two picked at random (Server Selection specification).
    fn pick(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
    ) -> Result<Option<Arc<Server>>> {
        let st = self.lock();
        if let Some(message) = &st.description.compatibility_error {
            return Err(Error::new(ErrorKind::ServerSelection {
                message: message.clone(),
            }));
        }
        if let SelectionCriteria::Read(rp) = criteria {
            sdam::validate_max_staleness(rp, st.description.heartbeat_frequency)?;
        }
        let load = |a: &crate::options::ServerAddress| {
            st.servers.get(&super::key(a)).map_or(usize::MAX, |s| {
                s.operation_count.load(Ordering::SeqCst) as usize
            })
        };
        let mut random = |n: usize| self.random_below(n);
        let chosen =
            sdam::select_server(&st.description, criteria, deprioritized, load, &mut random)?;
        Ok(chosen.and_then(|a| st.servers.get(&super::key(&a)).cloned()))
    }

    /// When every server has been tried and failed, and a monitor failed for a reason waiting
    /// will not fix (a TLS handshake refused, a certificate not trusted), that error: reported
    /// at once rather than after `serverSelectionTimeoutMS`.
    fn configuration_error(&self) -> Option<Error> {
        let st = self.lock();
        let all_failed = st
            .description
            .servers
            .values()
            .all(|s| s.server_type == ServerType::Unknown && s.error.is_some());
        if !all_failed {
            return None;
        }
        st.servers.values().find_map(|s| s.configuration_error())
    }

    fn request_checks(&self) {
        for server in self.lock().servers.values() {
            server.request_check();
        }
    }

    fn selection_error(&self, criteria: &SelectionCriteria) -> Error {
        let st = self.lock();
        let mut explanation = sdam::explain_no_suitable_server(&st.description, criteria);
        if !st.removals.is_empty() {
            explanation.push_str("; ");
            explanation.push_str(&st.removals.join("; "));
        }
        Error::new(ErrorKind::ServerSelection {
            message: format!(
                "{explanation} (waited {} ms, serverSelectionTimeoutMS)",
                self.options.server_selection_timeout.as_millis()
            ),
        })
    }
}
