//! `mongodb+srv://`: the SRV answer becomes the seed list, the TXT answer default options.

#[cfg(feature = "dns-srv")]
use std::time::Duration;

use super::options::UriOptions;
use super::Parts;
use crate::error::{Error, ErrorKind, Result};
use crate::options::SrvOrigin;

/// `srvServiceName` when none is given.
pub(super) const DEFAULT_SRV_SERVICE_NAME: &str = "mongodb";

/// `connectTimeoutMS` when none is given; it also bounds the DNS lookups.
#[cfg(feature = "dns-srv")]
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks up the SRV and TXT records of `origin`, then puts the hosts (at most `srvMaxHosts`, at
/// random) in `parts` and the TXT options the connection string does not set.
#[cfg(feature = "dns-srv")]
pub(super) async fn apply(parts: &mut Parts, origin: &SrvOrigin) -> Result<()> {
    let timeout = match parts.opts.connect_timeout {
        None => Some(DEFAULT_CONNECT_TIMEOUT),
        // connectTimeoutMS=0: no timeout (the resolver's own still apply).
        Some(t) if t.is_zero() => None,
        Some(t) => Some(t),
    };
    let resolved = crate::srv::resolve(
        &origin.name,
        &origin.service_name,
        &origin.resolver,
        timeout,
    )
    .await?;
    if let Some(txt) = resolved.txt {
        merge_txt(&mut parts.opts, &origin.name, &txt)?;
    }
    let max = parts.opts.srv_max_hosts.unwrap_or(0);
    parts.hosts = crate::srv::select_hosts(resolved.hosts, max, &mut rand::rng());
    Ok(())
}

/// Without the `dns-srv` feature there is no resolver: say which feature to enable.
#[cfg(not(feature = "dns-srv"))]
pub(super) async fn apply(_parts: &mut Parts, origin: &SrvOrigin) -> Result<()> {
    Err(Error::new(ErrorKind::NotSupported {
        message: format!(
            "mongodb+srv://{}: SRV connection strings need the cargo feature \"dns-srv\" of \
             mongo-x509 (on by default; it was disabled); enable it, or list the hosts in a \
             mongodb:// connection string",
            origin.name
        ),
    }))
}

/// TXT options are defaults: the connection string's own values win.
#[cfg_attr(not(feature = "dns-srv"), allow(dead_code))]
fn merge_txt(opts: &mut UriOptions, name: &str, txt: &str) -> Result<()> {
    let from_txt = UriOptions::parse(txt, true).map_err(|e| {
        let reason = match &*e.kind {
            ErrorKind::InvalidArgument { message } => message.clone(),
            other => other.to_string(),
        };
        Error::dns_resolve(format!(
            "mongodb+srv://{name}: the TXT record's options are invalid: {reason}; fix the TXT \
             record"
        ))
    })?;
    if opts.auth_source.is_none() {
        opts.auth_source = from_txt.auth_source;
    }
    if opts.repl_set_name.is_none() {
        opts.repl_set_name = from_txt.repl_set_name;
    }
    if opts.load_balanced.is_none() {
        opts.load_balanced = from_txt.load_balanced;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_string_overrides_txt() {
        let mut opts = UriOptions::parse("authSource=mine", true).unwrap();
        merge_txt(
            &mut opts,
            "h",
            "authSource=theirs&replicaSet=rs0&loadBalanced=false",
        )
        .unwrap();
        assert_eq!(opts.auth_source.as_deref(), Some("mine"));
        assert_eq!(opts.repl_set_name.as_deref(), Some("rs0"));
        assert_eq!(opts.load_balanced, Some(false));
    }

    #[test]
    fn a_bad_txt_value_names_the_txt_record() {
        let mut opts = UriOptions::default();
        let e = merge_txt(&mut opts, "h.example.com", "loadBalanced=maybe").unwrap_err();
        let ErrorKind::DnsResolve { message } = &*e.kind else {
            panic!("{e:?}")
        };
        assert!(
            message.contains("TXT record") && message.contains("loadBalanced"),
            "{message}"
        );
    }
}
