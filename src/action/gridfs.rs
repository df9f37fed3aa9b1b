//! The actions of a [`GridFsBucket`](crate::gridfs::GridFsBucket), named as in the official
//! crate: set options with chained calls, then `.await`.

mod delete;
mod download;
mod drop;
mod find;
mod rename;
mod upload;

pub use delete::{Delete, DeleteByName};
pub use download::{OpenDownloadStream, OpenDownloadStreamByName};
pub use drop::Drop;
pub use find::{Find, FindOne};
pub use rename::{Rename, RenameByName};
pub use upload::OpenUploadStream;

use crate::error::Result;

/// The `timeoutMS` of a GridFS operation as a whole (CSOT specification, "GridFS API"): each
/// of its commands runs under the time left.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget(Option<crate::csot::Deadline>);

impl Budget {
    /// The operation's `timeoutMS`, else the bucket's (its database's).
    pub(crate) fn start(
        bucket: &crate::gridfs::GridFsBucket,
        timeout: Option<std::time::Duration>,
    ) -> Self {
        Self(crate::csot::Deadline::start(timeout.or(bucket.timeout())))
    }

    /// The `timeoutMS` of the next command: the time left (zero: no limit); `None`: no
    /// `timeoutMS`. The typed timeout once it has expired.
    pub(crate) fn left(&self) -> Result<Option<std::time::Duration>> {
        let Some(d) = &self.0 else {
            return Ok(None);
        };
        match d.remaining(tokio::time::Instant::now()) {
            None => Ok(Some(std::time::Duration::ZERO)),
            Some(left) if left.is_zero() => Err(d.expired("between the GridFS commands")),
            Some(left) => Ok(Some(left)),
        }
    }
}

/// Awaits an action under a [`Budget`]'s time left.
macro_rules! within {
    ($budget:expr, $action:expr) => {
        match $budget.left()? {
            Some(t) => $action.timeout(t).await,
            None => $action.await,
        }
    };
}
pub(crate) use within;

/// A bucket's actions run against its database's client.
#[cfg(feature = "sync")]
impl crate::sync::ActionClient for crate::gridfs::GridFsBucket {
    fn action_client(&self) -> crate::Client {
        self.files().client().clone()
    }
}

/// Declares a GridFS action type: [`handle_action!`] on the bucket (with an `options:` line as
/// there, when it has options), its `.await` running the block with `this` the action and
/// `budget` its [`Budget`] (the action's `timeoutMS`, else the bucket's).
///
/// ```text
/// gridfs_action! {
///     /// Doc of the action.
///     pub struct Rename<'a> { file: GridFsFileIdentifier, new_filename: String }
///     /// Doc of its `timeout`.
///     timeout;
///     runs: |this, budget| -> () { /* the action, from this and budget */ }
/// }
/// ```
///
/// `gridfs_action!(Name, …)` alone makes an action type declared by hand an
/// [`Action`](super::Action).
macro_rules! gridfs_action {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a> { $($field:ident : $fty:ty),* $(,)? }
        $(options: $opts:ident, $setters:ident;)?
        $(#[$tmeta:meta])*
        timeout;
        runs: |$this:ident, $budget:ident| -> $out:ty $body:block
    ) => {
        handle_action! {
            $(#[$meta])*
            pub struct $name<'a> { bucket: &'a $crate::gridfs::GridFsBucket $(, $field: $fty)* }
            $(options: $opts, $setters;)?
            $(#[$tmeta])*
            timeout;
        }

        impl $name<'_> {
            async fn execute(self) -> $crate::error::Result<$out> {
                let $budget = $crate::action::gridfs::Budget::start(self.bucket, self.timeout);
                let $this = self;
                $body
            }
        }
        into_future!(impl<'a> $name<'a> => $out);
    };
    ($($name:ident),*) => {$(
        impl $crate::action::private::Sealed for $name<'_> {}
        impl $crate::action::Action for $name<'_> {}
        #[cfg(feature = "sync")]
        impl $crate::sync::ActionClient for $name<'_> {
            fn action_client(&self) -> $crate::Client {
                $crate::sync::ActionClient::action_client(self.bucket)
            }
        }
    )*};
}
use gridfs_action;
