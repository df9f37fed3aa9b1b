//! `insert`: one batch of documents, as many as the server's limits allow from a starting
//! index. `insert_many` runs one of these per batch until every document is sent.

use bson::RawDocument;

use super::statements::Batch;
use super::write_reply::WriteReply;
use super::{Command, Operation, Retryability, StreamDescription};
use crate::error::{Error, Result, WriteError};
use crate::options::InsertManyOptions;
use crate::options::ServerAddress;

/// One `insert` command: `docs[offset..]`, cut to the server's limits when built.
pub(crate) struct Insert<'a> {
    batch: Batch<'a, InsertManyOptions>,
    /// Serialized documents, `_id` included.
    docs: &'a [Vec<u8>],
}

/// What one batch did, with indexes into the whole input.
#[derive(Debug, PartialEq)]
pub(crate) struct InsertBatchResult {
    /// Documents sent in this batch (from the operation's offset).
    pub(crate) taken: usize,
    /// The indexes of the documents inserted.
    pub(crate) inserted: Vec<usize>,
    pub(crate) write_errors: Vec<WriteError>,
    pub(crate) write_concern_error: Option<String>,
}

impl<'a> Insert<'a> {
    /// `options.write_concern` must already hold the client's default when none was set.
    pub(crate) fn new(
        db: &'a str,
        coll: &'a str,
        docs: &'a [Vec<u8>],
        offset: usize,
        options: &'a InsertManyOptions,
    ) -> Self {
        let batch = Batch::new(db, coll, offset, options);
        Self { batch, docs }
    }
}

operation_output!(Insert<'_> => InsertBatchResult, "insert");

impl Operation for Insert<'_> {
    /// At most `maxWriteBatchSize` documents and one message's worth of bytes; the connection
    /// then cuts the batch to exactly what fits beside the final command
    /// ([`Operation::sequence_sent`]). Each document is copied as serialized, never re-encoded.
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let max_doc = server.max_bson_object_size;
        let too_large = |i: usize, size: usize| {
            (size > max_doc).then(|| {
                Error::invalid_argument(format!(
                    "insert: document {i} is {size} bytes, more than the server's \
                     maxBsonObjectSize ({max_doc} bytes)"
                ))
            })
        };
        let b = &mut self.batch;
        let batch = b.cut("insert", "documents", self.docs, server, too_large)?;
        Ok(b.command(b.body("insert")?, batch))
    }

    fn sequence_sent(&mut self, documents: usize) {
        self.batch.taken = documents;
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<InsertBatchResult> {
        let WriteReply {
            write_errors,
            write_concern_error,
            ..
        } = self.batch.parse(reply)?;
        let inserted = self.batch.applied(&write_errors).collect();
        Ok(InsertBatchResult {
            taken: self.batch.taken,
            inserted,
            write_errors,
            write_concern_error,
        })
    }

    fn retryability(&self) -> Retryability {
        Retryability::Write
    }

    fn is_acknowledged(&self) -> bool {
        self.batch.is_acknowledged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{
        assert_build_refused, description, is_invalid_response, server,
    };
    use bson::doc;

    fn docs(n: i32) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| bson::to_vec(&doc! { "_id": i, "pad": "x".repeat(100) }).unwrap())
            .collect()
    }

    #[test]
    fn batches_stop_at_max_write_batch_size() {
        let docs = docs(5);
        let options = InsertManyOptions::builder().ordered(false).build();
        let mut server = description();
        server.max_write_batch_size = 2;
        let mut op = Insert::new("db", "c", &docs, 1, &options);
        let cmd = op.build(&server).unwrap();
        assert_eq!(cmd.body, doc! { "insert": "c", "ordered": false });
        assert_eq!(cmd.sequences[0].identifier, "documents");
        assert_eq!(cmd.sequences[0].bytes, docs[1..3].concat());
        assert_eq!(cmd.sequences[0].len(), 2);
        assert_eq!(op.batch.taken, 2);
        // The connection sent fewer (the rest did not fit): the batch is what was sent.
        op.sequence_sent(1);
        assert_eq!(op.batch.taken, 1);
    }

    #[test]
    fn batches_stop_at_the_message_size() {
        let docs = docs(50);
        let options = InsertManyOptions::default();
        let mut server = description();
        let size = docs[0].len();
        // At most a message's worth of documents is taken (the exact cut, which depends on
        // the final command, is the encoder's: wire::tests).
        server.max_bson_object_size = size;
        server.max_message_size = 3 * size + 10;
        let mut op = Insert::new("db", "c", &docs, 0, &options);
        assert_eq!(op.build(&server).unwrap().sequences[0].len(), 3);
        // A document larger than maxBsonObjectSize is refused before anything is sent.
        server.max_bson_object_size = size - 1;
        assert_build_refused(&mut op, &server, "document 0");
    }

    #[test]
    fn ordered_write_errors_stop_the_batch_and_unordered_ones_skip_a_document() {
        let docs = docs(4);
        let reply = doc! { "ok": 1, "n": 2,
        "writeErrors": [ { "index": 1, "code": 11000, "errmsg": "dup" } ] };
        for (ordered, inserted) in [(true, vec![10]), (false, vec![10, 12, 13])] {
            let options = InsertManyOptions::builder().ordered(ordered).build();
            let mut op = Insert::new("db", "c", &docs, 0, &options);
            op.build(&description()).unwrap();
            // Pretend this batch started at input index 10.
            op.batch.offset = 10;
            let r = op.handle_response(&raw(&reply.clone()), &server()).unwrap();
            assert_eq!(r.taken, 4);
            assert_eq!(r.inserted, inserted, "ordered={ordered}");
            assert_eq!(r.write_errors[0].index, 11);
        }
    }

    #[test]
    fn write_concern_errors_and_bad_indexes() {
        let docs = docs(2);
        let options = InsertManyOptions::default();
        let mut op = Insert::new("db", "c", &docs, 0, &options);
        op.build(&description()).unwrap();
        let r = op
            .handle_response(
                &raw(&doc! { "ok": 1, "n": 2, "writeConcernError": { "code": 64, "errmsg": "timeout" } }),
                &server(),
            )
            .unwrap();
        assert_eq!(r.inserted, vec![0, 1]);
        assert_eq!(r.write_concern_error.as_deref(), Some("timeout (code 64)"));
        let err = op
            .handle_response(
                &raw(&doc! { "ok": 1, "writeErrors": [ { "index": 2, "code": 1 } ] }),
                &server(),
            )
            .unwrap_err();
        assert!(is_invalid_response(&err), "{err}");
    }
}
