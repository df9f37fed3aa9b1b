//! Server selection with waiting: pick a suitable server from the current description, or ask
//! the monitors to check now and wait for the description to change, up to
//! `serverSelectionTimeoutMS`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bson::{doc, Document};
use tokio::time::Instant;

use super::{ConnectionHandle, Server, Shared, Topology};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{ReadPreference, ReadPreferenceMode};
use crate::sdam::{self, SelectionCriteria, ServerType, TopologyType};

impl Topology {
    /// Selects a server for `criteria` and checks out one of its connections.
    ///
    /// Errors that no amount of waiting fixes end the selection at once: the deployment's
    /// wire versions are incompatible, or opening a connection failed for another reason than
    /// the network (authentication, TLS, a full pool's wait queue, shutdown).
    pub(crate) async fn select(&self, criteria: &SelectionCriteria) -> Result<ConnectionHandle> {
        let shared = &self.shared;
        shared.ensure_monitors();
        let timeout = shared.options.server_selection_timeout;
        let deadline = Instant::now() + timeout;
        let mut changed = shared.changed.subscribe();
        loop {
            shared.check_shutdown()?;
            changed.borrow_and_update();
            match shared.pick(criteria)? {
                Some(server) => match ConnectionHandle::check_out(shared, server).await {
                    Ok(handle) => return Ok(handle),
                    Err(e) if e.is_network_error() => {
                        // Reported to the topology by the check-out; select again.
                        tracing::debug!(error = %e, "could not connect to the selected server");
                        continue;
                    }
                    Err(e) => return Err(e),
                },
                None => {
                    if let Some(e) = shared.configuration_error() {
                        return Err(e);
                    }
                    shared.request_checks();
                    let waited = tokio::time::timeout_at(deadline, changed.changed()).await;
                    if waited.is_err() || Instant::now() >= deadline {
                        return Err(shared.selection_error(criteria));
                    }
                }
            }
        }
    }
}

impl Shared {
    /// The server for `criteria` now, if any: among the suitable servers in the latency window,
    /// the less busy of two picked at random (Server Selection specification).
    fn pick(&self, criteria: &SelectionCriteria) -> Result<Option<Arc<Server>>> {
        let st = self.lock();
        if let Some(message) = super::shim::compatibility_error(&st.description) {
            return Err(Error::new(ErrorKind::ServerSelection { message }));
        }
        let candidates: Vec<Arc<Server>> = super::shim::suitable_in_window(
            &st.description,
            criteria,
            self.options.local_threshold,
        )
        .into_iter()
        .filter_map(|address| st.servers.get(&address).cloned())
        .collect();
        Ok(match candidates.len() {
            0 => None,
            1 => candidates.into_iter().next(),
            n => {
                let a = (self.next_random() % n as u64) as usize;
                let mut b = (self.next_random() % (n as u64 - 1)) as usize;
                if b >= a {
                    b += 1;
                }
                let load = |i: usize| candidates[i].operation_count.load(Ordering::SeqCst);
                let pick = if load(b) < load(a) { b } else { a };
                candidates.into_iter().nth(pick)
            }
        })
    }

    /// When no server is known and a monitor failed for a reason waiting will not fix (a TLS
    /// handshake refused, a certificate not trusted), that error: reported at once rather than
    /// after `serverSelectionTimeoutMS`.
    fn configuration_error(&self) -> Option<Error> {
        let st = self.lock();
        if st
            .description
            .servers
            .iter()
            .any(|s| s.server_type != ServerType::Unknown)
        {
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

/// The `$readPreference` to send with a read (Server Selection, "Passing read preference to
/// mongos and load balancers" and "Topology type: Single"), or `None` when none is sent.
pub(crate) fn read_preference_document(
    topology_type: TopologyType,
    server_type: ServerType,
    rp: &ReadPreference,
) -> Option<Document> {
    let full = || {
        let mut d = doc! { "mode": rp.mode.as_str() };
        if !rp.tag_sets.is_empty() {
            let tags: Vec<Document> = rp
                .tag_sets
                .iter()
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), v.clone().into()))
                        .collect()
                })
                .collect();
            d.insert("tags", tags);
        }
        if let Some(s) = rp.max_staleness {
            d.insert("maxStalenessSeconds", s.as_secs() as i64);
        }
        d
    };
    match (topology_type, server_type) {
        (_, ServerType::Mongos) | (TopologyType::LoadBalanced, _) | (TopologyType::Sharded, _) => {
            match rp.mode {
                ReadPreferenceMode::Primary => None,
                ReadPreferenceMode::SecondaryPreferred
                    if rp.tag_sets.is_empty() && rp.max_staleness.is_none() =>
                {
                    // The spec lets drivers rely on the secondaryOk bit here; OP_MSG has none,
                    // so the mode is sent as it is.
                    Some(full())
                }
                _ => Some(full()),
            }
        }
        // A direct connection to a replica-set member: any member may answer.
        (TopologyType::Single, ServerType::Standalone) => None,
        (TopologyType::Single, _) => Some(match rp.mode {
            ReadPreferenceMode::Primary => doc! { "mode": "primaryPreferred" },
            _ => full(),
        }),
        (_, _) => match rp.mode {
            ReadPreferenceMode::Primary => None,
            _ => Some(full()),
        },
    }
}
