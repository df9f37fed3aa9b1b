//! `listIndexes`: opens a cursor over a collection's index specifications.

use bson::{doc, Document, RawDocument};

use super::{append_options, Command, CursorSpec, Operation, Reads, StreamDescription};
use crate::error::Result;
use crate::options::{ListIndexesOptions, ServerAddress};

operation_input! {
    ListIndexes { db: String, coll: String, options: ListIndexesOptions, reads: Reads }
    => CursorSpec, "listIndexes"
}

impl Operation for ListIndexes {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cursor = Document::new();
        if let Some(b) = self.options.batch_size {
            cursor.insert("batchSize", i64::from(b));
        }
        let mut cmd = doc! { "listIndexes": self.coll.as_str(), "cursor": cursor };
        append_options(&mut cmd, &self.options)?;
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, at: &ServerAddress) -> Result<CursorSpec> {
        CursorSpec::from_reply(reply, at, self.options.batch_size, None)
    }

    /// A read (a retryable read), but `listIndexes` takes no read concern.
    fn reads(&self) -> Option<&Reads> {
        Some(&self.reads)
    }
}
