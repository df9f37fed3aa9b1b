//! Bulk writes: the models of `bulkWrite` (one collection) and `clientBulkWrite` (the
//! `bulkWrite` command), and their results as documents.

use bson::{doc, Bson, Document};
use mongo_x509::error::PartialBulkWriteResult;
use mongo_x509::options::{
    DeleteManyModel, DeleteOneModel, InsertOneModel, ReplaceOneModel, UpdateManyModel,
    UpdateOneModel, WriteModel,
};
use mongo_x509::results::{BulkWriteResult, SummaryBulkWriteResult, VerboseBulkWriteResult};
use mongo_x509::Namespace;

use super::collection::{delete_result, modifications, update_result};
use super::Args;

/// The models of `requests` (every one on `ns`) or of `models` (each with its `namespace`).
pub fn models(list: Vec<Document>, ns: Option<&Namespace>) -> Result<Vec<WriteModel>, String> {
    list.into_iter().map(|m| model(m, ns)).collect()
}

fn model(d: Document, ns: Option<&Namespace>) -> Result<WriteModel, String> {
    let mut it = d.into_iter();
    let (kind, spec) = match (it.next(), it.next()) {
        (Some((k, Bson::Document(v))), None) => (k, v),
        _ => return Err("a write model is a document with one key".into()),
    };
    let mut a = Args::from_doc(&kind, spec);
    let namespace = match ns {
        Some(ns) => ns.clone(),
        None => {
            let s = a.req_str("namespace")?;
            let (db, coll) = s
                .split_once('.')
                .ok_or_else(|| format!("namespace {s:?} is not db.coll"))?;
            Namespace::new(db, coll)
        }
    };
    let m: WriteModel = match kind.as_str() {
        "insertOne" => InsertOneModel::builder()
            .namespace(namespace)
            .document(a.req_doc("document")?)
            .build()
            .into(),
        "updateOne" => {
            let mut m = UpdateOneModel::builder()
                .namespace(namespace)
                .filter(a.req_doc("filter")?)
                .update(modifications(a.req("update")?)?)
                .build();
            m.array_filters = a.docs("arrayFilters")?;
            m.collation = a.collation()?;
            m.hint = a.hint("hint")?;
            m.upsert = a.bool("upsert")?;
            m.sort = a.doc("sort")?;
            m.into()
        }
        "updateMany" => {
            let mut m = UpdateManyModel::builder()
                .namespace(namespace)
                .filter(a.req_doc("filter")?)
                .update(modifications(a.req("update")?)?)
                .build();
            m.array_filters = a.docs("arrayFilters")?;
            m.collation = a.collation()?;
            m.hint = a.hint("hint")?;
            m.upsert = a.bool("upsert")?;
            m.into()
        }
        "replaceOne" => {
            let mut m = ReplaceOneModel::builder()
                .namespace(namespace)
                .filter(a.req_doc("filter")?)
                .replacement(a.req_doc("replacement")?)
                .build();
            m.collation = a.collation()?;
            m.hint = a.hint("hint")?;
            m.upsert = a.bool("upsert")?;
            m.sort = a.doc("sort")?;
            m.into()
        }
        "deleteOne" => {
            let mut m = DeleteOneModel::builder()
                .namespace(namespace)
                .filter(a.req_doc("filter")?)
                .build();
            m.collation = a.collation()?;
            m.hint = a.hint("hint")?;
            m.into()
        }
        "deleteMany" => {
            let mut m = DeleteManyModel::builder()
                .namespace(namespace)
                .filter(a.req_doc("filter")?)
                .build();
            m.collation = a.collation()?;
            m.hint = a.hint("hint")?;
            m.into()
        }
        other => return Err(format!("unknown write model {other}")),
    };
    a.finish()?;
    Ok(m)
}

fn by_index<T>(m: &std::collections::HashMap<usize, T>, f: impl Fn(&T) -> Bson) -> Document {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by_key(|(i, _)| **i);
    v.into_iter().map(|(i, x)| (i.to_string(), f(x))).collect()
}

/// A collection `bulkWrite` result.
pub fn collection_result(r: &BulkWriteResult) -> Document {
    doc! {
        "insertedCount": r.inserted_count as i64,
        "matchedCount": r.matched_count as i64,
        "modifiedCount": r.modified_count as i64,
        "deletedCount": r.deleted_count as i64,
        "upsertedCount": r.upserted_count as i64,
        "insertedIds": by_index(&r.inserted_ids, Clone::clone),
        "upsertedIds": by_index(&r.upserted_ids, Clone::clone),
    }
}

/// A `clientBulkWrite` summary result.
pub fn summary_result(r: &SummaryBulkWriteResult) -> Document {
    doc! {
        "insertedCount": r.inserted_count,
        "upsertedCount": r.upserted_count,
        "matchedCount": r.matched_count,
        "modifiedCount": r.modified_count,
        "deletedCount": r.deleted_count,
    }
}

/// A `clientBulkWrite` verbose result.
pub fn verbose_result(r: &VerboseBulkWriteResult) -> Document {
    let mut d = summary_result(&r.summary);
    d.insert(
        "insertResults",
        by_index(&r.insert_results, |x| {
            doc! {"insertedId": x.inserted_id.clone()}.into()
        }),
    );
    d.insert(
        "updateResults",
        by_index(&r.update_results, |x| {
            let mut u = update_result(x);
            // The per-model result has no upsertedCount.
            u.remove("upsertedCount");
            u.into()
        }),
    );
    d.insert(
        "deleteResults",
        by_index(&r.delete_results, |x| delete_result(x).into()),
    );
    d
}

pub fn partial_result(p: &PartialBulkWriteResult) -> Bson {
    match p {
        PartialBulkWriteResult::Summary(s) => summary_result(s).into(),
        PartialBulkWriteResult::Verbose(v) => verbose_result(v).into(),
        PartialBulkWriteResult::Collection(c) => collection_result(c).into(),
        _ => Bson::Null,
    }
}
