//! The handshake as pure functions: what `hello` to send and how to read the reply. No I/O
//! here, so every decision is unit-tested. What authentication adds to `hello`, and decides
//! from its reply, is in [`crate::auth::hello`].

use std::time::Duration;

use bson::{doc, Bson, Document};

use crate::auth::HelloAuth;
use crate::conn::EstablishOptions;
use crate::error::{Error, Result};
use crate::options::ServerAddress;
use crate::sdam::ServerDescription;

/// The client metadata document may not exceed this many bytes (handshake spec).
pub(crate) const MAX_METADATA_SIZE: usize = 512;
/// `client.application.name` may not exceed this many bytes (handshake spec).
pub(crate) const MAX_APP_NAME_SIZE: usize = 128;
/// The driver name sent in the metadata.
pub(crate) const DRIVER_NAME: &str = "mongo-x509";
/// `client.platform`: the language and runtime (the compiler version is not known without a
/// build script).
pub(crate) const PLATFORM: &str = "Rust/tokio";
/// What a connection's `hello` handshake reply says: the server's description (parsed once, by
/// the same rules the monitors use) and what authentication needs of it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HelloReply {
    /// The server as the reply describes it: type, replica set, limits, wire versions.
    pub(crate) description: ServerDescription,
    /// The `speculativeAuthenticate` reply, when the server ran the speculative authentication.
    pub(crate) speculative_authenticate: Option<Document>,
    /// `saslSupportedMechs`, when mechanism negotiation asked for it (not validated, as the
    /// Auth spec says: entries that are not strings are skipped).
    pub(crate) sasl_supported_mechs: Option<Vec<String>>,
    /// The `compression` array: the compressors of the client's list the server accepts
    /// (empty when the field is absent).
    pub(crate) compression: Vec<String>,
}

impl HelloReply {
    /// What an empty reply means: unknown, with the documented default limits.
    pub(crate) fn unknown(address: ServerAddress) -> Self {
        Self {
            description: ServerDescription::unknown(address),
            speculative_authenticate: None,
            sasl_supported_mechs: None,
            compression: Vec::new(),
        }
    }

    /// What authentication needs of the reply (taken out of it: only authentication reads
    /// it).
    pub(crate) fn take_auth(&mut self) -> HelloAuth {
        HelloAuth {
            speculative: self.speculative_authenticate.take(),
            sasl_supported_mechs: self.sasl_supported_mechs.take(),
            arbiter: self.description.server_type == crate::sdam::ServerType::RsArbiter,
        }
    }

    /// The maximum message size, for the wire layer.
    pub(crate) fn max_message_size(&self) -> usize {
        self.description.size_limits().max_message_size
    }
}

/// The `hello` command that opens every connection (authentication adds its fields with
/// [`AuthPlan::add_to_hello`](crate::auth::AuthPlan::add_to_hello)).
pub(crate) fn build_hello(opts: &EstablishOptions) -> Document {
    let mut cmd = doc! {
        "hello": 1,
        "helloOk": true,
        "client": client_metadata(opts.app_name.as_deref()),
    };
    // Compression spec: the client's configured order; an empty array when none is
    // configured (the spec's SHOULD: the server then knows the client compresses nothing).
    let names: Vec<&str> = opts
        .compressors
        .iter()
        .map(crate::wire::compression::name)
        .collect();
    cmd.insert("compression", names);
    // Client Backpressure spec: this client retries what an overloaded server sheds.
    cmd.insert("backpressure", true);
    if opts.load_balanced {
        cmd.insert("loadBalanced", true);
    }
    // Stable API: declared from the first command on (always `hello`, never the legacy one).
    if let Some(api) = &opts.server_api {
        api.append_to(&mut cmd);
    }
    cmd
}

/// `os.type` as the handshake spec wants it (`uname -s` style).
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "linux" | "android" => "Linux",
        "macos" | "ios" => "Darwin",
        "windows" => "Windows",
        "freebsd" | "openbsd" | "netbsd" | "dragonfly" => "BSD",
        "" => "unknown",
        _ => "Unix",
    }
}

/// The `client` metadata document, at most [`MAX_METADATA_SIZE`] bytes.
pub(crate) fn client_metadata(app_name: Option<&str>) -> Document {
    build_metadata(
        app_name,
        std::env::consts::OS,
        std::env::consts::ARCH,
        PLATFORM,
        super::faas::current(),
    )
}

/// [`client_metadata`] with the variable parts as arguments, so the size limit is testable.
pub(crate) fn build_metadata(
    app_name: Option<&str>,
    os_name: &str,
    arch: &str,
    platform: &str,
    faas: Option<&str>,
) -> Document {
    let mut meta = Document::new();
    if let Some(name) = app_name {
        meta.insert(
            "application",
            doc! { "name": truncate_utf8(name, MAX_APP_NAME_SIZE) },
        );
    }
    meta.insert(
        "driver",
        doc! { "name": DRIVER_NAME, "version": env!("CARGO_PKG_VERSION") },
    );
    meta.insert(
        "os",
        doc! { "type": os_type(), "name": os_name, "architecture": arch },
    );
    meta.insert("platform", platform);
    // `env` holds the FaaS platform's name only (its optional fields are not sent).
    if let Some(name) = faas {
        meta.insert("env", doc! { "name": name });
    }
    // Spec order: omit os fields but type, then env, then truncate platform.
    if doc_size(&meta) > MAX_METADATA_SIZE {
        meta.insert("os", doc! { "type": os_type() });
    }
    if doc_size(&meta) > MAX_METADATA_SIZE {
        meta.remove("env");
    }
    let size = doc_size(&meta);
    if size > MAX_METADATA_SIZE {
        let excess = size - MAX_METADATA_SIZE;
        let keep = platform.len().saturating_sub(excess);
        meta.insert("platform", truncate_utf8(platform, keep));
    }
    if doc_size(&meta) > MAX_METADATA_SIZE {
        // Only possible with an absurd driver version; keep the document valid regardless.
        meta.remove("platform");
        meta.remove("application");
    }
    meta
}

fn doc_size(doc: &Document) -> usize {
    let mut buf = Vec::new();
    // Writing a Document of strings to a Vec cannot fail; count an error as "too big".
    match doc.to_writer(&mut buf) {
        Ok(()) => buf.len(),
        Err(_) => usize::MAX,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Reads a `hello` reply (already known to have `ok: 1`) from `address`.
pub(crate) fn parse_hello(address: &ServerAddress, reply: &Document) -> Result<HelloReply> {
    let speculative_authenticate = match reply.get("speculativeAuthenticate") {
        None | Some(Bson::Null) => None,
        Some(Bson::Document(d)) => Some(d.clone()),
        Some(other) => {
            return Err(Error::invalid_response(format!(
                "hello reply field speculativeAuthenticate should be a document, got {:?}",
                other.element_type()
            )))
        }
    };
    let sasl_supported_mechs = match reply.get("saslSupportedMechs") {
        Some(Bson::Array(names)) => Some(
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    };
    let compression = match reply.get("compression") {
        None | Some(Bson::Null) => Vec::new(),
        Some(Bson::Array(names)) => names
            .iter()
            .map(|n| {
                n.as_str().map(str::to_owned).ok_or_else(|| {
                    Error::invalid_response(format!(
                        "hello reply field compression should hold strings, got {:?}",
                        n.element_type()
                    ))
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::invalid_response(format!(
                "hello reply field compression should be an array, got {:?}",
                other.element_type()
            )))
        }
    };
    Ok(HelloReply {
        description: ServerDescription::from_hello(address.clone(), reply, None, Duration::ZERO)?,
        speculative_authenticate,
        sasl_supported_mechs,
        compression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn opts(app_name: Option<&str>) -> EstablishOptions {
        EstablishOptions {
            app_name: app_name.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn a_declared_stable_api_goes_in_the_hello() {
        use crate::options::{ServerApi, ServerApiVersion};
        let mut o = opts(None);
        o.server_api = Some(
            ServerApi::builder()
                .version(ServerApiVersion::V1)
                .strict(true)
                .build(),
        );
        let hello = build_hello(&o);
        assert_eq!(hello.keys().next().map(String::as_str), Some("hello"));
        assert_eq!(hello.get_str("apiVersion"), Ok("1"));
        assert_eq!(hello.get_bool("apiStrict"), Ok(true));
        assert!(!hello.contains_key("apiDeprecationErrors"));
        assert!(!build_hello(&opts(None)).contains_key("apiVersion"));
    }

    #[test]
    fn hello_without_credential() {
        let hello = build_hello(&opts(None));
        let keys: Vec<_> = hello.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["hello", "helloOk", "client", "compression", "backpressure"],
            "hello first, no auth"
        );
        assert_eq!(
            hello.get_array("compression").unwrap(),
            &Vec::<Bson>::new(),
            "no compressor configured: an empty list"
        );
        assert_eq!(hello.get_i32("hello").unwrap(), 1);
        assert!(hello.get_bool("helloOk").unwrap());
        assert_eq!(hello.get_bool("backpressure"), Ok(true));
        let client = hello.get_document("client").unwrap();
        assert!(!client.contains_key("application"));
        let driver = client.get_document("driver").unwrap();
        assert_eq!(driver.get_str("name").unwrap(), "mongo-x509");
        assert_eq!(
            driver.get_str("version").unwrap(),
            env!("CARGO_PKG_VERSION")
        );
        let os = client.get_document("os").unwrap();
        assert!(!os.get_str("type").unwrap().is_empty());
        assert_eq!(os.get_str("name").unwrap(), std::env::consts::OS);
        assert_eq!(os.get_str("architecture").unwrap(), std::env::consts::ARCH);
        assert_eq!(client.get_str("platform").unwrap(), "Rust/tokio");
    }

    #[test]
    fn hello_offers_the_compressors_in_the_client_order() {
        use crate::options::Compressor;
        let mut o = opts(None);
        o.compressors = vec![
            Compressor::Zstd,
            Compressor::Snappy,
            Compressor::Zlib { level: Some(9) },
        ];
        let hello = build_hello(&o);
        assert_eq!(
            hello.get_array("compression").unwrap(),
            &vec![Bson::from("zstd"), "snappy".into(), "zlib".into()]
        );
        let h = parse_hello(&addr(), &doc! {"ok": 1, "compression": ["zlib", "zstd"]}).unwrap();
        assert_eq!(h.compression, ["zlib", "zstd"]);
        assert!(parse_hello(&addr(), &doc! {"ok": 1})
            .unwrap()
            .compression
            .is_empty());
    }

    #[test]
    fn hello_with_app_name() {
        let hello = build_hello(&opts(Some("inventory")));
        let app = hello
            .get_document("client")
            .unwrap()
            .get_document("application")
            .unwrap();
        assert_eq!(app, &doc! {"name": "inventory"});
    }

    #[test]
    fn metadata_names_the_faas_platform_and_drops_it_before_the_platform_string() {
        let meta = build_metadata(None, "linux", "x86_64", "Rust/tokio", Some("aws.lambda"));
        assert_eq!(
            meta.get_document("env").unwrap(),
            &doc! { "name": "aws.lambda" }
        );
        assert!(build_metadata(None, "linux", "x86_64", "Rust/tokio", None)
            .get("env")
            .is_none());
        // Too big even with os reduced to its type: env goes before the platform is cut.
        let long = "p".repeat(400);
        let meta = build_metadata(None, "linux", "x86_64", &long, Some("aws.lambda"));
        assert!(doc_size(&meta) <= MAX_METADATA_SIZE);
        assert!(meta.get("env").is_none(), "{meta}");
        assert_eq!(meta.get_str("platform").unwrap(), long);
    }

    #[test]
    fn metadata_fits_in_512_bytes() {
        // Long app name: truncated to 128 bytes, on a character boundary.
        let long = "é".repeat(200);
        let meta = build_metadata(Some(&long), "linux", "x86_64", "Rust/tokio", None);
        let name = meta
            .get_document("application")
            .unwrap()
            .get_str("name")
            .unwrap();
        assert!(name.len() <= MAX_APP_NAME_SIZE && name.len() >= MAX_APP_NAME_SIZE - 1);
        assert!(doc_size(&meta) <= MAX_METADATA_SIZE);

        // Long os name: os reduced to its type first.
        let meta = build_metadata(Some(&long), &"n".repeat(400), "x86_64", "Rust/tokio", None);
        assert!(doc_size(&meta) <= MAX_METADATA_SIZE);
        let os = meta.get_document("os").unwrap();
        assert_eq!(os.keys().collect::<Vec<_>>(), ["type"]);
        assert_eq!(meta.get_str("platform").unwrap(), "Rust/tokio");

        // Long platform: truncated to fit, the driver kept intact.
        let meta = build_metadata(Some(&long), "linux", "x86_64", &"p".repeat(1000), None);
        assert!(doc_size(&meta) <= MAX_METADATA_SIZE);
        let platform = meta.get_str("platform").unwrap();
        assert!(
            platform.len() > 100 && platform.len() < 512,
            "{}",
            platform.len()
        );
        assert_eq!(
            meta.get_document("driver")
                .unwrap()
                .get_str("name")
                .unwrap(),
            "mongo-x509"
        );

        // The real thing is small and complete.
        let meta = client_metadata(Some("app"));
        assert!(doc_size(&meta) <= MAX_METADATA_SIZE);
        assert!(meta
            .get_document("os")
            .unwrap()
            .contains_key("architecture"));
    }

    #[test]
    fn truncate_utf8_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
        assert_eq!(truncate_utf8("abc", 0), "");
    }

    fn addr() -> ServerAddress {
        ServerAddress::Tcp {
            host: "a".into(),
            port: Some(1),
        }
    }

    #[test]
    fn parse_hello_gives_the_server_description() {
        use crate::sdam::ServerType;
        let h = parse_hello(
            &addr(),
            &doc! {
                "isWritablePrimary": true, "setName": "rs0", "hosts": ["a:1", "b:2"],
                "passives": ["c:3"], "arbiters": ["d:4"], "primary": "a:1", "me": "a:1",
                "maxWireVersion": 21, "minWireVersion": 0, "maxMessageSizeBytes": 40_000_000,
                "maxBsonObjectSize": 16_777_216, "maxWriteBatchSize": 1000i64,
                "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
            },
        )
        .unwrap();
        let d = &h.description;
        assert_eq!(d.server_type, ServerType::RsPrimary);
        assert_eq!(d.set_name.as_deref(), Some("rs0"));
        assert_eq!(d.hosts, ["a:1", "b:2"]);
        assert_eq!(d.max_wire_version, 21);
        assert_eq!(h.max_message_size(), 40_000_000);
        assert_eq!(d.max_write_batch_size, 1000);
        assert!(h.speculative_authenticate.is_none());

        let h = parse_hello(
            &addr(),
            &doc! {"ismaster": true, "msg": "isdbgrid", "ok": 1},
        )
        .unwrap();
        assert_eq!(h.description.server_type, ServerType::Mongos);
        // The documented defaults when the server does not say.
        assert_eq!(h.max_message_size(), 48_000_000);
        assert_eq!(h.description.max_bson_object_size, 16 * 1024 * 1024);
        assert_eq!(h.description.max_write_batch_size, 100_000);

        let h = parse_hello(
            &addr(),
            &doc! {"ok": 1, "speculativeAuthenticate": {"dbname": "$external", "user": "CN=c"}},
        )
        .unwrap();
        assert_eq!(
            h.speculative_authenticate.unwrap().get_str("user").unwrap(),
            "CN=c"
        );
    }

    #[test]
    fn parse_hello_wrong_types_are_invalid_responses() {
        for bad in [
            doc! {"ok": 1, "hosts": "a:1"},
            doc! {"ok": 1, "hosts": [1]},
            doc! {"ok": 1, "setName": 5},
            doc! {"ok": 1, "isWritablePrimary": "yes"},
            doc! {"ok": 1, "maxWireVersion": "21"},
            doc! {"ok": 1, "speculativeAuthenticate": 1},
            doc! {"ok": 1, "compression": "zlib"},
            doc! {"ok": 1, "compression": [1]},
        ] {
            let err = parse_hello(&addr(), &bad).unwrap_err();
            assert!(
                matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn auth_fields_are_read_and_handed_over() {
        use crate::sdam::ServerType;
        let mut h = parse_hello(
            &addr(),
            &doc! {
                "ok": 1, "saslSupportedMechs": ["SCRAM-SHA-256", 7, "GSSAPI"],
                "speculativeAuthenticate": {"conversationId": 1},
            },
        )
        .unwrap();
        let auth = h.take_auth();
        // Not validated: unknown names kept, non-strings skipped.
        assert_eq!(
            auth.sasl_supported_mechs.as_deref(),
            Some(&["SCRAM-SHA-256".to_owned(), "GSSAPI".to_owned()][..])
        );
        assert_eq!(auth.speculative, Some(doc! {"conversationId": 1}));
        assert!(!auth.arbiter);
        assert!(h.speculative_authenticate.is_none() && h.sasl_supported_mechs.is_none());
        // A malformed list is no list.
        let h = parse_hello(
            &addr(),
            &doc! {"ok": 1, "saslSupportedMechs": "SCRAM-SHA-1"},
        )
        .unwrap();
        assert_eq!(h.sasl_supported_mechs, None);
        let mut h = parse_hello(
            &addr(),
            &doc! {"ok": 1, "setName": "rs", "arbiterOnly": true, "hosts": ["a:1"]},
        )
        .unwrap();
        assert_eq!(h.description.server_type, ServerType::RsArbiter);
        assert!(h.take_auth().arbiter);
    }
}
