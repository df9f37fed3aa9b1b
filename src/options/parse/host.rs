//! Host identifiers: `host`, `host:port`, `[v6]:port`, and Unix socket paths ending in `.sock`
//! (percent-encoded inside a connection string).
//!
//! A host is a socket path only when it contains a `/` (Connection String spec):
//! `mongodb-27017.sock` is a host name, `/tmp/mongodb-27017.sock` a socket.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use super::decode::decode;
use crate::error::{Error, Result};
use crate::options::ServerAddress;

/// One host identifier as written in a connection string (between `@`/`://` and `/`, split on `,`).
pub(super) fn parse_uri_host(segment: &str) -> Result<ServerAddress> {
    if segment.is_empty() {
        return Err(Error::invalid_argument(
            "connection string: empty host; list hosts as host1:port1,host2:port2",
        ));
    }
    let decoded = decode(segment).map_err(|e| {
        Error::invalid_argument(format!(
            "connection string: host {segment:?}: {}",
            e.describe()
        ))
    })?;
    if is_socket_path(&decoded) {
        return Ok(ServerAddress::Unix {
            path: PathBuf::from(decoded),
        });
    }
    if decoded.contains('/') {
        return Err(Error::invalid_argument(format!(
            "connection string: host {decoded:?} contains '/' but does not end in \".sock\"; \
             Unix socket paths must end in .sock"
        )));
    }
    split_host_port(segment, true)
}

/// `ServerAddress::parse`: an address as a person writes it (not percent-encoded).
pub(super) fn parse_address(address: &str) -> Result<ServerAddress> {
    if is_socket_path(address) {
        return Ok(ServerAddress::Unix {
            path: PathBuf::from(address),
        });
    }
    if address.is_empty() {
        return Err(Error::invalid_argument("server address: empty host"));
    }
    split_host_port(address, false)
}

/// A `/` makes a socket path; the `.sock` ending alone does not (it may end a host name).
fn is_socket_path(host: &str) -> bool {
    host.contains('/') && host.ends_with(".sock")
}

fn split_host_port(s: &str, percent_encoded: bool) -> Result<ServerAddress> {
    let (host, port) = if let Some(bracketed) = s.strip_prefix('[') {
        let Some(close) = bracketed.find(']') else {
            return Err(Error::invalid_argument(format!(
                "host {s:?}: IPv6 literal without closing ']'; write it as [::1]:27017"
            )));
        };
        let inner = &bracketed[..close];
        let rest = &bracketed[close + 1..];
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err(Error::invalid_argument(format!(
                "host {s:?}: {inner:?} is not an IPv6 address"
            )));
        }
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(p) => Some(parse_port(s, p)?),
                None => {
                    return Err(Error::invalid_argument(format!(
                        "host {s:?}: unexpected {rest:?} after the IPv6 literal; expected :port"
                    )))
                }
            },
        };
        (inner.to_ascii_lowercase(), port)
    } else {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default();
        let port = parts.next();
        if parts.next().is_some() {
            return Err(Error::invalid_argument(format!(
                "host {s:?} contains more than one ':'; put IPv6 addresses in brackets \
                 (e.g. [::1]:27017)"
            )));
        }
        let name = if percent_encoded {
            decode(name)
                .map_err(|e| Error::invalid_argument(format!("host {s:?}: {}", e.describe())))?
        } else {
            name.to_owned()
        };
        if name.is_empty() {
            return Err(Error::invalid_argument(format!(
                "host {s:?}: the host name is empty"
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(Error::invalid_argument(format!(
                "host {s:?}: the host name contains {bad:?}, which is not allowed in a host name"
            )));
        }
        let port = port.map(|p| parse_port(s, p)).transpose()?;
        (name.to_lowercase(), port)
    };
    Ok(ServerAddress::Tcp { host, port })
}

fn parse_port(host: &str, port: &str) -> Result<u16> {
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(p) if digits && p != 0 => Ok(p),
        _ => Err(Error::invalid_argument(format!(
            "host {host:?}: invalid port {port:?}; a port is a number from 1 to 65535"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: Option<u16>) -> ServerAddress {
        ServerAddress::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn a_sock_ending_without_a_slash_is_a_host_name() {
        assert_eq!(
            parse_uri_host("mongodb-27017.sock").unwrap(),
            tcp("mongodb-27017.sock", None)
        );
        assert_eq!(
            parse_uri_host("mongodb-27017.sock:27018").unwrap(),
            tcp("mongodb-27017.sock", Some(27018))
        );
        assert_eq!(
            parse_address("mongodb-27017.sock").unwrap(),
            tcp("mongodb-27017.sock", None)
        );
    }

    #[test]
    fn a_slash_makes_a_socket_path() {
        let unix = ServerAddress::Unix {
            path: PathBuf::from("/tmp/mongodb-27017.sock"),
        };
        assert_eq!(parse_uri_host("%2Ftmp%2Fmongodb-27017.sock").unwrap(), unix);
        assert_eq!(parse_address("/tmp/mongodb-27017.sock").unwrap(), unix);
        let relative = ServerAddress::Unix {
            path: PathBuf::from("run/mongodb-27017.sock"),
        };
        assert_eq!(
            parse_uri_host("run%2Fmongodb-27017.sock").unwrap(),
            relative
        );
        assert!(parse_uri_host("%2Ftmp%2Fmongodb").is_err());
    }
}
