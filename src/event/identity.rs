//! TLS identity events: the client certificate was reloaded, or a reload failed (the client
//! then keeps the identity it had). Published by
//! [`Client::reload_tls_identity`](crate::Client::reload_tls_identity) and by the watch of
//! the certificate-key file
//! ([`TlsOptions::cert_key_file_watch`](crate::options::TlsOptions::cert_key_file_watch)).
//!
//! ```
//! use std::time::SystemTime;
//! use mongo_x509::event::{identity::IdentityEvent, EventHandler};
//! use mongo_x509::options::ClientOptions;
//!
//! // Alert on a failed rotation, and export the certificate's remaining lifetime.
//! let handler = EventHandler::callback(|event: IdentityEvent| match event {
//!     IdentityEvent::Reloaded(e) => {
//!         if let Some(not_after) = e.not_after {
//!             let left = not_after.duration_since(SystemTime::now()).unwrap_or_default();
//!             println!("now {:?}, valid for {} more hours", e.subject, left.as_secs() / 3600);
//!         }
//!     }
//!     IdentityEvent::ReloadFailed(e) => eprintln!("rotation failed, still {:?}: {}", e.subject, e.failure),
//!     _ => {}
//! });
//! let options = ClientOptions::builder().identity_event_handler(handler).build();
//! # let _ = options;
//! ```

use std::time::SystemTime;

use crate::error::Error;

/// What started a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadTrigger {
    /// A call to [`Client::reload_tls_identity`](crate::Client::reload_tls_identity).
    Call,
    /// The watch of the certificate-key file saw it change.
    FileWatch,
}

/// The TLS identity was reloaded: new connections present the new certificate (and
/// authenticate as its subject).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityReloadedEvent {
    /// The subject DN (RFC 2253) of the certificate before the reload.
    pub previous_subject: Option<String>,
    /// The subject DN of the certificate now in use.
    pub subject: Option<String>,
    /// When the certificate now in use expires, if the backend says.
    pub not_after: Option<SystemTime>,
    /// What started the reload.
    pub trigger: ReloadTrigger,
}

/// A reload failed (a half-written file, a wrong password, a key that does not match): the
/// client keeps its current identity.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IdentityReloadFailedEvent {
    /// Why, as returned to the caller (never the password or key bytes).
    pub failure: Error,
    /// The subject DN of the certificate still in use.
    pub subject: Option<String>,
    /// When the certificate still in use expires, if the backend says.
    pub not_after: Option<SystemTime>,
    /// What started the reload.
    pub trigger: ReloadTrigger,
}

/// A TLS identity event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IdentityEvent {
    /// The identity was reloaded.
    Reloaded(IdentityReloadedEvent),
    /// A reload failed; the identity in use did not change.
    ReloadFailed(IdentityReloadFailedEvent),
}
