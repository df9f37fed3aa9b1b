//! `listDatabases` (names only).

use bson::{doc, RawDocument};

use super::{append_options, to_document, Command, Operation, Reads, StreamDescription};
use crate::error::{Error, Result};
use crate::options::ListDatabasesOptions;
use crate::options::ServerAddress;
use crate::results::DatabaseSpecification;

operation_input! {
    ListDatabases {
        options: ListDatabasesOptions,
        /// Names only (`nameOnly`): the server skips sizing each database.
        name_only: bool,
        reads: Reads,
    }
    => Vec<DatabaseSpecification>, "listDatabases"
}

impl Operation for ListDatabases {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "listDatabases": 1 };
        if self.name_only {
            cmd.insert("nameOnly", true);
        }
        // A user without listDatabases still sees the databases it may read.
        if self.options.authorized_databases.is_none() {
            cmd.insert("authorizedDatabases", true);
        }
        append_options(&mut cmd, &self.options)?;
        Ok(Command::new("admin", cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        _: &ServerAddress,
    ) -> Result<Vec<DatabaseSpecification>> {
        let reply = to_document(reply)?;
        let Ok(dbs) = reply.get_array("databases") else {
            return Err(Error::invalid_response(
                "listDatabases reply has no databases array",
            ));
        };
        dbs.iter()
            .map(|d| {
                bson::from_bson(d.clone()).map_err(|e| {
                    Error::invalid_response(format!("listDatabases reply: a database entry: {e}"))
                })
            })
            .collect()
    }

    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{description, is_invalid_response, raw, reads, server};

    #[test]
    fn database_names_are_read() {
        let mut op = ListDatabases::new(ListDatabasesOptions::default(), true, reads());
        assert_eq!(op.build(&description()).unwrap().db, "admin");
        let a = server();
        let names = op
            .handle_response(
                &raw(&doc! { "ok": 1, "databases": [ { "name": "a" }, { "name": "b" } ] }),
                &a,
            )
            .unwrap();
        let names: Vec<_> = names.into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["a", "b"]);
        for bad in [
            doc! { "ok": 1 },
            doc! { "ok": 1, "databases": [ 1 ] },
            doc! { "ok": 1, "databases": [ { "sizeOnDisk": 1 } ] },
        ] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &a).unwrap_err()
            ));
        }
    }
}
