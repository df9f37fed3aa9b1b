//! The blocking API (feature `sync`), as in the official crate: the same handles and the same
//! actions, each ending in `.run()` instead of `.await`. No Tokio is needed of the caller.
//!
//! ```no_run
//! use mongo_x509::bson::{doc, Document};
//! use mongo_x509::sync::Client;
//!
//! # fn main() -> mongo_x509::error::Result<()> {
//! let client = Client::with_uri_str(
//!     "mongodb://db.example.com/?tls=true&tlsCAFile=ca.pem\
//!      &tlsCertificateKeyFile=client.pem&tlsCertificateKeyFilePassword=secret\
//!      &authMechanism=MONGODB-X509",
//! )?;
//! let items = client.database("shop").collection::<Document>("items");
//! items.insert_one(doc! { "name": "widget", "qty": 3 }).run()?;
//! for item in items.find(doc! { "qty": { "$gt": 1 } }).batch_size(100).run()? {
//!     println!("{}", item?);
//! }
//! # Ok(()) }
//! ```
//!
//! How it works:
//! - Each [`Client`] owns a runtime: one thread (`mongo-x509-sync`) running a current-thread
//!   Tokio runtime, started by [`Client::with_uri_str`] / [`Client::with_options`]. The
//!   client's background work runs there: server monitoring, pool maintenance, SRV polling,
//!   the certificate-file watch
//!   ([`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch)),
//!   the `killCursors` of a dropped cursor and the abort of a dropped session's transaction.
//!   The runtime stops, and its thread is joined, when the last handle of the client
//!   ([`Client`], [`Database`], [`Collection`], [`ClientSession`], a cursor, a change stream, a
//!   GridFS bucket or stream) is dropped.
//! - The handles wrap the async ones and dereference to them, so every action of the async API
//!   is there with its builder; `.run()` (on every action type, see
//!   [`Find::run`](crate::action::Find::run)) runs it on the calling thread, in the client's
//!   runtime, and hands back cursors, change streams and sessions as the blocking types of this
//!   module ([`IntoSync`]). Methods that differ (they return a blocking handle, or block) are
//!   defined on the blocking handles themselves: [`Client::database`],
//!   [`Database::collection`], [`Client::reload_tls_identity`], [`ClientSession::client`], ….
//! - An explicit session is passed as in the async API, `.session(&mut session)`; a cursor
//!   opened in it is a [`SessionCursor`], iterated with [`SessionCursor::next`] and the same
//!   session. Transactions: `session.start_transaction().run()?`, then
//!   `session.commit_transaction().run()?`.
//!
//! Inside async code: the blocking calls work there too (the official crate panics instead,
//! "Cannot start a runtime from within a runtime"): a call blocks the thread it is made on
//! until it completes, which stalls the other tasks of that thread's runtime meanwhile. In
//! async code use the async API, or move the blocking calls to
//! [`tokio::task::spawn_blocking`]. Do not `.await` actions of blocking handles: they would run
//! on the caller's runtime, not the client's.
//!
//! Clean shutdown: [`Client::shutdown`] ends the server sessions and closes the pools; dropping
//! the last handle stops the runtime, which drops whatever background work is still pending
//! (the `killCursors` of a cursor dropped just before, for instance: the server times such
//! cursors out). Neither waits more than a few seconds.

/// Declares the blocking wrapper of an async handle `$inner`: the struct, which holds it with
/// the client's runtime, and `from_held`. For a cursor or change stream `$inner<T>`, with
/// `pub fn with_type;` after it: also `Debug` as the inner value's, and `with_type` (another
/// document type).
macro_rules! blocking_wrapper {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<T>($($inner:ident)::+<T>);
        $(#[$with_type:meta])*
        pub fn with_type;
    ) => {
        blocking_wrapper! {
            $(#[$meta])*
            pub struct $name<T>($($inner)::+<T>);
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.held.fmt(f)
            }
        }

        impl<T> $name<T> {
            $(#[$with_type])*
            pub fn with_type<U>(self) -> $name<U> {
                $name::from_held(self.held.map($($inner)::+::with_type))
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident$(<$t:ident>)?($($inner:ident)::+$(<$u:ident>)?);
    ) => {
        $(#[$meta])*
        pub struct $name$(<$t>)? {
            held: $crate::sync::held::Held<$($inner)::+$(<$u>)?>,
        }

        impl$(<$t>)? $name$(<$t>)? {
            pub(crate) fn from_held(held: $crate::sync::held::Held<$($inner)::+$(<$u>)?>) -> Self {
                Self { held }
            }
        }
    };
}

/// `Iterator` for a blocking wrapper of a `Stream` of `Result<T>`: `next` blocks on the
/// stream's next item.
macro_rules! blocking_iterator {
    ($(#[$next:meta])* impl Iterator for $name:ident) => {
        impl<T: serde::de::DeserializeOwned + 'static> Iterator for $name<T> {
            type Item = $crate::error::Result<T>;

            $(#[$next])*
            fn next(&mut self) -> Option<$crate::error::Result<T>> {
                self.held.block_on(|stream| {
                    std::future::poll_fn(|cx| {
                        futures_core::Stream::poll_next(std::pin::Pin::new(&mut *stream), cx)
                    })
                })
            }
        }
    };
}

mod change_stream;
mod client;
mod coll;
mod cursor;
mod db;
pub mod gridfs;
mod held;
mod into_sync;
mod runtime;
mod session;

pub use change_stream::{ChangeStream, SessionChangeStream};
pub use client::{Client, Shutdown};
pub use coll::Collection;
pub use cursor::{Cursor, SessionCursor, SessionCursorIter};
pub use db::Database;
pub use into_sync::IntoSync;
pub(crate) use runtime::Runtime;
pub use session::ClientSession;

pub(crate) use into_sync::run_action;

/// The client an action runs against, so that `.run()` finds its runtime (crate-internal;
/// `action!` and `handle_action!` implement it for every action they declare, and the GridFS
/// bucket and the session for the actions on them).
pub(crate) trait ActionClient {
    /// The action's client.
    fn action_client(&self) -> crate::Client;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Document;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_can_move_between_threads_and_shared_ones_be_shared() {
        send_sync::<Client>();
        send_sync::<Database>();
        send_sync::<Collection<Document>>();
        send_sync::<gridfs::GridFsBucket>();
        send::<ClientSession>();
        send::<Cursor<Document>>();
        send::<SessionCursor<Document>>();
        send::<ChangeStream<Document>>();
        send::<gridfs::GridFsUploadStream>();
        send::<gridfs::GridFsDownloadStream>();
    }
}
