//! Helpers shared by the integration tests and benches. Each binary uses only some of them,
//! hence the `allow(dead_code)` (on the items, so that an includer's own allow is no duplicate).

#[allow(dead_code)]
pub mod certs;
#[allow(dead_code)]
pub mod compression;
#[cfg(feature = "dns-srv")]
#[allow(dead_code)]
pub mod dns;
#[allow(dead_code)]
pub mod fake_deployment;
#[allow(dead_code)]
pub mod lb_proxy;
#[allow(dead_code)]
pub mod logs;
#[allow(dead_code)]
pub mod mutations;
#[allow(dead_code)]
pub mod server;

use mongo_x509::options::TlsBackendKind;

/// The TLS backends compiled into this binary (OpenSSL first).
#[allow(dead_code)]
pub fn backends() -> Vec<TlsBackendKind> {
    let mut v = Vec::new();
    if cfg!(feature = "openssl") {
        v.push(TlsBackendKind::OpenSsl);
    }
    if cfg!(feature = "native-tls") {
        v.push(TlsBackendKind::NativeTls);
    }
    v
}

/// The names of [`backends`], as the `tlsBackend` URI option takes them.
#[allow(dead_code)]
pub fn backend_names() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "openssl") {
        v.push("openssl");
    }
    if cfg!(feature = "native-tls") {
        v.push("native-tls");
    }
    v
}
