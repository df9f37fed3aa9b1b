//! The connection options (`?key=value&...`): one value per option, checked against the URI
//! Options spec's accepted values. Rules that involve several options live in `parse.rs`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::decode::{decode, decode_bytes};
use super::tls::TlsInput;
use crate::error::{Error, Result};
use crate::options::{
    Acknowledgment, AuthMechanism, Compressor, ReadPreferenceMode, ServerMonitoringMode, TagSet,
    TlsBackendKind,
};

/// The options this crate knows, lower-cased key first, then the spelling used in messages.
const KNOWN: &[(&str, &str)] = &[
    ("appname", "appName"),
    ("authmechanism", "authMechanism"),
    ("authmechanismproperties", "authMechanismProperties"),
    ("authsource", "authSource"),
    ("compressors", "compressors"),
    ("connecttimeoutms", "connectTimeoutMS"),
    ("directconnection", "directConnection"),
    ("heartbeatfrequencyms", "heartbeatFrequencyMS"),
    ("journal", "journal"),
    ("loadbalanced", "loadBalanced"),
    ("localthresholdms", "localThresholdMS"),
    ("maxadaptiveretries", "maxAdaptiveRetries"),
    ("maxconnecting", "maxConnecting"),
    ("maxidletimems", "maxIdleTimeMS"),
    ("maxpoolsize", "maxPoolSize"),
    ("maxstalenessseconds", "maxStalenessSeconds"),
    ("minpoolsize", "minPoolSize"),
    ("readconcernlevel", "readConcernLevel"),
    ("readpreference", "readPreference"),
    ("readpreferencetags", "readPreferenceTags"),
    ("replicaset", "replicaSet"),
    ("retryreads", "retryReads"),
    ("retrywrites", "retryWrites"),
    ("servermonitoringmode", "serverMonitoringMode"),
    ("serverselectiontimeoutms", "serverSelectionTimeoutMS"),
    ("sockettimeoutms", "socketTimeoutMS"),
    ("srvmaxhosts", "srvMaxHosts"),
    ("srvservicename", "srvServiceName"),
    ("ssl", "ssl"),
    ("timeoutms", "timeoutMS"),
    ("tls", "tls"),
    ("tlsallowinvalidcertificates", "tlsAllowInvalidCertificates"),
    ("tlsallowinvalidhostnames", "tlsAllowInvalidHostnames"),
    ("tlsbackend", "tlsBackend"),
    ("tlscafile", "tlsCAFile"),
    ("tlscertificatekeyfile", "tlsCertificateKeyFile"),
    (
        "tlscertificatekeyfilepassword",
        "tlsCertificateKeyFilePassword",
    ),
    (
        "tlscertificatekeyfilewatchintervalms",
        "tlsCertificateKeyFileWatchIntervalMS",
    ),
    ("tlscrlfile", "tlsCRLFile"),
    (
        "tlsdisablecertificaterevocationcheck",
        "tlsDisableCertificateRevocationCheck",
    ),
    ("tlsdisableocspendpointcheck", "tlsDisableOCSPEndpointCheck"),
    ("tlsinsecure", "tlsInsecure"),
    ("w", "w"),
    ("waitqueuetimeoutms", "waitQueueTimeoutMS"),
    ("wtimeoutms", "wTimeoutMS"),
    ("zlibcompressionlevel", "zlibCompressionLevel"),
];

/// Options whose value is a secret: never quoted in a message or a log.
const SECRET: &str = "tlscertificatekeyfilepassword";
const SECRET_NAME: &str = "tlsCertificateKeyFilePassword";

/// Options that may be repeated on purpose (a list, or `tls`/`ssl` which must agree).
const REPEATABLE: &[&str] = &["readpreferencetags", "tls", "ssl"];

/// Options for which an empty value means something (an empty tag set, an empty password)
/// or is an error (authSource, per the Auth spec tests); for the others the Connection String
/// spec says an empty value is ignored.
const EMPTY_MEANINGFUL: &[&str] = &["readpreferencetags", SECRET, "authsource"];

/// Every option value found, typed and checked one by one.
#[derive(Default)]
pub(super) struct UriOptions {
    pub(super) tls: TlsInput,
    pub(super) auth_mechanism: Option<AuthMechanism>,
    pub(super) auth_source: Option<String>,
    pub(super) auth_properties: Option<Vec<(String, String)>>,
    pub(super) app_name: Option<String>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) socket_timeout: Option<Duration>,
    pub(super) server_selection_timeout: Option<Duration>,
    pub(super) heartbeat_freq: Option<Duration>,
    pub(super) max_idle_time: Option<Duration>,
    pub(super) wait_queue_timeout: Option<Duration>,
    pub(super) local_threshold: Option<Duration>,
    pub(super) timeout: Option<Duration>,
    pub(super) w_timeout: Option<Duration>,
    pub(super) max_pool_size: Option<u32>,
    pub(super) min_pool_size: Option<u32>,
    pub(super) max_connecting: Option<u32>,
    pub(super) max_adaptive_retries: Option<u32>,
    pub(super) srv_max_hosts: Option<u32>,
    pub(super) direct_connection: Option<bool>,
    pub(super) retry_reads: Option<bool>,
    pub(super) retry_writes: Option<bool>,
    pub(super) load_balanced: Option<bool>,
    pub(super) journal: Option<bool>,
    pub(super) repl_set_name: Option<String>,
    pub(super) srv_service_name: Option<String>,
    pub(super) read_concern_level: Option<String>,
    pub(super) read_preference: Option<ReadPreferenceMode>,
    pub(super) server_monitoring_mode: Option<ServerMonitoringMode>,
    pub(super) read_preference_tags: Option<Vec<TagSet>>,
    /// `maxStalenessSeconds` as given: -1 (no maximum) or at least 90.
    pub(super) max_staleness_seconds: Option<i64>,
    pub(super) w: Option<Acknowledgment>,
    pub(super) compressors: Option<Vec<Compressor>>,
    pub(super) zlib_compression_level: Option<i32>,
    /// Options whose value must never be quoted by a later rule: given after
    /// `tlsCertificateKeyFilePassword`, or holding an unescaped '='.
    pub(super) hidden: HashSet<&'static str>,
}

impl UriOptions {
    /// Parses the query part (after `?`): `key=value` pairs joined by `&`.
    /// `quote_unknown` is false when an unknown key might be a piece of a password.
    pub(super) fn parse(query: &str, quote_unknown: bool) -> Result<Self> {
        let mut options = UriOptions::default();
        let mut seen = HashSet::new();
        // After a secret option, what looks like the next option may be the rest of the secret
        // (an unescaped '&' in it): from there on no name or value read is quoted.
        let mut after_secret = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let quote = quote_unknown && !after_secret;
            let Some((raw_key, raw_value)) = pair.split_once('=') else {
                return Err(Error::invalid_argument(if quote {
                    format!(
                        "connection string: option {pair:?} has no value; write it as key=value"
                    )
                } else {
                    format!(
                        "connection string: an option has no value (not shown: it follows \
                         {SECRET_NAME}); write options as key=value and percent-encode '&' and \
                         '=' in the password (%26, %3D)"
                    )
                }));
            };
            let key = decode(raw_key)
                .map_err(|e| {
                    Error::invalid_argument(if quote {
                        format!(
                            "connection string: option name {raw_key:?}: {}",
                            e.describe()
                        )
                    } else {
                        format!("connection string: an option name: {}", e.describe())
                    })
                })?
                .to_ascii_lowercase();
            let Some(&(key, name)) = KNOWN.iter().find(|(k, _)| *k == key) else {
                if quote {
                    tracing::warn!(option = %raw_key, "unsupported connection string option ignored");
                } else {
                    tracing::warn!(
                        "unsupported connection string option ignored (not shown: it may be part \
                         of a password; percent-encode '&' and '=' in passwords as %26 and %3D)"
                    );
                }
                continue;
            };
            if raw_value.is_empty() && !EMPTY_MEANINGFUL.contains(&key) {
                tracing::warn!(
                    option = name,
                    "connection string option with an empty value ignored"
                );
                continue;
            }
            if !seen.insert(key) && !REPEATABLE.contains(&key) {
                tracing::warn!(
                    option = name,
                    "connection string option given more than once; the last value is used"
                );
            }
            if after_secret || raw_value.contains('=') {
                options.hidden.insert(key);
            } else {
                options.hidden.remove(key);
            }
            options.apply(key, name, raw_value, !after_secret)?;
            after_secret |= key == SECRET;
        }
        Ok(options)
    }

    /// `quote`: whether the value may be shown in an error message.
    fn apply(&mut self, key: &str, name: &'static str, raw: &str, quote: bool) -> Result<()> {
        // A value with an unescaped '=' may hold another option (an '&' lost), maybe the
        // password: not quoted either.
        let quote = quote && !raw.contains('=');
        let v = Value { name, raw, quote };
        match key {
            "appname" => {
                let s = v.string()?;
                // Handshake spec: the application name is at most 128 bytes.
                if s.len() > 128 {
                    return Err(v.invalid("it is longer than 128 bytes"));
                }
                self.app_name = Some(s);
            }
            "authmechanism" => {
                let s = v.string()?;
                self.auth_mechanism = Some(AuthMechanism::from_str(&s).map_err(|e| v.hide(e))?);
            }
            "authmechanismproperties" => self.auth_properties = Some(v.pairs()?),
            "authsource" => {
                let s = v.string()?;
                if s.is_empty() {
                    return Err(Error::invalid_argument(
                        "authSource is empty; name the database that holds the user, or remove \
                         the option",
                    ));
                }
                self.auth_source = Some(s);
            }
            "compressors" => self.compressors = Some(v.compressors()?),
            "connecttimeoutms" => self.connect_timeout = Some(v.millis(0, i32::MAX.into())?),
            "directconnection" => self.direct_connection = Some(v.boolean()?),
            "heartbeatfrequencyms" => self.heartbeat_freq = Some(v.millis(500, i32::MAX.into())?),
            "journal" => self.journal = Some(v.boolean()?),
            "loadbalanced" => self.load_balanced = Some(v.boolean()?),
            "localthresholdms" => self.local_threshold = Some(v.millis(0, i32::MAX.into())?),
            "maxconnecting" => self.max_connecting = Some(v.count(1)?),
            "maxidletimems" => self.max_idle_time = Some(v.millis(0, i32::MAX.into())?),
            "maxpoolsize" => self.max_pool_size = Some(v.count(0)?),
            "maxstalenessseconds" => {
                let n = v.int()?;
                if n != -1 && !(90..=i64::from(i32::MAX)).contains(&n) {
                    return Err(v.invalid(
                        "expected -1 (no maximum) or a number of seconds of at least 90",
                    ));
                }
                self.max_staleness_seconds = Some(n);
            }
            "maxadaptiveretries" => self.max_adaptive_retries = Some(v.count(0)?),
            "minpoolsize" => self.min_pool_size = Some(v.count(0)?),
            "readconcernlevel" => self.read_concern_level = Some(v.string()?),
            "readpreference" => self.read_preference = Some(v.read_preference()?),
            "readpreferencetags" => {
                let tags: TagSet = v.pairs()?.into_iter().collect();
                self.read_preference_tags
                    .get_or_insert_with(Vec::new)
                    .push(tags);
            }
            "replicaset" => self.repl_set_name = Some(v.string()?),
            "retryreads" => self.retry_reads = Some(v.boolean()?),
            "retrywrites" => self.retry_writes = Some(v.boolean()?),
            "servermonitoringmode" => {
                self.server_monitoring_mode = Some(v.server_monitoring_mode()?)
            }
            "serverselectiontimeoutms" => {
                self.server_selection_timeout = Some(v.millis(1, i32::MAX.into())?)
            }
            "sockettimeoutms" => self.socket_timeout = Some(v.millis(0, i32::MAX.into())?),
            "srvmaxhosts" => self.srv_max_hosts = Some(v.count(0)?),
            "srvservicename" => {
                let s = v.string()?;
                if !is_srv_service_name(&s) {
                    return Err(v.invalid(
                        "expected an SRV service name (RFC 6335: 1 to 15 letters, digits and \
                         single inner hyphens, with at least one letter)",
                    ));
                }
                self.srv_service_name = Some(s);
            }
            "ssl" => self.tls.enabled.push(("ssl", v.boolean()?)),
            "tls" => self.tls.enabled.push(("tls", v.boolean()?)),
            "timeoutms" => self.timeout = Some(v.millis(0, i32::MAX.into())?),
            "tlsallowinvalidcertificates" => {
                self.tls.allow_invalid_certificates = Some(v.boolean()?)
            }
            "tlsallowinvalidhostnames" => self.tls.allow_invalid_hostnames = Some(v.boolean()?),
            "tlsbackend" => {
                let s = v.string()?;
                self.tls.backend = Some(TlsBackendKind::from_str(&s).map_err(|e| v.hide(e))?)
            }
            "tlscafile" => self.tls.ca_file = Some(PathBuf::from(v.string()?)),
            "tlscertificatekeyfile" => self.tls.cert_key_file = Some(PathBuf::from(v.string()?)),
            "tlscertificatekeyfilepassword" => {
                // Bytes, not a string: a key password need not be UTF-8.
                let bytes = decode_bytes(raw).map_err(|e| {
                    Error::invalid_argument(format!(
                        "tlsCertificateKeyFilePassword cannot be decoded: {} (the value is not \
                         shown because it is a secret)",
                        e.describe()
                    ))
                })?;
                self.tls.cert_key_password = Some(bytes);
            }
            "tlscertificatekeyfilewatchintervalms" => {
                self.tls.watch_interval = Some(v.millis(0, i32::MAX.into())?)
            }
            "tlscrlfile" => self.tls.crl_file = Some(PathBuf::from(v.string()?)),
            "tlsdisablecertificaterevocationcheck" => {
                self.tls.disable_certificate_revocation_check = Some(v.boolean()?)
            }
            "tlsdisableocspendpointcheck" => {
                self.tls.disable_ocsp_endpoint_check = Some(v.boolean()?)
            }
            "tlsinsecure" => self.tls.insecure = Some(v.boolean()?),
            "w" => self.w = Some(v.w()?),
            "waitqueuetimeoutms" => self.wait_queue_timeout = Some(v.millis(1, i32::MAX.into())?),
            "wtimeoutms" => self.w_timeout = Some(v.millis(0, i64::MAX)?),
            "zlibcompressionlevel" => {
                let n = v.int()?;
                if !(-1..=9).contains(&n) {
                    return Err(v.invalid("expected an integer from -1 (zlib's default) to 9"));
                }
                self.zlib_compression_level = i32::try_from(n).ok();
            }
            _ => {
                return Err(Error::internal(format!(
                    "connection string option {name} is known but not handled"
                )))
            }
        }
        Ok(())
    }
}

/// One option's raw (still percent-encoded) value, with its name for messages.
struct Value<'a> {
    name: &'static str,
    raw: &'a str,
    /// False after a secret option: the value may be a piece of it.
    quote: bool,
}

impl Value<'_> {
    fn invalid(&self, why: &str) -> Error {
        if !self.quote {
            return Error::invalid_argument(format!(
                "{}: the value is invalid: {why} (not shown: it follows {SECRET_NAME} or holds \
                 '=', and may be part of a password; percent-encode '&' and '=' as %26 and %3D)",
                self.name
            ));
        }
        let shown = decode(self.raw).unwrap_or_else(|_| self.raw.to_owned());
        Error::invalid_argument(format!("{}={shown:?} is invalid: {why}", self.name))
    }

    /// `e` (which may quote the value) when the value may be shown, else a message without it.
    fn hide(&self, e: Error) -> Error {
        if self.quote {
            e
        } else {
            self.invalid("not an accepted value")
        }
    }

    fn string(&self) -> Result<String> {
        decode(self.raw).map_err(|e| {
            if !self.quote {
                return Error::invalid_argument(format!(
                    "{}: the value cannot be decoded: {} (not shown: it follows {SECRET_NAME} or \
                     holds '=')",
                    self.name,
                    e.describe()
                ));
            }
            Error::invalid_argument(format!(
                "{}={:?} cannot be decoded: {}",
                self.name,
                self.raw,
                e.describe()
            ))
        })
    }

    fn boolean(&self) -> Result<bool> {
        match self.string()?.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.invalid("expected \"true\" or \"false\"")),
        }
    }

    fn int(&self) -> Result<i64> {
        let s = self.string()?;
        let digits = s.strip_prefix('-').unwrap_or(&s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid("expected an integer"));
        }
        s.parse()
            .map_err(|_| self.invalid("the number is too large"))
    }

    /// A count (pool sizes, hosts) of at least `min`, 32-bit.
    fn count(&self, min: u32) -> Result<u32> {
        let n = self.int()?;
        match u32::try_from(n) {
            Ok(n) if n >= min && n <= i32::MAX as u32 => Ok(n),
            _ if min == 0 => Err(self.invalid("expected a non-negative integer")),
            _ => Err(self.invalid(&format!("expected an integer of at least {min}"))),
        }
    }

    /// A duration in milliseconds between `min` and `max`.
    fn millis(&self, min: i64, max: i64) -> Result<Duration> {
        let n = self.int()?;
        if n < min || n > max {
            return Err(self.invalid(&match min {
                0 => "expected a non-negative number of milliseconds".to_owned(),
                _ => format!("expected a number of milliseconds of at least {min}"),
            }));
        }
        Ok(Duration::from_millis(n.unsigned_abs()))
    }

    fn server_monitoring_mode(&self) -> Result<ServerMonitoringMode> {
        let s = self.string()?;
        [
            ServerMonitoringMode::Stream,
            ServerMonitoringMode::Poll,
            ServerMonitoringMode::Auto,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(&s))
        .ok_or_else(|| self.invalid("expected stream, poll or auto"))
    }

    fn read_preference(&self) -> Result<ReadPreferenceMode> {
        let modes = [
            ReadPreferenceMode::Primary,
            ReadPreferenceMode::PrimaryPreferred,
            ReadPreferenceMode::Secondary,
            ReadPreferenceMode::SecondaryPreferred,
            ReadPreferenceMode::Nearest,
        ];
        let s = self.string()?;
        modes
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                self.invalid(
                    "expected primary, primaryPreferred, secondary, secondaryPreferred or nearest",
                )
            })
    }

    fn w(&self) -> Result<Acknowledgment> {
        let s = self.string()?;
        if s == "majority" {
            return Ok(Acknowledgment::Majority);
        }
        let digits = s.strip_prefix('-').unwrap_or(&s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<u32>() {
                Ok(n) if n <= i32::MAX as u32 => Ok(Acknowledgment::Nodes(n)),
                _ => Err(self.invalid(
                    "expected a non-negative number of nodes, \"majority\" or a tag set name",
                )),
            };
        }
        Ok(Acknowledgment::Custom(s))
    }

    fn compressors(&self) -> Result<Vec<Compressor>> {
        let mut list = Vec::new();
        for name in self
            .string()?
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let compressor = match name.to_ascii_lowercase().as_str() {
                "snappy" => Compressor::Snappy,
                "zlib" => Compressor::Zlib { level: None },
                "zstd" => Compressor::Zstd,
                _ => {
                    if self.quote {
                        tracing::warn!(
                            compressor = name,
                            "unknown compressor in the compressors option ignored; known: snappy, zlib, zstd"
                        );
                    } else {
                        tracing::warn!(
                            "unknown compressor in the compressors option ignored; known: snappy, zlib, zstd"
                        );
                    }
                    continue;
                }
            };
            if !list.contains(&compressor) {
                list.push(compressor);
            }
        }
        Ok(list)
    }

    /// `KEY:VALUE,KEY:VALUE`; split before decoding so that `%2C` and `%3A` may appear in values.
    fn pairs(&self) -> Result<Vec<(String, String)>> {
        let mut pairs = Vec::new();
        for item in self.raw.split(',').filter(|i| !i.is_empty()) {
            let Some((raw_key, raw_value)) = item.split_once(':') else {
                // authMechanismProperties may hold a session token: do not quote it.
                let shown = match self.name {
                    "authMechanismProperties" => "an entry".to_owned(),
                    _ if !self.quote => "an entry".to_owned(),
                    _ => format!("{:?}", decode(item).unwrap_or_else(|_| item.to_owned())),
                };
                return Err(Error::invalid_argument(format!(
                    "{}: {shown} is not a KEY:VALUE pair; separate pairs with ',' and \
                     percent-encode ',' and ':' inside keys and values",
                    self.name,
                )));
            };
            let key = decode(raw_key).map_err(|e| {
                if self.quote {
                    Error::invalid_argument(format!(
                        "{}: key {raw_key:?}: {}",
                        self.name,
                        e.describe()
                    ))
                } else {
                    Error::invalid_argument(format!("{}: a key: {}", self.name, e.describe()))
                }
            })?;
            // Values are not quoted: authMechanismProperties may hold a session token.
            let value = decode(raw_value).map_err(|e| {
                let of = if self.quote { key.as_str() } else { "an entry" };
                Error::invalid_argument(format!(
                    "{}: the value of {of} cannot be decoded: {}",
                    self.name,
                    e.describe()
                ))
            })?;
            if key.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "{}: a KEY:VALUE pair has an empty key",
                    self.name
                )));
            }
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

/// RFC 6335 section 5.1 service names.
fn is_srv_service_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}
