//! `listCollections` (names only): opens a cursor over the collection descriptions.

use bson::{doc, RawDocument};

use super::{
    Command, CursorSpec, Operation, ResponseContext, Retryability, Selection, StreamDescription,
};
use crate::error::Result;
use crate::sdam::SelectionCriteria;

pub(crate) struct ListCollections {
    db: String,
    criteria: SelectionCriteria,
}

impl ListCollections {
    pub(crate) fn new(db: &str, criteria: SelectionCriteria) -> Self {
        Self {
            db: db.to_owned(),
            criteria,
        }
    }
}

impl Operation for ListCollections {
    type Output = CursorSpec;
    const NAME: &'static str = "listCollections";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let cmd = doc! { "listCollections": 1, "nameOnly": true, "authorizedCollections": true };
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(
        &self,
        reply: &RawDocument,
        ctx: &ResponseContext<'_>,
    ) -> Result<CursorSpec> {
        CursorSpec::from_reply(reply, ctx.address, None, None)
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
    fn list_collections_opens_a_cursor() {
        let mut op = ListCollections::new("db", SelectionCriteria::Read(Default::default()));
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd.db, "db");
        assert_eq!(cmd.body.get_i32("listCollections"), Ok(1));
        let reply = doc! { "ok": 1, "cursor": { "id": 0_i64, "ns": "db.$cmd.listCollections",
        "firstBatch": [ { "name": "a", "type": "collection" } ] } };
        let spec = op.handle_response(&raw(&reply), &ctx(&server())).unwrap();
        assert_eq!(spec.first_batch.len(), 1);
        assert!(is_invalid_response(
            &op.handle_response(&raw(&doc! { "ok": 1 }), &ctx(&server()))
                .unwrap_err()
        ));
    }
}
