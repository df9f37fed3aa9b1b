//! Test certificates: made once per test binary by `scripts/gen-test-certs.sh` into
//! `target/test-certs` (or `$CARGO_TARGET_DIR/test-certs`).
//!
//! Several test binaries may run at once: each generates into its own temporary directory and
//! renames it into place; whoever renames first wins and the others use its files. A directory
//! older than 180 days is replaced, so the certificates (valid 825 days) never expire under a
//! long-lived checkout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const MAX_AGE: Duration = Duration::from_secs(180 * 24 * 3600);

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
            }
        }
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// The directory with every file listed in the header of `scripts/gen-test-certs.sh`,
/// generated on first use. Panics, saying what to install, when the `openssl` CLI is missing.
pub fn test_certs() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("test-certs");
        if is_fresh(&dir) {
            return dir;
        }
        generate_into(&dir);
        dir
    })
    .clone()
}

/// Complete (the script writes subjects.txt last and the directory appears by rename), recent,
/// and made by the current script (a changed script, e.g. a new SAN, makes them again).
fn is_fresh(dir: &Path) -> bool {
    let Ok(made) = std::fs::metadata(dir.join("subjects.txt")).and_then(|m| m.modified()) else {
        return false;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-test-certs.sh");
    if let Ok(changed) = std::fs::metadata(script).and_then(|m| m.modified()) {
        if changed > made {
            return false;
        }
    }
    let age = SystemTime::now().duration_since(made).unwrap_or_default();
    age < MAX_AGE
}

fn generate_into(dir: &Path) {
    if Command::new("openssl").arg("version").output().is_err() {
        panic!(
            "the openssl command-line tool is needed to generate the test certificates \
             (scripts/gen-test-certs.sh): install it (Debian/Ubuntu: `apt-get install openssl`, \
             Fedora: `dnf install openssl`, macOS: `brew install openssl`) and put it on PATH"
        );
    }
    let parent = dir.parent().expect("test-certs has a parent directory");
    std::fs::create_dir_all(parent).expect("create the target directory");
    let unique = format!(
        "test-certs.tmp-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let tmp = parent.join(unique);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-test-certs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&tmp)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); is bash installed?", script.display()));
    if !out.status.success() || !tmp.join("subjects.txt").exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        panic!(
            "{} failed ({}):\n{}\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A stale directory is moved aside first (renaming onto a non-empty directory fails).
    if dir.exists() && !is_fresh(dir) {
        let old = parent.join(format!("test-certs.old-{}", std::process::id()));
        if std::fs::rename(dir, &old).is_ok() {
            let _ = std::fs::remove_dir_all(&old);
        }
    }
    if std::fs::rename(&tmp, dir).is_err() {
        // Another test binary got there first: use its files.
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            is_fresh(dir),
            "could not put the test certificates in {}",
            dir.display()
        );
    }
}

/// The password of every encrypted test file (`password.txt`, not valid ASCII on purpose).
pub fn password() -> Vec<u8> {
    std::fs::read(test_certs().join("password.txt")).expect("read password.txt")
}

/// The RFC 2253 subject DN of a test identity (`client`, `client-ec`, `client-chain`,
/// `stranger`), as OpenSSL prints it (`subjects.txt`).
pub fn subject(name: &str) -> String {
    let text =
        std::fs::read_to_string(test_certs().join("subjects.txt")).expect("read subjects.txt");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no subject for {name:?} in subjects.txt"))
        .to_owned()
}

/// An OpenSSL acceptor serving `server_pem` (certificate and key) that requires a client
/// certificate signed by the test CA: the server side of the handshake tests and benches.
pub fn client_cert_acceptor(server_pem: &str) -> openssl::ssl::SslAcceptor {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let certs = test_certs();
    let pem = certs.join(server_pem);
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .expect("OpenSSL server context");
    acceptor
        .set_certificate_chain_file(&pem)
        .expect("server certificate");
    acceptor
        .set_private_key_file(&pem, SslFiletype::PEM)
        .expect("server key");
    acceptor
        .set_ca_file(certs.join("ca.pem"))
        .expect("server CA");
    acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    acceptor.build()
}
