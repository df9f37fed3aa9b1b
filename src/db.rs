//! [`Database`]: a handle to one database.

use bson::{Bson, Document};

use crate::coll::Collection;
use crate::cursor::Cursor;
use crate::error::Result;
use crate::operation::{DropDatabase, ListCollections, RunCommand};
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
    /// A reply with `ok` other than 1 is an [`ErrorKind::Command`](crate::error::ErrorKind::Command) error carrying the server's
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
        self.client
            .execute(RunCommand::new(&self.name, command))
            .await
    }

    /// [`run_command`](Self::run_command) in an explicit session (the command carries the
    /// session's `lsid` and, for causal consistency, its cluster time). Never retried.
    ///
    /// ```no_run
    /// # async fn f(client: mongo_x509::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::bson::doc;
    /// let mut session = client.start_session().await?;
    /// client.database("app").run_command_with_session(doc! { "ping": 1 }, &mut session).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_command_with_session(
        &self,
        command: Document,
        session: &mut crate::ClientSession,
    ) -> Result<Document> {
        self.client
            .execute_in(RunCommand::new(&self.name, command), Some(session))
            .await
    }

    /// The names of the collections in this database (`listCollections`).
    pub async fn list_collection_names(&self) -> Result<Vec<String>> {
        let op = ListCollections::new(&self.name, self.client.read_criteria());
        let run = crate::client::Run {
            keep_session: true,
            keep_connection: self.client.is_load_balanced(),
            ..Default::default()
        };
        let (result, left) = self.client.run(op, run).await;
        let mut cursor: Cursor<Document> = Cursor::new(self.client.clone(), result?, left);
        let mut names = Vec::new();
        while let Some(d) = cursor.next_item().await.transpose()? {
            if let Some(Bson::String(n)) = d.get("name") {
                names.push(n.clone());
            }
        }
        Ok(names)
    }

    /// Drops the database. Dropping a database that does not exist succeeds.
    pub async fn drop(&self) -> Result<()> {
        let wc = self.client.write_concern_or_default(None);
        self.client.execute(DropDatabase::new(&self.name, wc)).await
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
