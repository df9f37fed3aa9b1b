//! # mongo-x509
//!
//! A MongoDB client for Rust whose reason to exist is X.509 certificate authentication done
//! right, over pluggable TLS backends (OpenSSL and native-tls, or your own).
//!
//! Public names follow the official `mongodb` crate (`Client`, `ClientOptions::parse`,
//! `Credential`, `AuthMechanism::MongoDbX509`, `Tls::Enabled(TlsOptions)`, …).

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
mod cursor;
mod db;
pub mod pool;
pub mod results;
mod sdam;
pub use client::Client;
pub use coll::{Collection, UpdateModifications};
pub use cursor::Cursor;
pub use db::Database;
/// The actions returned by [`Collection`] operations: set options on them, then `.await`.
pub mod action {
    pub use crate::coll::{
        Aggregate, CountDocuments, Delete, Find, FindOne, InsertMany, InsertOne, ReplaceOne, Update,
    };
}

// Compiles the README's examples as doc tests, so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
