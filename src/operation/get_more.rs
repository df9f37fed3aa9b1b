//! `getMore`: the next batch of a cursor, from the server that holds it.

use bson::{doc, RawDocument};

use super::cursor_reply::{parse_batch, GetMoreOptions, RawBatch};
use super::{
    append_opt, to_i64, Command, Operation, Retryability, Selection, StreamDescription,
    WIRE_VERSION_4_4,
};
use crate::csot::Deadline;
use crate::error::{Error, Result};
use crate::options::ServerAddress;

pub(crate) struct GetMore {
    address: ServerAddress,
    db: String,
    coll: String,
    id: i64,
    batch_size: Option<u64>,
    options: GetMoreOptions,
}

/// The next batch and the cursor id after it (0: exhausted).
#[derive(Debug, PartialEq)]
pub(crate) struct GetMoreResult {
    pub(crate) batch: RawBatch,
    pub(crate) id: i64,
}

impl GetMore {
    pub(crate) fn new(
        address: ServerAddress,
        db: String,
        coll: String,
        id: i64,
        batch_size: Option<u64>,
    ) -> Self {
        Self {
            address,
            db,
            coll,
            id,
            batch_size,
            options: GetMoreOptions::default(),
        }
    }

    /// With the `maxTimeMS`, comment and `timeoutMS` of the cursor's opening command.
    pub(crate) fn with_options(mut self, options: GetMoreOptions) -> Self {
        self.options = options;
        self
    }

    /// The `timeoutMS` this `getMore` runs under; `None`: the client's.
    #[cfg(test)]
    pub(crate) fn timeout(&self) -> Option<std::time::Duration> {
        self.options.timeout
    }

    /// The deadline of this `getMore`, starting now: the cursor's lifetime, else its own
    /// `timeoutMS`; `None`: the client's.
    pub(crate) fn deadline(&self) -> Option<Deadline> {
        self.options
            .lifetime
            .or_else(|| Deadline::start(self.options.timeout))
    }
}

operation_output!(GetMore => GetMoreResult, "getMore");

impl Operation for GetMore {
    fn build(&mut self, server: &StreamDescription) -> Result<Command> {
        let mut cmd = doc! { "getMore": self.id, "collection": self.coll.as_str() };
        // 0 would mean "the server's default" to find but is refused by getMore: not sent.
        append_opt(
            &mut cmd,
            "batchSize",
            self.batch_size.filter(|b| *b > 0).map(to_i64),
        );
        let wait = self.options.max_await_time;
        append_opt(
            &mut cmd,
            "maxTimeMS",
            wait.map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
        );
        // Servers before 4.4 refuse a comment on getMore.
        if server.max_wire_version >= WIRE_VERSION_4_4 {
            append_opt(&mut cmd, "comment", self.options.comment.clone());
        }
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, reply: &RawDocument, _: &ServerAddress) -> Result<GetMoreResult> {
        let b = parse_batch(reply, "nextBatch")?;
        // A server cursor keeps its id until it is exhausted.
        if b.id != 0 && b.id != self.id {
            return Err(Error::invalid_response(format!(
                "getMore for cursor {} answered for cursor {}",
                self.id, b.id
            )));
        }
        Ok(GetMoreResult {
            batch: b.batch,
            id: b.id,
        })
    }

    fn selection(&self) -> Selection {
        Selection::Server(self.address.clone())
    }

    /// Retrying could skip a batch the server already sent.
    fn retryability(&self) -> Retryability {
        Retryability::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::raw;
    use crate::operation::test_util::{description, is_invalid_response, server};
    use std::time::Duration;

    #[test]
    fn get_more_goes_to_the_cursors_server() {
        let mut op = GetMore::new(server(), "db".into(), "c".into(), 77, Some(10));
        let cmd = op.build(&description()).unwrap();
        assert_eq!(cmd.db, "db");
        assert_eq!(
            cmd.body,
            doc! { "getMore": 77_i64, "collection": "c", "batchSize": 10_i64 }
        );
        assert_eq!(op.selection(), Selection::Server(server()));
        assert_eq!(op.retryability(), Retryability::None);
        let mut op = GetMore::new(server(), "db".into(), "c".into(), 77, Some(0));
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "getMore": 77_i64, "collection": "c" }
        );
    }

    #[test]
    fn max_await_time_and_comment_are_carried_the_comment_from_4_4() {
        let options = GetMoreOptions {
            max_await_time: Some(Duration::from_millis(250)),
            comment: Some(bson::Bson::from("tail")),
            timeout: Some(Duration::from_secs(1)),
            lifetime: None,
        };
        let mut op =
            GetMore::new(server(), "db".into(), "c".into(), 77, None).with_options(options);
        assert_eq!(op.timeout(), Some(Duration::from_secs(1)));
        assert_eq!(
            op.build(&description()).unwrap().body,
            doc! { "getMore": 77_i64, "collection": "c", "maxTimeMS": 250_i64, "comment": "tail" }
        );
        let mut old = description();
        old.max_wire_version = 8;
        assert_eq!(
            op.build(&old).unwrap().body,
            doc! { "getMore": 77_i64, "collection": "c", "maxTimeMS": 250_i64 }
        );
    }

    #[test]
    fn the_next_batch_is_read() {
        let op = GetMore::new(server(), "db".into(), "c".into(), 77, None);
        let a = server();
        let r = op
            .handle_response(
                &raw(&doc! { "ok": 1, "cursor": { "id": 0_i64, "nextBatch": [ { "a": 1 } ] } }),
                &a,
            )
            .unwrap();
        assert_eq!((r.id, r.batch.len()), (0, 1));
        for bad in [
            doc! { "ok": 1, "cursor": { "id": 77_i64, "firstBatch": [] } },
            doc! { "ok": 1, "cursor": { "id": 78_i64, "nextBatch": [] } },
        ] {
            assert!(is_invalid_response(
                &op.handle_response(&raw(&bad), &a).unwrap_err()
            ));
        }
    }
}
