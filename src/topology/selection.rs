//! Server selection with waiting: pick a suitable server from the current description, or ask
//! the monitors to check now and wait for the description to change, up to
//! `serverSelectionTimeoutMS`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;

use super::{ConnectionHandle, Server, Shared, Topology};
use crate::csot::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::sdam::{self, SelectionCriteria, ServerType};

impl Topology {
    /// Selects a server for `criteria` and checks out one of its connections.
    ///
    /// Errors that no amount of waiting fixes end the selection at once: the deployment's
    /// wire versions are incompatible, or opening a connection failed for another reason than
    /// the network (authentication, TLS, a full pool's wait queue, shutdown).
    ///
    /// Under `timeoutMS` (`csot`), selection and check-out together end by the earlier of the
    /// operation's deadline and `serverSelectionTimeoutMS`, and fail with the typed timeout.
    pub(crate) async fn select(
        &self,
        criteria: &SelectionCriteria,
        csot: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        self.select_with(criteria, &[], csot).await
    }

    /// [`select`](Self::select) that avoids the `deprioritized` servers when others suit (for
    /// a retry on a sharded cluster; the SDAM selection function decides).
    pub(crate) async fn select_with(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        csot: Option<&Deadline>,
    ) -> Result<ConnectionHandle> {
        let Some(csot) = csot else {
            return self.select_until(criteria, deprioritized, None).await;
        };
        let until = csot.earlier_than(Instant::now(), self.shared.options.server_selection_timeout);
        // The check-out (which may open a connection) is bounded by the deadline as well.
        let work = self.select_until(criteria, deprioritized, Some(until));
        match tokio::time::timeout_at(until, work).await {
            Ok(Ok(handle)) => Ok(handle),
            Ok(Err(e)) if is_wait_expiry(&e) => {
                Err(csot.expired(&format!("during server selection ({e})")))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(csot.expired("during server selection and connection check-out")),
        }
    }

    /// [`Topology::select_with`] up to `until` when given (`timeoutMS`), else up to
    /// `serverSelectionTimeoutMS`.
    async fn select_until(
        &self,
        criteria: &SelectionCriteria,
        deprioritized: &[crate::options::ServerAddress],
        until: Option<Instant>,
    ) -> Result<ConnectionHandle> {
        let shared = &self.shared;
        shared.ensure_monitors();
        let timeout = shared.options.server_selection_timeout;
        let deadline = until.unwrap_or_else(|| Instant::now() + timeout);
        let mut changed = shared.changed.subscribe();
        loop {
            shared.check_shutdown()?;
            changed.borrow_and_update();
            match shared.pick(criteria, deprioritized)? {
                Some(server) => {
                    tracing::trace!(address = %server.address, ?criteria, "server selected");
                    match ConnectionHandle::check_out(shared, server, until).await {
                        Ok(handle) => return Ok(handle),
                        // Load-balanced: the one server stays selectable, so selecting again
                        // would only retry the same connect; the operation sees the error.
                        Err(e)
                            if e.is_network_error()
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
