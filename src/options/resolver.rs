//! [`ResolverConfig`]: which DNS name servers `mongodb+srv://` lookups ask.

use std::net::SocketAddr;
use std::time::Duration;

/// Where the SRV and TXT lookups of a `mongodb+srv://` connection string go, given to
/// [`ClientOptions::parse_with_resolver_config`](crate::options::ClientOptions::parse_with_resolver_config).
///
/// The default is the system configuration (`/etc/resolv.conf` on Unix, the registry on
/// Windows). [`ResolverConfig::with_name_servers`] asks the given name servers instead (UDP, and
/// TCP for answers too long for UDP), e.g. a private DNS server or one run by tests.
///
/// Only the SRV and TXT lookups use it: the hosts those records name are connected to with the
/// system's resolver, as the official driver does.
///
/// Whatever the per-query timeout and attempts, the lookups together never take longer than
/// `connectTimeoutMS` (default 10 s).
///
/// ```
/// use std::time::Duration;
/// use mongo_x509::options::ResolverConfig;
///
/// let config = ResolverConfig::with_name_servers(vec!["10.0.0.53:53".parse().unwrap()])
///     .timeout(Duration::from_secs(2))
///     .attempts(3);
/// assert_eq!(config.name_servers().unwrap().len(), 1);
/// assert!(ResolverConfig::default().name_servers().is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolverConfig {
    name_servers: Option<Vec<SocketAddr>>,
    timeout: Option<Duration>,
    attempts: Option<usize>,
}

impl ResolverConfig {
    /// The system configuration (the default).
    pub fn system() -> Self {
        Self::default()
    }

    /// Ask these name servers, in order, instead of the system's.
    pub fn with_name_servers(name_servers: Vec<SocketAddr>) -> Self {
        Self {
            name_servers: Some(name_servers),
            ..Self::default()
        }
    }

    /// How long to wait for one answer before asking again (the resolver's default: 5 s,
    /// or the system's `options timeout:`). Never longer than `connectTimeoutMS`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times to ask each name server (the resolver's default: 2, or the system's
    /// `options attempts:`).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// The name servers given, or `None` for the system configuration.
    pub fn name_servers(&self) -> Option<&[SocketAddr]> {
        self.name_servers.as_deref()
    }

    /// The per-query timeout given, if any.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The attempts given, if any.
    pub fn query_attempts(&self) -> Option<usize> {
        self.attempts
    }
}
