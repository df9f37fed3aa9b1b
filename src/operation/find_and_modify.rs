//! `findAndModify`: `find_one_and_delete`, `find_one_and_update`, `find_one_and_replace`.

use bson::{doc, Bson, Document, RawDocument};

use super::update::{check_replacement, update_bson};
use super::{to_document, write_reply, Command, Operation, Retryability, StreamDescription};
use crate::error::{Error, Result};
use crate::options::ServerAddress;
use crate::options::{
    FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, ReturnDocument,
    UpdateModifications, WriteConcern,
};

/// What happens to the document found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Modification {
    Delete,
    /// Update operators or a pipeline.
    Update(Bson),
    Replace(Document),
}

pub(crate) struct FindAndModify {
    db: String,
    coll: String,
    filter: Document,
    modification: Modification,
    /// The options that are set, as command keys (each variant's options type serializes
    /// itself).
    options: Document,
    /// `new`: return the document after the change (not for a delete).
    return_new: Option<bool>,
    write_concern: Option<WriteConcern>,
}

impl FindAndModify {
    /// `options.write_concern` must already hold the collection's default when none was set
    /// (the same for the other constructors).
    pub(crate) fn delete(
        db: &str,
        coll: &str,
        filter: Document,
        o: FindOneAndDeleteOptions,
    ) -> Result<Self> {
        let fields = bson::to_document(&o)?;
        Ok(Self::new(
            db,
            coll,
            filter,
            Modification::Delete,
            fields,
            None,
            o.write_concern,
        ))
    }

    /// Refuses an update document without operators.
    pub(crate) fn update(
        db: &str,
        coll: &str,
        filter: Document,
        update: UpdateModifications,
        o: FindOneAndUpdateOptions,
    ) -> Result<Self> {
        let update = Modification::Update(update_bson(update, "find_one_and_update")?);
        let fields = bson::to_document(&o)?;
        let new = o.return_document == Some(ReturnDocument::After);
        Ok(Self::new(
            db,
            coll,
            filter,
            update,
            fields,
            Some(new),
            o.write_concern,
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
        let fields = bson::to_document(&o)?;
        let new = o.return_document == Some(ReturnDocument::After);
        let replace = Modification::Replace(replacement);
        Ok(Self::new(
            db,
            coll,
            filter,
            replace,
            fields,
            Some(new),
            o.write_concern,
        ))
    }

    fn new(
        db: &str,
        coll: &str,
        filter: Document,
        modification: Modification,
        options: Document,
        return_new: Option<bool>,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            modification,
            options,
            return_new,
            write_concern,
        }
    }
}

// The document before or after the change (`return_document`), `None` when nothing
// matched (and, returning the document before, when an upsert inserted one).
operation_output!(FindAndModify => Option<Document>, "findAndModify");

impl Operation for FindAndModify {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let has_hint = self.options.contains_key("hint");
        let acknowledged = self.is_acknowledged();
        super::check_unacknowledged_hint(has_hint, acknowledged, server, "findAndModify")?;
        let mut cmd = doc! { "findAndModify": self.coll.as_str(), "query": self.filter.clone() };
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
        if let Some(new) = self.return_new {
            cmd.insert("new", new);
        }
        cmd.extend(self.options.clone());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<Option<Document>> {
        // An unacknowledged write has no result to give (CRUD specification): what the server
        // answered to `w: 0` is not reported.
        if !self.is_acknowledged() {
            return Ok(None);
        }
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

    fn retryability(&self) -> Retryability {
        Retryability::Write
    }

    fn is_acknowledged(&self) -> bool {
        super::acknowledged(self.write_concern.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{
        description, is_invalid_response, selects_a_writable_server, server,
    };
    use crate::options::{Acknowledgment, Hint};
    use std::time::Duration;

    #[test]
    fn delete_sends_remove_and_no_new() {
        let o = FindOneAndDeleteOptions::builder()
            .sort(doc! { "a": 1 })
            .projection(doc! { "_id": 0 })
            .max_time(Duration::from_secs(1))
            .build();
        let mut op = FindAndModify::delete("db", "c", doc! { "x": 1 }, o).unwrap();
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "findAndModify": "c", "query": { "x": 1 }, "sort": { "a": 1 }, "remove": true,
            "fields": { "_id": 0 }, "maxTimeMS": 1000_i64 }
        );
        assert!(selects_a_writable_server(&op));
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
        let op = FindAndModify::delete("db", "c", doc! {}, Default::default()).unwrap();
        let a = server();
        let found = op
            .handle_response(
                &raw(&doc! { "ok": 1, "lastErrorObject": { "n": 1 }, "value": { "n": 1 } }),
                &a,
            )
            .unwrap();
        assert_eq!(found, Some(doc! { "n": 1 }));
        let none = op
            .handle_response(
                &raw(&doc! { "ok": 1, "lastErrorObject": { "n": 0 }, "value": null }),
                &a,
            )
            .unwrap();
        assert_eq!(none, None);
        let err = op
            .handle_response(
                &raw(&doc! { "ok": 1, "value": null, "writeConcernError": { "code": 64, "errmsg": "slow" } }),
                &a,
            )
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::Write { write_concern_error: Some(w), .. } if w.contains("64"))
        );
        for bad in [doc! { "ok": 1 }, doc! { "ok": 1, "value": 3 }] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &a).unwrap_err()
            ));
        }
    }

    #[test]
    fn an_unacknowledged_change_reports_no_document() {
        let w0 = crate::options::WriteConcern::builder()
            .w(Acknowledgment::Nodes(0))
            .build();
        let o = FindOneAndDeleteOptions::builder().write_concern(w0).build();
        let op = FindAndModify::delete("db", "c", doc! {}, o).unwrap();
        let reply = doc! { "ok": 1, "lastErrorObject": { "n": 1 }, "value": { "n": 1 } };
        assert_eq!(op.handle_response(&raw(&reply), &server()).unwrap(), None);
    }
}
