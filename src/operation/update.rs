//! `update` with one statement: `update_one`, `update_many` and `replace_one`.

use bson::{doc, Bson, Document, RawDocument};

use super::{append_options, write_reply, Command, Operation, Retryability, StreamDescription};
use crate::error::{Error, Result};
use crate::options::ServerAddress;
use crate::options::{ReplaceOptions, UpdateModifications, UpdateOptions};
use crate::results::UpdateResult;

pub(crate) struct Update {
    db: String,
    coll: String,
    filter: Document,
    /// Update operators, a pipeline, or a replacement document.
    update: Bson,
    multi: bool,
    /// A replacement's options as an update's (no array filters).
    options: UpdateOptions,
}

/// True when the document's first key is an update operator (`$set`, …).
pub(crate) fn has_operators(d: &Document) -> bool {
    d.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// The `u` of an update: operators or a pipeline, never a plain document.
pub(crate) fn update_bson(update: UpdateModifications, what: &str) -> Result<Bson> {
    match update {
        UpdateModifications::Document(d) if has_operators(&d) => Ok(Bson::Document(d)),
        UpdateModifications::Document(_) => Err(Error::invalid_argument(format!(
            "{what}: the update document must use update operators such as \
             {{\"$set\": {{...}}}}; to replace a whole document use replace_one"
        ))),
        UpdateModifications::Pipeline(p) => {
            Ok(Bson::Array(p.into_iter().map(Bson::Document).collect()))
        }
    }
}

/// A replacement: a plain document, without update operators.
pub(crate) fn check_replacement(replacement: &Document, what: &str) -> Result<()> {
    if has_operators(replacement) {
        return Err(Error::invalid_argument(format!(
            "{what}: the replacement must not contain update operators ($...); \
             use update_one to apply operators"
        )));
    }
    Ok(())
}

impl Update {
    /// `update_one` (`multi` false) or `update_many`. Refuses an update document without
    /// operators. `options.write_concern` must already hold the collection's default.
    pub(crate) fn modify(
        db: &str,
        coll: &str,
        filter: Document,
        update: UpdateModifications,
        multi: bool,
        options: UpdateOptions,
    ) -> Result<Self> {
        Ok(Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            update: update_bson(update, "update")?,
            multi,
            options,
        })
    }

    /// `replace_one`. Refuses a replacement with update operators.
    pub(crate) fn replace(
        db: &str,
        coll: &str,
        filter: Document,
        replacement: Document,
        o: ReplaceOptions,
    ) -> Result<Self> {
        check_replacement(&replacement, "replace_one")?;
        let options = UpdateOptions {
            upsert: o.upsert,
            array_filters: None,
            bypass_document_validation: o.bypass_document_validation,
            hint: o.hint,
            collation: o.collation,
            sort: o.sort,
            write_concern: o.write_concern,
            let_vars: o.let_vars,
            comment: o.comment,
            raw_data: o.raw_data,
        };
        Ok(Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            filter,
            update: Bson::Document(replacement),
            multi: false,
            options,
        })
    }
}

operation_output!(Update => UpdateResult, "update");

impl Operation for Update {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let o = &self.options;
        let acknowledged = self.is_acknowledged();
        super::check_unacknowledged_hint(o.hint.is_some(), acknowledged, server, "update")?;
        // The statement holds the options that belong to it, not to the command. Built as a
        // document directly: going through serde (`to_bson` of a struct) costs more per update.
        let mut stmt =
            doc! { "q": self.filter.clone(), "u": self.update.clone(), "multi": self.multi };
        if let Some(upsert) = o.upsert {
            stmt.insert("upsert", upsert);
        }
        if let Some(filters) = &o.array_filters {
            stmt.insert("arrayFilters", filters.clone());
        }
        if let Some(hint) = &o.hint {
            stmt.insert("hint", bson::to_bson(hint)?);
        }
        if let Some(collation) = &o.collation {
            stmt.insert("collation", bson::to_bson(collation)?);
        }
        if let Some(sort) = &o.sort {
            stmt.insert("sort", sort.clone());
        }
        let mut cmd = doc! {
            "update": self.coll.as_str(), "updates": [stmt], "ordered": true,
        };
        append_options(&mut cmd, o)?;
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<UpdateResult> {
        let r = write_reply::parse_one(reply)?;
        let upserted_id = r.upserted.into_iter().next().map(|(_, id)| id);
        // `n` counts the upserted document too.
        let matched_count = r.n.saturating_sub(u64::from(upserted_id.is_some()));
        Ok(UpdateResult {
            matched_count,
            modified_count: r.n_modified,
            upserted_id,
        })
    }

    fn retryability(&self) -> Retryability {
        Retryability::write_unless_multi(self.multi)
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
    use crate::operation::test_util::{description, is_invalid_response, server};
    use crate::options::{Acknowledgment, Hint, WriteConcern};

    #[test]
    fn an_update_statement_carries_its_options() {
        let wc = WriteConcern::builder().w(Acknowledgment::Nodes(2)).build();
        let mut op = Update::modify(
            "db",
            "c",
            doc! { "a": 1 },
            doc! { "$set": { "b.$[x]": 1 } }.into(),
            true,
            UpdateOptions::builder()
                .upsert(true)
                .array_filters(vec![doc! { "x": 0 }])
                .hint(Hint::Keys(doc! { "a": 1 }))
                .write_concern(wc)
                .let_vars(doc! { "v": 1 })
                .build(),
        )
        .unwrap();
        let cmd = op.build(&description()).unwrap();
        assert_eq!(
            cmd.body,
            doc! { "update": "c", "updates": [ {
            "q": { "a": 1 }, "u": { "$set": { "b.$[x]": 1 } }, "multi": true, "upsert": true,
            "arrayFilters": [ { "x": 0 } ], "hint": { "a": 1 } } ],
            "ordered": true, "writeConcern": { "w": 2_i64 }, "let": { "v": 1 } }
        );
        assert_eq!(op.retryability(), Retryability::None);
    }

    #[test]
    fn plain_updates_and_operator_replacements_are_refused() {
        let refused = |r: Result<Update>| {
            let err = r.err().expect("refused");
            assert!(
                matches!(&*err.kind, ErrorKind::InvalidArgument { .. }),
                "{err}"
            );
        };
        let operators = doc! { "$set": { "x": 1 } };
        let plain = doc! { "x": 1 }.into();
        refused(Update::modify(
            "db",
            "c",
            doc! {},
            plain,
            false,
            Default::default(),
        ));
        refused(Update::replace(
            "db",
            "c",
            doc! {},
            operators.clone(),
            Default::default(),
        ));
        let pipeline = vec![operators].into();
        assert!(Update::modify("db", "c", doc! {}, pipeline, false, Default::default()).is_ok());
    }

    #[test]
    fn the_reply_gives_counts_upserted_id_and_errors() {
        let op = Update::replace("db", "c", doc! {}, doc! { "x": 1 }, Default::default()).unwrap();
        assert_eq!(op.retryability(), Retryability::Write);
        let a = server();
        let r = op
            .handle_response(&raw(&doc! { "ok": 1, "n": 1, "nModified": 1 }), &a)
            .unwrap();
        assert_eq!(
            (r.matched_count, r.modified_count, r.upserted_id),
            (1, 1, None)
        );
        let r = op
            .handle_response(
                &raw(&doc! { "ok": 1, "n": 1, "nModified": 0, "upserted": [ { "index": 0, "_id": 5 } ] }),
                &a,
            )
            .unwrap();
        assert_eq!((r.matched_count, r.upserted_id), (0, Some(Bson::Int32(5))));
        let err = op
            .handle_response(
                &raw(&doc! { "ok": 1, "n": 0, "writeErrors": [ { "index": 0, "code": 11000, "errmsg": "dup" } ] }),
                &a,
            )
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::Write { write_errors, .. } if write_errors[0].code == 11000)
        );
        let err = op
            .handle_response(
                &raw(
                    &doc! { "ok": 1, "n": 1, "writeConcernError": { "code": 100, "errmsg": "wc" } },
                ),
                &a,
            )
            .unwrap_err();
        assert!(matches!(
            &*err.kind,
            ErrorKind::Write {
                write_concern_error: Some(_),
                ..
            }
        ));
        let err = op
            .handle_response(
                &raw(&doc! { "ok": 1, "writeErrors": [ { "index": 1, "code": 1 } ] }),
                &a,
            )
            .unwrap_err();
        assert!(is_invalid_response(&err));
    }
}
