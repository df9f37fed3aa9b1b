//! Identity loading per key format and backend, and proof that connections reuse it.
//!
//! - `build_backend/<backend>/<format>`: building a TLS backend from `TlsOptions`, i.e. reading
//!   the certificate-key file, decrypting the key and setting up the TLS context. This is paid
//!   once per client.
//! - `identity-loads:` lines: one backend opens 50 TLS connections to a local OpenSSL server
//!   (client certificates required); the number of identity loads is counted, not timed, and
//!   must be 1.
//!
//! Run with `scripts/bench.sh identity` or `cargo bench --features openssl,native-tls --bench
//! identity`.

use std::net::TcpListener;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mongo_x509::options::{TlsBackendKind, TlsOptions};
use mongo_x509::tls::{build_backend, identity_loads};
use tokio::io::AsyncReadExt;

#[path = "../tests/common/mod.rs"]
mod common;

use common::certs::{password, test_certs};

/// (name in the report, file, encrypted)
const FORMATS: &[(&str, &str, bool)] = &[
    ("pkcs8-plain", "client-pkcs8.pem", false),
    ("pkcs8-aes256", "client-pkcs8-aes256.pem", true),
    ("pkcs8-scrypt", "client-pkcs8-scrypt.pem", true),
    ("legacy-pem-aes256", "client-legacy-aes256.pem", true),
    ("pkcs12-modern", "client.p12", true),
    ("pkcs12-legacy", "client-legacy.p12", true),
];

fn options(backend: &TlsBackendKind, file: &str, encrypted: bool) -> TlsOptions {
    let certs = test_certs();
    let mut opts = TlsOptions::builder()
        .ca_file_path(certs.join("ca.pem"))
        .cert_key_file_path(certs.join(file))
        .build();
    if encrypted {
        opts.tls_certificate_key_file_password = Some(password());
    }
    opts.backend = Some(backend.clone());
    opts
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build_backend");
    // scrypt and PKCS#12 cost tens of milliseconds each: few samples are enough.
    group.sample_size(10);
    for backend in common::backends() {
        for (name, file, encrypted) in FORMATS {
            let opts = options(&backend, file, *encrypted);
            // A format that does not load is a failure, not a row left out of the report.
            if let Err(e) = build_backend(&opts) {
                panic!("build_backend/{}/{name} failed: {e}", backend.name());
            }
            group.bench_with_input(
                BenchmarkId::new(backend.name().to_owned(), name),
                &opts,
                |b, opts| b.iter(|| build_backend(opts).expect("backend")),
            );
        }
    }
    group.finish();
}

/// Starts a TLS server that requires client certificates, greets each client and closes.
fn start_server() -> std::net::SocketAddr {
    let acceptor = common::certs::client_cert_acceptor("server.pem");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            if let Ok(mut tls) = acceptor.accept(tcp) {
                let _ = std::io::Write::write_all(&mut tls, b"hello");
                let _ = tls.shutdown();
            }
        }
    });
    addr
}

/// Not a timing: 50 connections from one backend must load the identity once.
fn fifty_connections(_c: &mut Criterion) {
    let addr = start_server();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    for backend in common::backends() {
        for (name, file, encrypted) in FORMATS {
            let before = identity_loads();
            let Ok(built) = build_backend(&options(&backend, file, *encrypted)) else {
                continue; // reported by the build group
            };
            runtime.block_on(async {
                for i in 0..50 {
                    let tcp = tokio::net::TcpStream::connect(addr).await.expect("TCP");
                    let mut tls = built
                        .connect("localhost", Box::new(tcp))
                        .await
                        .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                    let mut greeting = [0u8; 5];
                    tls.read_exact(&mut greeting)
                        .await
                        .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                }
            });
            let loads = identity_loads() - before;
            println!(
                "identity-loads: {}/{name}: 50 connections, {loads} identity load(s)",
                backend.name()
            );
            assert_eq!(loads, 1, "{}/{name}", backend.name());
        }
    }
}

criterion_group!(benches, build, fifty_connections);
criterion_main!(benches);
