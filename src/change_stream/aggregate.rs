//! The `aggregate` that opens a change stream's cursor, first and on each resume:
//! `{aggregate: <coll> | 1, pipeline: [{$changeStream: {...}}, ...], cursor: {...}}`.

use bson::{doc, Bson, Document, RawDocument, Timestamp};

use super::resume::ResumePoint;
use crate::error::Result;
use crate::operation::{Command, CursorSpec, Operation, Reads, StreamDescription};
use crate::options::{ChangeStreamOptions, ServerAddress};

/// What `watch` was asked for, kept for the resumes.
#[derive(Clone, Debug)]
pub(crate) struct WatchArgs {
    pub(crate) db: String,
    /// `None`: the whole database, or with `cluster` the whole deployment.
    pub(crate) coll: Option<String>,
    /// [`Client::watch`](crate::Client::watch): every database (`allChangesForCluster`, on
    /// `admin`).
    pub(crate) cluster: bool,
    /// The stages after `$changeStream`.
    pub(crate) pipeline: Vec<Document>,
    pub(crate) options: ChangeStreamOptions,
    /// The read preference (server selection on each resume) and read concern.
    pub(crate) reads: Reads,
    /// `timeoutMS`: the action's, else its handle's. It bounds the opening `aggregate`, and
    /// each `next` afresh (its `getMore` and the resume it may need).
    pub(crate) timeout: Option<std::time::Duration>,
}

/// What the `aggregate` returned: the cursor, and what the resume rules need of the reply.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) spec: CursorSpec,
    pub(crate) operation_time: Option<Timestamp>,
    /// The wire version of the server it ran on.
    pub(crate) wire_version: i32,
}

/// The change stream's `aggregate`.
pub(crate) struct ChangeStreamAggregate {
    args: WatchArgs,
    /// For a resume: where to start again.
    resume: Option<ResumePoint>,
    /// The server the last attempt was built for.
    wire_version: i32,
}

impl ChangeStreamAggregate {
    /// The first `aggregate`.
    pub(crate) fn new(args: WatchArgs) -> Self {
        Self {
            args,
            resume: None,
            wire_version: 0,
        }
    }

    /// A resume's `aggregate`, starting at `point`.
    pub(crate) fn resume(args: WatchArgs, point: ResumePoint) -> Self {
        Self {
            resume: Some(point),
            ..Self::new(args)
        }
    }
}

crate::operation::operation_output!(ChangeStreamAggregate => Opened, "aggregate");

impl Operation for ChangeStreamAggregate {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        self.wire_version = server.max_wire_version;
        let a = &self.args;
        let resumed;
        let options = match &self.resume {
            Some(point) => {
                resumed = point.options(&a.options, server.max_wire_version);
                &resumed
            }
            None => &a.options,
        };
        let mut stage = bson::to_document(options)?;
        if a.cluster {
            stage.insert("allChangesForCluster", true);
        }
        let mut pipeline = Vec::with_capacity(a.pipeline.len() + 1);
        pipeline.push(Bson::from(doc! { "$changeStream": stage }));
        pipeline.extend(a.pipeline.iter().cloned().map(Bson::from));
        let target = match &a.coll {
            Some(c) => Bson::from(c.as_str()),
            None => Bson::Int32(1),
        };
        let mut cursor = Document::new();
        if let Some(b) = options.batch_size {
            cursor.insert("batchSize", i64::from(b));
        }
        let mut cmd = doc! { "aggregate": target, "pipeline": pipeline, "cursor": cursor };
        if let Some(c) = &options.collation {
            cmd.insert("collation", bson::to_bson(c)?);
        }
        if let Some(c) = &options.comment {
            cmd.insert("comment", c.clone());
        }
        a.reads.append_read_concern(&mut cmd);
        Ok(Command::new(a.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<Opened> {
        let o = &self.args.options;
        let mut spec = CursorSpec::from_reply(reply, at, o.batch_size, None)?;
        spec.get_more.max_await_time = o.max_await_time;
        spec.get_more.timeout = self.args.timeout;
        spec.get_more.comment = o.comment.clone();
        Ok(Opened {
            spec,
            operation_time: reply.get_timestamp("operationTime").ok(),
            wire_version: self.wire_version,
        })
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.args.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change_stream::event::ResumeToken;
    use crate::change_stream::resume::{ResumeState, Start};
    use crate::operation::test_util::{description, raw, reads, server};
    use crate::operation::{Retryability, Selection};
    use crate::options::{Collation, FullDocumentType};
    use std::time::Duration;

    fn args(coll: Option<&str>, cluster: bool, options: ChangeStreamOptions) -> WatchArgs {
        WatchArgs {
            db: if cluster { "admin" } else { "db" }.into(),
            coll: coll.map(str::to_owned),
            cluster,
            pipeline: vec![doc! { "$match": { "operationType": "insert" } }],
            options,
            reads: reads(),
            timeout: None,
        }
    }

    #[test]
    fn the_stage_comes_first_and_the_command_options_go_on_the_command() {
        let options = ChangeStreamOptions::builder()
            .full_document(FullDocumentType::UpdateLookup)
            .batch_size(2_u32)
            .max_await_time(Duration::from_millis(50))
            .collation(Collation::builder().locale("fr").build())
            .comment(Bson::from("c"))
            .build();
        let mut op = ChangeStreamAggregate::new(args(Some("c"), false, options));
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd.db, "db");
        assert_eq!(
            cmd.body,
            doc! {
                "aggregate": "c",
                "pipeline": [
                    { "$changeStream": { "fullDocument": "updateLookup" } },
                    { "$match": { "operationType": "insert" } },
                ],
                "cursor": { "batchSize": 2_i64 },
                "collation": { "locale": "fr" },
                "comment": "c",
                "readConcern": { "level": "majority" },
            }
        );
        // A read: selected by the read preference, retried as a read.
        assert!(matches!(op.selection(), Selection::Criteria(_)));
        assert_eq!(op.retryability(), Retryability::Read);

        // A database, and the whole deployment.
        let mut op = ChangeStreamAggregate::new(args(None, false, Default::default()));
        let body = op.build(&description()).unwrap().body;
        assert_eq!(body.get_i32("aggregate"), Ok(1));
        assert_eq!(body.get_document("cursor"), Ok(&doc! {}));
        let mut op = ChangeStreamAggregate::new(args(None, true, Default::default()));
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd.db, "admin");
        assert_eq!(
            cmd.body.get_array("pipeline").unwrap()[0],
            Bson::from(doc! { "$changeStream": { "allChangesForCluster": true } })
        );
    }

    #[test]
    fn the_reply_gives_the_cursor_its_await_time_and_the_resume_rules_their_facts() {
        let options = ChangeStreamOptions::builder()
            .max_await_time(Duration::from_millis(50))
            .comment(Bson::from("c"))
            .build();
        let mut op = ChangeStreamAggregate::new(args(Some("c"), false, options));
        let old = StreamDescription {
            max_wire_version: 8,
            ..description()
        };
        op.build(&old).unwrap();
        let reply = doc! { "ok": 1, "operationTime": Timestamp { time: 7, increment: 2 },
        "cursor": { "id": 5_i64, "ns": "db.c", "firstBatch": [],
        "postBatchResumeToken": { "_data": "p" } } };
        let o = op.handle_response(&raw(&reply), &server()).unwrap();
        assert_eq!(o.wire_version, 8, "the server the command was built for");
        assert_eq!(
            o.operation_time,
            Some(Timestamp {
                time: 7,
                increment: 2
            })
        );
        assert_eq!(
            o.spec.get_more.max_await_time,
            Some(Duration::from_millis(50))
        );
        assert_eq!(o.spec.get_more.comment, Some(Bson::from("c")));
        assert!(o.spec.first_batch.post_batch_resume_token().is_some());
    }

    #[test]
    fn a_resume_asks_to_start_after_the_cached_token() {
        let original = ChangeStreamOptions::builder()
            .start_at_operation_time(Timestamp {
                time: 1,
                increment: 0,
            })
            .build();
        let mut state = ResumeState::started(
            &original,
            Start {
                empty: false,
                post_batch_resume_token: None,
                operation_time: None,
                wire_version: 21,
            },
        );
        let id = ResumeToken::from_document(doc! { "_data": "e1" });
        state.handed_out(Some(id), false, None).unwrap();
        let mut op = ChangeStreamAggregate::resume(args(Some("c"), false, original), state.point());
        let body = op.build(&description()).unwrap().body;
        assert_eq!(
            body.get_array("pipeline").unwrap()[0],
            Bson::from(doc! { "$changeStream": { "resumeAfter": { "_data": "e1" } } })
        );
    }
}
