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
//! trait and the backends), [`error`] (typed errors), [`pool`] (pool statistics), [`results`].
//! The README has the key-format table by backend, the feature flags and measured figures.

#![warn(missing_docs)]

pub use bson;

pub mod error;
pub mod options;
pub mod tls;

pub(crate) mod auth;
pub(crate) mod conn;
pub(crate) mod wire;
// Connection pool, topology, client API (issue 4).
mod client;
mod coll;
mod csot;
mod cursor;
mod db;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod operation;
pub mod pool;
pub mod results;
pub mod sdam;
mod session;
#[cfg(feature = "dns-srv")]
mod srv;
mod topology;

// Lets unit tests include helpers of the integration tests (tests/common/dns.rs).
#[cfg(test)]
extern crate self as mongo_x509;
pub use client::{Client, StartSession};
pub use coll::{Collection, UpdateModifications};
pub use cursor::{Cursor, SessionCursor};
pub use db::Database;
pub use sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType};
pub use session::{ClientSession, ClusterTime, SessionOptions};
pub use topology::TopologyWatcher;
/// The actions returned by [`Collection`] operations: set options on them, then `.await`.
pub mod action {
    pub use crate::coll::action::{ExplicitSession, ImplicitSession};
    pub use crate::coll::{
        Aggregate, CountDocuments, Delete, Distinct, Find, FindOne, FindOneAndDelete,
        FindOneAndReplace, FindOneAndUpdate, InsertMany, InsertOne, ReplaceOne, Update,
    };
    pub use crate::StartSession;
}

// Compiles the README's examples as doc tests, so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
