//! Connection string parsing, table-driven from the MongoDB specifications' test files:
//! connection-string (valid-auth, valid-host_identifiers, valid-unix_socket-*, invalid-uris,
//! valid-options, valid-warnings), uri-options (tls, auth, connection, connection-pool, concern,
//! read-preference, compression, srv) and auth (legacy/connection-string).
//!
//! Where the specs say "warning" for an invalid value, this crate returns an error
//! (see the "spec deviations" note in `src/options/parse/mod.rs`).

// The log capture only: this binary needs no test server or fake deployment.
#[path = "common/logs.rs"]
mod logs;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use mongo_x509::bson::{doc, Document};
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::options::{
    Acknowledgment, AuthMechanism, ClientOptions, Compressor, Credential, ReadPreferenceMode,
    ServerAddress, TagSet, Tls, TlsBackendKind, TlsOptions,
};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

fn parse(uri: &str) -> Result<ClientOptions, Error> {
    // Parsing never waits here: a mongodb:// URI needs no DNS, and every mongodb+srv:// URI in
    // this file is refused before any lookup. Valid mongodb+srv:// URIs are in tests/srv.rs,
    // against a test DNS server.
    ClientOptions::parse(uri)
        .now_or_never()
        .expect("ClientOptions::parse must not wait for DNS on these URIs")
}

fn ok(uri: &str) -> ClientOptions {
    parse(uri).unwrap_or_else(|e| panic!("{uri}: expected valid, got error: {e}"))
}

/// Parses an invalid URI; returns the message of the `InvalidArgument` error.
fn invalid(uri: &str) -> String {
    match parse(uri) {
        Ok(o) => panic!("{uri}: expected an error, parsed as {o:?}"),
        Err(e) => match &*e.kind {
            ErrorKind::InvalidArgument { message } => message.clone(),
            other => panic!("{uri}: expected InvalidArgument, got {other:?}"),
        },
    }
}

fn tcp(host: &str, port: Option<u16>) -> ServerAddress {
    ServerAddress::Tcp {
        host: host.into(),
        port,
    }
}

fn unix(path: &str) -> ServerAddress {
    ServerAddress::Unix {
        path: PathBuf::from(path),
    }
}

fn tls_options(o: &ClientOptions) -> &TlsOptions {
    match &o.tls {
        Some(Tls::Enabled(t)) => t,
        other => panic!("expected TLS enabled, got {other:?}"),
    }
}

fn credential(uri: &str) -> Credential {
    ok(uri)
        .credential
        .unwrap_or_else(|| panic!("{uri}: expected a credential"))
}

/// Runs `f` with a subscriber that records every log line; returns its result and the logs.
fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    logs::with_logs(tracing::Level::TRACE, f)
}

// ---------------------------------------------------------------------------------------------
// Hosts

#[test]
fn valid_host_identifiers() {
    let cases: Vec<(&str, Vec<ServerAddress>)> = vec![
        ("mongodb://localhost", vec![tcp("localhost", None)]),
        ("mongodb://localhost/", vec![tcp("localhost", None)]),
        (
            "mongodb://LocalHost:27018",
            vec![tcp("localhost", Some(27018))],
        ),
        ("mongodb://example.com:1", vec![tcp("example.com", Some(1))]),
        (
            "mongodb://example.com:65535/",
            vec![tcp("example.com", Some(65535))],
        ),
        ("mongodb://127.0.0.1", vec![tcp("127.0.0.1", None)]),
        (
            "mongodb://127.0.0.1:27018",
            vec![tcp("127.0.0.1", Some(27018))],
        ),
        ("mongodb://[::1]", vec![tcp("::1", None)]),
        ("mongodb://[::1]:27018", vec![tcp("::1", Some(27018))]),
        (
            "mongodb://[FE80::1]:27019/",
            vec![tcp("fe80::1", Some(27019))],
        ),
        (
            "mongodb://example.com,[::1]:27019,127.0.0.1:65535",
            vec![
                tcp("example.com", None),
                tcp("::1", Some(27019)),
                tcp("127.0.0.1", Some(65535)),
            ],
        ),
        (
            "mongodb://%2Ftmp%2Fmongodb-27017.sock",
            vec![unix("/tmp/mongodb-27017.sock")],
        ),
        (
            "mongodb://%2ftmp%2fmongodb-27017.sock/",
            vec![unix("/tmp/mongodb-27017.sock")],
        ),
        (
            "mongodb://rel%2Fmongodb-27017.sock",
            vec![unix("rel/mongodb-27017.sock")],
        ),
        (
            "mongodb://%2Ftmp%2Fmongodb-27017.sock,localhost:27018",
            vec![
                unix("/tmp/mongodb-27017.sock"),
                tcp("localhost", Some(27018)),
            ],
        ),
        (
            "mongodb://%2Ftmp%2Fmongodb-27017.sock,%2Ftmp%2Fmongodb-27018.sock",
            vec![
                unix("/tmp/mongodb-27017.sock"),
                unix("/tmp/mongodb-27018.sock"),
            ],
        ),
        (
            "mongodb://%2Ftmp%2Fpath%20with%20space.sock",
            vec![unix("/tmp/path with space.sock")],
        ),
        // The delimiting slash before options is optional since 2023-08.
        ("mongodb://example.com?w=1", vec![tcp("example.com", None)]),
    ];
    for (uri, hosts) in cases {
        assert_eq!(ok(uri).hosts, hosts, "{uri}");
    }
}

#[test]
fn default_port_applies_to_display() {
    let o = ok("mongodb://a,b:27018,[::1]");
    let shown: Vec<String> = o.hosts.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["a:27017", "b:27018", "[::1]:27017"]);
    assert_eq!(o.hosts[0].port(), Some(27017));
}

#[test]
fn server_address_parse() {
    assert_eq!(
        ServerAddress::parse("[::1]:27018").unwrap(),
        tcp("::1", Some(27018))
    );
    assert_eq!(
        ServerAddress::parse("DB.Example.com").unwrap(),
        tcp("db.example.com", None)
    );
    assert_eq!(ServerAddress::parse("db:1").unwrap(), tcp("db", Some(1)));
    assert_eq!(
        ServerAddress::parse("/tmp/mongodb-27017.sock").unwrap(),
        unix("/tmp/mongodb-27017.sock")
    );
    assert_eq!("h:2".parse::<ServerAddress>().unwrap(), tcp("h", Some(2)));
    for bad in [
        "", "h:0", "h:65536", "h:-1", "h:x", "h:", "::1", "[::1", "[::1]x", "[zz]", "a b",
    ] {
        let err = ServerAddress::parse(bad).expect_err(bad);
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid URIs (connection-string/invalid-uris, auth and SRV rules)

#[test]
fn invalid_uris() {
    let cases = [
        ("", "empty"),
        ("mongo://localhost:27017", "mongodb://"),
        ("mongodb//localhost", "mongodb://"),
        ("localhost:27017", "mongodb://"),
        ("mongodb://", "no host"),
        ("mongodb:///", "no host"),
        ("mongodb://?w=1", "no host"),
        ("mongodb://localhost::27017", "more than one ':'"),
        ("mongodb://localhost::27017/", "more than one ':'"),
        ("mongodb://::", "more than one ':'"),
        ("mongodb://localhost,localhost::", "more than one ':'"),
        ("mongodb://localhost::27017,abc", "more than one ':'"),
        ("mongodb://localhost,", "empty host"),
        ("mongodb://,localhost", "empty host"),
        ("mongodb://a,,b", "empty host"),
        ("mongodb://localhost:-1", "invalid port"),
        ("mongodb://localhost:0/", "invalid port"),
        ("mongodb://localhost:65536", "invalid port"),
        ("mongodb://localhost:65536/", "invalid port"),
        ("mongodb://localhost:foo", "invalid port"),
        ("mongodb://localhost:", "invalid port"),
        ("mongodb://localhost:+1", "invalid port"),
        ("mongodb://[::1]:-1", "invalid port"),
        ("mongodb://[::1]:0/", "invalid port"),
        ("mongodb://[::1]:65536", "invalid port"),
        ("mongodb://[::1]:65536/", "invalid port"),
        ("mongodb://[::1]:foo", "invalid port"),
        ("mongodb://[::1", "closing ']'"),
        ("mongodb://[::1]27017", "after the IPv6 literal"),
        ("mongodb://[not-v6]:27017", "not an IPv6 address"),
        ("mongodb://:27017", "host name is empty"),
        ("mongodb://exa%mple.com", "'%'"),
        ("mongodb://exa%3Cmple.com", "not allowed in a host name"),
        (
            "mongodb://%2Ftmp%2Fnot-a-socket",
            "does not end in \".sock\"",
        ),
        ("mongodb://example.com/?w", "has no value"),
        ("mongodb://alice:foo:bar@127.0.0.1", "unescaped ':'"),
        ("mongodb://alice@@127.0.0.1", "unescaped '@'"),
        ("mongodb://alice@foo:bar@127.0.0.1", "unescaped '@'"),
        ("mongodb://alice/@localhost/db", "unescaped '/'"),
        ("mongodb://alice/bob:foo@localhost/db", "unescaped '/'"),
        ("mongodb://alice:foo/bar@localhost/db", "unescaped '/'"),
        ("mongodb://alice%foo:bar@127.0.0.1", "'%'"),
        ("mongodb://user%20%:password@localhost", "'%'"),
        ("mongodb://user%w:password@localhost", "'%'"),
        ("mongodb://user:password%@localhost", "'%'"),
        ("mongodb://user:password%%25@localhost", "'%'"),
        ("mongodb://user:password%w@localhost", "'%'"),
        (
            "mongodb://user:pass word@localhost",
            "must be percent-encoded",
        ),
        (
            "mongodb://user:pass#word@localhost",
            "must be percent-encoded",
        ),
        (
            "mongodb://us[er:password@localhost",
            "must be percent-encoded",
        ),
        ("mongodb://user:wörd@localhost", "must be percent-encoded"),
        ("mongodb://user:%FF@localhost", "UTF-8"),
        ("mongodb:///tmp/mongodb-27017.sock/", "percent-encoded"),
        ("mongodb://localhost/a%2Fb", "contains '/'"),
        ("mongodb://localhost/a b", "contains ' '"),
        ("mongodb://localhost/a%20b", "contains ' '"),
        ("mongodb://localhost/a\\b", "contains '\\\\'"),
        ("mongodb://localhost/a\"b", "contains '\"'"),
        ("mongodb://localhost/$external", "contains '$'"),
        ("mongodb://localhost/db%", "'%'"),
        ("mongodb://localhost/?w%=1", "'%'"),
        ("mongodb://localhost/?appName=a%zz", "appName"),
        (
            "mongodb+srv://test5.test.mongodb.com,test6.test.mongodb.com",
            "exactly one host",
        ),
        (
            "mongodb+srv://test7.test.mongodb.com:27018",
            "cannot have a port",
        ),
        ("mongodb+srv://%2Ftmp%2Fmongodb-27017.sock", "Unix socket"),
        ("mongodb+srv://[::1]", "IP address"),
        ("mongodb+srv://127.0.0.1", "IP address"),
    ];
    for (uri, expected) in cases {
        let message = invalid(uri);
        assert!(
            message.contains(expected),
            "{uri}: message {message:?} lacks {expected:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Userinfo, auth database and credentials

struct AuthCase {
    uri: &'static str,
    username: Option<&'static str>,
    password: Option<&'static str>,
    source: &'static str,
    mechanism: Option<AuthMechanism>,
    properties: Option<Document>,
}

fn auth(
    uri: &'static str,
    username: Option<&'static str>,
    password: Option<&'static str>,
    source: &'static str,
    mechanism: Option<AuthMechanism>,
    properties: Option<Document>,
) -> AuthCase {
    AuthCase {
        uri,
        username,
        password,
        source,
        mechanism,
        properties,
    }
}

#[test]
fn valid_auth() {
    use AuthMechanism::*;
    let dn = "CN=myName,OU=myOrgUnit,O=myOrg,L=myLocality,ST=myState,C=myCountry";
    let dn_uri =
        "CN%3DmyName%2COU%3DmyOrgUnit%2CO%3DmyOrg%2CL%3DmyLocality%2CST%3DmyState%2CC%3DmyCountry";
    let x509 = |suffix: &str| format!("mongodb://{dn_uri}@localhost/{suffix}");
    let x509_uris = [
        x509("?authMechanism=MONGODB-X509"),
        x509("foo?authMechanism=MONGODB-X509"),
        x509("?authMechanism=MONGODB-X509&authSource=$external"),
        x509("?authMechanism=MONGODB-X509&authSource=%24external"),
        x509("?authmechanism=mongodb-x509"),
    ];
    for uri in &x509_uris {
        let c = credential(uri);
        assert_eq!(c.username.as_deref(), Some(dn), "{uri}");
        assert_eq!(c.password, None, "{uri}");
        assert_eq!(c.source.as_deref(), Some("$external"), "{uri}");
        assert_eq!(c.mechanism, Some(MongoDbX509), "{uri}");
        assert_eq!(c.mechanism_properties, None, "{uri}");
    }

    let cases = [
        // connection-string/valid-auth
        auth("mongodb://alice:foo@127.0.0.1", Some("alice"), Some("foo"), "admin", None, None),
        auth("mongodb://alice:foo@127.0.0.1/test", Some("alice"), Some("foo"), "test", None, None),
        auth("mongodb://bob:bar@[::1]:27018/admin", Some("bob"), Some("bar"), "admin", None, None),
        auth("mongodb://eve:baz@example.com/db2", Some("eve"), Some("baz"), "db2", None, None),
        auth("mongodb://alice:secret@127.0.0.1,example.com:27018", Some("alice"), Some("secret"), "admin", None, None),
        auth("mongodb://alice@127.0.0.1", Some("alice"), None, "admin", None, None),
        auth("mongodb://alice:@127.0.0.1", Some("alice"), Some(""), "admin", None, None),
        auth("mongodb://%40l%3Ace@example.com/my%3Ddb", Some("@l:ce"), None, "my=db", None, None),
        auth("mongodb://%24am:f%3Azzb%40zz@127.0.0.1/admin%3F", Some("$am"), Some("f:zzb@zz"), "admin?", None, None),
        auth("mongodb://!$&'()*+,;=:!$&'()*+,;=@127.0.0.1/admin?authMechanism=PLAIN", Some("!$&'()*+,;="), Some("!$&'()*+,;="), "admin", Some(Plain), None),
        auth("mongodb://alice:secret@example.com/admin?replicaset=my@replicaset", Some("alice"), Some("secret"), "admin", None, None),
        // auth/legacy/connection-string: default mechanism
        auth("mongodb://user:password@localhost", Some("user"), Some("password"), "admin", None, None),
        auth("mongodb://user:password@localhost/foo", Some("user"), Some("password"), "foo", None, None),
        auth("mongodb://user:password@localhost/foo?authSource=bar", Some("user"), Some("password"), "bar", None, None),
        // GSSAPI
        auth("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "mongodb"})),
        auth("mongodb://user%40DOMAIN.COM@localhost/foo?authMechanism=GSSAPI", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "mongodb"})),
        auth("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authSource=$external", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "mongodb"})),
        auth("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:forward,SERVICE_HOST:example.com", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "other", "CANONICALIZE_HOST_NAME": "forward", "SERVICE_HOST": "example.com"})),
        auth("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:forwardAndReverse", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "other", "CANONICALIZE_HOST_NAME": "forwardAndReverse"})),
        auth("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:none", Some("user@DOMAIN.COM"), None, "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "other", "CANONICALIZE_HOST_NAME": "none"})),
        auth("mongodb://user%40DOMAIN.COM:password@localhost/?authMechanism=GSSAPI&authSource=$external", Some("user@DOMAIN.COM"), Some("password"), "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "mongodb"})),
        auth("mongodb://user%40EXAMPLE.COM:secret@localhost/?authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:true&authMechanism=GSSAPI", Some("user@EXAMPLE.COM"), Some("secret"), "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "other", "CANONICALIZE_HOST_NAME": true})),
        auth("mongodb://foo:bar@example.com/?authMechanism=GSSAPI&authMechanismProperties=service_name:other,service_realm:R,canonicalize_host_name:false&authSource=$external", Some("foo"), Some("bar"), "$external", Some(Gssapi), Some(doc! {"SERVICE_NAME": "other", "SERVICE_REALM": "R", "CANONICALIZE_HOST_NAME": false})),
        // PLAIN
        auth("mongodb://user:password@localhost/?authMechanism=PLAIN", Some("user"), Some("password"), "$external", Some(Plain), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=PLAIN", Some("user"), Some("password"), "foo", Some(Plain), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=PLAIN&authSource=bar", Some("user"), Some("password"), "bar", Some(Plain), None),
        // SCRAM
        auth("mongodb://user:password@localhost/?authMechanism=SCRAM-SHA-1", Some("user"), Some("password"), "admin", Some(ScramSha1), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=SCRAM-SHA-1", Some("user"), Some("password"), "foo", Some(ScramSha1), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=SCRAM-SHA-1&authSource=bar", Some("user"), Some("password"), "bar", Some(ScramSha1), None),
        auth("mongodb://user:password@localhost/?authMechanism=SCRAM-SHA-256", Some("user"), Some("password"), "admin", Some(ScramSha256), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=SCRAM-SHA-256", Some("user"), Some("password"), "foo", Some(ScramSha256), None),
        auth("mongodb://user:password@localhost/foo?authMechanism=SCRAM-SHA-256&authSource=bar", Some("user"), Some("password"), "bar", Some(ScramSha256), None),
        auth("mongodb://foo:bar@example.com/?authMechanism=SCRAM-SHA-1&authSource=authSourceDB", Some("foo"), Some("bar"), "authSourceDB", Some(ScramSha1), None),
        // X.509 without a user name: the server takes the certificate subject.
        auth("mongodb://localhost/?authMechanism=MONGODB-X509", None, None, "$external", Some(MongoDbX509), None),
        auth("mongodb://localhost/?authMechanism=MONGODB-X509&authSource=$external", None, None, "$external", Some(MongoDbX509), None),
        // MONGODB-AWS
        auth("mongodb://localhost/?authMechanism=MONGODB-AWS", None, None, "$external", Some(MongoDbAws), None),
        auth("mongodb://localhost/?authMechanism=MONGODB-AWS&authSource=$external", None, None, "$external", Some(MongoDbAws), None),
        auth("mongodb://user%21%40%23%24%25%5E%26%2A%28%29_%2B:pass%21%40%23%24%25%5E%26%2A%28%29_%2B@localhost/?authMechanism=MONGODB-AWS", Some("user!@#$%^&*()_+"), Some("pass!@#$%^&*()_+"), "$external", Some(MongoDbAws), None),
        auth("mongodb://user:password@localhost/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:token%21%40%23%24%25%5E%26%2A%28%29_%2B", Some("user"), Some("password"), "$external", Some(MongoDbAws), Some(doc! {"AWS_SESSION_TOKEN": "token!@#$%^&*()_+"})),
        // MONGODB-OIDC
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "test"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authSource=$external&authMechanismProperties=ENVIRONMENT:test", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "test"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:foo", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "azure", "TOKEN_RESOURCE": "foo"})),
        auth("mongodb://user@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:foo", Some("user"), None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "azure", "TOKEN_RESOURCE": "foo"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:mongodb%3A%2F%2Ftest-cluster", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "azure", "TOKEN_RESOURCE": "mongodb://test-cluster"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:abc%2Cd%25ef%3Ag%26hi", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "azure", "TOKEN_RESOURCE": "abc,d%ef:g&hi"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp,TOKEN_RESOURCE:foo", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "gcp", "TOKEN_RESOURCE": "foo"})),
        auth("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s", None, None, "$external", Some(MongoDbOidc), Some(doc! {"ENVIRONMENT": "k8s"})),
    ];
    for case in cases {
        let c = credential(case.uri);
        let uri = case.uri;
        assert_eq!(c.username.as_deref(), case.username, "{uri}");
        assert_eq!(c.password.as_deref(), case.password, "{uri}");
        assert_eq!(c.source.as_deref(), Some(case.source), "{uri}");
        assert_eq!(c.mechanism, case.mechanism, "{uri}");
        assert_eq!(c.mechanism_properties, case.properties, "{uri}");
    }
}

#[test]
fn no_credential_without_userinfo_or_mechanism() {
    for uri in [
        "mongodb://localhost/",
        "mongodb://localhost/foo",
        "mongodb://localhost/?authSource=foo",
        "mongodb://localhost/foo?authSource=bar&appName=x",
    ] {
        assert_eq!(ok(uri).credential, None, "{uri}");
    }
}

#[test]
fn auth_database_from_path() {
    let cases = [
        ("mongodb://localhost/test", Some("test")),
        ("mongodb://localhost/my%3Ddb?w=1", Some("my=db")),
        ("mongodb://localhost/admin%3F?w=1", Some("admin?")),
        ("mongodb://localhost/db.coll", Some("db.coll")),
        (
            "mongodb://%2Ftmp%2Fmongodb-27017.sock/admin.sock",
            Some("admin.sock"),
        ),
        ("mongodb://localhost/", None),
        ("mongodb://localhost/?w=1", None),
        ("mongodb://localhost", None),
    ];
    for (uri, db) in cases {
        assert_eq!(ok(uri).default_database.as_deref(), db, "{uri}");
    }
}

#[test]
fn invalid_auth() {
    let dn_uri = "CN%3DmyName%2COU%3DmyOrgUnit";
    let cases: Vec<(String, &str)> = vec![
        // X.509: password, other source, properties, empty user
        ("mongodb://user:password@localhost/?authMechanism=MONGODB-X509".into(), "does not take a password"),
        ("mongodb://user:@localhost/?authMechanism=MONGODB-X509".into(), "does not take a password"),
        (format!("mongodb://{dn_uri}@localhost/foo?authMechanism=MONGODB-X509&authSource=bar"), "always $external"),
        ("mongodb://localhost/?authMechanism=MONGODB-X509&authSource=admin".into(), "always $external"),
        ("mongodb://localhost/?authMechanism=MONGODB-X509&authMechanismProperties=SERVICE_NAME:x".into(), "takes no authMechanismProperties"),
        ("mongodb://@localhost/?authMechanism=MONGODB-X509".into(), "user name before '@' is empty"),
        // default mechanism
        ("mongodb://@localhost.com/".into(), "needs a user name"),
        ("mongodb://:@localhost.com/".into(), "needs a user name"),
        ("mongodb://:password@localhost.com/".into(), "needs a user name"),
        ("mongodb://user:password@localhost/foo?authSource=".into(), "authSource is empty"),
        ("mongodb://localhost/admin?authSource=".into(), "authSource is empty"),
        ("mongodb://user:pw@localhost/?authMechanismProperties=SERVICE_NAME:x".into(), "takes no authMechanismProperties"),
        ("mongodb://localhost/?authMechanismProperties=SERVICE_NAME:x".into(), "without authMechanism"),
        // unknown mechanisms (MONGODB-CR was removed in server 4.0)
        ("mongodb://user:password@localhost/?authMechanism=MONGODB-CR".into(), "unknown mechanism"),
        ("mongodb://user:password@localhost/?authMechanism=foo".into(), "unknown mechanism"),
        // SCRAM
        ("mongodb://localhost/?authMechanism=SCRAM-SHA-1".into(), "needs a user name"),
        ("mongodb://localhost/?authMechanism=SCRAM-SHA-256".into(), "needs a user name"),
        ("mongodb://user:pw@localhost/?authMechanism=SCRAM-SHA-256&authMechanismProperties=A:b".into(), "takes no authMechanismProperties"),
        // PLAIN
        ("mongodb://localhost/?authMechanism=PLAIN".into(), "needs a user name"),
        ("mongodb://user@localhost/?authMechanism=PLAIN".into(), "needs a password"),
        ("mongodb://user:pw@localhost/?authMechanism=PLAIN&authMechanismProperties=A:b".into(), "takes no authMechanismProperties"),
        // GSSAPI
        ("mongodb://localhost/?authMechanism=GSSAPI".into(), "needs a user name"),
        ("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authSource=foo".into(), "always $external"),
        ("mongodb://user%40DOMAIN.COM@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:invalid".into(), "CANONICALIZE_HOST_NAME"),
        ("mongodb://u@localhost/?authMechanism=GSSAPI&authMechanismProperties=AWS_SESSION_TOKEN:x".into(), "not a property of GSSAPI"),
        ("mongodb://u@localhost/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME".into(), "not a KEY:VALUE pair"),
        // MONGODB-AWS
        ("mongodb://user@localhost/?authMechanism=MONGODB-AWS".into(), "together"),
        ("mongodb://localhost/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t".into(), "together"),
        ("mongodb://:secret@localhost/?authMechanism=MONGODB-AWS".into(), "user name before '@' is empty"),
        ("mongodb://u:p@localhost/?authMechanism=MONGODB-AWS&authSource=admin".into(), "always $external"),
        ("mongodb://u:p@localhost/?authMechanism=MONGODB-AWS&authMechanismProperties=SERVICE_NAME:x".into(), "not a property of MONGODB-AWS"),
        // MONGODB-OIDC
        ("mongodb://user:pass@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test".into(), "does not take a password"),
        ("mongodb://principalName@localhost/?authMechanism=MONGODB-OIDC&ENVIRONMENT:test".into(), "has no value"),
        ("mongodb://principalName@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test".into(), "does not take a user name"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:invalid".into(), "not supported"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC".into(), "ENVIRONMENT"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=UnsupportedProperty:unexisted".into(), "not a property of MONGODB-OIDC"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure".into(), "needs authMechanismProperties TOKEN_RESOURCE"),
        ("mongodb://user:pass@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:foo".into(), "does not take a password"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp".into(), "needs authMechanismProperties TOKEN_RESOURCE"),
        ("mongodb://user:pass@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp,TOKEN_RESOURCE:foo".into(), "does not take a password"),
        ("mongodb://user:pass@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s".into(), "does not take a password"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test,TOKEN_RESOURCE:foo".into(), "only used with"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s,ALLOWED_HOSTS:x".into(), "ALLOWED_HOSTS cannot be set"),
        ("mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test&authSource=admin".into(), "always $external"),
    ];
    for (uri, expected) in cases {
        let message = invalid(&uri);
        assert!(
            message.contains(expected),
            "{uri}: message {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn mechanism_property_names_are_case_insensitive_and_last_wins() {
    let c = credential(
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=service_name:a,Service_Name:b",
    );
    assert_eq!(c.mechanism_properties, Some(doc! {"SERVICE_NAME": "b"}));
}

// ---------------------------------------------------------------------------------------------
// Percent-encoding round trips

#[test]
fn passwords_round_trip_through_percent_encoding() {
    let secrets = [
        "s3cr3t p@ss/wörd",
        "a:b@c/d?e#f%g&h=i+j,k;l[m]n",
        "ünïcødé 密码",
        "%41",
    ];
    for secret in secrets {
        let enc = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        let user = "us:er/@ö";
        let enc_user = utf8_percent_encode(user, NON_ALPHANUMERIC).to_string();

        let scram = credential(&format!(
            "mongodb://{enc_user}:{enc}@localhost/?authMechanism=SCRAM-SHA-256"
        ));
        assert_eq!(scram.username.as_deref(), Some(user));
        assert_eq!(scram.password.as_deref(), Some(secret), "{enc}");

        let o = ok(&format!(
            "mongodb://localhost/?tlsCertificateKeyFile=%2Fc.pem&tlsCertificateKeyFilePassword={enc}"
        ));
        let password = tls_options(&o).tls_certificate_key_file_password.as_deref();
        assert_eq!(password, Some(secret.as_bytes()), "{enc}");
    }
}

#[test]
fn key_password_may_be_any_bytes_or_empty() {
    let o = ok("mongodb://h/?tlsCertificateKeyFilePassword=%FF%00a");
    assert_eq!(
        tls_options(&o).tls_certificate_key_file_password.as_deref(),
        Some(&[0xFF, 0, b'a'][..])
    );
    let o = ok("mongodb://h/?tlsCertificateKeyFilePassword=");
    assert_eq!(
        tls_options(&o).tls_certificate_key_file_password.as_deref(),
        Some(&[][..])
    );
}

#[test]
fn option_values_are_percent_decoded() {
    let o = ok("mongodb://h/?appName=my%20app%2Fv1&replicaSet=rs%400&tlsCAFile=%2Fetc%2Fssl%2Fca%20file.pem");
    assert_eq!(o.app_name.as_deref(), Some("my app/v1"));
    assert_eq!(o.repl_set_name.as_deref(), Some("rs@0"));
    assert_eq!(
        tls_options(&o).ca_file_path,
        Some(PathBuf::from("/etc/ssl/ca file.pem"))
    );
    // '+' is not a space (the spec recommends %20; passwords may contain '+').
    assert_eq!(
        ok("mongodb://h/?appName=a+b").app_name.as_deref(),
        Some("a+b")
    );
}

// ---------------------------------------------------------------------------------------------
// X.509 as this crate is meant to be used

#[test]
fn x509_with_encrypted_key() {
    let o = ok("mongodb://db.example.com/?authMechanism=MONGODB-X509\
                &tlsCAFile=%2Fetc%2Fca.pem&tlsCertificateKeyFile=%2Fetc%2Fclient.pem\
                &tlsCertificateKeyFilePassword=s3cr3t%20p%40ss%2Fw%C3%B6rd&tlsBackend=native-tls");
    let c = o.credential.as_ref().unwrap();
    assert_eq!(c.mechanism, Some(AuthMechanism::MongoDbX509));
    assert_eq!(c.username, None);
    assert_eq!(c.source.as_deref(), Some("$external"));
    let t = tls_options(&o);
    assert_eq!(t.ca_file_path, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(t.cert_key_file_path, Some(PathBuf::from("/etc/client.pem")));
    assert_eq!(
        t.tls_certificate_key_file_password.as_deref(),
        Some("s3cr3t p@ss/wörd".as_bytes())
    );
    assert_eq!(t.backend, Some(TlsBackendKind::NativeTls));
}

// ---------------------------------------------------------------------------------------------
// TLS

#[test]
fn tls_enabled_disabled_or_unspecified() {
    let cases: [(&str, Option<bool>); 11] = [
        ("mongodb://h", None),
        ("mongodb://h/?tls=true", Some(true)),
        ("mongodb://h/?TLS=TRUE", Some(true)),
        ("mongodb://h/?ssl=true", Some(true)),
        ("mongodb://h/?tls=false", Some(false)),
        ("mongodb://h/?tls=true&ssl=true", Some(true)),
        ("mongodb://h/?tls=false&ssl=false", Some(false)),
        ("mongodb://h/?tls=true&tls=true", Some(true)),
        // tls* options imply TLS.
        ("mongodb://h/?tlsCAFile=ca.pem", Some(true)),
        ("mongodb://h/?tlsAllowInvalidHostnames=false", Some(true)),
        ("mongodb://h/?tlsBackend=openssl", Some(true)),
        // mongodb+srv implies TLS unless tls is given: tests/srv.rs.
    ];
    for (uri, expected) in cases {
        let tls = ok(uri).tls;
        let got = tls.as_ref().map(|t| matches!(t, Tls::Enabled(_)));
        assert_eq!(got, expected, "{uri}: {tls:?}");
    }
}

#[test]
fn tls_options_parsed() {
    let o = ok(
        "mongodb://example.com/?tls=true&tlsCAFile=ca.pem&tlsCertificateKeyFile=cert.pem\
                &tlsCertificateKeyFilePassword=hunter2",
    );
    let t = tls_options(&o);
    assert_eq!(t.ca_file_path, Some(PathBuf::from("ca.pem")));
    assert_eq!(t.cert_key_file_path, Some(PathBuf::from("cert.pem")));
    assert_eq!(
        t.tls_certificate_key_file_password.as_deref(),
        Some(&b"hunter2"[..])
    );
    assert_eq!(t.backend, None);

    let flags = [
        (
            "tlsAllowInvalidCertificates=true",
            (Some(true), None, None, None),
        ),
        (
            "tlsAllowInvalidCertificates=false",
            (Some(false), None, None, None),
        ),
        (
            "tlsAllowInvalidHostnames=true",
            (None, Some(true), None, None),
        ),
        (
            "tlsDisableOCSPEndpointCheck=true",
            (None, None, Some(true), None),
        ),
        (
            "tlsDisableCertificateRevocationCheck=true",
            (None, None, None, Some(true)),
        ),
        // tlsInsecure relaxes certificate and host name checks.
        ("tlsInsecure=true", (Some(true), Some(true), None, None)),
        ("tlsInsecure=false", (Some(false), Some(false), None, None)),
        (
            "tlsAllowInvalidCertificates=true&tlsAllowInvalidHostnames=true",
            (Some(true), Some(true), None, None),
        ),
    ];
    for (query, expected) in flags {
        let uri = format!("mongodb://h/?{query}");
        let o = ok(&uri);
        let t = tls_options(&o);
        let got = (
            t.allow_invalid_certificates,
            t.allow_invalid_hostnames,
            t.disable_ocsp_endpoint_check,
            t.disable_certificate_revocation_check,
        );
        assert_eq!(got, expected, "{uri}");
    }
    for (value, backend) in [
        ("openssl", TlsBackendKind::OpenSsl),
        ("native-tls", TlsBackendKind::NativeTls),
        ("Native-TLS", TlsBackendKind::NativeTls),
    ] {
        let uri = format!("mongodb://h/?tlsBackend={value}");
        assert_eq!(tls_options(&ok(&uri)).backend, Some(backend), "{uri}");
    }
}

#[test]
fn tls_conflicts() {
    let pairs = [
        ("tlsInsecure", "tlsAllowInvalidCertificates"),
        ("tlsInsecure", "tlsAllowInvalidHostnames"),
        ("tlsInsecure", "tlsDisableOCSPEndpointCheck"),
        ("tlsInsecure", "tlsDisableCertificateRevocationCheck"),
        ("tlsAllowInvalidCertificates", "tlsDisableOCSPEndpointCheck"),
        (
            "tlsAllowInvalidCertificates",
            "tlsDisableCertificateRevocationCheck",
        ),
        (
            "tlsDisableOCSPEndpointCheck",
            "tlsDisableCertificateRevocationCheck",
        ),
    ];
    // The spec refuses the pair whenever both appear, whatever their values and order.
    for (a, b) in pairs {
        for (va, vb) in [
            ("true", "true"),
            ("true", "false"),
            ("false", "true"),
            ("false", "false"),
        ] {
            for uri in [
                format!("mongodb://h/?{a}={va}&{b}={vb}"),
                format!("mongodb://h/?{b}={vb}&{a}={va}"),
            ] {
                let message = invalid(&uri);
                assert!(
                    message.contains(a) && message.contains(b),
                    "{uri}: {message}"
                );
            }
        }
    }
    for uri in [
        "mongodb://h/?tls=false&ssl=true",
        "mongodb://h/?tls=true&ssl=false",
        "mongodb://h/?ssl=false&tls=true",
        "mongodb://h/?tls=true&tls=false",
        "mongodb://h/?tls=true&ssl=true&tls=false",
    ] {
        assert!(invalid(uri).contains("disagree"), "{uri}");
    }
    for option in [
        "tlsCAFile=ca.pem",
        "tlsCertificateKeyFile=c.pem",
        "tlsCertificateKeyFilePassword=x",
        "tlsAllowInvalidCertificates=false",
        "tlsAllowInvalidHostnames=true",
        "tlsInsecure=false",
        "tlsDisableOCSPEndpointCheck=true",
        "tlsDisableCertificateRevocationCheck=true",
        "tlsBackend=openssl",
    ] {
        let name = option.split('=').next().unwrap();
        for uri in [
            format!("mongodb://h/?tls=false&{option}"),
            format!("mongodb://h/?{option}&ssl=false"),
        ] {
            let message = invalid(&uri);
            assert!(
                message.contains(name) && message.contains("tls=false"),
                "{uri}: {message}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connection options

#[test]
fn connection_options_parsed() {
    let o = ok(
        "mongodb://example.com/?appname=URI-OPTIONS-SPEC-TEST&connectTimeoutMS=20000\
                &heartbeatFrequencyMS=5000&localThresholdMS=3000&maxIdleTimeMS=50000\
                &replicaSet=uri-options-spec&retryWrites=true&retryReads=false\
                &serverSelectionTimeoutMS=15000&socketTimeoutMS=7500&maxPoolSize=5&minPoolSize=3\
                &maxConnecting=1&waitQueueTimeoutMS=100&timeoutMS=0&directConnection=false\
                &loadBalanced=false&readConcernLevel=majority&w=5&wTimeoutMS=30000&journal=false",
    );
    assert_eq!(o.app_name.as_deref(), Some("URI-OPTIONS-SPEC-TEST"));
    assert_eq!(o.connect_timeout, Some(Duration::from_millis(20000)));
    assert_eq!(o.heartbeat_freq, Some(Duration::from_millis(5000)));
    assert_eq!(o.local_threshold, Some(Duration::from_millis(3000)));
    assert_eq!(o.max_idle_time, Some(Duration::from_millis(50000)));
    assert_eq!(o.repl_set_name.as_deref(), Some("uri-options-spec"));
    assert_eq!(o.retry_writes, Some(true));
    assert_eq!(o.retry_reads, Some(false));
    assert_eq!(
        o.server_selection_timeout,
        Some(Duration::from_millis(15000))
    );
    assert_eq!(o.socket_timeout, Some(Duration::from_millis(7500)));
    assert_eq!(o.max_pool_size, Some(5));
    assert_eq!(o.min_pool_size, Some(3));
    assert_eq!(o.max_connecting, Some(1));
    assert_eq!(o.wait_queue_timeout, Some(Duration::from_millis(100)));
    assert_eq!(o.timeout, Some(Duration::ZERO));
    assert_eq!(o.direct_connection, Some(false));
    assert_eq!(o.load_balanced, Some(false));
    assert_eq!(
        o.read_concern.as_ref().map(|r| r.level.as_str()),
        Some("majority")
    );
    let wc = o.write_concern.as_ref().unwrap();
    assert_eq!(wc.w, Some(Acknowledgment::Nodes(5)));
    assert_eq!(wc.w_timeout, Some(Duration::from_millis(30000)));
    assert_eq!(wc.journal, Some(false));
    assert!(!o.srv);
    assert_eq!(o.tls, None);
    assert_eq!(o.credential, None);
    assert_eq!(o.read_preference, None);
}

#[test]
fn option_edge_values() {
    // Boundaries the specs allow.
    let o = ok("mongodb://h/?heartbeatFrequencyMS=500&maxPoolSize=0&minPoolSize=0&connectTimeoutMS=0\
                &socketTimeoutMS=0&localThresholdMS=0&maxIdleTimeMS=0&wTimeoutMS=0&zlibCompressionLevel=-1\
                &compressors=zlib");
    assert_eq!(o.heartbeat_freq, Some(Duration::from_millis(500)));
    assert_eq!(o.max_pool_size, Some(0));
    assert_eq!(o.connect_timeout, Some(Duration::ZERO));
    // maxPoolSize=0 means "no limit", so any minPoolSize fits.
    assert_eq!(
        ok("mongodb://h/?maxPoolSize=0&minPoolSize=50").min_pool_size,
        Some(50)
    );
    assert_eq!(
        ok("mongodb://h/?minPoolSize=5&maxPoolSize=5").max_pool_size,
        Some(5)
    );
    // wTimeoutMS is 64-bit.
    let wc = ok("mongodb://h/?wTimeoutMS=9999999999")
        .write_concern
        .unwrap();
    assert_eq!(wc.w_timeout, Some(Duration::from_millis(9_999_999_999)));
    let w = |q: &str| ok(&format!("mongodb://h/?{q}")).write_concern.unwrap().w;
    assert_eq!(w("w=0"), Some(Acknowledgment::Nodes(0)));
    assert_eq!(w("w=majority"), Some(Acknowledgment::Majority));
    assert_eq!(
        w("w=arbitraryButStillValid"),
        Some(Acknowledgment::Custom("arbitraryButStillValid".into()))
    );
    assert_eq!(w("w=1&journal=true"), Some(Acknowledgment::Nodes(1)));
    assert_eq!(
        ok("mongodb://h/?w=0&journal=false")
            .write_concern
            .unwrap()
            .journal,
        Some(false)
    );
    assert_eq!(
        ok("mongodb://h/?readConcernLevel=arbitraryButStillValid")
            .read_concern
            .unwrap()
            .level,
        "arbitraryButStillValid"
    );
}

#[test]
fn invalid_option_values_name_option_and_value() {
    let cases = [
        ("connectTimeoutMS=invalid", "connectTimeoutMS", "invalid"),
        ("connectTimeoutMS=-2", "connectTimeoutMS", "-2"),
        ("connectTimeoutMS=1.5", "connectTimeoutMS", "1.5"),
        (
            "connectTimeoutMS=99999999999",
            "connectTimeoutMS",
            "99999999999",
        ),
        ("socketTimeoutMS=invalid", "socketTimeoutMS", "invalid"),
        ("socketTimeoutMS=-2", "socketTimeoutMS", "-2"),
        (
            "serverSelectionTimeoutMS=invalid",
            "serverSelectionTimeoutMS",
            "invalid",
        ),
        (
            "serverSelectionTimeoutMS=-2",
            "serverSelectionTimeoutMS",
            "-2",
        ),
        (
            "serverSelectionTimeoutMS=0",
            "serverSelectionTimeoutMS",
            "0",
        ),
        (
            "heartbeatFrequencyMS=invalid",
            "heartbeatFrequencyMS",
            "invalid",
        ),
        ("heartbeatFrequencyMS=-2", "heartbeatFrequencyMS", "-2"),
        ("heartbeatFrequencyMS=499", "heartbeatFrequencyMS", "499"),
        ("localThresholdMS=invalid", "localThresholdMS", "invalid"),
        ("localThresholdMS=-2", "localThresholdMS", "-2"),
        ("maxIdleTimeMS=invalid", "maxIdleTimeMS", "invalid"),
        ("maxIdleTimeMS=-2", "maxIdleTimeMS", "-2"),
        ("maxPoolSize=-1", "maxPoolSize", "-1"),
        ("maxPoolSize=ten", "maxPoolSize", "ten"),
        ("minPoolSize=-1", "minPoolSize", "-1"),
        ("maxConnecting=0", "maxConnecting", "0"),
        ("maxConnecting=-1", "maxConnecting", "-1"),
        ("waitQueueTimeoutMS=-1", "waitQueueTimeoutMS", "-1"),
        ("timeoutMS=invalid", "timeoutMS", "invalid"),
        ("timeoutMS=-2", "timeoutMS", "-2"),
        ("wTimeoutMS=invalid", "wTimeoutMS", "invalid"),
        ("wTimeoutMS=-2", "wTimeoutMS", "-2"),
        ("w=-1", "w", "-1"),
        ("w=99999999999", "w", "99999999999"),
        ("journal=invalid", "journal", "invalid"),
        ("journal=1", "journal", "1"),
        ("retryWrites=invalid", "retryWrites", "invalid"),
        ("retryReads=yes", "retryReads", "yes"),
        ("directConnection=invalid", "directConnection", "invalid"),
        ("loadBalanced=invalid", "loadBalanced", "invalid"),
        ("tls=invalid", "tls", "invalid"),
        ("ssl=1", "ssl", "1"),
        (
            "tlsAllowInvalidCertificates=invalid",
            "tlsAllowInvalidCertificates",
            "invalid",
        ),
        (
            "tlsAllowInvalidHostnames=invalid",
            "tlsAllowInvalidHostnames",
            "invalid",
        ),
        ("tlsInsecure=invalid", "tlsInsecure", "invalid"),
        (
            "tlsDisableOCSPEndpointCheck=t",
            "tlsDisableOCSPEndpointCheck",
            "t",
        ),
        (
            "tlsDisableCertificateRevocationCheck=n",
            "tlsDisableCertificateRevocationCheck",
            "n",
        ),
        ("tlsBackend=rustls", "tlsBackend", "rustls"),
        ("readPreference=invalid", "readPreference", "invalid"),
        (
            "readPreferenceTags=invalidTag",
            "readPreferenceTags",
            "invalidTag",
        ),
        (
            "maxStalenessSeconds=invalid",
            "maxStalenessSeconds",
            "invalid",
        ),
        ("maxStalenessSeconds=-2", "maxStalenessSeconds", "-2"),
        ("maxStalenessSeconds=0", "maxStalenessSeconds", "0"),
        ("maxStalenessSeconds=89", "maxStalenessSeconds", "89"),
        (
            "zlibCompressionLevel=invalid",
            "zlibCompressionLevel",
            "invalid",
        ),
        ("zlibCompressionLevel=-2", "zlibCompressionLevel", "-2"),
        ("zlibCompressionLevel=10", "zlibCompressionLevel", "10"),
        ("authMechanism=invalid", "authMechanism", "invalid"),
        ("appName=", "", ""), // placeholder replaced below
    ];
    for (query, option, value) in cases.iter().filter(|c| !c.1.is_empty()) {
        let uri = format!("mongodb://example.com/?{query}");
        let message = invalid(&uri);
        assert!(
            message.contains(option) && message.contains(&format!("{value:?}")),
            "{uri}: message {message:?} must name {option} and {value:?}"
        );
    }
    let long = "a".repeat(129);
    assert!(invalid(&format!("mongodb://h/?appName={long}")).contains("128 bytes"));
    assert_eq!(
        ok(&format!("mongodb://h/?appName={}", &long[..128]))
            .app_name
            .map(|a| a.len()),
        Some(128)
    );
    let bad_name = invalid("mongodb+srv://c.example.com/?srvServiceName=bad_name");
    assert!(bad_name.contains("srvServiceName") && bad_name.contains("\"bad_name\""));
    for name in ["-a", "a-", "a--b", "1234", "abcdefghijklmnop"] {
        invalid(&format!(
            "mongodb+srv://c.example.com/?srvServiceName={name}"
        ));
    }
    for (query, option) in [
        ("srvMaxHosts=-1", "srvMaxHosts"),
        ("srvMaxHosts=two", "srvMaxHosts"),
    ] {
        let message = invalid(&format!("mongodb+srv://c.example.com/?{query}"));
        assert!(message.contains(option), "{query}: {message}");
    }
}

#[test]
fn option_keys_are_case_insensitive() {
    let o = ok("mongodb://h/?APPNAME=a&ReplicaSet=rs&CONNECTTIMEOUTMS=5&tlscafile=ca.pem&AuthMechanism=MONGODB-X509&authsource=$external");
    assert_eq!(o.app_name.as_deref(), Some("a"));
    assert_eq!(o.repl_set_name.as_deref(), Some("rs"));
    assert_eq!(o.connect_timeout, Some(Duration::from_millis(5)));
    assert_eq!(tls_options(&o).ca_file_path, Some(PathBuf::from("ca.pem")));
    assert_eq!(
        o.credential.unwrap().mechanism,
        Some(AuthMechanism::MongoDbX509)
    );
}

#[test]
fn directconnection_loadbalanced_and_srv_rules() {
    let valid = [
        "mongodb://example.com/?directConnection=true",
        "mongodb://example.com/?directConnection=false",
        "mongodb://example.com,example2.com/?directConnection=false",
        "mongodb://example.com/?loadBalanced=true",
        "mongodb://example.com/?loadBalanced=true&directConnection=false",
        "mongodb://a,b/?loadBalanced=false&replicaSet=rs",
    ];
    // The valid mongodb+srv:// cases need DNS: tests/srv.rs.
    for uri in valid {
        ok(uri);
    }

    let invalid_cases = [
        (
            "mongodb://example.com,example2.com/?directConnection=true",
            "exactly one host",
        ),
        (
            "mongodb+srv://test3.test.build.10gen.cc/?directConnection=true",
            "mongodb+srv",
        ),
        (
            "mongodb://example.com,example2.com/?loadBalanced=true",
            "exactly one host",
        ),
        (
            "mongodb://example.com/?loadBalanced=true&directConnection=true",
            "directConnection=true",
        ),
        (
            "mongodb://example.com/?loadBalanced=true&replicaSet=replset",
            "replicaSet",
        ),
        (
            "mongodb://example.com/?srvServiceName=customname",
            "only allowed with mongodb+srv",
        ),
        (
            "mongodb://example.com/?srvMaxHosts=2",
            "only allowed with mongodb+srv",
        ),
        (
            "mongodb://example.com/?srvMaxHosts=0",
            "only allowed with mongodb+srv",
        ),
        (
            "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=2&replicaSet=foo",
            "replicaSet",
        ),
        (
            "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=1&loadBalanced=true",
            "loadBalanced",
        ),
        ("mongodb://h/?minPoolSize=6&maxPoolSize=5", "minPoolSize"),
        ("mongodb://h/?w=0&journal=true", "w=0"),
        ("mongodb://h/?journal=true&w=0", "w=0"),
    ];
    for (uri, expected) in invalid_cases {
        let message = invalid(uri);
        assert!(
            message.contains(expected),
            "{uri}: {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn read_preference_options() {
    let o = ok(
        "mongodb://example.com/?readPreference=primaryPreferred&readPreferenceTags=dc:ny,rack:1\
                &maxStalenessSeconds=120&readPreferenceTags=dc:ny",
    );
    let rp = o.read_preference.unwrap();
    assert_eq!(rp.mode, ReadPreferenceMode::PrimaryPreferred);
    let tags = |pairs: &[(&str, &str)]| -> TagSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        rp.tag_sets,
        vec![tags(&[("dc", "ny"), ("rack", "1")]), tags(&[("dc", "ny")])]
    );
    assert_eq!(rp.max_staleness, Some(Duration::from_secs(120)));

    // Case is preserved in tags; an empty value is the empty tag set; keys and values decode.
    let rp = ok(
        "mongodb://h/?readPreference=secondary&readPreferenceTags=DataCenter:NewYork\
                 &readPreferenceTags=a%3Ab:c%2Cd&readPreferenceTags=",
    )
    .read_preference
    .unwrap();
    assert_eq!(rp.mode, ReadPreferenceMode::Secondary);
    assert_eq!(
        rp.tag_sets,
        vec![
            tags(&[("DataCenter", "NewYork")]),
            tags(&[("a:b", "c,d")]),
            TagSet::new()
        ]
    );

    for (mode, expected) in [
        ("primary", ReadPreferenceMode::Primary),
        ("secondaryPreferred", ReadPreferenceMode::SecondaryPreferred),
        ("nearest", ReadPreferenceMode::Nearest),
        ("SECONDARY", ReadPreferenceMode::Secondary),
    ] {
        let rp = ok(&format!("mongodb://h/?readPreference={mode}"))
            .read_preference
            .unwrap();
        assert_eq!(rp.mode, expected, "{mode}");
    }
    // -1 means no maximum, and is allowed with primary; {} tag set too.
    let rp = ok("mongodb://h/?maxStalenessSeconds=-1")
        .read_preference
        .unwrap();
    assert_eq!(
        (rp.mode, rp.max_staleness),
        (ReadPreferenceMode::Primary, None)
    );
    ok("mongodb://h/?readPreference=primary&readPreferenceTags=");
    ok("mongodb://h/?readPreference=nearest&maxStalenessSeconds=90");

    for (uri, expected) in [
        (
            "mongodb://h/?readPreference=primary&readPreferenceTags=dc:ny",
            "readPreferenceTags",
        ),
        (
            "mongodb://h/?readPreferenceTags=dc:ny",
            "readPreferenceTags",
        ),
        (
            "mongodb://h/?readPreference=primary&maxStalenessSeconds=120",
            "maxStalenessSeconds",
        ),
        (
            "mongodb://h/?maxStalenessSeconds=120",
            "maxStalenessSeconds",
        ),
    ] {
        let message = invalid(uri);
        assert!(
            message.contains(expected) && message.contains("primary"),
            "{uri}: {message}"
        );
    }
}

#[test]
fn compression_options() {
    let o = ok("mongodb://example.com/?compressors=zlib&zlibCompressionLevel=9");
    assert_eq!(
        o.compressors,
        Some(vec![Compressor::Zlib { level: Some(9) }])
    );
    let o = ok("mongodb://h/?zlibCompressionLevel=4&compressors=snappy,ZSTD,zlib,snappy");
    assert_eq!(
        o.compressors,
        Some(vec![
            Compressor::Snappy,
            Compressor::Zstd,
            Compressor::Zlib { level: Some(4) }
        ])
    );
    let (o, logs) = with_logs(|| parse("mongodb://example.com/?compressors=jpeg"));
    assert_eq!(o.unwrap().compressors, None);
    assert!(logs.contains("jpeg") && logs.contains("WARN"), "{logs}");
    let (o, logs) = with_logs(|| parse("mongodb://example.com/?compressors=jpeg,zstd"));
    assert_eq!(o.unwrap().compressors, Some(vec![Compressor::Zstd]));
    assert!(logs.contains("jpeg"), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// Warnings: unknown options, repeated options, empty values

#[test]
fn unknown_options_are_ignored_with_a_warning() {
    for uri in [
        "mongodb://example.com/?foo=bar",
        "mongodb://example.com/?fsync=ifPossible",
        "mongodb://example.com/?wtimeout=5",
        "mongodb://example.com/?proxyPassword=pw",
    ] {
        let (o, logs) = with_logs(|| parse(uri));
        assert_eq!(o.unwrap(), ok("mongodb://example.com"), "{uri}");
        assert!(
            logs.contains("WARN") && logs.contains("unsupported"),
            "{uri}: {logs}"
        );
    }
    // The replacement wins over a deprecated/unknown key.
    let wc = ok("mongodb://example.com/?wtimeout=5&wtimeoutMS=10")
        .write_concern
        .unwrap();
    assert_eq!(wc.w_timeout, Some(Duration::from_millis(10)));
}

#[test]
fn repeated_options_last_wins_with_a_warning() {
    let (o, logs) = with_logs(|| parse("mongodb://example.com/?replicaSet=test&replicaset=test2"));
    assert_eq!(o.unwrap().repl_set_name.as_deref(), Some("test2"));
    assert!(
        logs.contains("more than once") && logs.contains("replicaSet"),
        "{logs}"
    );
    let (o, logs) = with_logs(|| {
        parse("mongodb://h/?readPreference=nearest&readPreferenceTags=a:1&readPreferenceTags=b:2")
    });
    assert_eq!(o.unwrap().read_preference.unwrap().tag_sets.len(), 2);
    assert!(!logs.contains("more than once"), "{logs}");
    let (o, logs) = with_logs(|| parse("mongodb://h/?tls=true&ssl=true&tls=true"));
    assert!(matches!(o.unwrap().tls, Some(Tls::Enabled(_))));
    assert!(!logs.contains("more than once"), "{logs}");
}

#[test]
fn empty_values_are_ignored() {
    for query in [
        "maxIdleTimeMS=",
        "journal=",
        "appName=",
        "replicaSet=",
        "tls=",
        "w=",
        "compressors=",
        "&&",
    ] {
        let uri = format!("mongodb://localhost/?{query}");
        let (o, logs) = with_logs(|| parse(&uri));
        assert_eq!(o.unwrap(), ok("mongodb://localhost"), "{uri}");
        if query != "&&" {
            assert!(logs.contains("empty value"), "{uri}: {logs}");
        }
    }
    // An empty tlsInsecure is not "present", so it does not conflict.
    ok("mongodb://h/?tlsInsecure=&tlsAllowInvalidCertificates=true");
}

// ---------------------------------------------------------------------------------------------
// Secrets never shown

const SECRET: &str = "Sup3rS3cretValue";

#[test]
fn debug_and_display_never_show_passwords() {
    let o = ok(&format!(
        "mongodb://user:{SECRET}@localhost/?authMechanism=SCRAM-SHA-256\
         &tlsCertificateKeyFile=c.pem&tlsCertificateKeyFilePassword={SECRET}"
    ));
    let cred = o.credential.clone().unwrap();
    assert_eq!(cred.password.as_deref(), Some(SECRET));
    let tls = tls_options(&o).clone();
    assert_eq!(
        tls.tls_certificate_key_file_password.as_deref(),
        Some(SECRET.as_bytes())
    );
    for shown in [
        format!("{o:?}"),
        format!("{o:#?}"),
        format!("{cred:?}"),
        format!("{tls:?}"),
        format!("{:?}", o.tls),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
    // The AWS secret key (password) and session token are secrets too.
    let aws = credential(&format!(
        "mongodb://AKIA:{SECRET}@h/?authMechanism=MONGODB-AWS\
         &authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}"
    ));
    let shown = format!("{aws:?}");
    assert!(
        !shown.contains(SECRET) && shown.contains("AWS_SESSION_TOKEN"),
        "{shown}"
    );
    // Percent-encoded forms do not leak either.
    let spaced = ok("mongodb://u:p%20w@h/?tlsCertificateKeyFilePassword=p%20w");
    assert!(!format!("{spaced:?}").contains("p w"));
}

#[test]
fn parse_errors_and_logs_never_show_passwords() {
    let s = SECRET;
    let uris = [
        format!("mongodb://user:{s}@localhost:0"),
        format!("mongodb://user:{s}@localhost/?authMechanism=MONGODB-X509"),
        format!("mongodb://user:{s}@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test"),
        format!("mongodb://user:{s}@localhost/?connectTimeoutMS=x"),
        format!("mongodb://user:{s}:x@localhost"),
        format!("mongodb://user:{s}@@localhost"),
        format!("mongodb://user:{s}%@localhost"),
        format!("mongodb://user:{s} x@localhost"),
        format!("mongodb://user:{s}/x@localhost/db"),
        format!("mongodb://user:{s}/x@localhost"),
        format!("mongodb://user:{s}?x@localhost"),
        format!("mongodb://user:1?{s}@localhost"),
        format!("mongodb://{s}?x@localhost"),
        format!("mongo://user:{s}@localhost"),
        format!("mongodb+srv://user:{s}@a.example.com,b.example.com"),
        format!("mongodb://user:{s}@a,b/?directConnection=true"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword={s}&tls=false"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword={s}%zz"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword={s}&tlsInsecure=true&tlsAllowInvalidCertificates=true"),
        format!("mongodb://u:p@h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN={s}"),
        format!("mongodb://u:p@h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:{s}%zz"),
    ];
    for uri in &uris {
        let (result, logs) = with_logs(|| parse(uri));
        let err = result.expect_err(uri);
        for shown in [
            err.to_string(),
            format!("{err:?}"),
            format!("{:?}", err.kind),
            logs,
        ] {
            assert!(!shown.contains(SECRET), "{uri}: {shown}");
        }
    }
    // Valid by the grammar (host "user:1", option "<secret>=x@localhost:0"), but a password
    // with an unescaped '?': refused, with a message that says to percent-encode.
    for uri in [
        format!("mongodb://user:1?{s}=x@localhost:0"),
        format!("mongodb://u:1?{s}=x@h/?w=1"),
    ] {
        let (result, logs) = with_logs(|| parse(&uri));
        let e = result.expect_err(&uri).to_string();
        assert!(
            e.contains("percent-encode") && !e.contains(SECRET),
            "{uri}: {e}"
        );
        assert!(!logs.contains(SECRET), "{uri}: {logs}");
    }
    let (result, logs) = with_logs(|| {
        parse(&format!(
            "mongodb://user:{s}@h/?foo={s}&tlsCertificateKeyFilePassword={s}&tlsCertificateKeyFilePassword={s}&appName="
        ))
    });
    result.unwrap();
    assert!(logs.contains("WARN") && !logs.contains(SECRET), "{logs}");
}

#[cfg(not(feature = "dns-srv"))]
#[test]
fn srv_without_the_dns_srv_feature_names_the_feature() {
    let e = parse("mongodb+srv://cluster0.example.com").unwrap_err();
    match &*e.kind {
        ErrorKind::NotSupported { message } => {
            assert!(message.contains("\"dns-srv\""), "{message}")
        }
        other => panic!("expected NotSupported, got {other:?}"),
    }
}

#[test]
fn crl_file_and_identity_watch() {
    let o = ok("mongodb://h/?tlsCRLFile=%2Fetc%2Fcrl.pem\
                &tlsCertificateKeyFile=%2Fetc%2Fclient.pem\
                &tlsCertificateKeyFileWatchIntervalMS=30000");
    let t = tls_options(&o);
    assert_eq!(t.crl_file_path, Some(PathBuf::from("/etc/crl.pem")));
    assert_eq!(t.cert_key_file_watch, Some(Duration::from_secs(30)));
    assert_eq!(t.cert_expiry_warning, None);
    // 0 means no watch; tlsCRLFile alone turns TLS on.
    let o = ok("mongodb://h/?tlsCertificateKeyFileWatchIntervalMS=0&tlsCRLFile=c.pem");
    assert_eq!(tls_options(&o).cert_key_file_watch, None);
    assert!(matches!(o.tls, Some(Tls::Enabled(_))));
    let message = invalid("mongodb://h/?tlsCertificateKeyFileWatchIntervalMS=soon");
    assert!(
        message.contains("tlsCertificateKeyFileWatchIntervalMS"),
        "{message}"
    );
}

/// Issue 11, item 5: an unescaped '&', '=' or '?' in a password makes pieces of it look like
/// options or hosts; none of them may be echoed, in errors or in logs.
#[test]
fn pieces_of_a_password_are_never_echoed() {
    let s = SECRET;
    let refused = [
        // The rest of the key password becomes an option without a value.
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&{s}"),
        // … or an option with an invalid value, or a value that does not decode.
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&tls={s}"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&authMechanism={s}"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&appName={s}%zz"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&readPreferenceTags={s}"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&{s}%zz=1"),
        // A '?' in the userinfo: the password would be read as a host and options.
        format!("mongodb://user:123?tls={s}@host/"),
        format!("mongodb://user:123?{s}=1@host/"),
        format!("mongodb://user:123?{s}@host"),
        // The '/?' forgotten: options in the host list or the database name (found by the
        // options_parse fuzzer).
        format!("mongodb://h1,tlsCertificateKeyFilePassword={s}&tls=true"),
        format!("mongodb://h/tlsCertificateKeyFilePassword={s}&x=$"),
        // An '&' lost: the password inside another option's value.
        format!("mongodb://h/?tls=truetlsCertificateKeyFilePassword={s}"),
        format!("mongodb://h/?readPreferenceTags=a:b,tlsCertificateKeyFilePassword={s}"),
        // … or in a value a later rule would quote (found by the options_parse fuzzer).
        format!("mongodb://h/?authSource=xtlsCertificateKeyFilePassword={s}&authMechanism=MONGODB-X509"),
        format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&authSource={s}&authMechanism=MONGODB-X509"),
        format!("mongodb://u@h/?tlsCertificateKeyFilePassword=pa&authMechanism=GSSAPI&authMechanismProperties=CANONICALIZE_HOST_NAME:{s}"),
        format!("mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=xPassword={s}:%zz"),
        format!("mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=xPassword={s}:1"),
    ];
    for uri in &refused {
        let (result, logs) = with_logs(|| parse(uri));
        let err = result.expect_err(uri);
        for shown in [err.to_string(), format!("{err:?}"), logs] {
            assert!(!shown.contains(SECRET), "{uri}: {shown}");
        }
    }
    for uri in &refused[6..9] {
        let e = parse(uri).unwrap_err().to_string();
        assert!(e.contains("percent-encode"), "{uri}: {e}");
    }
    // An unknown "option" after the key password is ignored with a warning that does not name it.
    let uri = format!("mongodb://h/?tlsCertificateKeyFilePassword=pa&{s}=1");
    let (result, logs) = with_logs(|| parse(&uri));
    result.unwrap();
    assert!(
        logs.contains("unsupported") && !logs.contains(SECRET),
        "{logs}"
    );
    // '=' in a userinfo that ends before any '?' is legal (RFC 3986 sub-delims; the Connection
    // String spec's valid-auth tests use it).
    assert!(parse("mongodb://user:a=b@host/").is_ok());
    // Before the key password, names are still quoted (they cannot be part of it).
    let e = parse("mongodb://h/?tls=maybe&tlsCertificateKeyFilePassword=pa").unwrap_err();
    assert!(e.to_string().contains("maybe"), "{e}");
}

/// `serverMonitoringMode`: stream, poll or auto, in any case; anything else is refused with the
/// values it may take; absent, the client picks `Auto`.
#[test]
fn server_monitoring_mode() {
    use mongo_x509::options::ServerMonitoringMode::{Auto, Poll, Stream};
    for (value, mode) in [
        ("stream", Stream),
        ("poll", Poll),
        ("auto", Auto),
        ("POLL", Poll),
    ] {
        let o = ok(&format!("mongodb://h/?serverMonitoringMode={value}"));
        assert_eq!(o.server_monitoring_mode, Some(mode), "{value}");
    }
    assert_eq!(ok("mongodb://h/").server_monitoring_mode, None);
    let message = invalid("mongodb://h/?serverMonitoringMode=sometimes");
    assert!(
        message.contains("serverMonitoringMode")
            && message.contains("sometimes")
            && message.contains("expected stream, poll or auto"),
        "{message}"
    );
}
