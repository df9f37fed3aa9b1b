//! [`Client`]: the blocking client, and its runtime's lifetime.

use std::ops::Deref;
use std::sync::Arc;

use super::held::Held;
use super::{Database, Runtime};
use crate::error::Result;
use crate::options::{ClientOptions, DatabaseOptions};

blocking_wrapper! {
    /// A blocking MongoDB client: the async [`Client`](crate::Client) with a runtime of its own
    /// (one thread), so no Tokio is needed of the caller. Every action of the async client is
    /// here (through [`Deref`]), run with `.run()`; [`database`](Self::database) gives a
    /// blocking [`Database`].
    ///
    /// `Client` is `Clone + Send + Sync` and cheap to clone: share one across threads. Its
    /// runtime runs the background work (server monitoring, pool maintenance, SRV polling, the
    /// certificate-file watch) and stops, its thread joined, when the last handle of the client
    /// (a clone, a database, a collection, a session, a cursor…) is dropped.
    ///
    /// ```no_run
    /// use mongo_x509::bson::doc;
    /// use mongo_x509::sync::Client;
    ///
    /// # fn main() -> mongo_x509::error::Result<()> {
    /// let client = Client::with_uri_str(
    ///     "mongodb://db.example.com/?tls=true&tlsCAFile=%2Fetc%2Fca.pem\
    ///      &tlsCertificateKeyFile=%2Fetc%2Fclient.pem&authMechanism=MONGODB-X509",
    /// )?;
    /// client.database("admin").run_command(doc! { "ping": 1 }).run()?;
    /// println!("authenticated as {:?}", client.client_subject());
    /// for name in client.list_database_names().run()? {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    #[derive(Clone, Debug)]
    pub struct Client(crate::Client);
}

impl Client {
    /// Parses a connection string and creates a client, as
    /// [`Client::with_uri_str`](crate::Client::with_uri_str) does (a `mongodb+srv://` string
    /// is resolved here). The key is decrypted here: a wrong password is an error right away.
    ///
    /// ```no_run
    /// # fn main() -> mongo_x509::error::Result<()> {
    /// let client = mongo_x509::sync::Client::with_uri_str(
    ///     "mongodb://db.example.com/?tls=true&tlsCertificateKeyFile=client.pem\
    ///      &authMechanism=MONGODB-X509",
    /// )?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn with_uri_str(uri: impl AsRef<str>) -> Result<Self> {
        let runtime = Runtime::start()?;
        let options = runtime.block_on(ClientOptions::parse(uri))?;
        Self::build(runtime, options)
    }

    /// Creates a client from options, as [`Client::with_options`](crate::Client::with_options)
    /// does: it validates them and loads the TLS identity (errors are reported here) and
    /// connects on the first operation. With
    /// [`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch),
    /// the watch of the certificate-key file runs on the client's runtime.
    ///
    /// ```no_run
    /// use mongo_x509::options::{ClientOptions, ServerAddress};
    /// # fn main() -> mongo_x509::error::Result<()> {
    /// let options = ClientOptions::builder()
    ///     .hosts(vec![ServerAddress::parse("db.example.com:27017")?])
    ///     .app_name("batch-job")
    ///     .build();
    /// let client = mongo_x509::sync::Client::with_options(options)?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn with_options(options: ClientOptions) -> Result<Self> {
        Self::build(Runtime::start()?, options)
    }

    fn build(runtime: Arc<Runtime>, options: ClientOptions) -> Result<Self> {
        let client = {
            // What the client starts now (the certificate-file watch) runs on its runtime.
            let _context = runtime.enter();
            crate::Client::with_options(options)?
        };
        client.set_sync_runtime(&runtime);
        Ok(Self {
            held: Held::new(client, runtime),
        })
    }

    /// A handle to the database `name`. Nothing is sent to the server.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// let names = client.database("shop").list_collection_names().run()?;
    /// # let _ = names; Ok(()) }
    /// ```
    pub fn database(&self, name: &str) -> Database {
        Database::from_held(self.held.with(self.held.get().database(name)))
    }

    /// A handle to the database `name` with its own defaults (read preference, read and write
    /// concerns, `timeoutMS`); see
    /// [`Client::database_with_options`](crate::Client::database_with_options).
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// use mongo_x509::options::{DatabaseOptions, ReadConcern};
    /// let reports = client.database_with_options(
    ///     "reports",
    ///     DatabaseOptions::builder().read_concern(ReadConcern::majority()).build(),
    /// );
    /// # let _ = reports; Ok(()) }
    /// ```
    pub fn database_with_options(&self, name: &str, options: DatabaseOptions) -> Database {
        let db = self.held.get().database_with_options(name, options);
        Database::from_held(self.held.with(db))
    }

    /// The database named in the connection string's path (`mongodb://host/NAME`), if any.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) {
    /// if let Some(db) = client.default_database() {
    ///     println!("default database: {}", db.name());
    /// }
    /// # }
    /// ```
    pub fn default_database(&self) -> Option<Database> {
        let db = self.held.get().default_database()?;
        Some(Database::from_held(self.held.with(db)))
    }

    /// Re-reads and re-decrypts the TLS identity, blocking until done; see
    /// [`Client::reload_tls_identity`](crate::Client::reload_tls_identity).
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) -> mongo_x509::error::Result<()> {
    /// // After the certificate-key file has been replaced:
    /// client.reload_tls_identity()?;
    /// println!("new connections authenticate as {:?}", client.client_subject());
    /// # Ok(()) }
    /// ```
    pub fn reload_tls_identity(&self) -> Result<()> {
        let client = self.held.get();
        self.held.runtime().block_on(client.reload_tls_identity())
    }

    /// Shuts the client down (as [`Client::shutdown`](crate::Client::shutdown) does: the pooled
    /// server sessions are ended, the monitors stopped, the pools closed) when the returned
    /// action is run. When this was the last handle of the client, its runtime is stopped too
    /// before `run` returns.
    ///
    /// ```no_run
    /// # fn f(client: mongo_x509::sync::Client) {
    /// client.shutdown().run();
    /// # }
    /// ```
    pub fn shutdown(self) -> Shutdown {
        Shutdown { client: self }
    }
}

impl Deref for Client {
    type Target = crate::Client;

    /// The async client: its actions run here with `.run()`.
    fn deref(&self) -> &crate::Client {
        self.held.get()
    }
}

/// Shuts a blocking client down: [`Client::shutdown`].
#[must_use = "nothing is shut down until `run` is called"]
#[derive(Debug)]
pub struct Shutdown {
    client: Client,
}

impl Shutdown {
    /// Shuts the client down, blocking until done (ending the sessions takes at most two
    /// seconds); then releases this handle's share of the runtime.
    pub fn run(self) {
        let (client, runtime) = self.client.held.into_parts();
        // The client is dropped at the end of the future, in the runtime's context.
        runtime.block_on(std::future::IntoFuture::into_future(client.shutdown()));
    }
}
