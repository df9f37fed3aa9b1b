//! Secrets leave no copy in freed memory: a global allocator scans every block freed while it
//! is armed for the bytes of a secret.
//!
//! - While connection strings are parsed, on success and failure paths: the decoded
//!   `tlsCertificateKeyFilePassword` and userinfo password. The connection strings hold the
//!   passwords percent-encoded byte by byte, so only a decoded copy can match.
//! - While certificate-key files are read and decoded by each backend: the private key, as PEM
//!   text and as DER. Read from a FIFO (its size is 0 when checked, then it grows while it is
//!   read), with a non-UTF-8 byte outside or inside the key block, encrypted, and PKCS#12.
//!
//! The scanner is armed per thread: each test sees only the blocks its own thread frees.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use mongo_x509::options::ClientOptions;

/// The decoded password; never appears as such in a connection string below.
const NEEDLE: &[u8] = b"Qz8-wipe-me-Pw42";

/// The secrets looked for: set once, before the first arming.
static NEEDLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
static HITS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

struct Scanner;

// SAFETY: every call is forwarded to the system allocator; `dealloc` only reads the block it
// is given (valid for `layout.size()` bytes) before freeing it, and reads the needles and the
// thread-local flag (const-initialised, no destructor) without allocating. `realloc` keeps the
// trait's default (alloc, copy, dealloc), so blocks freed by a reallocation are scanned too.
unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.with(Cell::get) {
            if let Some(needles) = NEEDLES.get() {
                let block = std::slice::from_raw_parts(ptr, layout.size());
                for needle in needles {
                    if block.len() >= needle.len()
                        && block.windows(needle.len()).any(|w| w == &needle[..])
                    {
                        HITS.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Scanner = Scanner;

/// Runs `f` with the scanner armed on this thread; returns what it returned and the number of
/// freed blocks that held a secret.
fn scanned<T>(f: impl FnOnce() -> T) -> (T, usize) {
    HITS.store(0, Ordering::SeqCst);
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, HITS.load(Ordering::SeqCst))
}

fn encoded() -> String {
    NEEDLE.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn parsed_passwords_are_wiped_on_success_and_failure_paths() {
    needles();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // The scanner works: an unwiped copy is found.
    let ((), hits) = scanned(|| drop(std::hint::black_box(NEEDLE.to_vec())));
    assert!(hits > 0, "the scanner missed a plain copy");

    let p = encoded();
    let cases = [
        // Success: the options are dropped, or cloned and both dropped.
        (format!("mongodb://h/?tls=true&tlsCertificateKeyFilePassword={p}"), true),
        (format!("mongodb://u:{p}@h/?authMechanism=PLAIN"), true),
        // A later option fails to parse, or a rule across options fails.
        (format!("mongodb://h/?tlsCertificateKeyFilePassword={p}&connectTimeoutMS=x"), false),
        (format!("mongodb://h/?tlsCertificateKeyFilePassword={p}&tls=false"), false),
        (format!("mongodb://h/?tlsCertificateKeyFilePassword={p}&tlsInsecure=true&tlsAllowInvalidCertificates=true"), false),
        (format!("mongodb://h/?tlsCertificateKeyFilePassword={p}%zz"), false),
        (format!("mongodb://u:{p}@h/?authMechanism=MONGODB-X509"), false),
        (format!("mongodb://u:{p}@h/?connectTimeoutMS=x"), false),
        (format!("mongodb://u:{p}%FF@h/"), false),
        (format!("mongodb://u:{p}@h/?tlsCertificateKeyFilePassword={p}&directConnection=true&replicaSet=a&loadBalanced=true"), false),
    ];
    for (uri, valid) in &cases {
        let ((), hits) = scanned(|| {
            let result = rt.block_on(ClientOptions::parse(uri));
            assert_eq!(result.is_ok(), *valid, "{uri}: {:?}", result.as_ref().err());
            if let Ok(options) = &result {
                drop(options.clone());
            }
        });
        assert_eq!(
            hits, 0,
            "{uri}: {hits} freed block(s) still held the password"
        );
    }
}

/// The private key of `client.crt` (`client.key`, PKCS#8 PEM), as text and as DER.
#[cfg(any(feature = "openssl", feature = "native-tls"))]
struct Key {
    pem: String,
    der: Vec<u8>,
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
fn client_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let pem = std::fs::read_to_string(common::certs::test_certs().join("client.key")).unwrap();
        let der = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes())
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        Key { pem, der }
    })
}

/// Sets the needles (once per process): the password, and with a backend, a line of the key's
/// base64 and 24 bytes from the middle of its DER.
fn needles() {
    NEEDLES.get_or_init(|| {
        #[allow(unused_mut)]
        let mut v = vec![NEEDLE.to_vec()];
        #[cfg(any(feature = "openssl", feature = "native-tls"))]
        {
            let key = client_key();
            let line = key.pem.lines().nth(3).unwrap();
            v.push(line.as_bytes()[..32].to_vec());
            let middle = key.der.len() / 2;
            v.push(key.der[middle..middle + 24].to_vec());
        }
        v
    });
}

#[cfg(any(feature = "openssl", feature = "native-tls"))]
mod common;

/// A FIFO at `path` that a thread fills with `bytes` once a reader opens it: its size is 0
/// when the reader checks it, and it grows while it is read.
#[cfg(all(unix, any(feature = "openssl", feature = "native-tls")))]
fn fifo(path: &std::path::Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils) is needed to make a FIFO");
    assert!(made.success(), "mkfifo {}", path.display());
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut writer = std::fs::File::options().write(true).open(&path).unwrap();
        // In pieces, so that the reader sees the file grow.
        for piece in bytes.chunks(256) {
            writer.write_all(piece).unwrap();
        }
    })
}

/// Every file-reading path of every backend leaves no copy of the key in freed memory: a
/// file that grows between its size check and its read (a FIFO), a PEM file with a non-UTF-8
/// byte after the key (loads) or inside it (refused), an encrypted PKCS#8 file and a PKCS#12
/// file read from a FIFO.
#[cfg(all(unix, any(feature = "openssl", feature = "native-tls")))]
#[test]
fn key_files_leave_no_copy_of_the_key_in_freed_memory() {
    use mongo_x509::options::TlsOptions;
    use mongo_x509::tls::build_backend;

    needles();
    let certs = common::certs::test_certs();
    let key = client_key();
    let cert = std::fs::read(certs.join("client.crt")).unwrap();
    let mut key_first = key.pem.clone().into_bytes();
    key_first.extend_from_slice(&cert);
    let mut trailing = key_first.clone();
    trailing.extend_from_slice(b"# exported by \xff\xfe a tool\n");
    // After the line the needle comes from, inside the key block.
    let mut inside = key_first.clone();
    let at = key.pem.lines().take(6).map(|l| l.len() + 1).sum::<usize>() + 10;
    inside[at] = 0xff;
    let encrypted = std::fs::read(certs.join("client-pkcs8-aes256.pem")).unwrap();
    let pkcs12 = std::fs::read(certs.join("client.p12")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    // (name, bytes, through a FIFO, password, loads)
    let cases: Vec<(&str, &[u8], bool, bool, bool)> = vec![
        ("key first", &key_first, false, false, true),
        ("key first, FIFO", &key_first, true, false, true),
        ("non-UTF-8 after the key", &trailing, false, false, true),
        (
            "non-UTF-8 after the key, FIFO",
            &trailing,
            true,
            false,
            true,
        ),
        ("non-UTF-8 inside the key", &inside, false, false, false),
        ("encrypted PKCS#8, FIFO", &encrypted, true, true, true),
        ("PKCS#12, FIFO", &pkcs12, true, true, true),
    ];
    let mut leaks = Vec::new();
    for backend in common::backends() {
        for (i, (what, bytes, through_fifo, with_password, loads)) in cases.iter().enumerate() {
            let what = format!("{} / {what}", backend.name());
            let path = dir.path().join(format!("{}-{i}", backend.name()));
            let writer = if *through_fifo {
                Some(fifo(&path, bytes.to_vec()))
            } else {
                std::fs::write(&path, bytes).unwrap();
                None
            };
            let mut opts = TlsOptions::builder()
                .cert_key_file_path(path.clone())
                .backend(backend.clone())
                .build();
            if *with_password {
                opts.tls_certificate_key_file_password = Some(common::certs::password());
            }
            let (loaded, hits) = scanned(|| {
                let built = build_backend(&opts);
                let loaded = built.as_ref().map(|_| ()).map_err(|e| e.to_string());
                drop(built);
                loaded
            });
            if let Some(writer) = writer {
                writer.join().unwrap();
            }
            assert_eq!(loaded.is_ok(), *loads, "{what}: {loaded:?}");
            if hits > 0 {
                leaks.push(format!("{what}: {hits} freed block(s) still held the key"));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}
