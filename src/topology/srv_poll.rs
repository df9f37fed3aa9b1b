//! The topology as the target of SRV polling (mongos discovery for `mongodb+srv://`).

use std::sync::{Arc, Weak};

use super::{known_servers, Shared};
use crate::options::ServerAddress;
use crate::sdam::TopologyType;
use crate::srv::{SrvPollTarget, SrvPoller};

impl SrvPollTarget for Shared {
    fn srv_polling_allowed(&self) -> bool {
        !self.shut_down.load(std::sync::atomic::Ordering::SeqCst)
            && matches!(
                self.lock().description.topology_type,
                TopologyType::Sharded | TopologyType::Unknown
            )
    }

    fn current_hosts(&self) -> Vec<ServerAddress> {
        self.lock()
            .description
            .servers
            .values()
            .map(|s| s.address.clone())
            .collect()
    }

    fn set_hosts(&self, hosts: Vec<ServerAddress>) {
        // `act_on_change` needs the Arc (it spawns monitors holding a weak reference).
        let Some(shared) = self.this.upgrade() else {
            return;
        };
        let mut st = shared.lock();
        let before = known_servers(&st.description);
        let previous = shared.events.active().then(|| st.description.clone());
        let change = st.description.set_srv_hosts(&hosts);
        if let Some(previous) = previous {
            shared.events.push(crate::event::sdam::update_events(
                shared.events.topology_id,
                &previous,
                &st.description,
                None,
            ));
        }
        shared.act_on_change(st, before, change, None, None, Vec::new());
    }
}

/// Starts the poller task (with a weak reference: dropping the client stops it).
pub(super) fn spawn(runtime: &tokio::runtime::Handle, shared: &Arc<Shared>, poller: SrvPoller) {
    let weak: Weak<dyn SrvPollTarget> = Arc::downgrade(shared) as Weak<dyn SrvPollTarget>;
    runtime.spawn(poller.run(weak, shared.stop.subscribe()));
}
