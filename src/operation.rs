//! Operations: each server command the client sends is one type implementing [`Operation`],
//! run by one executor ([`Client::execute`](crate::Client)). An operation only describes the
//! command and reads the reply; selecting a server, sending, and retrying are the executor's.
//!
//! `build` and `handle_response` are pure (no I/O, no client state), so each operation is unit
//! tested by building its command against a fixed [`StreamDescription`] and parsing canned
//! replies.

/// Declares what an operation returns and its command's name ([`OperationOutput`]):
/// `operation_output!(Insert<'_> => InsertBatchResult, "insert");`.
macro_rules! operation_output {
    ($op:ty => $output:ty, $name:expr) => {
        impl $crate::operation::OperationOutput for $op {
            type Output = $output;
            const NAME: &'static str = $name;
        }
    };
}
pub(crate) use operation_output;

/// Declares an operation's input: the struct, and a `new` that takes every field in order
/// (each as anything that converts into it, so `&str` for a `String`). Most operations are
/// plain data until `build`; this keeps their constructors from being written out again.
/// A last line `=> Output, "name"` declares its [`OperationOutput`] too.
macro_rules! operation_input {
    (
        $(#[$doc:meta])* $name:ident { $($fields:tt)* }
        => $output:ty, $cmd:literal
    ) => {
        operation_input! { $(#[$doc])* $name { $($fields)* } }
        operation_output!($name => $output, $cmd);
    };
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty),+ $(,)? }) => {
        $(#[$doc])*
        pub(crate) struct $name {
            $($(#[$fdoc])* $field: $ty,)+
        }

        impl $name {
            pub(crate) fn new($($field: impl Into<$ty>),+) -> Self {
                Self { $($field: $field.into()),+ }
            }
        }
    };
}

mod aggregate;
mod bulk_failures;
mod bulk_write;
mod count;
mod count_command;
mod cursor_reply;
mod delete;
mod distinct;
mod end_transaction;
mod estimated_count;
mod find;
mod find_and_modify;
mod get_more;
mod insert;
mod kill_cursors;
mod list_collections;
mod list_databases;
mod list_indexes;
mod run_command;
mod run_cursor_command;
mod search_index;
mod simple;
mod statements;
mod update;
mod write_batch;
mod write_reply;

use bson::raw::RawBsonRef;
use bson::{Bson, Document, RawDocument};

use crate::error::{Error, Result};
use crate::options::{Acknowledgment, ReadConcern, ReadPreference, ServerAddress, WriteConcern};
use crate::sdam::SelectionCriteria;
use crate::wire::DocumentSequence;

pub(crate) use aggregate::{pipeline_writes, write_stage_may_use_read_preference, Aggregate};
pub(crate) use bulk_write::{BulkWrite, BulkWriteReply, Outcome};
pub(crate) use count::CountDocuments;
pub(crate) use count_command::Count;
#[cfg(feature = "fuzzing")]
pub(crate) use cursor_reply::parse_batch;
pub(crate) use cursor_reply::{CursorSpec, GetMoreOptions, RawBatch};
pub(crate) use delete::Delete;
pub(crate) use distinct::Distinct;
pub(crate) use end_transaction::EndTransaction;
pub(crate) use estimated_count::EstimatedCount;
pub(crate) use find::Find;
pub(crate) use find_and_modify::FindAndModify;
pub(crate) use get_more::{GetMore, GetMoreResult};
pub(crate) use insert::Insert;
pub(crate) use kill_cursors::KillCursors;
pub(crate) use list_collections::ListCollections;
pub(crate) use list_databases::ListDatabases;
pub(crate) use list_indexes::ListIndexes;
pub(crate) use run_command::RunCommand;
pub(crate) use run_cursor_command::RunCursorCommand;
pub(crate) use search_index::{CreateSearchIndexes, SearchIndexCommand};
pub(crate) use simple::SimpleCommand;
pub(crate) use update::{check_replacement, update_bson, Update};
pub(crate) use write_batch::{CollectionOutcome, Run as WriteRun, WriteBatch, WriteKind};
pub(crate) use write_reply::write_result;

/// What an operation returns, and its command's name: declared with the operation's input
/// (`operation_input!`) or by `operation_output!`.
pub(crate) trait OperationOutput {
    /// What the operation returns.
    type Output;
    /// The command's name, for logs.
    const NAME: &'static str;
}

/// One server command: what to send, where it may run, and how to read the reply.
pub(crate) trait Operation: OperationOutput {
    /// The command for the server this connection is to. Called once per attempt, so a retry
    /// on another server builds against that server's limits.
    fn build(&mut self, server: &StreamDescription) -> Result<Command>;

    /// Reads a successful reply (`ok: 1`; the connection turns `ok: 0` into an error). The
    /// reply is the raw body where the connection read it: an operation takes the fields it
    /// needs, and a document it returns is decoded once, straight into the caller's type.
    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<Self::Output>;

    /// How many documents of the command's last document sequence went into the message: the
    /// connection cuts a sequence to fit `maxMessageSizeBytes` once the session and deadline
    /// fields are in (only `insert` sends sequences).
    fn sequence_sent(&mut self, _documents: usize) {}

    /// The next attempt re-sends the command because the server shed it for overload (Client
    /// Backpressure specification): an operation whose retries differ from its first attempt
    /// (a commit sent again with `w: majority`) builds it as the last attempt instead.
    fn before_overload_retry(&mut self) {}

    /// The last word on an error, after retries (e.g. `drop` of a missing namespace succeeds).
    fn handle_error(&self, error: Error) -> Result<Self::Output> {
        Err(error)
    }

    /// For a read: its read preference and read concern. A read runs where its read
    /// preference allows and is a retryable read, unless it says otherwise.
    fn reads(&self) -> Option<&Reads> {
        None
    }

    /// Where the operation may run: the read preference of a read, else a writable server.
    fn selection(&self) -> Selection {
        match self.reads() {
            Some(r) => Selection::Criteria(r.criteria.clone()),
            None => Selection::Criteria(SelectionCriteria::Write),
        }
    }

    /// Read, write or neither, for retry decisions: reads are retryable reads.
    fn retryability(&self) -> Retryability {
        match self.reads() {
            Some(_) => Retryability::Read,
            None => Retryability::None,
        }
    }

    /// False for a write with `w: 0`: it runs without a session and is never retried.
    fn is_acknowledged(&self) -> bool {
        true
    }

    /// Whether the executor adds an implicit session when the caller gave none (not for
    /// unacknowledged writes, `endSessions`, or a command that carries its own `lsid`).
    fn takes_implicit_session(&self) -> bool {
        self.is_acknowledged()
    }

    /// `commitTransaction` or `abortTransaction`: part of the session's transaction after it
    /// ended, and retried as a write whatever `retryWrites` says.
    fn ends_transaction(&self) -> bool {
        false
    }

    /// Inside a transaction, a read runs with the transaction's read preference `txn` (which
    /// must be the primary); `None` for a write, which is not checked.
    fn transaction_read_preference(&self, txn: &ReadPreference) -> Option<ReadPreference> {
        self.reads().map(|_| txn.clone())
    }
}

/// How a read runs: where (its read preference) and what it may see (its read concern).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reads {
    pub(crate) criteria: SelectionCriteria,
    pub(crate) read_concern: Option<ReadConcern>,
}

impl Reads {
    /// Adds `readConcern` to a read command when one is set.
    pub(crate) fn append_read_concern(&self, cmd: &mut Document) {
        if let Some(rc) = &self.read_concern {
            cmd.insert("readConcern", bson::doc! { "level": rc.level.as_str() });
        }
    }
}

/// False for `w: 0` (without `j: true`): the server sends no acknowledgment.
pub(crate) fn acknowledged(wc: Option<&WriteConcern>) -> bool {
    !wc.is_some_and(|wc| wc.w == Some(Acknowledgment::Nodes(0)) && wc.journal != Some(true))
}

/// CRUD spec: a `hint` on an unacknowledged write is refused for servers before 4.4, which
/// would ignore or reject it without anyone hearing of it.
pub(crate) fn check_unacknowledged_hint(
    has_hint: bool,
    acknowledged: bool,
    server: &StreamDescription,
    what: &str,
) -> Result<()> {
    if has_hint && !acknowledged && server.max_wire_version < WIRE_VERSION_4_4 {
        return Err(Error::invalid_argument(format!(
            "{what}: a hint with an unacknowledged write concern (w: 0) needs MongoDB 4.4 or              later ({} reports wire version {}); remove the hint or use an acknowledged write              concern",
            server.address, server.max_wire_version
        )));
    }
    Ok(())
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

impl Retryability {
    /// Retryable Writes: a write is retryable unless a statement may change several
    /// documents.
    pub(crate) fn write_unless_multi(multi: bool) -> Self {
        if multi {
            Retryability::None
        } else {
            Retryability::Write
        }
    }
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
    /// `maxWireVersion`: which features the server has (comments on `getMore` from 9,
    /// `bulkWrite` from 25).
    pub(crate) max_wire_version: i32,
}

/// The wire version of MongoDB 4.4: comments of any type, also on `getMore`.
pub(crate) const WIRE_VERSION_4_4: i32 = 9;
/// The wire version of MongoDB 8.0: the `bulkWrite` command.
pub(crate) const WIRE_VERSION_8_0: i32 = 25;

/// A `u64` option as the `i64` BSON stores (saturating).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts `key` when the value is set.
pub(crate) fn append_opt(cmd: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(v) = value {
        cmd.insert(key, v.into());
    }
}

/// Adds the options that are set to the command, as their type serializes them (camelCase
/// command keys; what the client applies itself is not serialized).
pub(crate) fn append_options<O: serde::Serialize>(cmd: &mut Document, options: &O) -> Result<()> {
    cmd.extend(bson::to_document(options)?);
    Ok(())
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

    /// A read from the primary with a `majority` read concern.
    pub(crate) fn reads() -> Reads {
        Reads {
            criteria: SelectionCriteria::Read(Default::default()),
            read_concern: Some(ReadConcern {
                level: "majority".into(),
            }),
        }
    }

    /// A server with the default limits.
    pub(crate) fn description() -> StreamDescription {
        StreamDescription {
            address: server(),
            max_bson_object_size: 16 * 1024 * 1024,
            max_write_batch_size: 100_000,
            max_message_size: 48_000_000,
            max_wire_version: 27,
        }
    }

    /// A reply as the connection hands it over.
    pub(crate) fn raw(doc: &Document) -> bson::RawDocumentBuf {
        bson::RawDocumentBuf::from_document(doc).unwrap()
    }

    /// A client of a server nobody listens on (`localhost:1`), for tests that send nothing.
    pub(crate) fn offline_client() -> crate::Client {
        let options = crate::options::ClientOptions::builder()
            .hosts(vec![ServerAddress::Tcp {
                host: "localhost".into(),
                port: Some(1),
            }])
            .build();
        crate::Client::with_options(options).unwrap()
    }

    /// A `$clusterTime` at second `t`.
    pub(crate) fn cluster_time(t: u32) -> crate::ClusterTime {
        let time = bson::Timestamp {
            time: t,
            increment: 1,
        };
        crate::ClusterTime::from_document(bson::doc! { "clusterTime": time, "signature": {} })
            .unwrap()
    }

    /// True when `op` runs on a writable server whatever the read preference says.
    pub(crate) fn selects_a_writable_server(op: &impl Operation) -> bool {
        op.selection() == Selection::Criteria(SelectionCriteria::Write)
    }

    /// True for [`ErrorKind::InvalidResponse`](crate::error::ErrorKind::InvalidResponse).
    pub(crate) fn is_invalid_response(e: &Error) -> bool {
        matches!(&*e.kind, crate::error::ErrorKind::InvalidResponse { .. })
    }

    /// Asserts that `op` refuses to build for `server` (nothing is sent) with an
    /// [`ErrorKind::InvalidArgument`](crate::error::ErrorKind::InvalidArgument) naming `what`.
    pub(crate) fn assert_build_refused(
        op: &mut impl Operation,
        server: &StreamDescription,
        what: &str,
    ) {
        let err = op.build(server).unwrap_err();
        assert!(
            matches!(&*err.kind, crate::error::ErrorKind::InvalidArgument { message } if message.contains(what)),
            "expected an invalid argument naming {what:?}, got {err:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn an_unacknowledged_hint_is_refused_before_4_4_by_every_write() {
        use crate::operation::test_util::description;
        use crate::options::{
            Acknowledgment, DeleteOptions, FindOneAndDeleteOptions, UpdateOptions, WriteConcern,
        };
        let w0 = || WriteConcern::builder().w(Acknowledgment::Nodes(0)).build();
        let mut old = description();
        old.max_wire_version = 8;
        let refused = |r: Result<Command>| {
            let e = r.unwrap_err();
            assert!(
                matches!(&*e.kind, crate::error::ErrorKind::InvalidArgument { message } if message.contains("4.4")),
                "{e}"
            );
        };
        let mut update = Update::modify(
            "db",
            "c",
            doc! {},
            doc! { "$set": { "a": 1 } }.into(),
            false,
            UpdateOptions::builder()
                .hint("a_1")
                .write_concern(w0())
                .build(),
        )
        .unwrap();
        refused(update.build(&old));
        assert!(update.build(&description()).is_ok(), "4.4+: sent");
        let mut delete = Delete::new(
            "db",
            "c",
            doc! {},
            true,
            DeleteOptions::builder()
                .hint("a_1")
                .write_concern(w0())
                .build(),
        );
        refused(delete.build(&old));
        let mut acknowledged = Delete::new(
            "db",
            "c",
            doc! {},
            true,
            DeleteOptions::builder().hint("a_1").build(),
        );
        assert!(
            acknowledged.build(&old).is_ok(),
            "acknowledged: the server decides"
        );
        let mut fam = FindAndModify::delete(
            "db",
            "c",
            doc! {},
            FindOneAndDeleteOptions::builder()
                .hint("a_1")
                .write_concern(w0())
                .build(),
        )
        .unwrap();
        refused(fam.build(&old));
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
