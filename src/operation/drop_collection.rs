//! `drop`: drops a collection; one that does not exist is already dropped.

use bson::{doc, RawDocument};

use super::{
    append_write_concern, Command, Operation, ResponseContext, Retryability, Selection,
    StreamDescription,
};
use crate::error::{Error, ErrorKind, Result};
use crate::options::WriteConcern;
use crate::sdam::SelectionCriteria;

/// The server's code for a namespace that does not exist.
pub(crate) const NAMESPACE_NOT_FOUND: i32 = 26;

/// A drop of something that does not exist has nothing left to do (drop and dropDatabase).
pub(super) fn already_dropped(error: Error) -> Result<()> {
    match &*error.kind {
        ErrorKind::Command { code, .. } if *code == NAMESPACE_NOT_FOUND => Ok(()),
        _ => Err(error),
    }
}

pub(crate) struct DropCollection {
    db: String,
    coll: String,
    write_concern: Option<WriteConcern>,
}

impl DropCollection {
    pub(crate) fn new(db: &str, coll: &str, write_concern: Option<WriteConcern>) -> Self {
        Self {
            db: db.to_owned(),
            coll: coll.to_owned(),
            write_concern,
        }
    }
}

impl Operation for DropCollection {
    type Output = ();
    const NAME: &'static str = "drop";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "drop": self.coll.as_str() };
        append_write_concern(&mut cmd, self.write_concern.as_ref());
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, _: &RawDocument, _: &ResponseContext<'_>) -> Result<()> {
        Ok(())
    }

    fn handle_error(&self, error: Error) -> Result<()> {
        already_dropped(error)
    }

    fn selection(&self) -> Selection {
        Selection::Criteria(SelectionCriteria::Write)
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::description;
    use crate::options::Acknowledgment;

    fn command_error(code: i32) -> Error {
        Error::new(ErrorKind::Command {
            code,
            code_name: String::new(),
            message: "x".into(),
        })
    }

    #[test]
    fn drop_sends_the_write_concern_and_ignores_a_missing_namespace() {
        let wc = WriteConcern::builder().w(Acknowledgment::Nodes(1)).build();
        let mut op = DropCollection::new("db", "c", Some(wc));
        assert_eq!(
            op.build(&description()).unwrap(),
            Command::new("db", doc! { "drop": "c", "writeConcern": { "w": 1_i64 } })
        );
        assert!(op.handle_error(command_error(NAMESPACE_NOT_FOUND)).is_ok());
        assert!(op.handle_error(command_error(13)).is_err());
    }
}
