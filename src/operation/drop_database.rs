//! `dropDatabase`: drops a database; one that does not exist is already dropped.

use bson::{doc, RawDocument};

use super::drop_collection::already_dropped;
use super::{
    append_write_concern, Command, Operation, ResponseContext, Retryability, Selection,
    StreamDescription,
};
use crate::error::{Error, Result};
use crate::options::WriteConcern;
use crate::sdam::SelectionCriteria;

pub(crate) struct DropDatabase {
    db: String,
    write_concern: Option<WriteConcern>,
}

impl DropDatabase {
    pub(crate) fn new(db: &str, write_concern: Option<WriteConcern>) -> Self {
        Self {
            db: db.to_owned(),
            write_concern,
        }
    }
}

impl Operation for DropDatabase {
    type Output = ();
    const NAME: &'static str = "dropDatabase";

    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "dropDatabase": 1 };
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
    use crate::error::ErrorKind;
    use crate::operation::drop_collection::NAMESPACE_NOT_FOUND;
    use crate::operation::test_util::description;

    #[test]
    fn drop_database_runs_in_the_database() {
        let mut op = DropDatabase::new("db", None);
        assert_eq!(
            op.build(&description()).unwrap(),
            Command::new("db", doc! { "dropDatabase": 1 })
        );
        let missing = Error::new(ErrorKind::Command {
            code: NAMESPACE_NOT_FOUND,
            code_name: "NamespaceNotFound".into(),
            message: "ns not found".into(),
        });
        assert!(op.handle_error(missing).is_ok());
        assert!(op.handle_error(Error::internal("x")).is_err());
    }
}
