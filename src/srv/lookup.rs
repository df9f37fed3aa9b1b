//! The SRV and TXT lookups, with hickory-resolver.

use std::time::Duration;

use hickory_resolver::{Name, TokioResolver};

use super::rules::{check_domain, txt_options};
use crate::dns::{build_resolver, servers};
use crate::error::{Error, Result};
use crate::options::{ResolverConfig, ServerAddress};

/// What a `mongodb+srv://` name resolves to.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Every SRV target, checked against the name's domain.
    pub(crate) hosts: Vec<ServerAddress>,
    /// The TXT record's options (strings concatenated), if there is one.
    pub(crate) txt: Option<String>,
}

/// The SRV records at `_{service_name}._tcp.{name}` and the TXT record at `{name}`, looked up
/// together and within `timeout` (none when `None`).
pub(crate) async fn resolve(
    name: &str,
    service_name: &str,
    config: &ResolverConfig,
    timeout: Option<Duration>,
) -> Result<Resolved> {
    let resolver = build_resolver(name, config, timeout)?;
    let work = async {
        let (srv, txt) = tokio::join!(
            srv_hosts(&resolver, name, service_name, Strict::Yes),
            txt(&resolver, name)
        );
        Ok::<_, Error>(Resolved {
            hosts: srv?.0,
            txt: txt?,
        })
    };
    bounded(name, service_name, config, timeout, work).await
}

/// A rescan (SRV polling): the hosts of the SRV records of `name` that are in its domain (the
/// others are left out and logged, not an error), and the records' smallest TTL. Errors as for
/// the initial lookup, and an error when no host is left.
pub(crate) async fn lookup_srv_hosts(
    name: &str,
    service_name: &str,
    config: &ResolverConfig,
    timeout: Option<Duration>,
) -> Result<(Vec<ServerAddress>, Duration)> {
    let resolver = build_resolver(name, config, timeout)?;
    let work = srv_hosts(&resolver, name, service_name, Strict::No);
    bounded(name, service_name, config, timeout, work).await
}

/// What a host outside the name's domain does: fail the whole answer (initial discovery) or
/// only leave the host out (polling).
#[derive(Clone, Copy, PartialEq)]
enum Strict {
    Yes,
    No,
}

async fn srv_hosts(
    resolver: &TokioResolver,
    name: &str,
    service_name: &str,
    strict: Strict,
) -> Result<(Vec<ServerAddress>, Duration)> {
    let query = format!("_{service_name}._tcp.{name}");
    let fail = |reason: String| {
        Error::dns_resolve(format!(
            "mongodb+srv://{name}: could not resolve the SRV record {query} to hosts: {reason}; \
             check the host name{} and the name servers (ResolverConfig)",
            if service_name == "mongodb" {
                ""
            } else {
                " and srvServiceName"
            }
        ))
    };
    let fqdn = Name::from_utf8(format!("{query}."))
        .map_err(|e| fail(format!("it is not a valid DNS name ({e})")))?;
    let lookup = match resolver.srv_lookup(fqdn).await {
        Ok(lookup) => lookup,
        Err(e) if e.is_no_records_found() => {
            return Err(fail("the name server has no SRV records for it".into()))
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let mut hosts = Vec::new();
    for srv in lookup.iter() {
        // Priority and weight are ignored (spec).
        let target = srv.target().to_utf8();
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        if let Err(e) = check_domain(name, &target) {
            if strict == Strict::Yes {
                return Err(e);
            }
            tracing::warn!(%target, "SRV rescan: host left out: {e}");
            continue;
        }
        hosts.push(ServerAddress::Tcp {
            host: target,
            port: Some(srv.port()),
        });
    }
    if hosts.is_empty() {
        return Err(fail(
            "the name server has no SRV records for it in its domain".into(),
        ));
    }
    let min_ttl = lookup
        .as_lookup()
        .records()
        .iter()
        .map(|r| r.ttl())
        .min()
        .unwrap_or(0);
    Ok((hosts, Duration::from_secs(min_ttl.into())))
}

async fn txt(resolver: &TokioResolver, name: &str) -> Result<Option<String>> {
    let fail = |reason: String| {
        Error::dns_resolve(format!(
            "mongodb+srv://{name}: could not look up its TXT record: {reason}; check the name \
             servers (ResolverConfig)"
        ))
    };
    let fqdn =
        Name::from_utf8(format!("{name}.")).map_err(|e| fail(format!("invalid name ({e})")))?;
    let lookup = match resolver.txt_lookup(fqdn).await {
        Ok(lookup) => lookup,
        Err(e) if e.is_no_records_found() => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    let records: Vec<Vec<Vec<u8>>> = lookup
        .iter()
        .map(|txt| txt.iter().map(|s| s.to_vec()).collect())
        .collect();
    txt_options(name, &records)
}

/// Runs `work` within `timeout`, with a message that names the name servers and the option.
async fn bounded<T>(
    name: &str,
    service_name: &str,
    config: &ResolverConfig,
    timeout: Option<Duration>,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(timeout) = timeout else {
        return work.await;
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        Error::dns_resolve(format!(
            "mongodb+srv://{name}: could not resolve the SRV record _{service_name}._tcp.{name} \
             to hosts: no answer from {} within {} ms (connectTimeoutMS); check that the name \
             servers are reachable, or raise connectTimeoutMS",
            servers(config),
            timeout.as_millis()
        ))
    })?
}
