//! [`Database`]: a handle to one database.

use bson::{doc, Bson, Document};

use crate::coll::Collection;
use crate::cursor::Cursor;
use crate::error::{ErrorKind, Result};
use crate::Client;

/// A handle to a database, from [`Client::database`]. Cheap to clone; nothing is sent to the
/// server until an operation runs.
#[derive(Clone, Debug)]
pub struct Database {
    client: Client,
    name: String,
}

impl Database {
    pub(crate) fn new(client: Client, name: &str) -> Self {
        Self {
            client,
            name: name.to_owned(),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this handle belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A handle to the collection `name` whose documents are `T` (any
    /// `Serialize + DeserializeOwned` type, or [`Document`]).
    pub fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        Collection::new(self.client.clone(), &self.name, name)
    }

    /// Runs a database command on the primary and returns the server's reply.
    ///
    /// A reply with `ok` other than 1 is an [`ErrorKind::Command`] error carrying the server's
    /// code and message. The command is sent once (not retried).
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let status = client.database("admin").run_command(doc! { "connectionStatus": 1 }).await?;
    /// println!("{status}");
    /// # Ok(()) }
    /// ```
    pub async fn run_command(&self, command: Document) -> Result<Document> {
        self.client.run_write(&self.name, command).await
    }

    /// The names of the collections in this database (`listCollections`).
    pub async fn list_collection_names(&self) -> Result<Vec<String>> {
        let cmd = doc! { "listCollections": 1, "nameOnly": true, "authorizedCollections": true };
        let (reply, address) = self.client.run_read_on(&self.name, cmd).await?;
        let mut cursor: Cursor<Document> =
            Cursor::from_reply(self.client.clone(), address, &reply, None, None)?;
        let mut names = Vec::new();
        while let Some(d) = cursor.next_document().await? {
            if let Some(Bson::String(n)) = d.get("name") {
                names.push(n.clone());
            }
        }
        Ok(names)
    }

    /// Drops the database. Dropping a database that does not exist succeeds.
    pub async fn drop(&self) -> Result<()> {
        let mut cmd = doc! { "dropDatabase": 1 };
        if let Some(wc) =
            crate::coll::write_concern_doc(self.client.options().write_concern.as_ref())
        {
            cmd.insert("writeConcern", wc);
        }
        match self.client.run_write(&self.name, cmd).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(&*e.kind, ErrorKind::Command { code: 26, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs an aggregation on the database (`{aggregate: 1}`), e.g. `$currentOp` or
    /// `$documents` pipelines.
    pub fn aggregate(
        &self,
        pipeline: impl IntoIterator<Item = Document>,
    ) -> crate::coll::action::Aggregate<'_> {
        crate::coll::action::Aggregate::new(
            &self.client,
            self.name.clone(),
            None,
            pipeline.into_iter().collect(),
        )
    }
}
