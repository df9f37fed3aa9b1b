//! The Unified Test Format suites (CRUD, retryable reads and writes, sessions, command
//! monitoring, collection and index management, run-command, versioned API, read/write concern,
//! client-side operations timeout, load balancers, transactions and their convenient API,
//! change streams, GridFS, and the format's own tests) against the SecantusDB test server. See
//! `tests/unified/mod.rs`.
//!
//! Built with the OpenSSL backend only (the default feature set): the suites run once, in one
//! feature set.
#![cfg(all(feature = "openssl", not(feature = "native-tls")))]

mod common;
#[path = "unified/mod.rs"]
mod unified;
