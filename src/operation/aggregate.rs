//! `aggregate` on a collection or a database: opens a cursor. A pipeline ending in `$out` or
//! `$merge` writes, so it runs on the primary with the write concern and is not retried.

use bson::{doc, Bson, Document, RawDocument};

use super::{append_options, Command, CursorSpec, Operation, Reads, StreamDescription};
use crate::error::Result;
use crate::options::AggregateOptions;
use crate::options::ServerAddress;
use crate::options::WriteConcern;
use crate::sdam::{SelectionCriteria, ServerType, TopologyDescription, TopologyType};

use super::Selection;

/// True when the pipeline's last stage is `$out` or `$merge`.
pub(crate) fn pipeline_writes(pipeline: &[Document]) -> bool {
    pipeline
        .last()
        .and_then(|s| s.keys().next())
        .is_some_and(|k| k == "$out" || k == "$merge")
}

/// CRUD spec: a pipeline that writes may use a non-primary read preference only when no
/// available server is older than 5.0 (wire version 13); behind a load balancer, always.
pub(crate) fn write_stage_may_use_read_preference(topology: &TopologyDescription) -> bool {
    const WIRE_VERSION_5_0: i32 = 13;
    topology.topology_type == TopologyType::LoadBalanced
        || topology
            .servers
            .values()
            .filter(|s| s.server_type != ServerType::Unknown)
            .all(|s| s.max_wire_version >= WIRE_VERSION_5_0)
}

pub(crate) struct Aggregate {
    db: String,
    /// `None`: a database-level aggregation (`aggregate: 1`).
    coll: Option<String>,
    pipeline: Vec<Document>,
    options: AggregateOptions,
    reads: Reads,
    /// A pipeline that writes may run where its read preference says (every server 5.0+);
    /// else on the primary.
    write_stage_on_read_preference: bool,
}

impl Aggregate {
    /// `options.write_concern` must already hold the client's default when none was set.
    pub(crate) fn new(
        db: String,
        coll: Option<String>,
        pipeline: Vec<Document>,
        options: AggregateOptions,
        reads: Reads,
    ) -> Self {
        Self {
            db,
            coll,
            pipeline,
            options,
            reads,
            write_stage_on_read_preference: false,
        }
    }

    /// Lets a pipeline that writes (`$out`, `$merge`) run where the read preference says:
    /// for a deployment whose available servers are all 5.0+ (CRUD spec).
    pub(crate) fn write_stage_on_read_preference(mut self, allowed: bool) -> Self {
        self.write_stage_on_read_preference = allowed;
        self
    }

    /// True when the last stage is `$out` or `$merge`.
    fn writes(&self) -> bool {
        pipeline_writes(&self.pipeline)
    }

    fn write_concern(&self) -> Option<&WriteConcern> {
        self.options.write_concern.as_ref()
    }
}

operation_output!(Aggregate => CursorSpec, "aggregate");

impl Operation for Aggregate {
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
        append_options(&mut cmd, o)?;
        // Only a pipeline that writes takes a write concern and skips validation.
        if writes {
            if let Some(wc) = self.write_concern() {
                cmd.insert("writeConcern", bson::to_bson(wc)?);
            }
            if let Some(b) = o.bypass_document_validation {
                cmd.insert("bypassDocumentValidation", b);
            }
        }
        // A write stage takes a read concern too (not "linearizable": the server says so).
        self.reads.append_read_concern(&mut cmd);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<CursorSpec> {
        let o = &self.options;
        let spec = CursorSpec::from_reply(reply, at, o.batch_size, None)?;
        Ok(spec.with_get_more(o.max_await_time, o.comment.as_ref()))
    }

    /// A pipeline that writes (`$out`, `$merge`) is not a read: it is not retried.
    fn reads(&self) -> Option<&Reads> {
        (!self.writes()).then_some(&self.reads)
    }

    /// A pipeline that writes runs on the primary, or where its read preference says when
    /// every available server can run it (5.0+).
    fn selection(&self) -> Selection {
        if self.writes() && !self.write_stage_on_read_preference {
            Selection::Criteria(SelectionCriteria::Write)
        } else {
            Selection::Criteria(self.reads.criteria.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, raw, selects_a_writable_server, server};
    use crate::operation::Retryability;
    use crate::options::Acknowledgment;

    fn read() -> SelectionCriteria {
        SelectionCriteria::Read(Default::default())
    }

    /// A read from the primary at read concern `local`.
    fn local() -> Reads {
        Reads {
            criteria: read(),
            read_concern: Some(crate::options::ReadConcern {
                level: "local".into(),
            }),
        }
    }

    #[test]
    fn a_reading_pipeline_uses_the_read_preference_and_read_concern() {
        let mut op = Aggregate::new(
            "db".into(),
            Some("c".into()),
            vec![doc! { "$match": {} }],
            AggregateOptions::builder()
                .batch_size(4_u32)
                .comment(Bson::from("hi"))
                .build(),
            local(),
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
        let spec = op.handle_response(&raw(&reply), &server()).unwrap();
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
            local(),
        );
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "aggregate": 1, "pipeline": [ { "$documents": [] }, { "$out": "t" } ], "cursor": {},
            "writeConcern": { "w": "majority" }, "bypassDocumentValidation": true,
            "readConcern": { "level": "local" } }
        );
        assert!(selects_a_writable_server(&op));
        assert_eq!(op.retryability(), Retryability::None);
    }

    #[test]
    fn only_a_deployment_of_5_0_servers_runs_write_stages_where_the_read_preference_says() {
        use crate::sdam::ServerDescription;
        let mut t = TopologyDescription::new(&[server()], None, None, false);
        assert!(write_stage_may_use_read_preference(&t), "none available");
        let mut known = |wire: i32| {
            let mut s = ServerDescription::unknown(server());
            s.server_type = ServerType::RsSecondary;
            s.max_wire_version = wire;
            t.servers.insert(server().to_string(), s);
            write_stage_may_use_read_preference(&t)
        };
        assert!(known(13));
        assert!(!known(12));
        let lb = TopologyDescription::new(&[server()], None, None, true);
        assert!(write_stage_may_use_read_preference(&lb));
    }

    #[test]
    fn a_write_stage_follows_the_read_preference_only_when_every_server_can_run_it() {
        use crate::options::{ReadPreference, ReadPreferenceMode};
        let secondary =
            SelectionCriteria::Read(ReadPreference::from(ReadPreferenceMode::Secondary));
        let reads = Reads {
            criteria: secondary.clone(),
            read_concern: None,
        };
        let pipeline = vec![doc! { "$merge": "t" }];
        let op = |allowed| {
            Aggregate::new(
                "db".into(),
                Some("c".into()),
                pipeline.clone(),
                Default::default(),
                reads.clone(),
            )
            .write_stage_on_read_preference(allowed)
        };
        assert!(selects_a_writable_server(&op(false)));
        assert_eq!(op(true).selection(), Selection::Criteria(secondary));
        assert_eq!(op(true).retryability(), Retryability::None, "never retried");
    }
}
