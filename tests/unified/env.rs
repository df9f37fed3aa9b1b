//! The deployment a suite runs against: its connection string, the internal client, what the
//! server reports (version, topology, parameters), and `runOnRequirements` checked against it.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};

use bson::{doc, Bson, Document};
use mongo_x509::Client;

use super::matching::scalar_eq;
use super::spec::{parse_version, RunOnRequirement};
use crate::common;
use crate::common::server::TestServer;

/// The client certificate every test client presents: an unencrypted EC key (no decryption
/// per client, fast handshakes). Its subject has a `root` X.509 user on the test server.
pub const CERT: &str = "client-ec-pkcs8.pem";

/// Where a suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// The SecantusDB test server (tests/common/server.rs): a one-member replica set with TLS,
    /// X.509 auth and test commands.
    Server,
    /// The same server behind a load balancer ([`common::lb_proxy`]): clients connect with
    /// `loadBalanced=true`.
    LoadBalancer,
}

/// How many servers the suites share: two suites run at once, each on a server of its own
/// (fail points and other server-wide state are never shared by suites running together).
const SERVERS: usize = 2;

/// One of the [`SERVERS`], held by one suite at a time.
pub struct ServerLease {
    slot: usize,
    pub server: &'static TestServer,
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        let (free, ready) = pool();
        free.lock().unwrap().push(self.slot);
        ready.notify_one();
    }
}

fn pool() -> &'static (Mutex<Vec<usize>>, Condvar) {
    static POOL: OnceLock<(Mutex<Vec<usize>>, Condvar)> = OnceLock::new();
    POOL.get_or_init(|| (Mutex::new((0..SERVERS).collect()), Condvar::new()))
}

/// Waits for a free server (started on first use).
pub fn lease_server() -> ServerLease {
    static STARTED: [OnceLock<TestServer>; SERVERS] = [OnceLock::new(), OnceLock::new()];
    let (free, ready) = pool();
    let mut slots = free.lock().unwrap();
    let slot = loop {
        if let Some(s) = slots.pop() {
            break s;
        }
        slots = ready.wait(slots).unwrap();
    };
    drop(slots);
    let server = STARTED[slot].get_or_init(common::server::start_dedicated);
    ServerLease { slot, server }
}

/// The connection string with extra options; `true`: the load balancer fronting several
/// mongoses (load-balanced deployment only).
type BaseUri = Box<dyn Fn(&str, bool) -> String + Send + Sync>;

/// What the runner knows about the deployment.
pub struct Env {
    pub internal: Client,
    pub version: (u32, u32, u32),
    pub version_string: String,
    /// `single`, `replicaset`, `sharded` or `load-balanced`.
    pub topology: &'static str,
    /// Whether the server requires authentication.
    pub auth: bool,
    base_uri: BaseUri,
    params: Mutex<HashMap<String, Option<Bson>>>,
    _proxy: Option<common::lb_proxy::LbProxy>,
}

impl Env {
    pub async fn start(deployment: Deployment, server: &'static TestServer) -> Result<Env, String> {
        match deployment {
            Deployment::Server => {
                let base_uri = Box::new(move |extra: &str, _: bool| server.uri(CERT, extra));
                let internal = Client::with_uri_str(base_uri("", false))
                    .await
                    .map_err(|e| format!("internal client: {e}"))?;
                Env::describe(internal, base_uri, true, None).await
            }
            Deployment::LoadBalancer => {
                let proxy = common::lb_proxy::LbProxy::start(server.port, CERT)
                    .await
                    .map_err(|e| format!("starting the load balancer: {e}"))?;
                let direct = format!("localhost:{}", server.port);
                let (single, multi) = (proxy.port, proxy.multi_port);
                let direct_uri = server.uri(CERT, "");
                let base_uri = Box::new(move |extra: &str, multiple: bool| {
                    let port = if multiple { multi } else { single };
                    let through = format!("127.0.0.1:{port}");
                    let extra = if extra.is_empty() {
                        "loadBalanced=true".to_owned()
                    } else if extra.contains("loadBalanced=") {
                        extra.to_owned()
                    } else {
                        format!("loadBalanced=true&{extra}")
                    };
                    server.uri(CERT, &extra).replacen(&direct, &through, 1)
                });
                // Set-up and clean-up go to the server directly, as a test harness does.
                let internal = Client::with_uri_str(direct_uri)
                    .await
                    .map_err(|e| format!("internal client: {e}"))?;
                Env::describe(internal, base_uri, true, Some(proxy)).await
            }
        }
    }

    async fn describe(
        internal: Client,
        base_uri: BaseUri,
        auth: bool,
        proxy: Option<common::lb_proxy::LbProxy>,
    ) -> Result<Env, String> {
        let admin = internal.database("admin");
        let build = admin
            .run_command(doc! {"buildInfo": 1})
            .await
            .map_err(|e| format!("buildInfo: {e}"))?;
        let version_string = build.get_str("version").unwrap_or("0.0.0").to_owned();
        let version = match build.get_array("versionArray") {
            Ok(a) if a.len() >= 3 => {
                let n = |i: usize| super::ops::as_i64(&a[i]).unwrap_or(0) as u32;
                (n(0), n(1), n(2))
            }
            _ => parse_version(&version_string).unwrap_or((0, 0, 0)),
        };
        let hello = admin
            .run_command(doc! {"hello": 1})
            .await
            .map_err(|e| format!("hello: {e}"))?;
        let topology = if proxy.is_some() {
            "load-balanced"
        } else if hello.get_str("msg") == Ok("isdbgrid") {
            "sharded"
        } else if hello.contains_key("serviceId") {
            "load-balanced"
        } else if hello.contains_key("setName") {
            "replicaset"
        } else {
            "single"
        };
        Ok(Env {
            internal,
            version,
            version_string,
            topology,
            auth,
            base_uri,
            params: Mutex::new(HashMap::new()),
            _proxy: proxy,
        })
    }

    /// The deployment's connection string with a client entity's `uriOptions` added. Behind a
    /// load balancer, `multiple_mongoses` picks the one fronting several mongoses (Unified Test
    /// Format: when `useMultipleMongoses` is true or unset) or the one fronting a single one.
    pub fn uri_with(&self, options: &Document, multiple_mongoses: bool) -> Result<String, String> {
        let mut extra = Vec::new();
        for (k, v) in options {
            let value = |v: &Bson| -> Result<String, String> {
                Ok(match v {
                    Bson::String(s) => common::server::enc(s),
                    Bson::Boolean(b) => b.to_string(),
                    Bson::Int32(n) => n.to_string(),
                    Bson::Int64(n) => n.to_string(),
                    Bson::Double(f) => f.to_string(),
                    Bson::Document(d) if d.contains_key("$$placeholder") => {
                        return Err(format!("uriOptions.{k}: no value for a $$placeholder here"))
                    }
                    Bson::Document(d) => d
                        .iter()
                        .map(|(dk, dv)| {
                            let s = match dv {
                                Bson::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            common::server::enc(&format!("{dk}:{s}"))
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => return Err(format!("uriOptions.{k}: unsupported value {other}")),
                })
            };
            match (k.as_str(), v) {
                ("readPreferenceTags", Bson::Array(sets)) => {
                    for s in sets {
                        extra.push(format!("readPreferenceTags={}", value(s)?));
                    }
                }
                _ => extra.push(format!("{k}={}", value(v)?)),
            }
        }
        Ok((self.base_uri)(&extra.join("&"), multiple_mongoses))
    }

    /// A server parameter (`getParameter`), cached; `None` when the server does not have it.
    async fn parameter(&self, name: &str) -> Option<Bson> {
        if let Some(v) = self.params.lock().unwrap().get(name) {
            return v.clone();
        }
        let reply = self
            .internal
            .database("admin")
            .run_command(doc! {"getParameter": 1, name: 1})
            .await
            .ok();
        let v = reply.and_then(|r| r.get(name).cloned());
        self.params
            .lock()
            .unwrap()
            .insert(name.to_owned(), v.clone());
        v
    }

    /// Ok when one of the requirements holds; otherwise why none does.
    pub async fn check(&self, reqs: &Option<Vec<RunOnRequirement>>) -> Result<(), String> {
        let Some(reqs) = reqs else { return Ok(()) };
        let mut why = Vec::new();
        for r in reqs {
            match self.check_one(r).await {
                Ok(()) => return Ok(()),
                Err(e) => why.push(e),
            }
        }
        why.sort();
        why.dedup();
        Err(why.join("; or "))
    }

    async fn check_one(&self, r: &RunOnRequirement) -> Result<(), String> {
        if let Some(min) = &r.min_server_version {
            let v = parse_version(min).ok_or_else(|| format!("bad version {min}"))?;
            if self.version < v {
                return Err(format!(
                    "needs server {min}+ (this is {})",
                    self.version_string
                ));
            }
        }
        if let Some(max) = &r.max_server_version {
            let v = parse_version(max).ok_or_else(|| format!("bad version {max}"))?;
            if self.version > v {
                return Err(format!(
                    "needs server {max} or older (this is {})",
                    self.version_string
                ));
            }
        }
        if let Some(t) = &r.topologies {
            let ok = t.iter().any(|t| {
                t == self.topology || (t == "sharded-replicaset" && self.topology == "sharded")
            });
            if !ok {
                return Err(format!("needs topology {t:?} (this is {})", self.topology));
            }
        }
        if r.serverless.as_deref() == Some("require") {
            return Err("needs Atlas Serverless".into());
        }
        if let Some(auth) = r.auth {
            if auth != self.auth {
                return Err(format!(
                    "needs a server {} authentication (this one requires X.509 authentication)",
                    if auth { "with" } else { "without" }
                ));
            }
        }
        if let Some(mech) = &r.auth_mechanism {
            let mechs = self.parameter("authenticationMechanisms").await;
            let ok = mechs.as_ref().and_then(Bson::as_array).is_some_and(|a| {
                a.iter()
                    .any(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case(mech)))
            });
            if !ok {
                return Err(format!(
                    "needs auth mechanism {mech} (the server's authenticationMechanisms: {mechs:?})"
                ));
            }
        }
        if let Some(params) = &r.server_parameters {
            for (k, want) in params {
                let got = self.parameter(k).await;
                if !got.as_ref().is_some_and(|g| scalar_eq(want, g)) {
                    return Err(format!(
                        "needs server parameter {k}={want} (the server has {})",
                        got.map_or("no such parameter".to_string(), |g| g.to_string())
                    ));
                }
            }
        }
        match &r.csfle {
            None | Some(Bson::Boolean(false)) => {}
            Some(_) => {
                return Err(
                    "needs client-side field level encryption (this client has none)".into(),
                )
            }
        }
        Ok(())
    }
}
