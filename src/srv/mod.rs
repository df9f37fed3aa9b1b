//! `mongodb+srv://`: the DNS lookups of Initial DNS Seedlist Discovery (before any connection)
//! and the rules of SRV polling for mongos discovery.
//!
//! [`rules`] holds the pure rules (domain check, TXT options, `srvMaxHosts`, the polling
//! update); [`lookup`] asks hickory-resolver.

mod lookup;
mod rules;

pub(crate) use lookup::{lookup_ip, resolve};
pub(crate) use rules::select_hosts;

// For SRV polling (mongos discovery), which runs on the topology monitors.
#[allow(unused_imports)]
pub(crate) use lookup::lookup_srv_hosts;
#[allow(unused_imports)]
pub(crate) use rules::apply_srv_poll;
