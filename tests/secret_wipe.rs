//! Secrets leave no copy in freed memory (issue 11, item 6): a global allocator scans every
//! block freed while parsing connection strings, on success and failure paths, for the bytes
//! of the decoded `tlsCertificateKeyFilePassword` and userinfo password.
//!
//! One test function, so no other test's allocations run while the scanner is armed. The
//! connection strings hold the passwords percent-encoded byte by byte, so only a decoded copy
//! can match.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mongo_x509::options::ClientOptions;

/// The decoded password; never appears as such in a connection string below.
const NEEDLE: &[u8] = b"Qz8-wipe-me-Pw42";

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);

struct Scanner;

// SAFETY: every call is forwarded to the system allocator; `dealloc` only reads the block it
// is given (valid for `layout.size()` bytes) before freeing it. `realloc` keeps the trait's
// default (alloc, copy, dealloc), so blocks freed by a reallocation are scanned too.
unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) && layout.size() >= NEEDLE.len() {
            let block = std::slice::from_raw_parts(ptr, layout.size());
            if block.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
                HITS.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Scanner = Scanner;

fn encoded() -> String {
    NEEDLE.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn parsed_passwords_are_wiped_on_success_and_failure_paths() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // The scanner works: an unwiped copy is found.
    ARMED.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(NEEDLE.to_vec()));
    ARMED.store(false, Ordering::SeqCst);
    assert!(
        HITS.load(Ordering::SeqCst) > 0,
        "the scanner missed a plain copy"
    );

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
        HITS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        let result = rt.block_on(ClientOptions::parse(uri));
        assert_eq!(result.is_ok(), *valid, "{uri}: {:?}", result.as_ref().err());
        if let Ok(options) = &result {
            drop(options.clone());
        }
        drop(result);
        ARMED.store(false, Ordering::SeqCst);
        let hits = HITS.load(Ordering::SeqCst);
        assert_eq!(
            hits, 0,
            "{uri}: {hits} freed block(s) still held the password"
        );
    }
}
