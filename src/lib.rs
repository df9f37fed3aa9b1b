//! # mongo-x509
//!
//! A MongoDB client for Rust whose reason to exist is X.509 certificate authentication done
//! right, over pluggable TLS backends (OpenSSL and native-tls, or your own).
//!
//! Public names follow the official `mongodb` crate (`Client`, `ClientOptions::parse`,
//! `Credential`, `AuthMechanism::MongoDbX509`, `Tls::Enabled(TlsOptions)`, …).
//!
//! ```no_run
//! use futures_util::TryStreamExt;
//! use mongo_x509::bson::{doc, Document};
//! use mongo_x509::Client;
//!
//! # async fn run() -> mongo_x509::error::Result<()> {
//! // The key is decrypted once, here; a wrong password is an error right here.
//! let client = Client::with_uri_str(
//!     "mongodb://db.example.com/?tls=true&tlsCAFile=ca.pem\
//!      &tlsCertificateKeyFile=client.pem&tlsCertificateKeyFilePassword=secret\
//!      &authMechanism=MONGODB-X509",
//! )
//! .await?;
//! println!("authenticating as {:?}", client.client_subject());
//!
//! let items = client.database("shop").collection::<Document>("items");
//! items.insert_one(doc! { "name": "widget", "qty": 3 }).await?;
//! let mut cursor = items.find(doc! { "qty": { "$gt": 1 } }).await?;
//! while let Some(item) = cursor.try_next().await? {
//!     println!("{item}");
//! }
//! # Ok(()) }
//! ```
//!
//! Modules: [`options`] (connection strings and option types), [`tls`] (the [`tls::TlsBackend`]
//! trait and the backends), [`error`] (typed errors), [`pool`] (pool statistics), [`results`],
//! [`event`] (command, pool, topology and TLS identity events; structured logs); with the
//! `sync` feature, `sync` (the blocking API: the same handles and actions, each action ending
//! in `.run()` instead of `.await`).
//! The README has the key-format table by backend, the feature flags and measured figures.

#![warn(missing_docs)]

pub use bson;

pub mod error;
pub mod event;
pub mod options;
pub mod tls;

pub mod action;
pub(crate) mod auth;
mod boxed;
pub mod change_stream;
mod client;
mod coll;
pub(crate) mod conn;
mod csot;
mod cursor;
mod db;
#[cfg(feature = "dns-srv")]
mod dns;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gridfs;
mod operation;
pub mod pool;
pub mod results;
pub mod sdam;
mod session;
#[cfg(feature = "dns-srv")]
mod srv;
#[cfg(feature = "sync")]
pub mod sync;
mod topology;
pub(crate) mod wire;
mod xorshift;

// Lets unit tests include helpers of the integration tests (tests/common/dns.rs).
#[cfg(test)]
extern crate self as mongo_x509;
pub use client::Client;
pub use coll::{Collection, Namespace};
pub use cursor::{Cursor, SessionCursor};
pub use db::Database;
pub use options::{SessionOptions, UpdateModifications};
pub use sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType};
pub use session::{ClientSession, ClusterTime, TransactionState};
pub use topology::TopologyWatcher;

// Compiles the README's examples as doc tests, so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The guide's and the key-file page's examples too.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/tls.md")]
pub struct TlsDocDoctests;

#[cfg(all(doctest, feature = "sync"))]
#[doc = include_str!("../docs/sync.md")]
pub struct SyncDocDoctests;

// And the monitoring page's.
#[cfg(doctest)]
#[doc = include_str!("../docs/monitoring.md")]
pub struct MonitoringDoctests;
