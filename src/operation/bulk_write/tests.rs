use super::*;
use crate::operation::test_util::{
    assert_build_refused, description, is_invalid_response, raw, server,
};
use crate::options::{
    Acknowledgment, DeleteManyModel, DeleteOneModel, InsertOneModel, ReplaceOneModel,
    UpdateManyModel, UpdateOneModel, WriteConcern,
};
use crate::Namespace;

fn ns(coll: &str) -> Namespace {
    Namespace::new("db", coll)
}

fn insert(coll: &str, id: i32) -> WriteModel {
    InsertOneModel::builder()
        .namespace(ns(coll))
        .document(doc! { "_id": id })
        .build()
        .into()
}

fn sequence<'c>(cmd: &'c Command, name: &str) -> &'c DocumentSequence {
    cmd.sequences
        .iter()
        .find(|s| s.identifier == name)
        .unwrap_or_else(|| panic!("no {name} sequence"))
}

#[test]
fn every_model_becomes_its_ops_entry_and_options_command_fields() {
    let models: Vec<WriteModel> = vec![
        insert("a", 1),
        UpdateOneModel::builder()
            .namespace(ns("b"))
            .filter(doc! { "x": 1 })
            .update(doc! { "$set": { "y": 1 } })
            .upsert(true)
            .array_filters(vec![doc! { "e.k": 1 }])
            .hint("x_1")
            .sort(doc! { "x": -1 })
            .build()
            .into(),
        UpdateManyModel::builder()
            .namespace(ns("a"))
            .filter(doc! {})
            .update(vec![doc! { "$set": { "z": 1 } }])
            .build()
            .into(),
        ReplaceOneModel::builder()
            .namespace(ns("b"))
            .filter(doc! { "x": 2 })
            .replacement(doc! { "x": 3 })
            .collation(crate::options::Collation::builder().locale("fr").build())
            .build()
            .into(),
        DeleteOneModel::builder()
            .namespace(ns("c"))
            .filter(doc! { "x": 4 })
            .build()
            .into(),
        DeleteManyModel::builder()
            .namespace(ns("a"))
            .filter(doc! { "x": 5 })
            .hint(doc! { "x": 1 })
            .build()
            .into(),
    ];
    let options = BulkWriteOptions::builder()
        .comment(Bson::from("why"))
        .let_vars(doc! { "v": 1 })
        .bypass_document_validation(true)
        .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
        .build();
    let mut op = BulkWrite::new(&models, 0, &options, true);
    let cmd = op.build(&description()).unwrap();
    assert_eq!(cmd.db, "admin");
    assert_eq!(
        cmd.body,
        doc! { "bulkWrite": 1, "errorsOnly": false, "ordered": true,
        "bypassDocumentValidation": true, "comment": "why", "let": { "v": 1 },
        "writeConcern": { "w": "majority" } }
    );
    assert_eq!(
        cmd.sequences.last().unwrap().identifier,
        "ops",
        "ops last, the sequence the connection may cut"
    );
    assert_eq!(
        sequence(&cmd, "nsInfo").documents(),
        vec![
            doc! { "ns": "db.a" },
            doc! { "ns": "db.b" },
            doc! { "ns": "db.c" }
        ],
        "each namespace once, in order of first use"
    );
    assert_eq!(
        sequence(&cmd, "ops").documents(),
        vec![
            doc! { "insert": 0, "document": { "_id": 1 } },
            doc! { "update": 1, "filter": { "x": 1 }, "updateMods": { "$set": { "y": 1 } },
            "multi": false, "upsert": true, "arrayFilters": [ { "e.k": 1 } ], "hint": "x_1",
            "sort": { "x": -1 } },
            doc! { "update": 0, "filter": {}, "updateMods": [ { "$set": { "z": 1 } } ],
            "multi": true },
            doc! { "update": 1, "filter": { "x": 2 }, "updateMods": { "x": 3 }, "multi": false,
            "collation": { "locale": "fr" } },
            doc! { "delete": 2, "filter": { "x": 4 }, "multi": false },
            doc! { "delete": 0, "filter": { "x": 5 }, "multi": true, "hint": { "x": 1 } },
        ]
    );
    assert_eq!(op.taken, 6);
    assert_eq!(
        op.retryability(),
        Retryability::None,
        "an UpdateMany or DeleteMany is not a retryable write"
    );
    let unordered = BulkWriteOptions::builder().ordered(false).build();
    let mut op = BulkWrite::new(&models[..2], 0, &unordered, false);
    let body = op.build(&description()).unwrap().body;
    assert_eq!(body.get_bool("errorsOnly"), Ok(true));
    assert_eq!(body.get_bool("ordered"), Ok(false));
    assert_eq!(op.retryability(), Retryability::Write);
}

#[test]
fn batches_stop_at_max_write_batch_size_with_only_their_namespaces() {
    let models = vec![
        insert("a", 1),
        insert("a", 2),
        insert("b", 3),
        insert("c", 4),
    ];
    let options = BulkWriteOptions::default();
    let mut server = description();
    server.max_write_batch_size = 2;
    let mut op = BulkWrite::new(&models, 0, &options, false);
    let cmd = op.build(&server).unwrap();
    assert_eq!(sequence(&cmd, "ops").len(), 2);
    assert_eq!(
        sequence(&cmd, "nsInfo").documents(),
        vec![doc! { "ns": "db.a" }]
    );
    let mut op = BulkWrite::new(&models, 2, &options, false);
    let cmd = op.build(&server).unwrap();
    assert_eq!(
        sequence(&cmd, "nsInfo").documents(),
        vec![doc! { "ns": "db.b" }, doc! { "ns": "db.c" }],
        "indexes restart at 0 in each batch"
    );
    assert_eq!(
        sequence(&cmd, "ops").documents()[1],
        doc! { "insert": 1, "document": { "_id": 4 } }
    );
    // The connection sent fewer: the batch is what was sent.
    op.sequence_sent(1);
    assert_eq!(op.taken, 1);
}

#[test]
fn batches_stop_at_the_message_size_less_the_overhead_allowance() {
    let pad = "x".repeat(1_000);
    let models: Vec<WriteModel> = (0..10)
        .map(|i| {
            InsertOneModel::builder()
                .namespace(ns("a"))
                .document(doc! { "_id": i, "pad": pad.as_str() })
                .build()
                .into()
        })
        .collect();
    let options = BulkWriteOptions::default();
    let op_size = ops_document(&models[0], 0).unwrap().len();
    let ns_size = bson::to_vec(&doc! { "ns": "db.a" }).unwrap().len();
    let cmd_size = bson::to_vec(&doc! { "bulkWrite": 1, "errorsOnly": true, "ordered": true })
        .unwrap()
        .len();
    let mut server = description();
    // Room for exactly three operations and the namespace.
    server.max_message_size = MESSAGE_OVERHEAD_BYTES + cmd_size + ns_size + 3 * op_size;
    let mut op = BulkWrite::new(&models, 0, &options, false);
    assert_eq!(sequence(&op.build(&server).unwrap(), "ops").len(), 3);
    server.max_message_size -= 1;
    assert_eq!(sequence(&op.build(&server).unwrap(), "ops").len(), 2);
    // Not even one fits: an error naming the write, nothing sent.
    server.max_message_size = MESSAGE_OVERHEAD_BYTES + cmd_size + op_size;
    let mut op = BulkWrite::new(&models, 4, &options, false);
    assert_build_refused(&mut op, &server, "index 4");
}

#[test]
fn servers_before_8_0_are_refused() {
    let models = vec![insert("a", 1)];
    let options = BulkWriteOptions::default();
    let mut server = description();
    server.max_wire_version = 21;
    let err = BulkWrite::new(&models, 0, &options, false)
        .build(&server)
        .unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::NotSupported { message } if message.contains("8.0")),
        "{err}"
    );
}

#[test]
fn the_reply_gives_counts_the_write_concern_error_and_the_results_cursor() {
    let models = vec![insert("a", 1), insert("a", 2)];
    let options = BulkWriteOptions::default();
    let mut op = BulkWrite::new(&models, 0, &options, false);
    op.build(&description()).unwrap();
    let reply = doc! {
        "ok": 1, "nErrors": 1, "nInserted": 1, "nUpserted": 0, "nMatched": 2_i64,
        "nModified": 1.0, "nDeleted": 0,
        "writeConcernError": { "code": 64, "codeName": "WriteConcernFailed", "errmsg": "slow" },
        "cursor": { "id": 5_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [
            { "ok": 1.0, "idx": 0, "n": 1 },
        ] },
    };
    let r = op.handle_response(&raw(&reply), &server()).unwrap();
    assert_eq!(
        r.summary,
        SummaryBulkWriteResult {
            inserted_count: 1,
            matched_count: 2,
            modified_count: 1,
            upserted_count: 0,
            deleted_count: 0
        }
    );
    assert_eq!((r.n_errors, r.taken), (1, 2));
    let wce = r.write_concern_error.unwrap();
    assert_eq!(
        (wce.code, wce.code_name.as_str()),
        (64, "WriteConcernFailed")
    );
    assert_eq!(
        (r.cursor.db.as_str(), r.cursor.coll.as_str(), r.cursor.id),
        ("admin", "$cmd.bulkWrite", 5)
    );
    assert_eq!(r.cursor.first_batch.len(), 1);
    for bad in [
        doc! { "ok": 1, "nInserted": -1, "cursor": { "id": 0_i64, "firstBatch": [] } },
        doc! { "ok": 1, "nInserted": "one", "cursor": { "id": 0_i64, "firstBatch": [] } },
        doc! { "ok": 1, "nInserted": 1 },
    ] {
        let err = op.handle_response(&raw(&bad), &server()).unwrap_err();
        assert!(is_invalid_response(&err), "{bad}: {err}");
    }
}

#[test]
fn an_unacknowledged_bulk_write_reads_no_results_cursor() {
    let models = vec![insert("a", 1)];
    let w0 = WriteConcern::builder().w(Acknowledgment::Nodes(0)).build();
    let options = BulkWriteOptions::builder().write_concern(w0).build();
    let mut op = BulkWrite::new(&models, 0, &options, false);
    op.build(&description()).unwrap();
    // What the connection reads for a moreToCome request: `{ok: 1}`.
    let r = op
        .handle_response(&raw(&doc! { "ok": 1 }), &server())
        .unwrap();
    assert_eq!((r.summary.inserted_count, r.cursor.id), (0, 0));
    assert_eq!(r.cursor.first_batch.len(), 0);
}

fn reply(taken: usize, n_errors: u64, inserted: i64) -> BulkWriteReply {
    let cursor =
        doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [] } };
    BulkWriteReply {
        summary: SummaryBulkWriteResult {
            inserted_count: inserted,
            ..Default::default()
        },
        n_errors,
        write_concern_error: None,
        cursor: CursorSpec::from_reply(&raw(&cursor), &server(), None, None).unwrap(),
        taken,
    }
}

/// Insert, update (upserting), replace, delete: each result where its model is.
#[test]
fn verbose_results_are_filed_by_model_index_across_batches() {
    let models: Vec<WriteModel> = vec![
        insert("a", 1),
        insert("a", 2),
        UpdateOneModel::builder()
            .namespace(ns("a"))
            .filter(doc! {})
            .update(doc! { "$set": { "x": 1 } })
            .build()
            .into(),
        DeleteOneModel::builder()
            .namespace(ns("a"))
            .filter(doc! {})
            .build()
            .into(),
    ];
    let ids: HashMap<usize, Bson> = [(0, Bson::Int32(1)), (1, Bson::Int32(2))].into();
    let mut out = Outcome::default();
    out.start_batch(0, &reply(2, 0, 2));
    for d in [
        doc! { "ok": 1.0, "idx": 0, "n": 1 },
        doc! { "ok": 1.0, "idx": 1_i64, "n": 1 },
    ] {
        out.add_response(&raw(&d), &models, &ids, true).unwrap();
    }
    out.end_batch(0, true);
    // The second batch starts at model 2: its idx 0 is model 2.
    out.start_batch(2, &reply(2, 0, 0));
    out.add_response(
        &raw(&doc! { "ok": 1, "idx": 0, "n": 1, "nModified": 0, "upserted": { "_id": "new" } }),
        &models,
        &ids,
        true,
    )
    .unwrap();
    out.add_response(
        &raw(&doc! { "ok": 1.0, "idx": 1, "n": 0 }),
        &models,
        &ids,
        true,
    )
    .unwrap();
    let bad = out
        .add_response(
            &raw(&doc! { "ok": 1.0, "idx": 2, "n": 0 }),
            &models,
            &ids,
            true,
        )
        .unwrap_err();
    assert!(is_invalid_response(&bad), "an idx outside the batch: {bad}");
    out.end_batch(0, true);
    let r: VerboseBulkWriteResult = out.finish().unwrap();
    assert_eq!(r.summary.inserted_count, 2);
    assert_eq!(r.insert_results[&1].inserted_id, Bson::Int32(2));
    assert_eq!(
        r.update_results[&2],
        UpdateResult {
            matched_count: 1,
            modified_count: 0,
            upserted_id: Some(Bson::from("new"))
        }
    );
    assert_eq!(r.delete_results[&3].deleted_count, 0);
}

#[test]
fn write_errors_and_write_concern_errors_make_a_bulk_write_error_with_the_partial_result() {
    let models = vec![insert("a", 1), insert("a", 2), insert("a", 3)];
    let ids: HashMap<usize, Bson> = (0..3).map(|i| (i, Bson::Int32(i as i32 + 1))).collect();
    // Ordered, failing at its second write: the first succeeded.
    let mut out = Outcome::default();
    out.start_batch(0, &reply(3, 1, 1));
    out.add_response(
        &raw(&doc! { "ok": 1.0, "idx": 0, "n": 1 }),
        &models,
        &ids,
        false,
    )
    .unwrap();
    out.add_response(
        &raw(
            &doc! { "ok": 0.0, "idx": 1, "code": 11000, "codeName": "DuplicateKey",
            "errmsg": "dup", "errInfo": { "why": 1 } },
        ),
        &models,
        &ids,
        false,
    )
    .unwrap();
    out.end_batch(1, true);
    assert!(out.has_write_errors());
    let err = out.finish::<SummaryBulkWriteResult>().unwrap_err();
    let ErrorKind::BulkWrite(e) = &*err.kind else {
        panic!("{err:?}")
    };
    let w = &e.write_errors[&1];
    assert_eq!((w.code, w.code_name.as_str()), (11000, "DuplicateKey"));
    assert_eq!(w.details, Some(doc! { "why": 1 }));
    assert_eq!(
        e.partial_result,
        Some(crate::error::PartialBulkWriteResult::Summary(
            SummaryBulkWriteResult {
                inserted_count: 1,
                ..Default::default()
            }
        ))
    );
    assert!(err.to_string().contains("index 1"), "{err}");

    // Ordered, failing at its first write: nothing succeeded, no partial result.
    let mut out = Outcome::default();
    out.start_batch(0, &reply(3, 1, 0));
    out.add_response(
        &raw(&doc! { "ok": 0, "idx": 0, "code": 2, "errmsg": "bad" }),
        &models,
        &ids,
        false,
    )
    .unwrap();
    out.end_batch(1, true);
    let err = out.finish::<SummaryBulkWriteResult>().unwrap_err();
    let ErrorKind::BulkWrite(e) = &*err.kind else {
        panic!()
    };
    assert!(e.partial_result.is_none());

    // Unordered, every write failed: no partial result; one of three: a partial result.
    for (failed, partial) in [(3, false), (1, true)] {
        let mut out = Outcome::default();
        out.start_batch(0, &reply(3, failed, 3 - failed as i64));
        for i in 0..failed {
            out.add_response(
                &raw(&doc! { "ok": 0, "idx": i as i32, "code": 2 }),
                &models,
                &ids,
                false,
            )
            .unwrap();
        }
        out.end_batch(failed, false);
        let err = out.finish::<SummaryBulkWriteResult>().unwrap_err();
        let ErrorKind::BulkWrite(e) = &*err.kind else {
            panic!()
        };
        assert_eq!(e.partial_result.is_some(), partial, "{failed} failed");
    }

    // A write concern error alone: every write done, reported with the partial result.
    let mut out = Outcome::default();
    let mut r = reply(3, 0, 3);
    r.write_concern_error = Some(WriteConcernError {
        code: 91,
        code_name: String::new(),
        message: "shutting down".into(),
        details: None,
    });
    out.start_batch(0, &r);
    out.end_batch(0, true);
    let err = out.finish::<VerboseBulkWriteResult>().unwrap_err();
    let ErrorKind::BulkWrite(e) = &*err.kind else {
        panic!()
    };
    assert_eq!(e.write_concern_errors[0].code, 91);
    assert!(matches!(
        e.partial_result,
        Some(crate::error::PartialBulkWriteResult::Verbose(_))
    ));
}

#[test]
fn an_error_that_stops_the_bulk_write_is_bare_before_any_result_and_wrapped_after() {
    let net = || {
        let mut e = Error::new(ErrorKind::Command {
            code: 8,
            code_name: "UnknownError".into(),
            message: "boom".into(),
        });
        e.add_label("RetryableWriteError");
        e
    };
    let err = Outcome::default().stopped_by::<SummaryBulkWriteResult>(net());
    assert!(
        matches!(&*err.kind, ErrorKind::Command { code: 8, .. }),
        "{err:?}"
    );

    let mut out = Outcome::default();
    out.start_batch(0, &reply(2, 0, 2));
    out.end_batch(0, true);
    let err = out.stopped_by::<SummaryBulkWriteResult>(net());
    let ErrorKind::BulkWrite(e) = &*err.kind else {
        panic!("{err:?}")
    };
    assert!(matches!(
        e.error.as_deref().map(|e| &*e.kind),
        Some(ErrorKind::Command { code: 8, .. })
    ));
    assert!(e.partial_result.is_some());
    assert!(err.contains_label("RetryableWriteError"), "labels are kept");
}
