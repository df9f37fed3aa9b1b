//! `.run()`, written once for every action: find the client's runtime, block on the action
//! there, and turn what it returns into its blocking counterpart.

use std::future::IntoFuture;
use std::sync::Arc;

use bson::{Bson, Document};

use super::{ActionClient, Runtime};
use crate::error::{Error, ErrorKind, Result};
use crate::results::{
    BulkWriteResult, CreateIndexResult, CreateIndexesResult, DeleteResult, InsertManyResult,
    InsertOneResult, SummaryBulkWriteResult, UpdateResult, VerboseBulkWriteResult,
};

mod private {
    /// Only this crate's action outputs convert.
    pub trait Sealed {}
}

/// What an action's `.run()` returns for what its `.await` returns: a cursor, change stream,
/// session or GridFS stream becomes the blocking type of [`crate::sync`] (which keeps the
/// client's runtime alive while it is in use); every other result (counts, documents, write
/// results, lists of names) is returned as it is. Sealed.
///
/// | `.await` gives | `.run()` gives |
/// |---|---|
/// | [`crate::Cursor<T>`] | [`sync::Cursor<T>`](super::Cursor), an [`Iterator`] |
/// | [`crate::SessionCursor<T>`] | [`sync::SessionCursor<T>`](super::SessionCursor) |
/// | [`crate::change_stream::ChangeStream<T>`] | [`sync::ChangeStream<T>`](super::ChangeStream), an [`Iterator`] |
/// | [`crate::change_stream::SessionChangeStream<T>`] | [`sync::SessionChangeStream<T>`](super::SessionChangeStream) |
/// | [`crate::ClientSession`] | [`sync::ClientSession`](super::ClientSession) |
/// | [`crate::gridfs::GridFsDownloadStream`] | [`sync::gridfs::GridFsDownloadStream`](super::gridfs::GridFsDownloadStream), a [`std::io::Read`] |
/// | [`crate::gridfs::GridFsUploadStream`] | [`sync::gridfs::GridFsUploadStream`](super::gridfs::GridFsUploadStream), a [`std::io::Write`] |
/// | anything else | the same |
pub trait IntoSync: private::Sealed + Sized {
    /// The blocking counterpart.
    type Sync;

    /// Converts, tying the result to the client's runtime.
    #[doc(hidden)]
    fn into_sync(self, runtime: &Arc<Runtime>) -> Self::Sync;
}

/// Results that are the same in both APIs.
macro_rules! as_is {
    ($(impl$(<$g:ident>)? for $t:ty;)*) => {$(
        impl$(<$g>)? private::Sealed for $t {}
        impl$(<$g>)? IntoSync for $t {
            type Sync = Self;

            fn into_sync(self, _: &Arc<Runtime>) -> Self {
                self
            }
        }
    )*};
}

as_is! {
    impl for ();
    impl for u64;
    impl for String;
    impl for Document;
    impl for Bson;
    impl<T> for Option<T>;
    impl<T> for Vec<T>;
    impl for InsertOneResult;
    impl for InsertManyResult;
    impl for UpdateResult;
    impl for DeleteResult;
    impl for CreateIndexResult;
    impl for CreateIndexesResult;
    impl for BulkWriteResult;
    impl for SummaryBulkWriteResult;
    impl for VerboseBulkWriteResult;
}

/// Handles that become a blocking handle holding the runtime.
macro_rules! held {
    ($([$($g:ident)?] $from:ty => $to:ty;)*) => {$(
        impl$(<$g>)? private::Sealed for $from {}
        impl$(<$g>)? IntoSync for $from {
            type Sync = $to;

            fn into_sync(self, runtime: &Arc<Runtime>) -> $to {
                <$to>::from_held(super::held::Held::new(self, runtime.clone()))
            }
        }
    )*};
}

held! {
    [T] crate::Cursor<T> => super::Cursor<T>;
    [T] crate::SessionCursor<T> => super::SessionCursor<T>;
    [T] crate::change_stream::ChangeStream<T> => super::ChangeStream<T>;
    [T] crate::change_stream::SessionChangeStream<T> => super::SessionChangeStream<T>;
    [] crate::ClientSession => super::ClientSession;
    [] crate::gridfs::GridFsDownloadStream => super::gridfs::GridFsDownloadStream;
    [] crate::gridfs::GridFsUploadStream => super::gridfs::GridFsUploadStream;
}

/// The runtime of the blocking client `client` belongs to.
pub(crate) fn runtime_of(client: &crate::Client) -> Result<Arc<Runtime>> {
    match client.sync_runtime() {
        Some(weak) => weak
            .upgrade()
            .ok_or_else(|| Error::new(ErrorKind::Shutdown)),
        None => Err(Error::invalid_argument(
            ".run() runs the actions of handles from mongo_x509::sync::Client; this one comes \
             from the async mongo_x509::Client: `.await` it instead",
        )),
    }
}

/// `.run()`: the action, run to completion on the calling thread in its client's runtime.
pub(crate) fn run_action<A, O>(action: A) -> Result<O::Sync>
where
    A: IntoFuture<Output = Result<O>> + ActionClient,
    O: IntoSync,
{
    let runtime = runtime_of(&action.action_client())?;
    let output = runtime.block_on(action.into_future())?;
    Ok(output.into_sync(&runtime))
}
