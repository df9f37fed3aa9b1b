//! The opt-in watch of `tlsCertificateKeyFile`: a task that polls the file's identity (device
//! and inode), size, modification time and status-change time, and reloads the identity when
//! they change.
//!
//! Polling, not inotify: it works the same on every platform and through the symlink swaps
//! that Kubernetes uses for mounted secrets. The task holds only a weak reference to the
//! client and ends once the client is dropped. The baseline is taken before the identity is
//! first loaded, so a change made while the client loads it is seen at the first poll. A
//! failed reload (the file caught half-written, or not readable yet) keeps the current
//! identity, is logged, and is tried again at every poll until one succeeds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::ClientInner;
use crate::event::identity::ReloadTrigger;

/// What is compared between two polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file renamed over the old one is another file, whatever its size
    /// and times.
    #[cfg(unix)]
    file: (u64, u64),
    /// The status-change time (seconds, nanoseconds): a `chmod`, or a rewrite that sets the
    /// modification time back, moves it.
    #[cfg(unix)]
    changed: (i64, i64),
}

/// The file's fingerprint; `None` when it cannot be read (missing mid-swap).
pub(super) fn fingerprint(path: &Path) -> Option<Fingerprint> {
    // `metadata` follows symlinks: a swapped link target counts as a change.
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    Some(Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        file: (meta.dev(), meta.ino()),
        #[cfg(unix)]
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The watch's decisions, apart from the clock and the file system.
#[derive(Debug)]
struct Watch {
    /// The file as it was when the identity in use was read (taken before reading it).
    loaded: Option<Fingerprint>,
    /// How many reloads in a row failed since the last success.
    failures: u32,
}

impl Watch {
    fn new(baseline: Option<Fingerprint>) -> Self {
        Self {
            loaded: baseline,
            failures: 0,
        }
    }

    /// Whether to reload, seeing the file as `now`: when it changed since the identity in use
    /// was read, or while the last attempt failed. A missing file (mid-swap) waits.
    fn should_reload(&self, now: Option<&Fingerprint>) -> bool {
        now.is_some() && (self.failures > 0 || now != self.loaded.as_ref())
    }

    /// Records the outcome of a reload of the file as it was (`seen`) just before it was read.
    fn reloaded(&mut self, seen: Option<Fingerprint>, ok: bool) {
        if ok {
            self.loaded = seen;
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
        }
    }
}

/// Starts the watch on the current Tokio runtime; `baseline` is the file as it was before the
/// identity was first loaded.
pub(super) fn start(
    inner: &Arc<ClientInner>,
    path: PathBuf,
    interval: Duration,
    baseline: Option<Fingerprint>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            file = %path.display(),
            "the certificate-key file watch needs a Tokio runtime; create the client inside \
             one (or call Client::reload_tls_identity yourself)"
        );
        return;
    };
    let client = Arc::downgrade(inner);
    runtime.spawn(watch(client, path, interval, baseline));
}

async fn watch(
    client: Weak<ClientInner>,
    path: PathBuf,
    interval: Duration,
    baseline: Option<Fingerprint>,
) {
    let mut state = Watch::new(baseline);
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = client.upgrade() else {
            return; // the client is gone
        };
        let now = fingerprint(&path);
        if !state.should_reload(now.as_ref()) {
            continue;
        }
        let Some(tls) = &inner.tls else {
            return;
        };
        tracing::debug!(file = %path.display(), "certificate-key file changed; reloading");
        // The backend logs the error itself (and it is published as an identity event); the
        // current identity stays in use. A success drains every pool to the new identity.
        let ok = inner
            .reload_identity(tls.as_ref(), ReloadTrigger::FileWatch)
            .await
            .is_ok();
        state.reloaded(now, ok);
        if state.failures == 1 {
            tracing::warn!(
                file = %path.display(),
                "the changed certificate-key file could not be loaded; keeping the current \
                 identity and trying again every {interval:?} until it loads"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reload_is_tried_again_until_one_succeeds() {
        let first = Fingerprint {
            len: 1,
            modified: None,
            #[cfg(unix)]
            file: (1, 1),
            #[cfg(unix)]
            changed: (1, 0),
        };
        let (a, b) = (Some(first), Some(Fingerprint { len: 2, ..first }));
        let mut w = Watch::new(a);
        assert!(!w.should_reload(a.as_ref()), "unchanged");
        assert!(!w.should_reload(None), "missing mid-swap");
        assert!(w.should_reload(b.as_ref()));
        w.reloaded(b, false);
        // The file has not changed since, yet the next poll tries again, and the next.
        assert!(w.should_reload(b.as_ref()));
        w.reloaded(b, false);
        assert!(w.should_reload(b.as_ref()));
        assert!(!w.should_reload(None), "missing mid-swap");
        w.reloaded(b, true);
        assert!(!w.should_reload(b.as_ref()), "loaded");
        // Back to the old file: a change like any other.
        assert!(w.should_reload(a.as_ref()));
    }

    #[cfg(unix)]
    #[test]
    fn the_fingerprint_sees_changes_that_keep_size_and_modification_time() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.pem");
        std::fs::write(&path, b"first version").unwrap();
        let first = fingerprint(&path).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let same_times = |path: &Path| {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        };

        // Rewritten in place, same size, modification time set back: the ctime moved.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"other version").unwrap();
        same_times(&path);
        let rewritten = fingerprint(&path).unwrap();
        assert_eq!(
            (rewritten.len, rewritten.modified),
            (first.len, first.modified)
        );
        assert_ne!(rewritten, first);

        // Made readable: only the ctime moves.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let locked = fingerprint(&path).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(fingerprint(&path).unwrap(), locked);

        // Another file renamed over it, same size and times: the inode differs.
        let other = dir.path().join("client.pem.tmp");
        std::fs::write(&other, b"third version").unwrap();
        same_times(&other);
        let before = fingerprint(&path).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let renamed = fingerprint(&path).unwrap();
        assert_eq!(
            (renamed.len, renamed.modified),
            (before.len, before.modified)
        );
        assert_ne!(renamed.file, before.file);
    }
}
