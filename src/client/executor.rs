//! The I/O side of topology: one pool per seed, server selection against the description, and
//! what an error on a connection does to the server's description and pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bson::{doc, Bson, Document};
use tokio::time::Instant;

use crate::conn::{self, Connection, EstablishOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::options::ServerAddress;
use crate::pool::{
    CheckOutError, Connector, Pool, PoolConnection, PoolOptions, PoolStats, PooledConnection,
};
use crate::sdam::{
    self, select_server, SelectionCriteria, ServerDescription, ServerType, TopologyDescription,
    TopologyType,
};

/// How long to wait before contacting unreachable seeds again (SDAM's minHeartbeatFrequencyMS).
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Opens real connections: TCP or Unix socket, TLS, handshake, authentication.
pub(crate) struct Establisher {
    opts: Arc<EstablishOptions>,
}

impl Connector for Establisher {
    type Conn = Connection;
    fn connect(
        &self,
        address: &ServerAddress,
        id: u32,
    ) -> impl std::future::Future<Output = Result<Connection>> + Send {
        let opts = Arc::clone(&self.opts);
        let address = address.clone();
        async move { conn::establish(&address, &opts, id).await }
    }
}

impl PoolConnection for Connection {
    fn is_broken(&self) -> bool {
        Connection::is_broken(self)
    }
}

/// The description a `hello` reply gives; a reply the parser rejects makes the server unknown.
fn describe(address: ServerAddress, reply: &Document) -> ServerDescription {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ServerDescription::from_hello(address.clone(), reply, None, now)
        .unwrap_or_else(|e| ServerDescription::unknown_with_error(address, e.to_string()))
}

/// Errors that no amount of waiting fixes end server selection at once: anything but a network
/// error while opening a connection (authentication, TLS, a full pool's wait queue, shutdown).
fn is_fatal(e: &CheckOutError) -> bool {
    !(e.while_connecting && e.error.is_network_error())
}

pub(crate) struct Topology {
    pools: Vec<(ServerAddress, Pool<Establisher>)>,
    description: Mutex<TopologyDescription>,
    server_selection_timeout: Duration,
    shut_down: AtomicBool,
}

impl Topology {
    pub(crate) fn new(
        seeds: &[ServerAddress],
        direct_connection: bool,
        set_name: Option<String>,
        establish: EstablishOptions,
        pool_options: PoolOptions,
        server_selection_timeout: Duration,
    ) -> Self {
        let description =
            TopologyDescription::new(seeds, direct_connection.then_some(true), set_name, false);
        let opts = Arc::new(establish);
        let pools = description
            .servers
            .values()
            .map(|s| {
                let connector = Establisher {
                    opts: Arc::clone(&opts),
                };
                (
                    s.address.clone(),
                    Pool::new(s.address.clone(), connector, pool_options.clone()),
                )
            })
            .collect();
        Self {
            pools,
            description: Mutex::new(description),
            server_selection_timeout,
            shut_down: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TopologyDescription> {
        self.description.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Selection against the current description (the lock is released on return: never
    /// held across an await).
    fn select_now(&self, criteria: &SelectionCriteria) -> Result<Option<ServerAddress>> {
        select_server(&self.lock(), criteria, &[], |_| 0, &mut |_| 0)
    }

    fn pool(&self, address: &ServerAddress) -> Option<&Pool<Establisher>> {
        self.pools
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, p)| p)
    }

    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        self.pools.iter().map(|(_, p)| p.stats()).collect()
    }

    pub(crate) fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
        for (_, p) in &self.pools {
            p.close();
        }
    }

    fn check_shutdown(&self) -> Result<()> {
        if self.shut_down.load(Ordering::SeqCst) {
            Err(Error::new(ErrorKind::Shutdown))
        } else {
            Ok(())
        }
    }

    fn types(&self, address: &ServerAddress) -> (TopologyType, ServerType) {
        let d = self.lock();
        let server_type = d.server(address).map(|s| s.server_type).unwrap_or_default();
        (d.topology_type, server_type)
    }

    /// Marks a server unknown and clears its pool (if the pool is still at `generation`).
    fn invalidate(&self, address: &ServerAddress, generation: Option<u32>, why: &Error) {
        self.lock().mark_unknown(address, why.to_string());
        if let (Some(pool), Some(generation)) = (self.pool(address), generation) {
            pool.clear(generation);
        }
    }

    /// Selects a server for `criteria` and checks out one of its connections.
    pub(crate) async fn select(
        self: &Arc<Self>,
        criteria: &SelectionCriteria,
    ) -> Result<ConnectionHandle> {
        let deadline = Instant::now() + self.server_selection_timeout;
        loop {
            self.check_shutdown()?;
            let mut retry = false;
            let selected = self.select_now(criteria)?;
            if let Some(address) = selected {
                match self.try_check_out(&address).await {
                    Ok(conn) => return Ok(conn),
                    Err(e) if is_fatal(&e) => return Err(e.error),
                    Err(e) => {
                        self.invalidate(&address, None, &e.error);
                        retry = true;
                    }
                }
            } else {
                // Discovery for now: ask each seed in order, stop at the first suitable one.
                for (address, _) in &self.pools {
                    self.check_shutdown()?;
                    match self.refresh(address).await {
                        Ok(conn) => {
                            if self.select_now(criteria)?.as_ref() == Some(address) {
                                return Ok(conn);
                            }
                        }
                        Err(e) if is_fatal(&e) => return Err(e.error),
                        Err(e) => {
                            self.invalidate(address, None, &e.error);
                            retry = true;
                        }
                    }
                }
                if let Some(address) = self.select_now(criteria)? {
                    // Suitable after all (e.g. a later seed made an earlier one usable).
                    return self.check_out(&address).await;
                }
            }
            let now = Instant::now();
            if !retry || now >= deadline {
                let explanation = {
                    let d = self.lock();
                    sdam::explain_no_suitable_server(&d, criteria)
                };
                let message = if retry {
                    format!(
                        "{explanation} (gave up after {} ms, serverSelectionTimeoutMS)",
                        self.server_selection_timeout.as_millis()
                    )
                } else {
                    explanation
                };
                return Err(Error::new(ErrorKind::ServerSelection { message }));
            }
            tokio::time::sleep_until((now + RETRY_INTERVAL).min(deadline)).await;
        }
    }

    /// Checks out a connection to `address` and brings its description up to date: from the
    /// handshake of a new connection, or with a fresh `hello` on a reused one.
    async fn refresh(
        self: &Arc<Self>,
        address: &ServerAddress,
    ) -> std::result::Result<ConnectionHandle, CheckOutError> {
        let mut handle = self.try_check_out(address).await?;
        let description = if handle.conn.was_reused() {
            let hello_ok = handle.conn.hello().raw.get("helloOk") == Some(&Bson::Boolean(true));
            let cmd = if hello_ok {
                doc! { "hello": 1 }
            } else {
                doc! { "isMaster": 1 }
            };
            let reply = handle
                .command("admin", cmd)
                .await
                .map_err(|error| CheckOutError {
                    error,
                    while_connecting: true,
                })?;
            describe(address.clone(), &reply)
        } else {
            describe(address.clone(), &handle.conn.hello().raw)
        };
        self.lock().update(description);
        Ok(handle)
    }

    /// A connection to a given server (getMore and killCursors go to the cursor's server).
    pub(crate) async fn check_out(
        self: &Arc<Self>,
        address: &ServerAddress,
    ) -> Result<ConnectionHandle> {
        Ok(self.try_check_out(address).await?)
    }

    async fn try_check_out(
        self: &Arc<Self>,
        address: &ServerAddress,
    ) -> std::result::Result<ConnectionHandle, CheckOutError> {
        let fail = |error| CheckOutError {
            error,
            while_connecting: false,
        };
        self.check_shutdown().map_err(fail)?;
        let pool = self
            .pool(address)
            .ok_or_else(|| fail(Error::internal(format!("no connection pool for {address}"))))?;
        let conn = pool.check_out().await?;
        Ok(ConnectionHandle {
            address: address.clone(),
            conn,
            topology: Arc::clone(self),
        })
    }
}

/// A checked-out connection that reports errors to the topology.
pub(crate) struct ConnectionHandle {
    address: ServerAddress,
    conn: PooledConnection<Establisher>,
    topology: Arc<Topology>,
}

impl ConnectionHandle {
    /// The server this connection is to.
    pub(crate) fn address(&self) -> &ServerAddress {
        &self.address
    }

    /// The server's limits and identity as its handshake reported them.
    pub(crate) fn hello(&self) -> &conn::HelloReply {
        self.conn.hello()
    }

    /// Adds `$readPreference` when a read may go to a non-primary member.
    pub(crate) fn apply_read_preference(&self, cmd: &mut Document, criteria: &SelectionCriteria) {
        let (topology_type, server_type) = self.topology.types(&self.address);
        if let Some(rp) = sdam::read_preference_document(topology_type, server_type, criteria) {
            cmd.insert("$readPreference", rp);
        }
    }

    /// Runs a command; see [`ConnectionHandle::command_with_sequences`].
    pub(crate) async fn command(&mut self, db: &str, cmd: Document) -> Result<Document> {
        self.command_with_sequences(db, cmd, Vec::new()).await
    }

    /// Runs a command. On a network error the connection is closed (and, unless it was a
    /// timeout, the server is marked unknown and its pool cleared); on a "not primary" or
    /// "shutting down" error the server is marked unknown and its pool cleared.
    pub(crate) async fn command_with_sequences(
        &mut self,
        db: &str,
        cmd: Document,
        sequences: Vec<crate::wire::DocumentSequence>,
    ) -> Result<Document> {
        let result = self.conn.command_with_sequences(db, cmd, &sequences).await;
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    fn on_error(&mut self, e: &Error) {
        let generation = Some(self.conn.generation());
        match &*e.kind {
            ErrorKind::Timeout { .. } => self.conn.discard(),
            _ if e.is_network_error() => {
                self.conn.discard();
                self.topology.invalidate(&self.address, generation, e);
            }
            ErrorKind::Command { code, message, .. }
                if sdam::is_state_change_error(Some(*code), message) =>
            {
                self.topology.invalidate(&self.address, generation, e);
            }
            _ => {}
        }
    }
}
