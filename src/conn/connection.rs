//! An established connection to one server.

use bson::Document;

use crate::conn::HelloReply;
use crate::error::Result;
use crate::options::ServerAddress;

/// One connection to one server. Once [`Connection::is_broken`] is true it must be dropped.
#[derive(Debug)]
pub(crate) struct Connection {
    id: u32,
    address: ServerAddress,
    hello: HelloReply,
    broken: bool,
}

impl Connection {
    /// Runs `cmd` on database `db` and returns the reply body (ok: 1).
    pub(crate) async fn command(&mut self, db: &str, cmd: Document) -> Result<Document> {
        let _ = (db, cmd);
        todo!()
    }
    /// The handshake reply.
    pub(crate) fn hello(&self) -> &HelloReply {
        &self.hello
    }
    /// The server this connection is to.
    pub(crate) fn address(&self) -> &ServerAddress {
        &self.address
    }
    /// The connection's id.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }
    /// True after an I/O error, a timeout or a malformed reply: the connection must be dropped.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }
}
