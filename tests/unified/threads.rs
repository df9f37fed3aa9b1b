//! Thread entities: operations run on another task, in order, while the test goes on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::runner::{run_operation, TestCtx};
use super::spec::Operation;

#[derive(Clone)]
pub struct ThreadEntity {
    inner: Arc<Mutex<Thread>>,
}

struct Thread {
    tx: Option<mpsc::UnboundedSender<Operation>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl ThreadEntity {
    pub fn start(ctx: &TestCtx) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Operation>();
        let ctx = ctx.arc();
        let task = tokio::spawn(async move {
            // The first failure is the thread's result; later operations still run, as the
            // main thread does not know yet.
            let mut first = Ok(());
            while let Some(op) = rx.recv().await {
                if let Err(e) = run_operation(&op, &ctx).await {
                    if first.is_ok() {
                        first = Err(format!("on a thread, {}: {e}", op.name));
                    }
                }
            }
            first
        });
        ThreadEntity {
            inner: Arc::new(Mutex::new(Thread {
                tx: Some(tx),
                task: Some(task),
            })),
        }
    }

    pub fn send(&self, op: Operation) -> Result<(), String> {
        let t = self.inner.lock().unwrap();
        t.tx.as_ref()
            .ok_or("runOnThread after waitForThread")?
            .send(op)
            .map_err(|_| "the thread has stopped".to_string())
    }

    /// No more operations: waits for the thread to finish them, and returns its first error.
    pub async fn wait(&self, limit: Duration) -> Result<(), String> {
        let task = {
            let mut t = self.inner.lock().unwrap();
            t.tx.take();
            t.task.take()
        };
        let Some(task) = task else {
            return Err("waitForThread twice".into());
        };
        match tokio::time::timeout(limit, task).await {
            Err(_) => Err(format!("the thread did not finish within {limit:?}")),
            Ok(Err(e)) => Err(format!("the thread panicked: {e}")),
            Ok(Ok(r)) => r,
        }
    }
}
