//! `aggregate` on a collection or a database: opens a cursor. A pipeline ending in `$out` or
//! `$merge` writes, so it runs on the primary with the write concern and is not retried.

use bson::{doc, Bson, Document, RawDocument};

use super::{
    append_opt, append_read_concern, append_write_concern, millis, Command, CursorSpec, Operation,
    ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::coll::options::AggregateOptions;
use crate::error::Result;
use crate::options::{ReadConcern, WriteConcern};
use crate::sdam::SelectionCriteria;

pub(crate) struct Aggregate {
    db: String,
    /// `None`: a database-level aggregation (`aggregate: 1`).
    coll: Option<String>,
    pipeline: Vec<Document>,
    options: AggregateOptions,
    read_concern: Option<ReadConcern>,
    criteria: SelectionCriteria,
}

impl Aggregate {
    /// `options.write_concern` must already hold the client's default when none was set.
    pub(crate) fn new(
        db: String,
        coll: Option<String>,
        pipeline: Vec<Document>,
        options: AggregateOptions,
        read_concern: Option<ReadConcern>,
        criteria: SelectionCriteria,
    ) -> Self {
        Self {
            db,
            coll,
            pipeline,
            options,
            read_concern,
            criteria,
        }
    }

    /// True when the last stage is `$out` or `$merge`.
    fn writes(&self) -> bool {
        self.pipeline
            .last()
            .and_then(|s| s.keys().next())
            .is_some_and(|k| k == "$out" || k == "$merge")
    }

    fn write_concern(&self) -> Option<&WriteConcern> {
        self.options.write_concern.as_ref()
    }
}

impl Operation for Aggregate {
    type Output = CursorSpec;
    const NAME: &'static str = "aggregate";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let writes = self.writes();
        let target = match &self.coll {
            Some(c) => Bson::String(c.clone()),
            None => Bson::Int32(1),
        };
        let mut cursor = Document::new();
        // $out/$merge return no documents; a batchSize there would only shape an empty reply.
        if let (Some(b), false) = (o.batch_size, writes) {
            cursor.insert("batchSize", i64::from(b));
        }
        let mut cmd =
            doc! { "aggregate": target, "pipeline": self.pipeline.clone(), "cursor": cursor };
        append_opt(&mut cmd, "allowDiskUse", o.allow_disk_use);
        append_opt(&mut cmd, "maxTimeMS", o.max_time.map(millis));
        append_opt(&mut cmd, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        append_opt(&mut cmd, "comment", o.comment.clone());
        append_opt(&mut cmd, "let", o.let_vars.clone());
        if writes {
            append_write_concern(&mut cmd, self.write_concern());
            append_opt(
                &mut cmd,
                "bypassDocumentValidation",
                o.bypass_document_validation,
            );
        } else {
            append_read_concern(&mut cmd, self.read_concern.as_ref());
        }
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        ctx: &ResponseContext<'_>,
    ) -> Result<CursorSpec> {
        CursorSpec::from_reply(reply, ctx.address, self.options.batch_size, None)
    }

    fn selection(&self) -> Selection {
        if self.writes() {
            Selection::Criteria(SelectionCriteria::Write)
        } else {
            Selection::Criteria(self.criteria.clone())
        }
    }

    fn retryability(&self) -> Retryability {
        if self.writes() {
            Retryability::None
        } else {
            Retryability::Read
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{ctx, description, server};
    use crate::options::Acknowledgment;

    fn read() -> SelectionCriteria {
        SelectionCriteria::Read(Default::default())
    }

    #[test]
    fn a_reading_pipeline_uses_the_read_preference_and_read_concern() {
        let rc = ReadConcern {
            level: "local".into(),
        };
        let mut op = Aggregate::new(
            "db".into(),
            Some("c".into()),
            vec![doc! { "$match": {} }],
            AggregateOptions::builder()
                .batch_size(4_u32)
                .comment(Bson::from("hi"))
                .build(),
            Some(rc),
            read(),
        );
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "aggregate": "c", "pipeline": [ { "$match": {} } ], "cursor": { "batchSize": 4_i64 },
            "comment": "hi", "readConcern": { "level": "local" } }
        );
        assert_eq!(op.selection(), Selection::Criteria(read()));
        assert_eq!(op.retryability(), Retryability::Read);
        let reply =
            doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": [ {}, {} ] } };
        let spec = op.handle_response(&raw(&reply), &ctx(&server())).unwrap();
        assert_eq!((spec.first_batch.len(), spec.batch_size), (2, Some(4)));
    }

    #[test]
    fn out_and_merge_run_on_the_primary_with_the_write_concern() {
        let wc = WriteConcern::builder().w(Acknowledgment::Majority).build();
        let mut op = Aggregate::new(
            "db".into(),
            None,
            vec![doc! { "$documents": [] }, doc! { "$out": "t" }],
            AggregateOptions::builder()
                .batch_size(4_u32)
                .write_concern(wc)
                .bypass_document_validation(true)
                .build(),
            Some(ReadConcern {
                level: "local".into(),
            }),
            read(),
        );
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "aggregate": 1, "pipeline": [ { "$documents": [] }, { "$out": "t" } ], "cursor": {},
            "writeConcern": { "w": "majority" }, "bypassDocumentValidation": true }
        );
        assert_eq!(
            op.selection(),
            Selection::Criteria(SelectionCriteria::Write)
        );
        assert_eq!(op.retryability(), Retryability::None);
    }
}
