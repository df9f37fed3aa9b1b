//! The search index commands: `createSearchIndexes`, `updateSearchIndex` and
//! `dropSearchIndex`. The server hands them to its search process, so they go without a read
//! or write concern (Index Management specification), and are never retried.

use bson::raw::RawBsonRef;
use bson::{doc, Document, RawDocument};

use super::simple::already_dropped;
use super::{Command, Operation, Retryability, StreamDescription};
use crate::error::{Error, Result};
use crate::options::{SearchIndexModel, ServerAddress};

/// `createSearchIndexes`: returns the created indexes' names, in the order given.
pub(crate) struct CreateSearchIndexes {
    db: String,
    coll: String,
    models: Vec<SearchIndexModel>,
}

impl CreateSearchIndexes {
    pub(crate) fn new(db: &str, coll: &str, models: Vec<SearchIndexModel>) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            models,
        }
    }
}

operation_output!(CreateSearchIndexes => Vec<String>, "createSearchIndexes");

impl Operation for CreateSearchIndexes {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let indexes = bson::to_bson(&self.models)?;
        let cmd = doc! { "createSearchIndexes": self.coll.as_str(), "indexes": indexes };
        Ok(Command::new(self.db.clone(), cmd))
    }

    /// The reply lists `indexesCreated: [{id, name}, …]`.
    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<Vec<String>> {
        let bad =
            || Error::invalid_response("createSearchIndexes reply has no indexesCreated names");
        let Ok(Some(RawBsonRef::Array(created))) = reply.get("indexesCreated") else {
            return Err(bad());
        };
        created
            .into_iter()
            .map(|i| match i {
                Ok(RawBsonRef::Document(d)) => match d.get("name") {
                    Ok(Some(RawBsonRef::String(n))) => Ok(n.to_owned()),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            })
            .collect()
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

/// `updateSearchIndex` (a new definition) or `dropSearchIndex`, by the index's name.
pub(crate) struct SearchIndexCommand {
    db: String,
    body: Document,
    /// A drop: a missing collection means there is nothing left to drop.
    drop: bool,
}

impl SearchIndexCommand {
    pub(crate) fn update(db: &str, coll: &str, name: &str, definition: Document) -> Self {
        Self {
            db: db.to_owned(),
            body: doc! { "updateSearchIndex": coll, "name": name, "definition": definition },
            drop: false,
        }
    }

    pub(crate) fn drop(db: &str, coll: &str, name: &str) -> Self {
        Self {
            db: db.to_owned(),
            body: doc! { "dropSearchIndex": coll, "name": name },
            drop: true,
        }
    }
}

operation_output!(SearchIndexCommand => (), "searchIndex");

impl Operation for SearchIndexCommand {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        Ok(Command::new(self.db.clone(), self.body.clone()))
    }

    fn handle_response(&self, _: &RawDocument, _: &ServerAddress) -> Result<()> {
        Ok(())
    }

    /// Dropping is idempotent: the specification has `NamespaceNotFound` suppressed.
    fn handle_error(&self, error: Error) -> Result<()> {
        already_dropped(error, self.drop)
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::operation::simple::NAMESPACE_NOT_FOUND;
    use crate::operation::test_util::{description, is_invalid_response, raw, server};
    use crate::options::SearchIndexType;

    #[test]
    fn the_commands_carry_no_concerns() {
        let model = SearchIndexModel::builder()
            .definition(doc! { "mappings": { "dynamic": true } })
            .index_type(SearchIndexType::Search)
            .build();
        let mut create = CreateSearchIndexes::new("db", "c", vec![model]);
        assert_eq!(
            create.build(&description()).unwrap(),
            Command::new(
                "db",
                doc! { "createSearchIndexes": "c", "indexes": [
                    { "definition": { "mappings": { "dynamic": true } }, "type": "search" },
                ] }
            )
        );
        let mut update = SearchIndexCommand::update("db", "c", "i", doc! {});
        assert_eq!(
            update.build(&description()).unwrap().body,
            doc! { "updateSearchIndex": "c", "name": "i", "definition": {} }
        );
        let mut drop = SearchIndexCommand::drop("db", "c", "i");
        assert_eq!(
            drop.build(&description()).unwrap().body,
            doc! { "dropSearchIndex": "c", "name": "i" }
        );
    }

    #[test]
    fn create_returns_the_names_the_server_gave() {
        let op = CreateSearchIndexes::new("db", "c", vec![]);
        let reply = doc! { "ok": 1, "indexesCreated": [
            { "id": "1", "name": "default" }, { "id": "2", "name": "v" },
        ] };
        assert_eq!(
            op.handle_response(&raw(&reply), &server()).unwrap(),
            ["default", "v"]
        );
        let err = op
            .handle_response(&raw(&doc! { "ok": 1 }), &server())
            .unwrap_err();
        assert!(is_invalid_response(&err));
    }

    #[test]
    fn only_a_drop_takes_a_missing_collection_as_done() {
        let missing = || {
            Error::new(ErrorKind::Command {
                code: NAMESPACE_NOT_FOUND,
                code_name: "NamespaceNotFound".into(),
                message: "ns not found".into(),
            })
        };
        assert!(SearchIndexCommand::drop("db", "c", "i")
            .handle_error(missing())
            .is_ok());
        assert!(SearchIndexCommand::update("db", "c", "i", doc! {})
            .handle_error(missing())
            .is_err());
    }
}
