//! Operations: each server command the client sends is one type implementing [`Operation`],
//! run by one executor ([`Client::execute`](crate::Client)). An operation only describes the
//! command and reads the reply; selecting a server, sending, and retrying are the executor's.
//!
//! `build` and `handle_response` are pure (no I/O, no client state), so each operation is unit
//! tested by building its command against a fixed [`StreamDescription`] and parsing canned
//! replies.

mod aggregate;
mod count;
mod cursor_reply;
mod delete;
mod distinct;
mod drop_collection;
mod drop_database;
mod find;
mod find_and_modify;
mod get_more;
mod insert;
mod kill_cursors;
mod list_collections;
mod list_databases;
mod run_command;
mod update;
mod write_reply;

use std::time::Duration;

use bson::raw::RawBsonRef;
use bson::{Bson, Document, RawDocument};

use crate::error::{Error, Result};
use crate::options::{Acknowledgment, ReadConcern, ServerAddress, WriteConcern};
use crate::sdam::SelectionCriteria;
use crate::wire::DocumentSequence;

pub(crate) use aggregate::Aggregate;
pub(crate) use count::CountDocuments;
#[cfg(feature = "fuzzing")]
pub(crate) use cursor_reply::parse_batch;
pub(crate) use cursor_reply::{CursorSpec, RawBatch};
pub(crate) use delete::Delete;
pub(crate) use distinct::Distinct;
pub(crate) use drop_collection::DropCollection;
pub(crate) use drop_database::DropDatabase;
pub(crate) use find::Find;
pub(crate) use find_and_modify::FindAndModify;
pub(crate) use get_more::{GetMore, GetMoreResult};
pub(crate) use insert::Insert;
pub(crate) use kill_cursors::KillCursors;
pub(crate) use list_collections::ListCollections;
pub(crate) use list_databases::ListDatabases;
pub(crate) use run_command::RunCommand;
pub(crate) use update::Update;
pub(crate) use write_reply::write_result;

/// One server command: what to send, where it may run, and how to read the reply.
pub(crate) trait Operation {
    /// What the operation returns.
    type Output;
    /// The command's name, for logs.
    const NAME: &'static str;

    /// The command for the server this connection is to. Called once per attempt, so a retry
    /// on another server builds against that server's limits.
    fn build(&mut self, server: &StreamDescription) -> Result<Command>;

    /// Reads a successful reply (`ok: 1`; the connection turns `ok: 0` into an error). The
    /// reply is the raw body where the connection read it: an operation takes the fields it
    /// needs, and a document it returns is decoded once, straight into the caller's type.
    fn handle_response(
        &self,
        reply: &RawDocument,
        ctx: &ResponseContext<'_>,
    ) -> Result<Self::Output>;

    /// How many documents of the command's last document sequence went into the message: the
    /// connection cuts a sequence to fit `maxMessageSizeBytes` once the session and deadline
    /// fields are in (only `insert` sends sequences).
    fn sequence_sent(&mut self, _documents: usize) {}

    /// The last word on an error, after retries (e.g. `drop` of a missing namespace succeeds).
    fn handle_error(&self, error: Error) -> Result<Self::Output> {
        Err(error)
    }

    /// Where the operation may run.
    fn selection(&self) -> Selection;

    /// Read, write or neither, for retry decisions.
    fn retryability(&self) -> Retryability;

    /// False for a write with `w: 0`: it runs without a session and is never retried.
    fn is_acknowledged(&self) -> bool {
        true
    }

    /// Whether the executor adds an implicit session when the caller gave none (not for
    /// unacknowledged writes, `endSessions`, or a command that carries its own `lsid`).
    fn takes_implicit_session(&self) -> bool {
        self.is_acknowledged()
    }
}

/// False for `w: 0` (without `j: true`): the server sends no acknowledgment.
pub(crate) fn acknowledged(wc: Option<&WriteConcern>) -> bool {
    !wc.is_some_and(|wc| wc.w == Some(Acknowledgment::Nodes(0)) && wc.journal != Some(true))
}

/// A command ready to send: database, body and kind-1 document sequences.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Command {
    pub(crate) db: String,
    pub(crate) body: Document,
    pub(crate) sequences: Vec<DocumentSequence>,
}

impl Command {
    pub(crate) fn new(db: impl Into<String>, body: Document) -> Self {
        Self {
            db: db.into(),
            body,
            sequences: Vec::new(),
        }
    }
}

/// Where an operation may run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selection {
    /// A server chosen by server selection (the primary for writes, a read preference for
    /// reads).
    Criteria(SelectionCriteria),
    /// This server only: a cursor's `getMore` and `killCursors` go where the cursor lives.
    Server(ServerAddress),
}

/// What kind of retry an operation allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retryability {
    /// A retryable read (Retryable Reads specification).
    Read,
    /// A retryable write (Retryable Writes: `txnNumber`, the same on the retry).
    Write,
    /// Never retried (`runCommand`, cursor follow-ups, `$out`/`$merge`).
    None,
}

/// What the handler of a reply may know besides the reply.
#[derive(Debug)]
pub(crate) struct ResponseContext<'a> {
    /// The server that answered (a cursor's getMore must go back there).
    pub(crate) address: &'a ServerAddress,
}

/// The limits of the server an operation is built for, from its handshake.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StreamDescription {
    pub(crate) address: ServerAddress,
    /// `maxBsonObjectSize`: the largest document the server accepts.
    pub(crate) max_bson_object_size: usize,
    /// `maxWriteBatchSize`: the most statements in one write command (at least 1).
    pub(crate) max_write_batch_size: usize,
    /// `maxMessageSizeBytes`.
    pub(crate) max_message_size: usize,
}

/// `maxTimeMS` for a duration (saturating).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A `u64` option as the `i64` BSON stores (saturating).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `writeConcern` document for a command, when one is set.
pub(crate) fn write_concern_doc(wc: Option<&WriteConcern>) -> Option<Document> {
    let wc = wc?;
    let mut d = Document::new();
    match &wc.w {
        Some(Acknowledgment::Nodes(n)) => {
            d.insert("w", i64::from(*n));
        }
        Some(Acknowledgment::Majority) => {
            d.insert("w", "majority");
        }
        Some(Acknowledgment::Custom(s)) => {
            d.insert("w", s.as_str());
        }
        None => {}
    }
    if let Some(t) = wc.w_timeout {
        d.insert("wtimeout", millis(t));
    }
    if let Some(j) = wc.journal {
        d.insert("j", j);
    }
    (!d.is_empty()).then_some(d)
}

/// Adds `writeConcern` when one is set.
pub(crate) fn append_write_concern(cmd: &mut Document, wc: Option<&WriteConcern>) {
    if let Some(wc) = write_concern_doc(wc) {
        cmd.insert("writeConcern", wc);
    }
}

/// Adds `readConcern` when one is set.
pub(crate) fn append_read_concern(cmd: &mut Document, rc: Option<&ReadConcern>) {
    if let Some(rc) = rc {
        cmd.insert("readConcern", bson::doc! { "level": rc.level.as_str() });
    }
}

/// Inserts `key` when the option is set.
pub(crate) fn append_opt(cmd: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(v) = value {
        cmd.insert(key, v.into());
    }
}

/// A raw reply as a document, for the replies nothing is gained by reading raw (small, rare).
pub(crate) use crate::conn::to_document;

/// A non-negative integer held in any raw BSON numeric type.
pub(crate) fn raw_u64(b: RawBsonRef<'_>) -> Option<u64> {
    match b {
        RawBsonRef::Int32(v) => bson_u64(&Bson::Int32(v)),
        RawBsonRef::Int64(v) => bson_u64(&Bson::Int64(v)),
        RawBsonRef::Double(v) => bson_u64(&Bson::Double(v)),
        _ => None,
    }
}

/// A non-negative count from a reply (`n`, `nModified`, …): any numeric type; a negative,
/// fractional or non-numeric value is an invalid reply.
pub(crate) fn reply_count(reply: &RawDocument, key: &str, what: &str) -> Result<u64> {
    match reply.get(key).ok().flatten() {
        None => Ok(0),
        Some(b) => raw_u64(b).ok_or_else(|| {
            Error::invalid_response(format!("{what} reply: {key} is not a non-negative integer"))
        }),
    }
}

/// A non-negative integer held in any BSON numeric type.
pub(crate) fn bson_u64(b: &Bson) -> Option<u64> {
    match b {
        Bson::Int32(v) => u64::try_from(*v).ok(),
        Bson::Int64(v) => u64::try_from(*v).ok(),
        // 2^64 as f64: anything at or above it does not fit.
        Bson::Double(v) if *v >= 0.0 && v.fract() == 0.0 && *v < 18_446_744_073_709_551_616.0 => {
            Some(*v as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub(crate) fn server() -> ServerAddress {
        ServerAddress::Tcp {
            host: "db.test".into(),
            port: Some(27017),
        }
    }

    /// A server with the default limits.
    pub(crate) fn description() -> StreamDescription {
        StreamDescription {
            address: server(),
            max_bson_object_size: 16 * 1024 * 1024,
            max_write_batch_size: 100_000,
            max_message_size: 48_000_000,
        }
    }

    /// A reply as the connection hands it over.
    pub(crate) fn raw(doc: &Document) -> bson::RawDocumentBuf {
        bson::RawDocumentBuf::from_document(doc).unwrap()
    }

    pub(crate) fn ctx(address: &ServerAddress) -> ResponseContext<'_> {
        ResponseContext { address }
    }

    /// True for [`ErrorKind::InvalidResponse`](crate::error::ErrorKind::InvalidResponse).
    pub(crate) fn is_invalid_response(e: &Error) -> bool {
        matches!(&*e.kind, crate::error::ErrorKind::InvalidResponse { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn write_concern_document() {
        assert_eq!(write_concern_doc(None), None);
        let wc = WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .w_timeout(Duration::from_millis(1500))
            .journal(true)
            .build();
        assert_eq!(
            write_concern_doc(Some(&wc)),
            Some(doc! { "w": "majority", "wtimeout": 1500_i64, "j": true })
        );
        assert_eq!(write_concern_doc(Some(&WriteConcern::default())), None);
    }

    #[test]
    fn counts_are_range_checked() {
        assert_eq!(bson_u64(&Bson::Int32(3)), Some(3));
        assert_eq!(bson_u64(&Bson::Int64(-1)), None);
        assert_eq!(bson_u64(&Bson::Double(2.0)), Some(2));
        assert_eq!(bson_u64(&Bson::Double(2.5)), None);
        assert_eq!(bson_u64(&Bson::Double(f64::NAN)), None);
        assert_eq!(bson_u64(&Bson::Double(1e30)), None);
        assert_eq!(bson_u64(&Bson::String("1".into())), None);
        use crate::operation::test_util::raw;
        assert_eq!(reply_count(&raw(&doc! {}), "n", "x").unwrap(), 0);
        assert!(reply_count(&raw(&doc! { "n": -2 }), "n", "x").is_err());
    }
}
