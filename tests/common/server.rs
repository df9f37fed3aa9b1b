//! The SecantusDB test server: one per test binary, started on first use, stopped when the test
//! binary exits.
//!
//! `scripts/test_server.py` does the work (start without auth, create one MONGODB-X509 user per
//! client certificate and the password users of [`SCRAM_USERS`], restart with `--auth`, wait
//! for a TLS handshake). It keeps running until
//! its standard input closes, which happens when this process exits, however it exits; so no
//! server outlives its tests.
//!
//! Where the server comes from, in order: `$SECANTUSD` (path to `secantusd-py`, with `python3`
//! beside it or on PATH), `$SECANTUS_VENV` (a venv with `secantusdb` installed), `<repo>/.venv`
//! (what scripts/test.sh installs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use super::certs;

/// Password users on `admin` (role `root`): name, password, mechanisms. As the
/// Authentication spec's prose tests want them: one user per SCRAM mechanism, one with both
/// (whose password needs percent-encoding), and the SASLprep pair, created with their exact
/// bytes (U+2168 ROMAN NUMERAL NINE with password U+2163 ROMAN NUMERAL FOUR, which SASLprep
/// makes "IV").
pub const SCRAM_USERS: &[(&str, &str, &[&str])] = &[
    ("scram-sha1", "sha1 secret", &["SCRAM-SHA-1"]),
    ("scram-sha256", "sha256 secret", &["SCRAM-SHA-256"]),
    (
        "scram-both",
        "b0th p@ss:w\u{f6}rd/%",
        &["SCRAM-SHA-1", "SCRAM-SHA-256"],
    ),
    ("IX", "IX", &["SCRAM-SHA-256"]),
    ("\u{2168}", "\u{2163}", &["SCRAM-SHA-256"]),
];

/// A running SecantusDB with TLS, required client certificates, `--auth`, test commands, an
/// X.509 user (role `root`) for `client`, `client-ec` and `client-chain` (not for `stranger`),
/// and the password users of [`SCRAM_USERS`].
pub struct TestServer {
    /// The port it listens on at 127.0.0.1.
    pub port: u16,
    /// The certificate directory (scripts/gen-test-certs.sh).
    pub certs: PathBuf,
    // Held open for the life of the process: closing it stops the server.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds `(python, secantusd-py)` or panics saying how to install them.
fn locate() -> (PathBuf, PathBuf) {
    let how = "SecantusDB, the test server, is not installed. Run scripts/test.sh (it installs \
               it), or: python3 -m venv .venv && .venv/bin/pip install secantusdb \
               (or set SECANTUS_VENV to a venv that has it, or SECANTUSD to secantusd-py)";
    if let Some(exe) = std::env::var_os("SECANTUSD").map(PathBuf::from) {
        assert!(
            exe.exists(),
            "SECANTUSD={} does not exist. {how}",
            exe.display()
        );
        let py = exe.with_file_name("python3");
        let py = if py.exists() {
            py
        } else {
            PathBuf::from("python3")
        };
        return (py, exe);
    }
    let venv = std::env::var_os("SECANTUS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let exe = venv.join("bin/secantusd-py");
    let py = venv.join("bin/python3");
    assert!(
        exe.exists() && py.exists(),
        "{} not found. {how}",
        exe.display()
    );
    (py, exe)
}

/// The shared server, started on first call (about 5 seconds).
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(start)
}

/// A server of one's own (same users and options as [`server`]), stopped when dropped: for
/// tests that must not share fail points or server-wide state with others running at the same
/// time.
pub fn start_dedicated() -> TestServer {
    start()
}

fn start() -> TestServer {
    let certs = certs::test_certs();
    let (python, exe) = locate();
    let mut cmd = Command::new(python);
    cmd.arg(repo_root().join("scripts/test_server.py"))
        .arg("--exe")
        .arg(&exe)
        .arg("--certs")
        .arg(&certs)
        .arg("--enable-test-commands")
        .arg("--wait")
        .arg("stdin");
    for name in ["client", "client-ec", "client-chain"] {
        cmd.arg("--user").arg(certs::subject(name));
    }
    for (name, password, mechanisms) in SCRAM_USERS {
        cmd.arg("--scram-user").arg(format!(
            "{}:{}:{}",
            enc(name),
            enc(password),
            mechanisms.join(",")
        ));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run scripts/test_server.py: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading test_server.py output");
    let port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!("SecantusDB test server did not start (its log is above); got {line:?}")
        });
    TestServer {
        port,
        certs,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    }
}

impl TestServer {
    /// `localhost:PORT`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// A certificate file's full path.
    pub fn cert(&self, file: &str) -> PathBuf {
        self.certs.join(file)
    }

    /// A MONGODB-X509 connection string for a certificate-key file of the test set, with the test
    /// password (accepted and ignored for unencrypted keys) and `extra` options appended
    /// (`"tlsBackend=native-tls"`, `"maxPoolSize=8"`, …; may be empty).
    pub fn uri(&self, cert_file: &str, extra: &str) -> String {
        let mut uri = format!(
            "mongodb://{}/?tls=true&tlsCAFile={}&tlsCertificateKeyFile={}\
             &tlsCertificateKeyFilePassword={}&authMechanism=MONGODB-X509",
            self.host(),
            enc_path(&self.cert("ca.pem")),
            enc_path(&self.cert(cert_file)),
            enc(&String::from_utf8(certs::password()).expect("UTF-8 password")),
        );
        if !extra.is_empty() {
            uri.push('&');
            uri.push_str(extra);
        }
        uri
    }
}

impl TestServer {
    /// A connection string for the password user `user` (see [`SCRAM_USERS`]) with `password`
    /// (both percent-encoded here), over TLS with the test client certificate `client-pkcs8.pem`
    /// (the server requires one at the TLS layer), and `extra` appended
    /// (`"authMechanism=SCRAM-SHA-1"`, …; may be empty: the mechanism is then negotiated).
    pub fn password_uri(&self, user: &str, password: &str, extra: &str) -> String {
        let mut uri = format!(
            "mongodb://{}:{}@{}/?tls=true&tlsCAFile={}&tlsCertificateKeyFile={}\
             &tlsCertificateKeyFilePassword={}",
            enc(user),
            enc(password),
            self.host(),
            enc_path(&self.cert("ca.pem")),
            enc_path(&self.cert("client-pkcs8.pem")),
            enc(&String::from_utf8(certs::password()).expect("UTF-8 password")),
        );
        if !extra.is_empty() {
            uri.push('&');
            uri.push_str(extra);
        }
        uri
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn enc_path(p: &Path) -> String {
    enc(&p.to_string_lossy())
}
