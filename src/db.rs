//! [`Database`]: a handle to one database. Its operations are in [`crate::action`].

use std::sync::Arc;

use crate::action::Target;
use crate::coll::Collection;
use crate::options::{CollectionOptions, Inherited};
use crate::Client;

/// A handle to a database, from [`Client::database`]. Cheap to clone (one reference count);
/// nothing is sent to the server until an operation runs.
#[derive(Clone)]
pub struct Database {
    inner: Arc<DatabaseInner>,
}

struct DatabaseInner {
    client: Client,
    name: String,
    /// Read preference, read and write concern, from the client.
    inherited: Inherited,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Database {
    pub(crate) fn new(client: Client, name: &str, inherited: Inherited) -> Self {
        Self {
            inner: Arc::new(DatabaseInner {
                client,
                name: name.to_owned(),
                inherited,
            }),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The client this handle belongs to.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// A handle to the collection `name` whose documents are `T` (any
    /// `Serialize + DeserializeOwned` type, or [`Document`](bson::Document)).
    pub fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        let i = &*self.inner;
        Collection::new(i.client.clone(), &i.name, name, i.inherited.clone())
    }

    /// A handle to the collection `name` with its own read preference, read concern, write
    /// concern or `timeoutMS`; what `options` leaves unset comes from this database handle.
    ///
    /// ```no_run
    /// # async fn f(db: mongo_x509::Database) -> mongo_x509::error::Result<()> {
    /// use std::time::Duration;
    /// use mongo_x509::bson::{doc, Document};
    /// use mongo_x509::options::{CollectionOptions, ReadPreference, ReadPreferenceMode};
    /// let events = db.collection_with_options::<Document>(
    ///     "events",
    ///     CollectionOptions::builder()
    ///         .selection_criteria(ReadPreference::from(ReadPreferenceMode::SecondaryPreferred))
    ///         .timeout(Duration::from_millis(500))
    ///         .build(),
    /// );
    /// let last = events.find_one(doc! {}).sort(doc! { "at": -1 }).await?;
    /// # let _ = last; Ok(()) }
    /// ```
    pub fn collection_with_options<T: Send + Sync>(
        &self,
        name: &str,
        options: CollectionOptions,
    ) -> Collection<T> {
        let i = &*self.inner;
        let inherited = i.inherited.for_collection(options);
        Collection::new(i.client.clone(), &i.name, name, inherited)
    }

    /// What this database's actions run against.
    pub(crate) fn target(&self) -> Target<'_> {
        let i = &*self.inner;
        Target::new(&i.client, &i.name, "", &i.inherited)
    }
}
