//! The runtime a blocking client owns: a current-thread Tokio runtime driven by one thread of
//! its own, which runs the client's background work (server monitors, pool maintenance, the
//! certificate-file watch, SRV polling, cursor clean-up); and [`Runtime::block_on`], which runs
//! an action on the calling thread with that runtime as its context.
//!
//! The action is polled on the caller's thread rather than sent to the runtime's: it borrows
//! the caller's handles and session, so it cannot be spawned. Its sockets and timers register
//! with the runtime (entered for the call), whose thread drives them and wakes the caller.
//! Tokio's own `block_on` would do the same but refuses (panics) on a thread that is running
//! another runtime's task; parking the thread does not, so the blocking API also works, by
//! blocking, inside async code.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::Result;

/// The name of the runtime's thread (and of its blocking-pool threads). Linux shows at most 15
/// bytes of a thread name: this is exactly 15.
pub(crate) const THREAD_NAME: &str = "mongo-x509-sync";

/// How long dropping the last handle waits for blocking work still running (a key being
/// decrypted for a reload, a host name being resolved) before leaving it to finish alone.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The runtime of a blocking client, shared by all its handles (`Arc`); stopped, and its thread
/// joined, when the last handle is dropped.
pub struct Runtime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("thread", &self.thread.as_ref().map(|t| t.thread().id()))
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the runtime and its thread.
    pub(crate) fn start() -> Result<Arc<Self>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(THREAD_NAME)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                // Runs the spawned tasks, the I/O and the timers until the last handle is gone
                // (the sender dropped counts too).
                let _ = runtime.block_on(stopped);
                // Drops the background tasks (monitors, watches), closing their connections.
                runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            })?;
        Ok(Arc::new(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }))
    }

    /// Makes this runtime the current one until the guard is dropped: what is spawned (a
    /// monitor, a `killCursors`, a transaction's abort) runs on it.
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle.enter()
    }

    /// Runs `future` to completion on the calling thread, in this runtime's context, parking
    /// the thread while it waits.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _context = self.enter();
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // A wake-up that came before this is kept (the thread's token): none is lost.
            thread::park();
        }
    }

    /// The runtime's own thread (for tests: it ends when the runtime does).
    #[cfg(test)]
    pub(crate) fn thread(&self) -> Option<&Thread> {
        self.thread.as_ref().map(|t| t.thread())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Never joins itself (a handle dropped by a task of this runtime): the thread then
            // ends on its own.
            if thread.thread().id() != thread::current().id() {
                // A panic there was already reported; dropping must not panic again.
                let _ = thread.join();
            }
        }
    }
}

/// Wakes the thread that polls a [`Runtime::block_on`] future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends on a channel when dropped.
    struct DropSignal(std::sync::mpsc::Sender<()>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    #[test]
    fn block_on_runs_timers_and_spawned_tasks_and_drop_ends_them_before_returning() {
        let runtime = Runtime::start().unwrap();
        let (tx, rx) = oneshot::channel();
        let spawned = runtime.block_on(async {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx.send(thread::current().name().map(str::to_owned));
            });
            rx.await.unwrap()
        });
        assert_eq!(
            spawned.as_deref(),
            Some(THREAD_NAME),
            "spawned on the runtime"
        );
        assert_eq!(runtime.thread().unwrap().name(), Some(THREAD_NAME));

        // A background task that never ends on its own, like a monitor.
        let (dropped_tx, dropped) = std::sync::mpsc::channel();
        runtime.block_on(async {
            let signal = DropSignal(dropped_tx);
            tokio::spawn(async move {
                let _signal = signal;
                std::future::pending::<()>().await
            });
        });
        let started = std::time::Instant::now();
        drop(runtime);
        assert!(
            started.elapsed() < SHUTDOWN_TIMEOUT,
            "no wait on an idle runtime"
        );
        assert_eq!(
            dropped.try_recv(),
            Ok(()),
            "the task was dropped, with its runtime, before drop returned"
        );
    }

    #[test]
    fn block_on_works_inside_another_runtime() {
        let runtime = Runtime::start().unwrap();
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let value = outer.block_on(async {
            // Tokio's own block_on panics here ("Cannot start a runtime from within a
            // runtime"); this one blocks the outer runtime's thread and completes.
            let value = runtime.block_on(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                tokio::spawn(async { 7 }).await.unwrap()
            });
            // Dropping the last handle inside async code does not panic either.
            drop(runtime);
            value
        });
        assert_eq!(value, 7);
    }
}
