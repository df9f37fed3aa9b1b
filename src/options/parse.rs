//! Connection string parsing: the MongoDB Connection String, URI Options, Initial DNS Seedlist
//! Discovery, Load Balancer and Auth specifications.
//!
//! Layout: [`decode`] percent-decoding, [`userinfo`] `user:password@`, [`host`] host
//! identifiers, [`options`] one option at a time, [`tls`] and [`auth`] the TLS and credential
//! rules, [`srv`] the SRV and TXT answers of `mongodb+srv://`; this file splits the string and
//! applies the rules that involve several options (after the DNS lookup for `mongodb+srv://`,
//! except those that need no DNS answer).
//!
//! Error messages never quote the connection string as a whole, its userinfo, or the value of
//! `tlsCertificateKeyFilePassword`.
//!
//! Spec deviations and choices where the specs leave room:
//! - An invalid value for a known option is an error (the Connection String spec says "ignore
//!   with a warning"; here a mistyped security option must not pass silently). Empty values
//!   are still ignored with a warning, as the spec says, except `authSource=` (an error, per
//!   the Auth spec tests).
//! - Booleans are `true`/`false` (any case); the legacy `1`/`yes`/`y`/`t`/`0`/`-1`/`no`/`n`/`f`
//!   are refused. `;` is not an option separator (both are "MAY" in the spec).
//! - The `/` before `?` is optional (Connection String spec 2023-08-02).
//! - MONGODB-CR is refused as an unknown mechanism (removed in MongoDB 4.0).
//! - SCRAM without a password parses (as `user@host` does for the default mechanism in the
//!   spec tests); PLAIN needs one.
//! - An empty user name before `@` is an error for X.509, AWS and OIDC too (spec silent).
//! - MONGODB-OIDC: a user name only with `ENVIRONMENT:azure` (the client ID), like the
//!   reference drivers; `ENVIRONMENT` is required since a callback cannot be given in a URI.
//! - `authMechanismProperties` without `authMechanism` or userinfo is an error (spec silent).
//! - `mongodb+srv://` with an IP literal or a Unix socket is refused.
//! - `serverSelectionTimeoutMS` and `waitQueueTimeoutMS` must be positive ("positive" in the
//!   URI Options spec); `readPreference` values match case-insensitively.

mod auth;
mod decode;
mod host;
mod options;
mod srv;
mod tls;
mod userinfo;

use std::net::Ipv4Addr;
use std::time::Duration;

use self::auth::{build_credential, AuthInput};
use self::decode::decode;
use self::options::UriOptions;
use self::userinfo::parse_userinfo;
use super::resolver::ResolverConfig;
use super::types::*;
use crate::error::{Error, Result};

pub(crate) fn parse_host(address: &str) -> Result<ServerAddress> {
    host::parse_address(address)
}

/// A connection string cut into its parts, each checked on its own.
struct Parts {
    srv: bool,
    hosts: Vec<ServerAddress>,
    userinfo: Option<userinfo::UserInfo>,
    database: Option<String>,
    opts: UriOptions,
}

/// Parses a connection string; for `mongodb+srv://`, looks up its SRV and TXT records with
/// `resolver` (before any connection) and uses the hosts and options they give.
pub(crate) async fn parse_uri(uri: &str, resolver: &ResolverConfig) -> Result<ClientOptions> {
    let mut parts = split_uri(uri)?;
    if !parts.srv {
        return build(parts, None);
    }
    check_srv_host(&parts.hosts)?;
    // The rules that need no DNS answer first: a bad connection string fails without a lookup.
    check_topology(&parts.opts, true, 1)?;
    let name = parts.hosts[0].host().into_owned();
    let service_name = parts
        .opts
        .srv_service_name
        .clone()
        .unwrap_or_else(|| srv::DEFAULT_SRV_SERVICE_NAME.into());
    let origin = SrvOrigin {
        name,
        service_name,
        resolver: resolver.clone(),
    };
    srv::apply(&mut parts, &origin).await?;
    build(parts, Some(origin))
}

/// Everything [`parse_uri`] does without DNS: for `mongodb+srv://`, the checks that come before
/// the lookup, then the rules as if no TXT record existed. For the fuzzers (no network).
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_uri_offline(uri: &str) -> Result<ClientOptions> {
    let parts = split_uri(uri)?;
    if parts.srv {
        check_srv_host(&parts.hosts)?;
        check_topology(&parts.opts, true, 1)?;
    }
    build(parts, None)
}

fn split_uri(uri: &str) -> Result<Parts> {
    if uri.is_empty() {
        return Err(Error::invalid_argument(
            "the connection string is empty; expected mongodb://host or mongodb+srv://host",
        ));
    }
    let (srv, rest) = strip_scheme(uri)?;
    refuse_query_in_userinfo(rest)?;

    // Host information ends at the first '/' or '?' (the '/' before options is optional).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let (path, query) = match after.strip_prefix('/') {
        Some(tail) => match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        },
        None => ("", after.strip_prefix('?')),
    };
    if !authority.contains('@') && path.contains('@') {
        // e.g. mongodb://user:pa/ss@host: the '/' cut the userinfo short. Do not quote it.
        return Err(Error::invalid_argument(
            "connection string: the user name or password contains an unescaped '/'; \
             percent-encode it as %2F",
        ));
    }
    // With an unescaped '?' in a password (mongodb://user:pa?ss@host) the "host" and the first
    // "option" hold pieces of the password: their errors must not quote them.
    let cut_userinfo = !authority.contains('@') && after.contains('@');
    let hide = |e: Error| {
        if cut_userinfo {
            Error::invalid_argument(
                "connection string: invalid host or options; if the user name or password \
                 contains '/', '?' or '@', percent-encode them (%2F, %3F, %40)",
            )
        } else {
            e
        }
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(parse_userinfo(userinfo)?), hosts),
        None => (None, authority),
    };
    if hosts.is_empty() {
        let hint = if path.ends_with(".sock") || path.contains(".sock/") {
            "; a Unix socket path must be percent-encoded, e.g. mongodb://%2Ftmp%2Fmongodb-27017.sock"
        } else {
            ""
        };
        return Err(Error::invalid_argument(format!(
            "connection string: no host given{hint}"
        )));
    }
    if may_hold_option(hosts) {
        // e.g. mongodb://h1,tlsCertificateKeyFilePassword=...: the '/?' was forgotten and the
        // "host" holds option values, maybe a password. Do not quote it.
        return Err(Error::invalid_argument(
            "connection string: the host list contains '=' or '&' (not shown: it may hold an \
             option value such as a password); options go after '/?', e.g. \
             mongodb://host/?tls=true",
        ));
    }
    let hosts = hosts
        .split(',')
        .map(host::parse_uri_host)
        .collect::<Result<Vec<_>>>()
        .map_err(hide)?;
    let database = parse_database(path)?;
    let opts = UriOptions::parse(query.unwrap_or(""), !cut_userinfo).map_err(|e| {
        // Hide only when the '@' comes before any '=': "?replicaSet=a@b" is a real option.
        let before_at = after.split('@').next().unwrap_or_default();
        if before_at.contains('=') {
            e
        } else {
            hide(e)
        }
    })?;

    Ok(Parts {
        srv,
        hosts,
        userinfo,
        database,
        opts,
    })
}

/// An '@' before the first '/' with a '?' before it: a user name or password with an unescaped
/// '?' (`user:pa?ss@host`, `user:1?tls=x@host`), which would otherwise be read as a host and
/// options made of pieces of the password. Refused without quoting anything. (An option value
/// with an '@' needs the '/' before '?', or '@' percent-encoded.)
fn refuse_query_in_userinfo(rest: &str) -> Result<()> {
    let head = &rest[..rest.find('/').unwrap_or(rest.len())];
    match (head.find('?'), head.rfind('@')) {
        (Some(q), Some(at)) if q < at => Err(Error::invalid_argument(
            "connection string: the user name or password contains an unescaped '?' (or an \
             option value contains '@' with no '/' before the '?'); percent-encode '?' as %3F, \
             '=' as %3D, '&' as %26 and '@' as %40",
        )),
        _ => Ok(()),
    }
}

/// The rules across options, then the typed options.
fn build(parts: Parts, srv_origin: Option<SrvOrigin>) -> Result<ClientOptions> {
    let Parts {
        srv,
        hosts,
        userinfo,
        database,
        opts,
    } = parts;
    check_topology(&opts, srv, hosts.len())?;
    check_pool(&opts)?;

    let read_preference = read_preference(&opts)?;
    let write_concern = write_concern(&opts)?;
    let compressors = opts.compressors.map(|list| {
        list.into_iter()
            .map(|c| match c {
                Compressor::Zlib { .. } => Compressor::Zlib {
                    level: opts.zlib_compression_level,
                },
                other => other,
            })
            .collect::<Vec<_>>()
    });
    let tls = opts.tls.build(srv)?;
    let credential = build_credential(AuthInput {
        userinfo,
        mechanism: opts.auth_mechanism,
        source: opts.auth_source,
        properties: opts.auth_properties,
        database: database.as_deref(),
        quote_source: !opts.hidden.contains("authsource"),
        quote_properties: !opts.hidden.contains("authmechanismproperties"),
    })?;

    Ok(ClientOptions {
        hosts,
        credential,
        tls,
        app_name: opts.app_name,
        connect_timeout: opts.connect_timeout,
        socket_timeout: opts.socket_timeout,
        server_selection_timeout: opts.server_selection_timeout,
        heartbeat_freq: opts.heartbeat_freq,
        max_pool_size: opts.max_pool_size,
        min_pool_size: opts.min_pool_size,
        max_idle_time: opts.max_idle_time,
        max_connecting: opts.max_connecting,
        wait_queue_timeout: opts.wait_queue_timeout,
        direct_connection: opts.direct_connection,
        repl_set_name: opts.repl_set_name,
        default_database: database,
        srv,
        srv_service_name: opts.srv_service_name,
        srv_max_hosts: opts.srv_max_hosts,
        retry_reads: opts.retry_reads,
        retry_writes: opts.retry_writes,
        max_adaptive_retries: opts.max_adaptive_retries,
        server_monitoring_mode: opts.server_monitoring_mode,
        read_preference,
        local_threshold: opts.local_threshold,
        load_balanced: opts.load_balanced,
        timeout: opts.timeout,
        write_concern,
        read_concern: opts.read_concern_level.map(|level| ReadConcern { level }),
        compressors: compressors.filter(|c| !c.is_empty()),
        srv_origin,
        // Fields added later keep their defaults until parsed.
        ..ClientOptions::default()
    })
}

/// `mongodb://` or `mongodb+srv://` (schemes are case-insensitive, RFC 3986 3.1).
fn strip_scheme(uri: &str) -> Result<(bool, &str)> {
    for (scheme, srv) in [("mongodb://", false), ("mongodb+srv://", true)] {
        if let Some(prefix) = uri.get(..scheme.len()) {
            if prefix.eq_ignore_ascii_case(scheme) {
                return Ok((srv, &uri[scheme.len()..]));
            }
        }
    }
    // Do not quote the string: it may hold a password.
    Err(Error::invalid_argument(
        "the connection string must start with mongodb:// or mongodb+srv://",
    ))
}

/// The database from the path, percent-decoded, without the characters the spec forbids.
fn parse_database(path: &str) -> Result<Option<String>> {
    if path.is_empty() {
        return Ok(None);
    }
    // A path with '=' or '&' may be options whose '?' was forgotten: never quoted.
    let shown = |name: &str| {
        if may_hold_option(name) {
            "(not shown: it contains '=' or '&'; options go after '?')".to_owned()
        } else {
            format!("{name:?}")
        }
    };
    let db = decode(path).map_err(|e| {
        Error::invalid_argument(format!(
            "connection string: database name {}: {}",
            shown(path),
            e.describe()
        ))
    })?;
    if let Some(bad) = db
        .chars()
        .find(|c| matches!(c, '/' | '\\' | ' ' | '"' | '$'))
    {
        let hint = if bad == '/' {
            "; if this is a Unix socket path, percent-encode it (%2F for '/')"
        } else {
            ""
        };
        return Err(Error::invalid_argument(format!(
            "connection string: database name {} contains {bad:?}, which a database name \
             cannot contain{hint}",
            shown(&db)
        )));
    }
    Ok(Some(db))
}

/// True for text that can only be options (`key=value&...`), which may hold a password.
fn may_hold_option(s: &str) -> bool {
    s.contains(['=', '&'])
}

/// Initial DNS Seedlist Discovery: exactly one host name, without a port.
fn check_srv_host(hosts: &[ServerAddress]) -> Result<()> {
    let [host] = hosts else {
        return Err(Error::invalid_argument(
            "mongodb+srv:// takes exactly one host name (the SRV name); list several hosts \
             with mongodb:// instead",
        ));
    };
    match host {
        ServerAddress::Tcp { port: Some(_), .. } => Err(Error::invalid_argument(
            "mongodb+srv://: the host name cannot have a port (ports come from DNS SRV \
             records); remove it or use mongodb://",
        )),
        ServerAddress::Tcp { host, .. }
            if host.contains(':') || host.parse::<Ipv4Addr>().is_ok() =>
        {
            Err(Error::invalid_argument(format!(
                "mongodb+srv://: {host:?} is an IP address; an SRV lookup needs a DNS name"
            )))
        }
        ServerAddress::Unix { .. } => Err(Error::invalid_argument(
            "mongodb+srv:// cannot use a Unix socket; an SRV lookup needs a DNS name",
        )),
        _ => Ok(()),
    }
}

/// directConnection, loadBalanced and the SRV options against the hosts and each other.
fn check_topology(opts: &UriOptions, srv: bool, host_count: usize) -> Result<()> {
    let srv_max_hosts = opts.srv_max_hosts.is_some_and(|n| n > 0);
    let direct = opts.direct_connection == Some(true);
    let load_balanced = opts.load_balanced == Some(true);
    let repl_set = opts.repl_set_name.is_some();
    // Each combination the Connection String specification refuses, in the order checked.
    let refused = [
        (
            !srv && opts.srv_max_hosts.is_some(),
            "srvMaxHosts is only allowed with mongodb+srv://",
        ),
        (
            !srv && opts.srv_service_name.is_some(),
            "srvServiceName is only allowed with mongodb+srv://",
        ),
        (
            srv_max_hosts && repl_set,
            "srvMaxHosts and replicaSet cannot be used together; remove one",
        ),
        (
            srv_max_hosts && load_balanced,
            "srvMaxHosts and loadBalanced=true cannot be used together; remove one",
        ),
        (
            direct && srv,
            "directConnection=true is not allowed with mongodb+srv:// (the SRV name may \
             resolve to several hosts); use mongodb://host",
        ),
        (
            direct && host_count > 1,
            "directConnection=true needs exactly one host; remove the other hosts or the \
             option",
        ),
        (
            load_balanced && host_count > 1,
            "loadBalanced=true needs exactly one host (the load balancer)",
        ),
        (
            load_balanced && repl_set,
            "loadBalanced=true cannot be used with replicaSet; remove one",
        ),
        (
            load_balanced && direct,
            "loadBalanced=true cannot be used with directConnection=true; remove one",
        ),
    ];
    match refused.into_iter().find(|(refused, _)| *refused) {
        Some((_, message)) => Err(Error::invalid_argument(message)),
        None => Ok(()),
    }
}

fn check_pool(opts: &UriOptions) -> Result<()> {
    if let (Some(min), Some(max)) = (opts.min_pool_size, opts.max_pool_size) {
        // maxPoolSize=0 means no limit.
        if max != 0 && min > max {
            return Err(Error::invalid_argument(format!(
                "minPoolSize={min} is larger than maxPoolSize={max}"
            )));
        }
    }
    Ok(())
}

fn read_preference(opts: &UriOptions) -> Result<Option<ReadPreference>> {
    if opts.read_preference.is_none()
        && opts.read_preference_tags.is_none()
        && opts.max_staleness_seconds.is_none()
    {
        return Ok(None);
    }
    let mode = opts.read_preference.unwrap_or_default();
    let tag_sets = opts.read_preference_tags.clone().unwrap_or_default();
    // -1 means "no maximum".
    let max_staleness = opts
        .max_staleness_seconds
        .filter(|s| *s >= 0)
        .map(|s| Duration::from_secs(s.unsigned_abs()));
    if mode == ReadPreferenceMode::Primary {
        if tag_sets.iter().any(|t| !t.is_empty()) {
            return Err(Error::invalid_argument(
                "readPreferenceTags cannot be used with readPreference=primary (the default); \
                 set another readPreference",
            ));
        }
        if max_staleness.is_some() {
            return Err(Error::invalid_argument(
                "maxStalenessSeconds cannot be used with readPreference=primary (the default); \
                 set another readPreference",
            ));
        }
    }
    Ok(Some(ReadPreference {
        mode,
        tag_sets,
        max_staleness,
    }))
}

fn write_concern(opts: &UriOptions) -> Result<Option<WriteConcern>> {
    if opts.w.is_none() && opts.w_timeout.is_none() && opts.journal.is_none() {
        return Ok(None);
    }
    if opts.w == Some(Acknowledgment::Nodes(0)) && opts.journal == Some(true) {
        return Err(Error::invalid_argument(
            "w=0 and journal=true cannot be used together: an unacknowledged write cannot \
             wait for the journal",
        ));
    }
    Ok(Some(WriteConcern {
        w: opts.w.clone(),
        w_timeout: opts.w_timeout,
        journal: opts.journal,
    }))
}
