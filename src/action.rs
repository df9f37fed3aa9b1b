//! Actions: every public operation returns one. Set options on it with chained calls (each
//! option also has a field in the operation's options type, see [`crate::options`]), run it in
//! an explicit session with `.session(&mut s)`, then `.await` it, as in the official driver:
//!
//! ```no_run
//! # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
//! use mongo_x509::bson::{doc, Document};
//! let coll = client.database("shop").collection::<Document>("items");
//! let result = coll
//!     .update_one(doc! { "name": "pen" }, doc! { "$inc": { "qty": 5 } })
//!     .upsert(true)
//!     .comment("restock")
//!     .await?;
//! let mut session = client.start_session().await?;
//! let n = coll.count_documents(doc! {}).session(&mut session).await?;
//! # let _ = (result, n); Ok(()) }
//! ```
//!
//! Each action is described in its own file; one executor runs them all. An action that opens
//! a cursor (`find`, `aggregate`) yields a [`Cursor`], or a
//! [`SessionCursor`] once it is given a session: the session is a type
//! state of the action ([`ImplicitSession`] / [`ExplicitSession`]).

#[macro_use]
mod define;
mod aggregate;
mod bulk_write;
mod collection_bulk_write;
mod count;
mod count_command;
mod create_collection;
mod create_index;
mod create_search_index;
mod delete;
mod distinct;
mod drop;
mod drop_index;
mod drop_search_index;
mod find;
mod find_and_modify;
pub mod gridfs;
mod insert_many;
mod insert_one;
mod list_collections;
mod list_databases;
mod list_indexes;
mod list_search_indexes;
mod rename;
mod replace_one;
mod run_command;
mod run_cursor_command;
mod session;
mod shutdown;
mod target;
mod transaction;
mod update;
mod update_search_index;
mod watch;

pub use aggregate::Aggregate;
pub use bulk_write::BulkWrite;
pub use collection_bulk_write::CollectionBulkWrite;
pub use count::{CountDocuments, EstimatedDocumentCount};
pub use count_command::Count;
pub use create_collection::CreateCollection;
pub use create_index::CreateIndex;
pub use create_search_index::CreateSearchIndex;
pub use delete::Delete;
pub use distinct::Distinct;
pub use drop::{DropCollection, DropDatabase};
pub use drop_index::DropIndex;
pub use drop_search_index::DropSearchIndex;
pub use find::{Find, FindOne};
pub use find_and_modify::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate};
pub use insert_many::InsertMany;
pub use insert_one::InsertOne;
pub use list_collections::ListCollections;
pub use list_databases::ListDatabases;
pub use list_indexes::ListIndexes;
pub use list_search_indexes::ListSearchIndexes;
pub use rename::Rename;
pub use replace_one::ReplaceOne;
pub use run_command::RunCommand;
pub use run_cursor_command::RunCursorCommand;
pub use session::StartSession;
pub use shutdown::Shutdown;
pub use transaction::{AbortTransaction, CommitTransaction, StartTransaction};
pub use update::Update;
pub use update_search_index::UpdateSearchIndex;
pub use watch::Watch;

pub(crate) use target::{CursorTimeout, Target};
pub(crate) use transaction::abort_in_background;

use crate::client::Leftovers;
use crate::cursor::{Cursor, SessionCursor};
use crate::operation::CursorSpec;
use crate::{Client, ClientSession};

pub(crate) mod private {
    /// Only this crate's types are actions or session states.
    pub trait Sealed {}
}

/// A pending operation: configure it with chained calls, then `.await` it.
///
/// Implemented by every action type of this crate (sealed).
pub trait Action: private::Sealed + std::future::IntoFuture {
    /// Calls `f` with the value when there is one: for options set conditionally.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client, limit: Option<u64>) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::action::Action;
    /// use mongo_x509::bson::{doc, Document};
    /// let coll = client.database("shop").collection::<Document>("items");
    /// let n = coll.count_documents(doc! {}).optional(limit, |a, l| a.limit(l)).await?;
    /// # let _ = n; Ok(()) }
    /// ```
    fn optional<V>(self, value: Option<V>, f: impl FnOnce(Self, V) -> Self) -> Self
    where
        Self: Sized,
    {
        match value {
            Some(v) => f(self, v),
            None => self,
        }
    }
}

/// A listing action yields specifications (`list_collections`, `list_indexes`, …).
#[derive(Debug)]
pub struct ListSpecifications;

/// A listing action yields names (`list_collection_names`, `list_index_names`, …).
#[derive(Debug)]
pub struct ListNames;

/// An action on one item (`create_index`).
#[derive(Debug)]
pub struct Single;

/// An action on several items (`create_indexes`).
#[derive(Debug)]
pub struct Multiple;

/// The action runs in an implicit session (the default): a cursor it opens is a [`Cursor`].
#[derive(Debug, Default)]
pub struct ImplicitSession;

/// The action runs in an explicit session (`.session(&mut s)`): a cursor it opens is a
/// [`SessionCursor`], iterated with the same session.
#[derive(Debug)]
pub struct ExplicitSession<'a>(&'a mut ClientSession);

/// The session state of an action: [`ImplicitSession`] or [`ExplicitSession`] (sealed).
pub trait SessionMode<'a>: private::Sealed + Send + Sized + 'a {
    /// The cursor an action that opens one yields in this state.
    type Cursor<T>;

    /// The explicit session, if any, for one operation.
    #[doc(hidden)]
    fn session_mut(&mut self) -> Option<&mut ClientSession>;

    /// The explicit session, if any, for the rest of the action.
    #[doc(hidden)]
    fn into_session(self) -> Option<&'a mut ClientSession>;

    /// The cursor over what the command returned, keeping what it left behind.
    #[doc(hidden)]
    fn cursor<T>(self, client: &Client, opened: OpenedCursor) -> Self::Cursor<T>;
}

/// What a command that opens a cursor returned: the cursor, and the implicit session and
/// connection it keeps (crate-internal).
#[doc(hidden)]
pub struct OpenedCursor {
    pub(crate) spec: CursorSpec,
    pub(crate) leftovers: Leftovers,
}

impl private::Sealed for ImplicitSession {}
impl private::Sealed for ExplicitSession<'_> {}

impl<'a> SessionMode<'a> for ImplicitSession {
    type Cursor<T> = Cursor<T>;

    fn session_mut(&mut self) -> Option<&mut ClientSession> {
        None
    }

    fn into_session(self) -> Option<&'a mut ClientSession> {
        None
    }

    fn cursor<T>(self, client: &Client, opened: OpenedCursor) -> Cursor<T> {
        Cursor::new(client.clone(), opened.spec, opened.leftovers)
    }
}

impl<'a> SessionMode<'a> for ExplicitSession<'a> {
    type Cursor<T> = SessionCursor<T>;

    fn session_mut(&mut self) -> Option<&mut ClientSession> {
        Some(self.0)
    }

    fn into_session(self) -> Option<&'a mut ClientSession> {
        Some(self.0)
    }

    fn cursor<T>(self, client: &Client, opened: OpenedCursor) -> SessionCursor<T> {
        SessionCursor::new(client.clone(), opened.spec, opened.leftovers, self.0)
    }
}
