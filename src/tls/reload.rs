//! Certificate rotation: a built-in backend behind a swappable pointer.
//!
//! Every connection takes a snapshot of the current backend for its handshake, so a reload
//! never touches a connection that is open or being opened: new connections use the new
//! identity, old ones keep the one they shook hands with. A reload that fails leaves the
//! current backend in place.

use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use zeroize::Zeroize;

use super::{build_builtin, BoxStream, TlsBackend};
use crate::error::{Error, Result};
use crate::options::TlsOptions;

/// A built-in backend that can be rebuilt from its options.
pub(crate) struct Reloadable {
    name: String,
    /// What the backend was built from; the password and in-memory key are zeroized on drop.
    opts: TlsOptions,
    current: RwLock<Arc<dyn TlsBackend>>,
    /// One reload at a time: two concurrent reloads would race to swap.
    reloading: tokio::sync::Mutex<()>,
}

impl Reloadable {
    pub(crate) fn new(opts: &TlsOptions) -> Result<Self> {
        let backend = build_builtin(opts)?;
        Ok(Self {
            name: backend.name().to_owned(),
            opts: opts.clone(),
            current: RwLock::new(backend),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<dyn TlsBackend> {
        // A poisoned lock still holds a valid backend: the swap is a single assignment.
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn swap(&self, backend: Arc<dyn TlsBackend>) {
        match self.current.write() {
            Ok(mut guard) => *guard = backend,
            Err(poisoned) => *poisoned.into_inner() = backend,
        }
    }
}

impl Drop for Reloadable {
    fn drop(&mut self) {
        if let Some(p) = &mut self.opts.tls_certificate_key_file_password {
            p.zeroize();
        }
        if let Some(d) = &mut self.opts.cert_key_data {
            d.zeroize();
        }
    }
}

impl fmt::Debug for Reloadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The current backend's own Debug, which prints no key material.
        fmt::Debug::fmt(&*self.current(), f)
    }
}

#[async_trait]
impl TlsBackend for Reloadable {
    fn name(&self) -> &str {
        &self.name
    }

    fn client_subject(&self) -> Option<String> {
        self.current().client_subject()
    }

    fn client_certificate_not_after(&self) -> Option<std::time::SystemTime> {
        self.current().client_certificate_not_after()
    }

    async fn connect(&self, host: &str, stream: BoxStream) -> Result<BoxStream> {
        self.current().connect(host, stream).await
    }

    async fn connect_with_subject(
        &self,
        host: &str,
        stream: BoxStream,
    ) -> Result<(BoxStream, Option<String>)> {
        // One snapshot for both: the subject is the one of the certificate sent.
        self.current().connect_with_subject(host, stream).await
    }

    async fn reload_identity(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let opts = self.opts.clone();
        let previous = self.client_subject();
        // Reading files and decrypting (scrypt takes tens of milliseconds on purpose) is
        // blocking work: off the async workers.
        let built = tokio::task::spawn_blocking(move || {
            let mut opts = opts;
            let built = build_builtin(&opts);
            if let Some(p) = &mut opts.tls_certificate_key_file_password {
                p.zeroize();
            }
            if let Some(d) = &mut opts.cert_key_data {
                d.zeroize();
            }
            built
        })
        .await
        .map_err(|e| Error::internal(format!("the identity reload task failed: {e}")))?;
        match built {
            Ok(backend) => {
                let subject = backend.client_subject();
                self.swap(backend);
                tracing::info!(
                    previous = previous.as_deref().unwrap_or("none"),
                    subject = subject.as_deref().unwrap_or("none"),
                    "TLS identity reloaded; new connections use it"
                );
                Ok(())
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "TLS identity reload failed; keeping the current identity"
                );
                Err(e)
            }
        }
    }
}
