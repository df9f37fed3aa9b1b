//! What `tracing` prints, captured for tests of log messages.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Collects what a `tracing` subscriber prints.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// A subscriber that prints every event up to `level` here, without colours.
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish()
    }

    /// Everything printed so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `f` under a subscriber that records every event up to `level`; returns its result and
/// what was logged.
pub fn with_logs<T>(level: tracing::Level, f: impl FnOnce() -> T) -> (T, String) {
    let out = Captured::default();
    let result = tracing::subscriber::with_default(out.subscriber(level), || {
        // A log callsite first hit by another test thread while this subscriber was being set
        // may keep a cached "never": recompute the cache under this subscriber first.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    (result, out.text())
}
