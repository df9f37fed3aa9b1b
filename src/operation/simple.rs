//! The commands that send `{<name>: <what>, …}` with their options and read nothing from the
//! reply but `ok`: `create`, `drop`, `dropDatabase`, `createIndexes`, `dropIndexes` and
//! `renameCollection`. One operation runs them all; a [`CommandKind`] says what differs.

use std::marker::PhantomData;

use bson::{doc, Document, RawDocument};
use serde::Serialize;

use super::{append_options, Command, Operation, OperationOutput, Retryability, StreamDescription};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{
    CreateCollectionOptions, CreateIndexOptions, DropIndexOptions, DropOptions, IndexModel,
    RenameCollectionOptions, ServerAddress,
};

/// The server's code for a namespace that does not exist.
pub(crate) const NAMESPACE_NOT_FOUND: i32 = 26;

/// What one simple command is: its name, its options, and the errors that still mean success.
pub(crate) trait CommandKind {
    /// The command's name, for logs.
    const NAME: &'static str;
    /// Its options, serialized into the command.
    type Options: Serialize;
    /// A drop: one of what does not exist has nothing left to do, so it succeeds.
    const DROPS: bool = false;

    /// False for a `w: 0` write concern the command honours.
    fn is_acknowledged(_: &Self::Options) -> bool {
        true
    }
}

/// A command of kind `K`: its leading fields, then its options. Never retried.
pub(crate) struct SimpleCommand<K: CommandKind> {
    db: String,
    body: Document,
    options: K::Options,
    kind: PhantomData<K>,
}

impl<K: CommandKind> SimpleCommand<K> {
    /// `options.write_concern` must already hold the handle's default.
    fn with(db: impl Into<String>, body: Document, options: K::Options) -> Self {
        Self {
            db: db.into(),
            body,
            options,
            kind: PhantomData,
        }
    }
}

impl<K: CommandKind> OperationOutput for SimpleCommand<K> {
    type Output = ();
    const NAME: &'static str = K::NAME;
}

impl<K: CommandKind> Operation for SimpleCommand<K> {
    fn build(&mut self, _: &StreamDescription) -> Result<Command> {
        let mut cmd = self.body.clone();
        append_options(&mut cmd, &self.options)?;
        Ok(Command::new(self.db.clone(), cmd))
    }

    fn handle_response(&self, _: &RawDocument, _: &ServerAddress) -> Result<()> {
        Ok(())
    }

    fn handle_error(&self, error: Error) -> Result<()> {
        already_dropped(error, K::DROPS)
    }

    fn retryability(&self) -> Retryability {
        Retryability::None
    }

    fn is_acknowledged(&self) -> bool {
        K::is_acknowledged(&self.options)
    }
}

/// The last word on an error of a command that may be a drop (`is_drop`): a drop of something
/// that does not exist has nothing left to do (`drop`, `dropDatabase`, `dropSearchIndex`).
pub(super) fn already_dropped(error: Error, is_drop: bool) -> Result<()> {
    match &*error.kind {
        ErrorKind::Command { code, .. } if is_drop && *code == NAMESPACE_NOT_FOUND => Ok(()),
        _ => Err(error),
    }
}

/// Declares each kind: `Name = "command", Options { … }`, the braces holding what it changes
/// of [`CommandKind`]'s defaults.
macro_rules! command_kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:literal, $options:ty { $($rest:tt)* })*) => {$(
        $(#[$doc])*
        pub(crate) enum $kind {}
        impl CommandKind for $kind {
            const NAME: &'static str = $name;
            type Options = $options;
            $($rest)*
        }
    )*};
}

command_kinds! {
    /// `create`: a collection, capped collection, view, time-series or clustered collection.
    Create = "create", CreateCollectionOptions {}
    /// `drop`: a collection; one that does not exist is already dropped.
    DropCollection = "drop", DropOptions { const DROPS: bool = true; }
    /// `dropDatabase`: one that does not exist is already dropped.
    DropDatabase = "dropDatabase", DropOptions { const DROPS: bool = true; }
    /// `createIndexes`: one or more indexes on a collection.
    CreateIndexes = "createIndexes", CreateIndexOptions {
        fn is_acknowledged(options: &CreateIndexOptions) -> bool {
            super::acknowledged(options.write_concern.as_ref())
        }
    }
    /// `dropIndexes`: one index by name, or every index but `_id`'s (`"*"`).
    DropIndexes = "dropIndexes", DropIndexOptions {}
    /// `renameCollection`: run on `admin` with both full namespaces.
    Rename = "renameCollection", RenameCollectionOptions {}
}

/// The command of each kind, from what it acts on.
impl SimpleCommand<Create> {
    pub(crate) fn create(db: &str, name: &str, options: CreateCollectionOptions) -> Self {
        Self::with(db, doc! { "create": name }, options)
    }
}

impl SimpleCommand<DropCollection> {
    pub(crate) fn drop(db: &str, coll: &str, options: DropOptions) -> Self {
        Self::with(db, doc! { "drop": coll }, options)
    }
}

impl SimpleCommand<DropDatabase> {
    pub(crate) fn drop_database(db: &str, options: DropOptions) -> Self {
        Self::with(db, doc! { "dropDatabase": 1 }, options)
    }
}

impl SimpleCommand<CreateIndexes> {
    /// Each index goes with its name (given or the server's default); returns the names too,
    /// in the order given.
    pub(crate) fn create_indexes(
        db: &str,
        coll: &str,
        indexes: Vec<IndexModel>,
        options: CreateIndexOptions,
    ) -> Result<(Self, Vec<String>)> {
        let indexes: Vec<_> = indexes.into_iter().map(IndexModel::with_name).collect();
        let names = indexes.iter().map(IndexModel::name).collect();
        let body = doc! { "createIndexes": coll, "indexes": bson::to_bson(&indexes)? };
        Ok((Self::with(db, body, options), names))
    }
}

impl SimpleCommand<DropIndexes> {
    /// `index`: the index's name, or `*` for all.
    pub(crate) fn drop_indexes(
        db: &str,
        coll: &str,
        index: &str,
        options: DropIndexOptions,
    ) -> Self {
        Self::with(db, doc! { "dropIndexes": coll, "index": index }, options)
    }
}

impl SimpleCommand<Rename> {
    /// `from` and `to` are full namespaces (`db.coll`).
    pub(crate) fn rename(from: &str, to: &str, options: RenameCollectionOptions) -> Self {
        Self::with(
            "admin",
            doc! { "renameCollection": from, "to": to },
            options,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::description;
    use crate::options::{
        Acknowledgment, IndexOptions, TimeseriesGranularity, TimeseriesOptions, ValidationLevel,
        WriteConcern,
    };
    use std::time::Duration;

    fn built<K: CommandKind>(mut op: SimpleCommand<K>) -> Command {
        op.build(&description()).unwrap()
    }

    fn command_error(code: i32) -> Error {
        Error::new(ErrorKind::Command {
            code,
            code_name: String::new(),
            message: "x".into(),
        })
    }

    #[test]
    fn each_command_is_its_fields_then_its_options() {
        let timeseries = TimeseriesOptions::builder()
            .time_field("at")
            .granularity(TimeseriesGranularity::Minutes)
            .build();
        let create = CreateCollectionOptions::builder()
            .timeseries(timeseries)
            .expire_after_seconds(Duration::from_secs(60))
            .validation_level(ValidationLevel::Moderate)
            .build();
        let w1 = WriteConcern::builder().w(Acknowledgment::Nodes(1)).build();
        let drop = DropOptions::builder().write_concern(w1).build();
        let rename = RenameCollectionOptions::default();
        for (cmd, db, body) in [
            (
                built(SimpleCommand::create("db", "m", create)),
                "db",
                doc! { "create": "m", "validationLevel": "moderate",
                "timeseries": { "timeField": "at", "granularity": "minutes" },
                "expireAfterSeconds": 60_i64 },
            ),
            (
                built(SimpleCommand::drop("db", "c", drop)),
                "db",
                doc! { "drop": "c", "writeConcern": { "w": 1_i64 } },
            ),
            (
                built(SimpleCommand::drop_database("db", DropOptions::default())),
                "db",
                doc! { "dropDatabase": 1 },
            ),
            (
                built(SimpleCommand::drop_indexes(
                    "db",
                    "c",
                    "*",
                    Default::default(),
                )),
                "db",
                doc! { "dropIndexes": "c", "index": "*" },
            ),
            (
                built(SimpleCommand::rename("db.a", "db.b", rename)),
                "admin",
                doc! { "renameCollection": "db.a", "to": "db.b" },
            ),
        ] {
            assert_eq!(cmd, Command::new(db, body));
        }
    }

    #[test]
    fn indexes_are_sent_named() {
        let models = vec![
            IndexModel::builder().keys(doc! { "a": 1, "b": -1 }).build(),
            IndexModel::builder()
                .keys(doc! { "c": "text" })
                .options(IndexOptions::builder().name("search").build())
                .build(),
        ];
        let (op, names) =
            SimpleCommand::create_indexes("db", "c", models, CreateIndexOptions::default())
                .unwrap();
        assert_eq!(names, ["a_1_b_-1", "search"]);
        assert_eq!(
            built(op).body,
            doc! { "createIndexes": "c", "indexes": [
                { "key": { "a": 1, "b": -1 }, "name": "a_1_b_-1" },
                { "key": { "c": "text" }, "name": "search" },
            ] }
        );
    }

    #[test]
    fn only_drops_take_a_missing_namespace_as_done() {
        let drop = SimpleCommand::drop("db", "c", DropOptions::default());
        assert!(drop
            .handle_error(command_error(NAMESPACE_NOT_FOUND))
            .is_ok());
        assert!(drop.handle_error(command_error(13)).is_err());
        let drop_database = SimpleCommand::drop_database("db", DropOptions::default());
        let missing = Error::new(ErrorKind::Command {
            code: NAMESPACE_NOT_FOUND,
            code_name: "NamespaceNotFound".into(),
            message: "ns not found".into(),
        });
        assert!(drop_database.handle_error(missing).is_ok());
        assert!(drop_database.handle_error(Error::internal("x")).is_err());
        let create = SimpleCommand::create("db", "c", Default::default());
        assert!(create
            .handle_error(command_error(NAMESPACE_NOT_FOUND))
            .is_err());
    }

    #[test]
    fn only_create_indexes_honours_an_unacknowledged_write_concern() {
        let w0 = || WriteConcern::builder().w(Acknowledgment::Nodes(0)).build();
        let o = CreateIndexOptions::builder().write_concern(w0()).build();
        let (op, _) = SimpleCommand::create_indexes("db", "c", vec![], o).unwrap();
        assert!(!op.is_acknowledged());
        let o = DropOptions::builder().write_concern(w0()).build();
        assert!(SimpleCommand::drop("db", "c", o).is_acknowledged());
        assert_eq!(
            SimpleCommand::drop("db", "c", Default::default()).retryability(),
            Retryability::None
        );
    }
}
