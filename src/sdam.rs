//! Server discovery and monitoring (SDAM) and server selection, sans I/O.
//!
//! Everything here is data and pure decisions, proven against the specification's scenario
//! files (`spec_tests`):
//! - [`ServerDescription::from_hello`]: what a `hello` reply says about a server;
//! - [`TopologyDescription::update`]: every SDAM transition, returning the servers added and
//!   removed so the I/O layer can start or stop monitors and pools;
//! - [`TopologyDescription::handle_application_error`]: what an error on an application
//!   connection does to the server and its pool;
//! - [`select_server`] and its steps ([`suitable_servers`], [`in_latency_window`],
//!   [`choose_by_operation_count`]), [`read_preference_document`] and
//!   [`explain_no_suitable_server`];
//! - [`RttAverage`]: the round-trip average used for the latency window.
//!
//! Time is whatever the caller says it is (a `Duration` since an epoch of its choosing), and
//! randomness is a function the caller passes, so every decision is reproducible in tests.
//! The [`Client`](crate::Client) runs these same functions; they are public so that a
//! deployment's layout and a read preference can be tried offline:
//!
//! ```
//! use std::time::Duration;
//! use mongo_x509::bson::doc;
//! use mongo_x509::options::ServerAddress;
//! use mongo_x509::sdam::{select_server, SelectionCriteria, ServerDescription, TopologyDescription};
//!
//! # fn main() -> mongo_x509::error::Result<()> {
//! let seed = ServerAddress::parse("db1:27017")?;
//! let mut topology = TopologyDescription::new(&[seed.clone()], None, None, false);
//! let hello = doc! {
//!     "ok": 1, "isWritablePrimary": true, "setName": "rs0",
//!     "hosts": ["db1:27017", "db2:27017"], "minWireVersion": 0, "maxWireVersion": 21,
//! };
//! let reply = ServerDescription::from_hello(seed, &hello, Some(Duration::from_millis(2)), Duration::ZERO)?;
//! let change = topology.update(reply);
//! assert_eq!(change.added.len(), 1, "db2 is discovered");
//! let chosen = select_server(&topology, &SelectionCriteria::Write, &[], |_| 0, &mut |_| 0)?;
//! assert_eq!(chosen.map(|a| a.to_string()).as_deref(), Some("db1:27017"));
//! # Ok(()) }
//! ```

mod errors;
mod rtt;
mod selection;
pub(crate) mod server;
mod topology;

pub use crate::xorshift::XorShift64;
pub use errors::{
    is_not_writable_primary, is_recovering, is_shutdown_error, is_state_change_error,
    ApplicationError, ApplicationErrorKind, ErrorOutcome, ErrorPhase,
};
pub use rtt::RttAverage;
pub use selection::{
    choose_by_operation_count, explain_no_suitable_server, in_latency_window,
    read_preference_document, select_server, suitable_servers, validate_max_staleness,
    SelectionCriteria,
};
pub(crate) use server::address_key;
pub use server::{
    ServerDescription, ServerType, TopologyVersion, DEFAULT_MAX_BSON_OBJECT_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE_BYTES, DEFAULT_MAX_WRITE_BATCH_SIZE,
    MAX_LOGICAL_SESSION_TIMEOUT_MINUTES, MAX_MESSAGE_SIZE_CEILING, MAX_REPLICA_SET_MEMBERS,
    MAX_WRITE_BATCH_SIZE_CEILING,
};
pub use topology::{
    TopologyChange, TopologyDescription, TopologyType, DEFAULT_HEARTBEAT_FREQUENCY,
    DEFAULT_LOCAL_THRESHOLD, MAX_SUPPORTED_WIRE_VERSION, MIN_SUPPORTED_WIRE_VERSION,
};

#[cfg(test)]
mod hello_bounds;
#[cfg(test)]
mod hello_limits;
#[cfg(test)]
pub(crate) mod spec_tests;
#[cfg(test)]
mod steady_state;
#[cfg(test)]
mod tests;
