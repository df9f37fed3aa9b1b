//! What a bulk write (the client's `bulkWrite` or a collection's batches of `insert`, `update`
//! and `delete`) gathers of its failures, and the error it ends with. Pure.

use std::collections::HashMap;

use crate::error::{
    BulkWriteError, Error, ErrorKind, PartialBulkWriteResult, Result, WriteConcernError, WriteError,
};

/// The write errors by index, the write concern errors, and whether any write is known to have
/// succeeded (the Bulk Write specification's rule for a partial result).
#[derive(Debug, Default)]
pub(crate) struct Failures {
    pub(crate) write_errors: HashMap<usize, WriteError>,
    pub(crate) write_concern_errors: Vec<WriteConcernError>,
    pub(crate) succeeded: bool,
}

impl Failures {
    /// True once a write failed (an ordered bulk write stops there).
    pub(crate) fn has_write_errors(&self) -> bool {
        !self.write_errors.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.write_errors.is_empty() && self.write_concern_errors.is_empty()
    }

    /// The error of a bulk write that `error` stopped: as it is when nothing was reported,
    /// else inside a [`BulkWriteError`] with what was (and `error`'s labels copied out);
    /// `partial` gives what succeeded.
    pub(crate) fn stopped_by(
        self,
        error: Error,
        partial: impl FnOnce() -> PartialBulkWriteResult,
    ) -> Error {
        if !self.succeeded && self.is_empty() {
            return error;
        }
        let labels = error.labels().to_vec();
        let mut e = self.into_error(Some(error), partial);
        for l in labels {
            e.add_label(&l);
        }
        e
    }

    /// `result`, or the bulk write error when a write or a write concern failed.
    pub(crate) fn finish<T>(
        self,
        result: T,
        partial: impl FnOnce(T) -> PartialBulkWriteResult,
    ) -> Result<T> {
        if self.is_empty() {
            return Ok(result);
        }
        Err(self.into_error(None, || partial(result)))
    }

    fn into_error(
        self,
        error: Option<Error>,
        partial: impl FnOnce() -> PartialBulkWriteResult,
    ) -> Error {
        let partial_result = self.succeeded.then(partial);
        Error::new(ErrorKind::BulkWrite(BulkWriteError {
            write_errors: self.write_errors,
            write_concern_errors: self.write_concern_errors,
            partial_result,
            error: error.map(Box::new),
        }))
    }
}
