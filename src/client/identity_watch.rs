//! The opt-in watch of `tlsCertificateKeyFile`: a task that polls the file's size and
//! modification time and reloads the identity when they change.
//!
//! Polling, not inotify: it works the same on every platform and through the symlink swaps
//! that Kubernetes uses for mounted secrets. The task holds only a weak reference to the
//! client and ends once the client is dropped. A failed reload (e.g. the file caught
//! half-written) is logged and the current identity kept; the next change tries again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::ClientInner;

/// What is compared between two polls.
type Fingerprint = Option<(u64, SystemTime)>;

fn fingerprint(path: &Path) -> Fingerprint {
    // `metadata` follows symlinks: a swapped link target counts as a change.
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Starts the watch on the current Tokio runtime.
pub(super) fn start(inner: &Arc<ClientInner>, path: PathBuf, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            file = %path.display(),
            "the certificate-key file watch needs a Tokio runtime; create the client inside \
             one (or call Client::reload_tls_identity yourself)"
        );
        return;
    };
    let client = Arc::downgrade(inner);
    runtime.spawn(watch(client, path, interval));
}

async fn watch(client: Weak<ClientInner>, path: PathBuf, interval: Duration) {
    let mut last = fingerprint(&path);
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = client.upgrade() else {
            return; // the client is gone
        };
        let now = fingerprint(&path);
        // A missing file (mid-swap) is no change: keep what is loaded and look again.
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        if let Some(tls) = &inner.tls {
            tracing::debug!(file = %path.display(), "certificate-key file changed; reloading");
            // The error is logged by the backend; the current identity stays in use.
            let _ = tls.reload_identity().await;
        }
    }
}
