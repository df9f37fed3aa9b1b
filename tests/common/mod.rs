//! Helpers shared by the integration tests and benches. Each binary uses only some of them,
//! hence the `allow(dead_code)` (on the items, so that an includer's own allow is no duplicate).

#[allow(dead_code)]
pub mod certs;
#[allow(dead_code)]
pub mod server;
