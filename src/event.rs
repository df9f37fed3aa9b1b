//! Monitoring: events a [`Client`](crate::Client) publishes about the commands it runs
//! ([`command`]), its connection pools ([`cmap`]), the deployment it follows ([`sdam`]) and
//! its TLS identity ([`identity`]), with the shapes of the MongoDB specifications (Command
//! Logging and Monitoring, Connection Monitoring and Pooling, SDAM Logging and Monitoring) and
//! the names of the official `mongodb` crate.
//!
//! Give a handler per kind in [`ClientOptions`](crate::options::ClientOptions)
//! (`command_event_handler`, `cmap_event_handler`, `sdam_event_handler`,
//! `identity_event_handler`), built from a callback, an async callback or a Tokio channel:
//!
//! ```no_run
//! use mongo_x509::event::{command::CommandEvent, EventHandler};
//! use mongo_x509::options::ClientOptions;
//! use mongo_x509::Client;
//!
//! # fn main() -> mongo_x509::error::Result<()> {
//! let options = ClientOptions::builder()
//!     .command_event_handler(EventHandler::callback(|event: CommandEvent| {
//!         if let CommandEvent::Succeeded(e) = event {
//!             println!("{} took {:?}", e.command_name, e.duration);
//!         }
//!     }))
//!     .build();
//! let client = Client::with_options(options)?;
//! # Ok(()) }
//! ```
//!
//! The same information is logged through `tracing` as the Logging specification says
//! (targets `mongo_x509::command`, `mongo_x509::connection`, `mongo_x509::server_selection`,
//! `mongo_x509::topology`; see `docs/monitoring.md`). With no handler and no subscriber
//! interested in those targets, no event is built: each operation pays one check per kind.
//!
//! Security-sensitive commands (`authenticate`, `saslStart`, `saslContinue`, `getnonce`,
//! `createUser`, `updateUser`, `copydbgetnonce`, `copydbsaslstart`, `copydb`, and a `hello`
//! carrying `speculativeAuthenticate`) are always redacted: their command and reply are empty
//! documents and a server error keeps only its code, code name and labels. A password, a
//! private key or a certificate password never appears in an event or a log line.

/// Declares event structs that share fields: each struct has its own fields, then the shared
/// ones, whose doc comments are written once here for all of them.
///
/// ```text
/// events_sharing! {
///     shared { /// Doc. pub server_address: ServerAddress, }
///     /// Doc of the event.
///     #[derive(Clone, Debug)]
///     pub struct ServerHeartbeatFailedEvent { /// Doc. pub failure: Error, }
/// }
/// ```
macro_rules! events_sharing {
    (shared $shared:tt) => {};
    (
        shared { $($shared:tt)* }
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        $($rest:tt)*
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            $($shared)*
        }
        events_sharing! { shared { $($shared)* } $($rest)* }
    };
}

pub mod cmap;
pub mod command;
pub mod identity;
pub(crate) mod log;
pub mod sdam;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_core::future::BoxFuture;

/// Where a client sends events of one kind: a callback, an async callback, or a Tokio channel.
///
/// A channel sender converts with `.into()` (or [`From`]); a closure goes through
/// [`EventHandler::callback`] or [`EventHandler::async_callback`]:
///
/// ```
/// use mongo_x509::event::{cmap::CmapEvent, command::CommandEvent, EventHandler};
/// use mongo_x509::options::ClientOptions;
///
/// # async fn f() {
/// let (tx, mut rx) = tokio::sync::mpsc::channel::<CmapEvent>(1024);
/// tokio::spawn(async move {
///     while let Some(event) = rx.recv().await {
///         println!("{event:?}");
///     }
/// });
/// let options = ClientOptions::builder()
///     .cmap_event_handler(tx)
///     .command_event_handler(EventHandler::async_callback(|event: CommandEvent| {
///         Box::pin(async move { println!("{event:?}") })
///     }))
///     .build();
/// # }
/// ```
///
/// Delivery: a callback runs on the task that caused the event, before that task goes on (keep
/// it short; it must not block). An async callback's future and a full channel's send are
/// spawned on the current Tokio runtime (or, outside one, run on a short-lived thread), so
/// those deliveries may overtake each other; a channel with room receives events in order.
/// Events of a closed channel are dropped. Two handlers are equal when one is a clone of the
/// other.
#[non_exhaustive]
pub enum EventHandler<T> {
    /// A callback, called with each event.
    Callback(Arc<dyn Fn(T) + Send + Sync>),
    /// An async callback: its future is spawned for each event.
    AsyncCallback(Arc<dyn Fn(T) -> BoxFuture<'static, ()> + Send + Sync>),
    /// A Tokio channel the events are sent to.
    TokioMpsc(tokio::sync::mpsc::Sender<T>),
}

impl<T: Send + Sync + 'static> EventHandler<T> {
    /// A handler that calls `f` with each event.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mongo_x509::event::{sdam::SdamEvent, EventHandler};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let handler = EventHandler::callback(move |e: SdamEvent| log.lock().unwrap().push(e));
    /// # let _ = handler;
    /// ```
    pub fn callback(f: impl Fn(T) + Send + Sync + 'static) -> Self {
        Self::Callback(Arc::new(f))
    }

    /// A handler that spawns the future `f` returns for each event.
    pub fn async_callback(f: impl Fn(T) -> BoxFuture<'static, ()> + Send + Sync + 'static) -> Self {
        Self::AsyncCallback(Arc::new(f))
    }

    /// Delivers one event.
    pub(crate) fn handle(&self, event: T) {
        match self {
            Self::Callback(f) => f(event),
            Self::AsyncCallback(f) => spawn_detached(f(event)),
            Self::TokioMpsc(tx) => match tx.try_send(event) {
                Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(event)) => {
                    let tx = tx.clone();
                    spawn_detached(async move {
                        let _ = tx.send(event).await;
                    });
                }
            },
        }
    }
}

/// Runs `work` on the current Tokio runtime, or on a thread of its own outside one (a client
/// created outside a runtime publishes its topology-opening events there).
fn spawn_detached(work: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(work);
        return;
    }
    std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            runtime.block_on(work);
        }
    });
}

impl<T> Clone for EventHandler<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Callback(f) => Self::Callback(Arc::clone(f)),
            Self::AsyncCallback(f) => Self::AsyncCallback(Arc::clone(f)),
            Self::TokioMpsc(tx) => Self::TokioMpsc(tx.clone()),
        }
    }
}

impl<T> fmt::Debug for EventHandler<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Closures print nothing of themselves.
        f.write_str(match self {
            Self::Callback(_) => "EventHandler::Callback(..)",
            Self::AsyncCallback(_) => "EventHandler::AsyncCallback(..)",
            Self::TokioMpsc(_) => "EventHandler::TokioMpsc(..)",
        })
    }
}

impl<T> PartialEq for EventHandler<T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Callback(a), Self::Callback(b)) => Arc::ptr_eq(a, b),
            (Self::AsyncCallback(a), Self::AsyncCallback(b)) => Arc::ptr_eq(a, b),
            (Self::TokioMpsc(a), Self::TokioMpsc(b)) => a.same_channel(b),
            _ => false,
        }
    }
}

impl<T> From<tokio::sync::mpsc::Sender<T>> for EventHandler<T> {
    fn from(tx: tokio::sync::mpsc::Sender<T>) -> Self {
        Self::TokioMpsc(tx)
    }
}
