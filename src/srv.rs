//! `mongodb+srv://`: the DNS lookups of Initial DNS Seedlist Discovery (before any connection)
//! and SRV polling for mongos discovery.
//!
//! [`rules`] holds the pure rules (domain check, TXT options, `srvMaxHosts`, the polling
//! update); [`lookup`] asks hickory-resolver; [`poll`] is the rescan task.

mod lookup;
mod poll;
mod rules;

pub(crate) use lookup::resolve;
pub(crate) use poll::{SrvPollTarget, SrvPoller};
pub(crate) use rules::select_hosts;
