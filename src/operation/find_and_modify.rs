//! `findAndModify`: `find_one_and_delete`, `find_one_and_update`, `find_one_and_replace`.

use bson::{doc, Bson, Document, RawDocument};

use super::update::{check_replacement, update_bson};
use super::{
    append_opt, append_write_concern, millis, to_document, write_reply, Command, Operation,
    ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::coll::options::{
    FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, Hint,
    ReturnDocument,
};
use crate::coll::UpdateModifications;
use crate::error::{Error, Result};
use crate::options::WriteConcern;
use crate::sdam::SelectionCriteria;

/// What happens to the document found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Modification {
    Delete,
    /// Update operators or a pipeline.
    Update(Bson),
    Replace(Document),
}

/// The options of the three variants, in one place.
#[derive(Default)]
struct Options {
    sort: Option<Document>,
    projection: Option<Document>,
    upsert: Option<bool>,
    return_document: Option<ReturnDocument>,
    array_filters: Option<Vec<Document>>,
    hint: Option<Hint>,
    write_concern: Option<WriteConcern>,
    bypass_document_validation: Option<bool>,
    max_time: Option<std::time::Duration>,
    comment: Option<Bson>,
    let_vars: Option<Document>,
}

pub(crate) struct FindAndModify {
    db: String,
    coll: String,
    filter: Document,
    modification: Modification,
    options: Options,
}

impl FindAndModify {
    /// `options.write_concern` must already hold the client's default when none was set (the
    /// same for the other constructors).
    pub(crate) fn delete(
        db: &str,
        coll: &str,
        filter: Document,
        o: FindOneAndDeleteOptions,
    ) -> Self {
        let options = Options {
            sort: o.sort,
            projection: o.projection,
            hint: o.hint,
            write_concern: o.write_concern,
            max_time: o.max_time,
            comment: o.comment,
            let_vars: o.let_vars,
            ..Options::default()
        };
        Self::new(db, coll, filter, Modification::Delete, options)
    }

    /// Refuses an update document without operators.
    pub(crate) fn update(
        db: &str,
        coll: &str,
        filter: Document,
        update: UpdateModifications,
        o: FindOneAndUpdateOptions,
    ) -> Result<Self> {
        let update = update_bson(update, "find_one_and_update")?;
        let options = Options {
            sort: o.sort,
            projection: o.projection,
            upsert: o.upsert,
            return_document: o.return_document,
            array_filters: o.array_filters,
            hint: o.hint,
            write_concern: o.write_concern,
            bypass_document_validation: o.bypass_document_validation,
            max_time: o.max_time,
            comment: o.comment,
            let_vars: o.let_vars,
        };
        Ok(Self::new(
            db,
            coll,
            filter,
            Modification::Update(update),
            options,
        ))
    }

    /// Refuses a replacement with update operators.
    pub(crate) fn replace(
        db: &str,
        coll: &str,
        filter: Document,
        replacement: Document,
        o: FindOneAndReplaceOptions,
    ) -> Result<Self> {
        check_replacement(&replacement, "find_one_and_replace")?;
        let options = Options {
            sort: o.sort,
            projection: o.projection,
            upsert: o.upsert,
            return_document: o.return_document,
            hint: o.hint,
            write_concern: o.write_concern,
            bypass_document_validation: o.bypass_document_validation,
            max_time: o.max_time,
            comment: o.comment,
            let_vars: o.let_vars,
            ..Options::default()
        };
        Ok(Self::new(
            db,
            coll,
            filter,
            Modification::Replace(replacement),
            options,
        ))
    }

    fn new(
        db: &str,
        coll: &str,
        filter: Document,
        modification: Modification,
        options: Options,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            modification,
            options,
        }
    }
}

impl Operation for FindAndModify {
    /// The document before or after the change (`return_document`), `None` when nothing
    /// matched (and, returning the document before, when an upsert inserted one).
    type Output = Option<Document>;
    const NAME: &'static str = "findAndModify";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let mut cmd = doc! { "findAndModify": self.coll.as_str(), "query": self.filter.clone() };
        append_opt(&mut cmd, "sort", o.sort.clone());
        match &self.modification {
            Modification::Delete => {
                cmd.insert("remove", true);
            }
            Modification::Update(u) => {
                cmd.insert("update", u.clone());
            }
            Modification::Replace(r) => {
                cmd.insert("update", r.clone());
            }
        }
        if !matches!(self.modification, Modification::Delete) {
            cmd.insert("new", o.return_document == Some(ReturnDocument::After));
        }
        append_opt(&mut cmd, "fields", o.projection.clone());
        append_opt(&mut cmd, "upsert", o.upsert);
        append_opt(&mut cmd, "arrayFilters", o.array_filters.clone());
        append_opt(&mut cmd, "hint", o.hint.as_ref().map(Hint::to_bson));
        append_opt(
            &mut cmd,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        append_opt(&mut cmd, "maxTimeMS", o.max_time.map(millis));
        append_write_concern(&mut cmd, o.write_concern.as_ref());
        append_opt(&mut cmd, "comment", o.comment.clone());
        append_opt(&mut cmd, "let", o.let_vars.clone());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        _: &ResponseContext<'_>,
    ) -> Result<Option<Document>> {
        let reply = to_document(reply)?;
        // The change was made; a write concern error still means it may not last.
        if let Some(wce) = write_reply::write_concern_error(&reply)? {
            write_reply::write_result(Vec::new(), Some(wce), 1)?;
        }
        match reply.get("value") {
            Some(Bson::Document(d)) => Ok(Some(d.clone())),
            Some(Bson::Null) => Ok(None),
            Some(_) => Err(Error::invalid_response(
                "findAndModify reply: value is neither a document nor null",
            )),
            None => Err(Error::invalid_response("findAndModify reply has no value")),
        }
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(SelectionCriteria::Write)
    }

    fn retryability(&self) -> Retryability {
        Retryability::Write
    }

    fn is_acknowledged(&self) -> bool {
        super::acknowledged(self.options.write_concern.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{ctx, description, is_invalid_response, server};
    use crate::options::Acknowledgment;
    use std::time::Duration;

    #[test]
    fn delete_sends_remove_and_no_new() {
        let o = FindOneAndDeleteOptions::builder()
            .sort(doc! { "a": 1 })
            .projection(doc! { "_id": 0 })
            .max_time(Duration::from_secs(1))
            .build();
        let mut op = FindAndModify::delete("db", "c", doc! { "x": 1 }, o);
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "findAndModify": "c", "query": { "x": 1 }, "sort": { "a": 1 }, "remove": true,
            "fields": { "_id": 0 }, "maxTimeMS": 1000_i64 }
        );
        assert_eq!(
            op.selection(),
            Selection::Criteria(SelectionCriteria::Write)
        );
        assert_eq!(op.retryability(), Retryability::Write);
    }

    #[test]
    fn update_sends_every_option() {
        let o = FindOneAndUpdateOptions::builder()
            .upsert(true)
            .return_document(ReturnDocument::After)
            .array_filters(vec![doc! { "e": 1 }])
            .hint(Hint::Name("x_1".into()))
            .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
            .bypass_document_validation(true)
            .comment(Bson::from("why"))
            .build();
        let mut op =
            FindAndModify::update("db", "c", doc! {}, doc! { "$inc": { "n": 1 } }.into(), o)
                .unwrap();
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "findAndModify": "c", "query": {}, "update": { "$inc": { "n": 1 } }, "new": true,
            "upsert": true, "arrayFilters": [ { "e": 1 } ], "hint": "x_1",
            "bypassDocumentValidation": true, "writeConcern": { "w": "majority" },
            "comment": "why" }
        );
    }

    #[test]
    fn replace_returns_the_document_before_by_default() {
        let mut op =
            FindAndModify::replace("db", "c", doc! {}, doc! { "n": 1 }, Default::default())
                .unwrap();
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "findAndModify": "c", "query": {}, "update": { "n": 1 }, "new": false }
        );
        assert!(FindAndModify::replace(
            "db",
            "c",
            doc! {},
            doc! { "$set": {} },
            Default::default()
        )
        .is_err());
        assert!(FindAndModify::update(
            "db",
            "c",
            doc! {},
            doc! { "n": 1 }.into(),
            Default::default()
        )
        .is_err());
    }

    #[test]
    fn replies_give_the_document_none_or_an_error() {
        let op = FindAndModify::delete("db", "c", doc! {}, Default::default());
        let a = server();
        let found = op
            .handle_response(
                &raw(&doc! { "ok": 1, "lastErrorObject": { "n": 1 }, "value": { "n": 1 } }),
                &ctx(&a),
            )
            .unwrap();
        assert_eq!(found, Some(doc! { "n": 1 }));
        let none = op
            .handle_response(
                &raw(&doc! { "ok": 1, "lastErrorObject": { "n": 0 }, "value": null }),
                &ctx(&a),
            )
            .unwrap();
        assert_eq!(none, None);
        let err = op
            .handle_response(
                &raw(&doc! { "ok": 1, "value": null, "writeConcernError": { "code": 64, "errmsg": "slow" } }),
                &ctx(&a),
            )
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::Write { write_concern_error: Some(w), .. } if w.contains("64"))
        );
        for bad in [doc! { "ok": 1 }, doc! { "ok": 1, "value": 3 }] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &ctx(&a)).unwrap_err()
            ));
        }
    }
}
