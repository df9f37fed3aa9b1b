//! `mongodb+srv://` (Initial DNS Seedlist Discovery) against a DNS server run by the tests
//! (tests/common/dns.rs), and end to end through it to SecantusDB with X.509.

#![cfg(feature = "dns-srv")]

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::dns::{dns, unreachable_name_server, SilentDns};
use mongo_x509::bson::doc;
use mongo_x509::error::{Error, ErrorKind};
use mongo_x509::options::{ClientOptions, ResolverConfig, Tls};
use mongo_x509::Client;

async fn parse(uri: &str) -> Result<ClientOptions, Error> {
    ClientOptions::parse_with_resolver_config(uri, dns().config()).await
}

/// The hosts as `host:port`, sorted.
fn hosts(options: &ClientOptions) -> Vec<String> {
    let mut v: Vec<String> = options.hosts.iter().map(|h| h.to_string()).collect();
    v.sort();
    v
}

fn dns_error(e: Error) -> String {
    match *e.kind {
        ErrorKind::DnsResolve { message } => message,
        other => panic!("expected a DnsResolve error, got {other:?}"),
    }
}

fn invalid(e: Error) -> String {
    match *e.kind {
        ErrorKind::InvalidArgument { message } => message,
        other => panic!("expected an InvalidArgument error, got {other:?}"),
    }
}

#[tokio::test]
async fn one_host_on_the_default_port() {
    dns()
        .set_srv("_mongodb._tcp.one.mongo.test", &[("db1.mongo.test", 27017)])
        .await;
    let o = parse("mongodb+srv://one.mongo.test/").await.unwrap();
    assert_eq!(hosts(&o), ["db1.mongo.test:27017"]);
    assert!(o.srv);
    // +srv turns TLS on.
    assert!(matches!(o.tls, Some(Tls::Enabled(_))), "{:?}", o.tls);
}

#[tokio::test]
async fn several_hosts_on_non_standard_ports() {
    dns()
        .set_srv(
            "_mongodb._tcp.several.mongo.test",
            &[
                ("db1.mongo.test", 27017),
                ("db2.mongo.test", 27018),
                ("DB3.Mongo.Test", 30000),
            ],
        )
        .await;
    let o = parse("mongodb+srv://several.mongo.test").await.unwrap();
    assert_eq!(
        hosts(&o),
        [
            "db1.mongo.test:27017",
            "db2.mongo.test:27018",
            "db3.mongo.test:30000"
        ]
    );
}

#[tokio::test]
async fn tls_false_in_the_connection_string_turns_tls_off() {
    dns()
        .set_srv(
            "_mongodb._tcp.notls.mongo.test",
            &[("db1.mongo.test", 27017)],
        )
        .await;
    let o = parse("mongodb+srv://notls.mongo.test/?tls=false")
        .await
        .unwrap();
    assert!(matches!(o.tls, Some(Tls::Disabled)), "{:?}", o.tls);
}

#[tokio::test]
async fn txt_options_in_one_string() {
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.txt1.mongo.test",
        &[("db1.mongo.test", 27017)],
    )
    .await;
    d.set_txt("txt1.mongo.test", &[&["replicaSet=rs0&authSource=admin"]])
        .await;
    let o = parse("mongodb+srv://alice:pw@txt1.mongo.test/")
        .await
        .unwrap();
    assert_eq!(o.repl_set_name.as_deref(), Some("rs0"));
    assert_eq!(o.credential.unwrap().source.as_deref(), Some("admin"));
}

#[tokio::test]
async fn txt_options_in_several_strings_are_concatenated() {
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.txt2.mongo.test",
        &[("db1.mongo.test", 27017)],
    )
    .await;
    d.set_txt(
        "txt2.mongo.test",
        &[&["replicaSet=r", "s1&authSo", "urce=db2"]],
    )
    .await;
    let o = parse("mongodb+srv://alice:pw@txt2.mongo.test/")
        .await
        .unwrap();
    assert_eq!(o.repl_set_name.as_deref(), Some("rs1"));
    assert_eq!(o.credential.unwrap().source.as_deref(), Some("db2"));
}

#[tokio::test]
async fn txt_load_balanced_needs_one_host() {
    let d = dns();
    d.set_srv("_mongodb._tcp.lb1.mongo.test", &[("lb.mongo.test", 27017)])
        .await;
    d.set_txt("lb1.mongo.test", &[&["loadBalanced=true"]]).await;
    let o = parse("mongodb+srv://lb1.mongo.test").await.unwrap();
    assert_eq!(o.load_balanced, Some(true));

    d.set_srv(
        "_mongodb._tcp.lb2.mongo.test",
        &[("lb.mongo.test", 27017), ("lb.mongo.test", 27018)],
    )
    .await;
    d.set_txt("lb2.mongo.test", &[&["loadBalanced=true"]]).await;
    let m = invalid(parse("mongodb+srv://lb2.mongo.test").await.unwrap_err());
    assert!(
        m.contains("loadBalanced=true needs exactly one host"),
        "{m}"
    );
}

#[tokio::test]
async fn two_txt_records_are_an_error() {
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.txt3.mongo.test",
        &[("db1.mongo.test", 27017)],
    )
    .await;
    d.set_txt(
        "txt3.mongo.test",
        &[&["replicaSet=rs0"], &["authSource=admin"]],
    )
    .await;
    let m = dns_error(parse("mongodb+srv://txt3.mongo.test").await.unwrap_err());
    assert!(
        m.contains("2 TXT records") && m.contains("at most one"),
        "{m}"
    );
}

#[tokio::test]
async fn a_txt_record_may_set_only_three_options() {
    let d = dns();
    for (i, bad) in ["ssl=true", "tls=false", "tlsCAFile=%2Fca.pem", "w=majority"]
        .into_iter()
        .enumerate()
    {
        let name = format!("txtbad{i}.mongo.test");
        d.set_srv(
            &format!("_mongodb._tcp.{name}"),
            &[("db1.mongo.test", 27017)],
        )
        .await;
        d.set_txt(&name, &[&[&format!("replicaSet=rs0&{bad}")]])
            .await;
        let m = dns_error(parse(&format!("mongodb+srv://{name}")).await.unwrap_err());
        let key = bad.split('=').next().unwrap();
        assert!(
            m.contains(&format!("{key:?}"))
                && m.contains("only authSource, replicaSet and loadBalanced"),
            "{bad}: {m}"
        );
    }
}

#[tokio::test]
async fn the_connection_string_overrides_txt_options() {
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.txt4.mongo.test",
        &[("db1.mongo.test", 27017)],
    )
    .await;
    d.set_txt("txt4.mongo.test", &[&["replicaSet=rs0&authSource=admin"]])
        .await;
    let o = parse("mongodb+srv://alice:pw@txt4.mongo.test/?replicaSet=mine&authSource=other")
        .await
        .unwrap();
    assert_eq!(o.repl_set_name.as_deref(), Some("mine"));
    assert_eq!(o.credential.unwrap().source.as_deref(), Some("other"));
}

#[tokio::test]
async fn a_host_outside_the_domain_fails_the_whole_answer() {
    dns()
        .set_srv(
            "_mongodb._tcp.evil.mongo.test",
            &[("db1.mongo.test", 27017), ("db1.evil.example", 27017)],
        )
        .await;
    let m = dns_error(parse("mongodb+srv://evil.mongo.test").await.unwrap_err());
    assert!(
        m.contains("\"db1.evil.example\"") && m.contains("\"mongo.test\"") && m.contains("No host"),
        "{m}"
    );
}

/// `(SRV name, target, accepted)`.
async fn check_targets(cases: &[(&str, &str, bool)]) {
    for (name, target, accepted) in cases {
        dns()
            .set_srv(&format!("_mongodb._tcp.{name}"), &[(target, 27017)])
            .await;
        let result = parse(&format!("mongodb+srv://{name}")).await;
        match (accepted, result) {
            (true, Ok(o)) => assert_eq!(hosts(&o), [format!("{target}:27017")]),
            (false, Err(e)) => {
                let m = dns_error(e);
                assert!(m.contains("outside the domain"), "{name} -> {target}: {m}");
            }
            (want, got) => panic!("{name} -> {target}: accepted {want}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn names_of_one_label_need_hosts_under_them() {
    check_targets(&[
        ("onelabel", "db.onelabel", true),
        ("onelabelsame", "onelabelsame", false),
        ("onelabelother", "db.other", false),
    ])
    .await;
}

#[tokio::test]
async fn names_of_two_labels_need_hosts_under_them() {
    check_targets(&[
        ("twoa.test", "db.twoa.test", true),
        ("twob.test", "twob.test", false),
        ("twoc.test", "db.other.test", false),
    ])
    .await;
}

#[tokio::test]
async fn names_of_three_labels_or_more_share_all_but_the_first() {
    check_targets(&[
        ("three1.mongo.test", "db9.mongo.test", true),
        ("three2.mongo.test", "a.b.three2.mongo.test", true),
        ("four.three3.mongo.test", "db.three3.mongo.test", true),
        ("three4.mongo.test", "db.other.test", false),
        ("three5.mongo.test", "mongo.test", false),
    ])
    .await;
}

#[tokio::test]
async fn no_srv_records_is_an_error_saying_so() {
    let m = dns_error(
        parse("mongodb+srv://alice:s3cr3tpw@nothing.mongo.test")
            .await
            .unwrap_err(),
    );
    assert!(
        m.contains("could not resolve the SRV record _mongodb._tcp.nothing.mongo.test to hosts")
            && m.contains("no SRV records"),
        "{m}"
    );
    assert!(!m.contains("s3cr3tpw"), "the password must not show: {m}");
}

#[tokio::test]
async fn srv_max_hosts_below_equal_to_and_above_the_record_count() {
    let targets = [
        ("db1.mongo.test", 27017),
        ("db2.mongo.test", 27017),
        ("db3.mongo.test", 27017),
        ("db4.mongo.test", 27017),
    ];
    dns()
        .set_srv("_mongodb._tcp.max.mongo.test", &targets)
        .await;
    let all: Vec<String> = targets.iter().map(|(h, p)| format!("{h}:{p}")).collect();
    for n in [0, 4, 9] {
        let o = parse(&format!("mongodb+srv://max.mongo.test/?srvMaxHosts={n}"))
            .await
            .unwrap();
        assert_eq!(hosts(&o), all, "srvMaxHosts={n}");
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let o = parse("mongodb+srv://max.mongo.test/?srvMaxHosts=2")
            .await
            .unwrap();
        let h = hosts(&o);
        assert_eq!(h.len(), 2);
        assert_ne!(h[0], h[1]);
        assert!(h.iter().all(|x| all.contains(x)));
        seen.extend(h);
    }
    assert!(seen.len() > 2, "srvMaxHosts picks at random: {seen:?}");
}

#[tokio::test]
async fn srv_max_hosts_with_a_txt_replica_set_is_an_error() {
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.maxrs.mongo.test",
        &[("db1.mongo.test", 27017)],
    )
    .await;
    d.set_txt("maxrs.mongo.test", &[&["replicaSet=rs0"]]).await;
    let m = invalid(
        parse("mongodb+srv://maxrs.mongo.test/?srvMaxHosts=1")
            .await
            .unwrap_err(),
    );
    assert!(m.contains("srvMaxHosts and replicaSet"), "{m}");
}

#[tokio::test]
async fn srv_service_name_chooses_the_srv_record() {
    dns()
        .set_srv("_custom._tcp.svc.mongo.test", &[("db5.mongo.test", 27020)])
        .await;
    let o = parse("mongodb+srv://svc.mongo.test/?srvServiceName=custom")
        .await
        .unwrap();
    assert_eq!(hosts(&o), ["db5.mongo.test:27020"]);
    let m = dns_error(parse("mongodb+srv://svc.mongo.test/").await.unwrap_err());
    assert!(m.contains("_mongodb._tcp.svc.mongo.test"), "{m}");
    let m = dns_error(
        parse("mongodb+srv://svc.mongo.test/?srvServiceName=other")
            .await
            .unwrap_err(),
    );
    assert!(
        m.contains("_other._tcp.svc.mongo.test") && m.contains("srvServiceName"),
        "{m}"
    );
}

/// Parses with `config`, and checks the error comes within `connectTimeoutMS` (500 ms) plus
/// scheduling slack.
async fn dns_failure_within_connect_timeout(config: ResolverConfig) -> String {
    let start = Instant::now();
    let e = ClientOptions::parse_with_resolver_config(
        "mongodb+srv://slow.mongo.test/?connectTimeoutMS=500",
        config,
    )
    .await
    .unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    dns_error(e)
}

#[tokio::test]
async fn a_name_server_that_never_answers_times_out_within_connect_timeout() {
    let silent = SilentDns::new();
    let config =
        ResolverConfig::with_name_servers(vec![silent.addr]).timeout(Duration::from_secs(5));
    let m = dns_failure_within_connect_timeout(config).await;
    assert!(
        m.contains("500 ms (connectTimeoutMS)") && m.contains(&silent.addr.to_string()),
        "{m}"
    );
}

#[tokio::test]
async fn an_unreachable_name_server_is_a_clear_error_within_connect_timeout() {
    let addr = unreachable_name_server();
    let config = ResolverConfig::with_name_servers(vec![addr]).timeout(Duration::from_secs(5));
    let m = dns_failure_within_connect_timeout(config).await;
    assert!(
        m.contains("could not resolve the SRV record _mongodb._tcp.slow.mongo.test to hosts"),
        "{m}"
    );
}

#[tokio::test]
async fn an_empty_name_server_list_is_an_invalid_argument() {
    let e = ClientOptions::parse_with_resolver_config(
        "mongodb+srv://x.mongo.test",
        ResolverConfig::with_name_servers(vec![]),
    )
    .await
    .unwrap_err();
    assert!(invalid(e).contains("with_name_servers"));
}

#[tokio::test]
async fn a_plain_connection_string_makes_no_lookup() {
    // The silent name server would time out: a mongodb:// URI must not ask it.
    let silent = SilentDns::new();
    let o = ClientOptions::parse_with_resolver_config(
        "mongodb://a.mongo.test,b.mongo.test/",
        ResolverConfig::with_name_servers(vec![silent.addr]),
    )
    .await
    .unwrap();
    assert_eq!(hosts(&o), ["a.mongo.test:27017", "b.mongo.test:27017"]);
}

/// End to end: the SRV record names `db1.mongo.test` (A record 127.0.0.1 on the test DNS
/// server, and in the server certificate's SANs) on SecantusDB's port; the client resolves it
/// through the same name servers, verifies the certificate for that name, and authenticates
/// with X.509 and an encrypted PKCS#8 key.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
#[tokio::test]
async fn a_srv_connection_string_connects_with_x509_and_an_encrypted_key() {
    let s = common::server::server();
    let d = dns();
    d.set_srv(
        "_mongodb._tcp.e2e.mongo.test",
        &[("db1.mongo.test", s.port)],
    )
    .await;
    d.set_a("db1.mongo.test", Ipv4Addr::LOCALHOST).await;
    for backend in common::backend_names() {
        let uri = s
            .uri(
                "client-pkcs8-aes256.pem",
                &format!("tlsBackend={backend}&serverSelectionTimeoutMS=5000"),
            )
            .replacen(
                &format!("mongodb://{}/", s.host()),
                "mongodb+srv://e2e.mongo.test/",
                1,
            );
        assert!(uri.starts_with("mongodb+srv://e2e.mongo.test/?"), "{uri}");
        let options = parse(&uri).await.unwrap();
        assert_eq!(hosts(&options), [format!("db1.mongo.test:{}", s.port)]);
        let client = tokio::task::spawn_blocking(move || Client::with_options(options))
            .await
            .unwrap()
            .unwrap();
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            client.database("admin").run_command(doc! { "ping": 1 }),
        )
        .await
        .expect("ping within 20 s")
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            reply
                .get_f64("ok")
                .ok()
                .or(reply.get_i32("ok").ok().map(f64::from)),
            Some(1.0)
        );
    }
}

/// The valid `mongodb+srv://` cases of the uri-options tests (srv, connection), with the spec's
/// names served by the test DNS server.
#[tokio::test]
async fn spec_uri_options_with_srv() {
    let d = dns();
    let spec_hosts = [
        ("localhost.test.build.10gen.cc", 27017),
        ("localhost.test.build.10gen.cc", 27018),
    ];
    d.set_srv("_mongodb._tcp.test1.test.build.10gen.cc", &spec_hosts)
        .await;
    d.set_srv("_mongodb._tcp.test3.test.build.10gen.cc", &spec_hosts[..1])
        .await;
    d.set_srv(
        "_customname._tcp.test22.test.build.10gen.cc",
        &spec_hosts[..1],
    )
    .await;
    d.set_srv("_mongodb._tcp.test24.test.build.10gen.cc", &spec_hosts[..1])
        .await;
    for uri in [
        "mongodb+srv://test3.test.build.10gen.cc/?directConnection=false",
        "mongodb+srv://test22.test.build.10gen.cc/?srvServiceName=customname",
        "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=2",
        "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=2&loadBalanced=false",
        "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=0&replicaSet=foo",
        "mongodb+srv://test24.test.build.10gen.cc/?srvMaxHosts=0&loadBalanced=true",
        "mongodb+srv://test24.test.build.10gen.cc/?loadBalanced=true",
    ] {
        parse(uri)
            .await
            .unwrap_or_else(|e| panic!("{uri}: expected valid, got {e}"));
    }
    let o =
        parse("mongodb+srv://Test22.test.build.10gen.cc/?srvServiceName=customname&srvMaxHosts=2")
            .await
            .unwrap();
    assert!(o.srv);
    assert_eq!(hosts(&o), ["localhost.test.build.10gen.cc:27017"]);
    assert_eq!(o.srv_service_name.as_deref(), Some("customname"));
    assert_eq!(o.srv_max_hosts, Some(2));
    // +srv implies TLS unless the connection string says otherwise.
    for (query, enabled) in [("", true), ("?tls=false", false), ("?ssl=false", false)] {
        let o = parse(&format!("mongodb+srv://test3.test.build.10gen.cc/{query}"))
            .await
            .unwrap();
        assert_eq!(matches!(o.tls, Some(Tls::Enabled(_))), enabled, "{query}");
    }
}
