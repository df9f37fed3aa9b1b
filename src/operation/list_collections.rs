//! `listCollections`: opens a cursor over the collection descriptions (or names).

use bson::{doc, RawDocument};

use super::{append_options, Command, CursorSpec, Operation, Reads, StreamDescription};
use crate::error::Result;
use crate::options::ListCollectionsOptions;
use crate::options::ServerAddress;

operation_input! {
    ListCollections { db: String, options: ListCollectionsOptions, name_only: bool, reads: Reads }
    => CursorSpec, "listCollections"
}

impl Operation for ListCollections {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "listCollections": 1 };
        if self.name_only {
            cmd.insert("nameOnly", true);
            // Names only: a user without listCollections on the database still sees the
            // collections it may read.
            if self.options.authorized_collections.is_none() {
                cmd.insert("authorizedCollections", true);
            }
        }
        append_options(&mut cmd, &self.options)?;
        let mut cursor = bson::Document::new();
        if let Some(b) = self.options.batch_size {
            cursor.insert("batchSize", i64::from(b));
        }
        cmd.insert("cursor", cursor);
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<CursorSpec> {
        CursorSpec::from_reply(reply, at, self.options.batch_size, None)
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
    fn list_collections_opens_a_cursor() {
        let mut op = ListCollections::new("db", ListCollectionsOptions::default(), true, reads());
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd.db, "db");
        assert_eq!(cmd.body.get_i32("listCollections"), Ok(1));
        let reply = doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.$cmd.listCollections",
        "firstBatch": [ { "name": "a", "type": "collection" } ] } };
        let spec = op.handle_response(&raw(&reply), &server()).unwrap();
        assert_eq!(spec.first_batch.len(), 1);
        assert!(is_invalid_response(
            &op.handle_response(&raw(&doc! { "ok": 1 }), &server())
                .unwrap_err()
        ));
    }
}
