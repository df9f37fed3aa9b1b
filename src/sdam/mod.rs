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

mod errors;
mod rtt;
mod selection;
mod server;
mod topology;

// The whole pure API is exported; the scenario runner uses what the I/O layer does not.
#[allow(unused_imports)]
pub use errors::{
    is_not_writable_primary, is_recovering, is_shutdown_error, is_state_change_error,
    ApplicationError, ApplicationErrorKind, ErrorOutcome, ErrorPhase,
};
pub use rtt::RttAverage;
#[allow(unused_imports)]
pub use selection::{
    choose_by_operation_count, explain_no_suitable_server, in_latency_window,
    read_preference_document, select_server, suitable_servers, validate_max_staleness,
    SelectionCriteria, XorShift64,
};
pub(crate) use server::address_key;
#[allow(unused_imports)]
pub use server::{
    ServerDescription, ServerType, TopologyVersion, DEFAULT_MAX_BSON_OBJECT_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE_BYTES, DEFAULT_MAX_WRITE_BATCH_SIZE,
};
#[allow(unused_imports)]
pub use topology::{
    TopologyChange, TopologyDescription, TopologyType, DEFAULT_HEARTBEAT_FREQUENCY,
    DEFAULT_LOCAL_THRESHOLD, MAX_SUPPORTED_WIRE_VERSION, MIN_SUPPORTED_WIRE_VERSION,
};

#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;
