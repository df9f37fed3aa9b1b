//! `commitTransaction` and `abortTransaction`: sent to `admin` with the transaction's write
//! concern (the executor adds `lsid`, `txnNumber`, `autocommit` and `recoveryToken`). Both are
//! retryable writes; a commit sent again carries `w: majority`.

use std::time::Duration;

use bson::{doc, RawDocument};

use super::{Command, Operation, Retryability, StreamDescription};
use crate::error::Result;
use crate::options::{ServerAddress, WriteConcern};
use crate::session::transaction;

/// Which end of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Commit,
    Abort,
}

/// One `commitTransaction` or `abortTransaction`.
pub(crate) struct EndTransaction {
    end: End,
    write_concern: Option<WriteConcern>,
    /// `maxTimeMS` of a commit.
    max_commit_time: Option<Duration>,
    /// Attempts built so far; the user's own second commit starts at 1.
    attempts: u32,
}

impl EndTransaction {
    /// A commit; `again`: the user commits a committed transaction once more.
    pub(crate) fn commit(
        write_concern: Option<WriteConcern>,
        max_commit_time: Option<Duration>,
        again: bool,
    ) -> Self {
        Self {
            end: End::Commit,
            write_concern,
            max_commit_time,
            attempts: u32::from(again),
        }
    }

    pub(crate) fn abort(write_concern: Option<WriteConcern>) -> Self {
        Self {
            end: End::Abort,
            write_concern,
            max_commit_time: None,
            attempts: 0,
        }
    }
}

operation_output!(EndTransaction => (), "endTransaction");

impl Operation for EndTransaction {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = match self.end {
            End::Commit => doc! { "commitTransaction": 1 },
            End::Abort => doc! { "abortTransaction": 1 },
        };
        let wc = match self.end {
            End::Commit => {
                transaction::commit_write_concern(self.write_concern.as_ref(), self.attempts > 0)
            }
            End::Abort => self.write_concern.clone().filter(|wc| !wc.is_empty()),
        };
        self.attempts += 1;
        if let Some(wc) = wc {
            cmd.insert("writeConcern", bson::to_bson(&wc)?);
        }
        if let Some(t) = self.max_commit_time.filter(|_| self.end == End::Commit) {
            cmd.insert(
                "maxTimeMS",
                i64::try_from(t.as_millis()).unwrap_or(i64::MAX),
            );
        }
        Ok(Command::new("admin", cmd))
    }

    fn handle_response(&self, _: &RawDocument, _: &ServerAddress) -> Result<()> {
        Ok(())
    }

    fn before_overload_retry(&mut self) {
        // The server refused the last attempt unread: it is sent again as it was.
        self.attempts = self.attempts.saturating_sub(1);
    }

    fn retryability(&self) -> Retryability {
        Retryability::Write
    }

    fn ends_transaction(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::description;
    use crate::options::Acknowledgment;

    fn wc(w: Acknowledgment, timeout_ms: Option<u64>, journal: Option<bool>) -> WriteConcern {
        WriteConcern {
            w: Some(w),
            w_timeout: timeout_ms.map(Duration::from_millis),
            journal,
        }
    }

    #[test]
    fn commit_goes_to_admin_with_the_write_concern_then_majority_on_retries() {
        let mut op = EndTransaction::commit(
            Some(wc(Acknowledgment::Nodes(2), Some(5000), Some(true))),
            Some(Duration::from_millis(60_000)),
            false,
        );
        let first = op.build(&description()).unwrap();
        assert_eq!(first.db, "admin");
        assert_eq!(
            first.body,
            doc! {
                "commitTransaction": 1,
                "writeConcern": { "w": 2_i64, "wtimeout": 5000_i64, "j": true },
                "maxTimeMS": 60_000_i64,
            }
        );
        // The driver's retry: majority, j and wtimeout kept.
        let retry = op.build(&description()).unwrap();
        assert_eq!(
            retry.body.get_document("writeConcern").unwrap(),
            &doc! { "w": "majority", "wtimeout": 5000_i64, "j": true }
        );
    }

    #[test]
    fn a_commit_shed_for_overload_is_sent_again_as_it_was() {
        let mut op = EndTransaction::commit(None, None, false);
        let first = op.build(&description()).unwrap();
        op.before_overload_retry();
        assert_eq!(op.build(&description()).unwrap().body, first.body);
        // A retryable-write retry after that still asks for a majority.
        let retry = op.build(&description()).unwrap();
        assert!(retry.body.get_document("writeConcern").is_ok());
    }

    #[test]
    fn a_commit_without_write_concern_sends_none_first_and_majority_with_10s_after() {
        let mut op = EndTransaction::commit(None, None, false);
        let first = op.build(&description()).unwrap();
        assert_eq!(first.body, doc! { "commitTransaction": 1 });
        let retry = op.build(&description()).unwrap();
        assert_eq!(
            retry.body,
            doc! { "commitTransaction": 1, "writeConcern": { "w": "majority", "wtimeout": 10_000_i64 } }
        );
        // The user's second commit is a retry from its first attempt.
        let mut again = EndTransaction::commit(None, None, true);
        assert_eq!(
            again.build(&description()).unwrap().body,
            doc! { "commitTransaction": 1, "writeConcern": { "w": "majority", "wtimeout": 10_000_i64 } }
        );
    }

    #[test]
    fn abort_keeps_its_write_concern_on_retries_and_never_sends_max_time() {
        let mut op = EndTransaction::abort(Some(wc(Acknowledgment::Majority, None, None)));
        for _ in 0..2 {
            let cmd = op.build(&description()).unwrap();
            assert_eq!(cmd.db, "admin");
            assert_eq!(
                cmd.body,
                doc! { "abortTransaction": 1, "writeConcern": { "w": "majority" } }
            );
        }
        assert!(op.ends_transaction());
        assert_eq!(op.retryability(), Retryability::Write);
        let mut empty = EndTransaction::abort(Some(WriteConcern::default()));
        assert_eq!(
            empty.build(&description()).unwrap().body,
            doc! { "abortTransaction": 1 }
        );
    }
}
