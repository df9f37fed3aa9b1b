//! What a failed bulk write reports: each failed write, each write concern error, what was
//! done before (the partial result), and the error that stopped it, if one did.

use std::collections::HashMap;

use bson::Document;

use super::{Error, WriteError};
use crate::results::{BulkWriteResult, SummaryBulkWriteResult, VerboseBulkWriteResult};

/// A write concern the server could not satisfy (the write itself was applied).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WriteConcernError {
    /// The server's error code (e.g. 64, `WriteConcernFailed`).
    pub code: i32,
    /// The server's name for the code (may be empty).
    pub code_name: String,
    /// The server's message.
    pub message: String,
    /// `errInfo`: what the server adds (the write concern it applied, …).
    pub details: Option<Document>,
}

impl std::fmt::Display for WriteConcernError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

/// A bulk write that did not fully succeed ([`ErrorKind::BulkWrite`](super::ErrorKind)).
///
/// An ordered bulk write stops at its first failed write, an unordered one attempts every
/// write; either stops at an error that is not a single write's (`error`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BulkWriteError {
    /// The writes that failed, by index in the list of models given.
    pub write_errors: HashMap<usize, WriteError>,
    /// The write concern errors, one per command that had one (the writes were applied).
    pub write_concern_errors: Vec<WriteConcernError>,
    /// What the writes that succeeded did; `None` when none did.
    pub partial_result: Option<PartialBulkWriteResult>,
    /// The error that stopped the bulk write (a network or command error, a timeout) after
    /// some writes had been reported; its labels are on the outer error too.
    pub error: Option<Box<Error>>,
}

/// The result of the writes that succeeded before a bulk write failed, of the kind the
/// bulk write returns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PartialBulkWriteResult {
    /// [`Client::bulk_write`](crate::Client::bulk_write) without verbose results.
    Summary(SummaryBulkWriteResult),
    /// [`Client::bulk_write`](crate::Client::bulk_write) with
    /// [`verbose_results`](crate::action::BulkWrite::verbose_results).
    Verbose(VerboseBulkWriteResult),
    /// [`Collection::bulk_write`](crate::Collection::bulk_write).
    Collection(BulkWriteResult),
}

impl std::fmt::Display for BulkWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(e) = &self.error {
            parts.push(format!("stopped by: {e}"));
        }
        if !self.write_errors.is_empty() {
            let first = self.write_errors.keys().min().copied().unwrap_or_default();
            let e = &self.write_errors[&first];
            parts.push(format!(
                "{} write(s) failed; first at index {first}: {} (code {})",
                self.write_errors.len(),
                e.message,
                e.code
            ));
        }
        for wce in &self.write_concern_errors {
            parts.push(format!("write concern error: {wce}"));
        }
        let done = if self.partial_result.is_some() {
            "; some writes succeeded (see partial_result)"
        } else {
            ""
        };
        write!(f, "{}{done}", parts.join("; "))
    }
}
