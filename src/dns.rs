//! Name look-ups with hickory-resolver, for `mongodb+srv://` (SRV and TXT records, see
//! [`crate::srv`]) and for host names in a private zone: a resolver built from a
//! [`ResolverConfig`], and address look-ups the connection layer uses before the system's.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig as HickoryConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, TokioResolver};

use crate::error::{Error, Result};
use crate::options::ResolverConfig;

/// The name servers of `config`, for messages.
pub(crate) fn servers(config: &ResolverConfig) -> String {
    match config.name_servers() {
        Some(list) => {
            let list: Vec<String> = list.iter().map(|a| a.to_string()).collect();
            format!("the name servers {}", list.join(", "))
        }
        None => "the system's name servers".into(),
    }
}

/// A resolver for the name servers of `config` (the system's when none are given), without a
/// cache (a poll must see changed records), each query bounded by `timeout`.
pub(crate) fn build_resolver(
    name: &str,
    config: &ResolverConfig,
    timeout: Option<Duration>,
) -> Result<TokioResolver> {
    let provider = TokioConnectionProvider::default();
    let mut builder = match config.name_servers() {
        Some(addresses) => {
            if addresses.is_empty() {
                return Err(Error::invalid_argument(
                    "ResolverConfig::with_name_servers: the list is empty; give at least one \
                     name server, or use ResolverConfig::default() for the system's",
                ));
            }
            let mut hickory = HickoryConfig::new();
            for address in addresses {
                // TCP too, for answers that do not fit in a UDP datagram.
                for protocol in [Protocol::Udp, Protocol::Tcp] {
                    hickory.add_name_server(NameServerConfig::new(*address, protocol));
                }
            }
            TokioResolver::builder_with_config(hickory, provider)
        }
        None => TokioResolver::builder(provider).map_err(|e| {
            Error::dns_resolve(format!(
                "mongodb+srv://{name}: cannot read the system's DNS configuration ({e}); fix \
                 /etc/resolv.conf or give name servers with ResolverConfig::with_name_servers"
            ))
        })?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    // Each lookup is fresh: a poll must see changed records.
    opts.cache_size = 0;
    if let Some(t) = config.query_timeout() {
        opts.timeout = t;
    }
    if let Some(n) = config.query_attempts() {
        opts.attempts = n.max(1);
    }
    // One query never outlasts the overall bound.
    if let Some(total) = timeout {
        opts.timeout = opts.timeout.min(total);
    }
    Ok(builder.build())
}

/// The addresses of `host` from the name servers of `config` (none when they do not know it or
/// do not answer); the caller then asks the system's resolver.
pub(crate) async fn lookup_ip(host: &str, config: &ResolverConfig) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    let Ok(resolver) = build_resolver(host, config, None) else {
        return Vec::new();
    };
    let Ok(fqdn) = Name::from_utf8(format!("{}.", host.trim_end_matches('.'))) else {
        return Vec::new();
    };
    match resolver.lookup_ip(fqdn).await {
        Ok(found) => found.iter().collect(),
        Err(e) => {
            tracing::debug!(%host, error = %e, "the configured name servers do not resolve this host");
            Vec::new()
        }
    }
}
