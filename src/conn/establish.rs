//! Opening a connection: TCP or Unix socket, TLS, handshake and authentication, all bounded by
//! `connectTimeoutMS`.

use std::sync::Arc;
use std::time::Duration;

use crate::conn::Connection;
use crate::error::Result;
use crate::options::{Credential, ServerAddress};
use crate::tls::TlsBackend;

/// `connectTimeoutMS` when the user set none.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`establish`] needs from the client options (and the TLS backend built from them).
#[derive(Clone, Debug, Default)]
pub(crate) struct EstablishOptions {
    /// `appName`, sent in the handshake's client metadata.
    pub(crate) app_name: Option<String>,
    /// Who to authenticate as; `None` means no authentication.
    pub(crate) credential: Option<Credential>,
    /// The TLS backend, or `None` for a plain connection.
    pub(crate) tls: Option<Arc<dyn TlsBackend>>,
    /// Bounds TCP connect + TLS + handshake + authentication (default 10 s; zero means none).
    pub(crate) connect_timeout: Option<Duration>,
    /// Bounds each read of a command reply after the connection is established (default and
    /// zero: none).
    pub(crate) socket_timeout: Option<Duration>,
}

/// Opens, handshakes and authenticates a connection to `address`. `id` names the connection in
/// logs and events.
pub(crate) async fn establish(
    address: &ServerAddress,
    opts: &EstablishOptions,
    id: u32,
) -> Result<Connection> {
    let _ = (address, opts, id);
    todo!()
}
