//! `listDatabases` (names only).

use bson::{doc, Bson, RawDocument};

use super::{
    to_document, Command, Operation, ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::error::{Error, Result};
use crate::sdam::SelectionCriteria;

pub(crate) struct ListDatabases {
    criteria: SelectionCriteria,
}

impl ListDatabases {
    pub(crate) fn new(criteria: SelectionCriteria) -> Self {
        Self { criteria }
    }
}

impl Operation for ListDatabases {
    type Output = Vec<String>;
    const NAME: &'static str = "listDatabases";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let cmd = doc! { "listDatabases": 1, "nameOnly": true, "authorizedDatabases": true };
        Ok(Command::new("admin", cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ResponseContext<'_>) -> Result<Vec<String>> {
        let reply = to_document(reply)?;
        let Ok(dbs) = reply.get_array("databases") else {
            return Err(Error::invalid_response(
                "listDatabases reply has no databases array",
            ));
        };
        dbs.iter()
            .map(|d| match d {
                Bson::Document(d) => d.get_str("name").map(str::to_owned).map_err(|_| {
                    Error::invalid_response("listDatabases reply: a database has no name")
                }),
                _ => Err(Error::invalid_response(
                    "listDatabases reply: databases holds a non-document",
                )),
            })
            .collect()
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(self.criteria.clone())
    }

    fn retryability(&self) -> Retryability {
        Retryability::Read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{ctx, description, is_invalid_response, server};

    #[test]
    fn database_names_are_read() {
        let mut op = ListDatabases::new(SelectionCriteria::Read(Default::default()));
        assert_eq!(op.build(&description()).unwrap().db, "admin");
        let a = server();
        let names = op
            .handle_response(
                &raw(&doc! { "ok": 1, "databases": [ { "name": "a" }, { "name": "b" } ] }),
                &ctx(&a),
            )
            .unwrap();
        assert_eq!(names, ["a", "b"]);
        for bad in [
            doc! { "ok": 1 },
            doc! { "ok": 1, "databases": [ 1 ] },
            doc! { "ok": 1, "databases": [ { "sizeOnDisk": 1 } ] },
        ] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &ctx(&a)).unwrap_err()
            ));
        }
    }
}
