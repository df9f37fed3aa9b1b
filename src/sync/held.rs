//! [`Held`]: an async value kept by a blocking handle, with the runtime it needs.

use std::sync::Arc;

use super::Runtime;

/// An async handle (client, cursor, session, …) and a share of the client's runtime. The
/// value is dropped inside the runtime's context, so that what its drop starts in the
/// background (a `killCursors`, a transaction's abort, an abandoned upload's clean-up) runs on
/// that runtime; then the share is released, the last one stopping the runtime.
pub(crate) struct Held<T> {
    /// `None` only while being dropped or taken apart.
    value: Option<T>,
    runtime: Arc<Runtime>,
}

const PRESENT: &str = "a held value is only taken by drop or into_parts";

impl<T> Held<T> {
    pub(crate) fn new(value: T, runtime: Arc<Runtime>) -> Self {
        Self {
            value: Some(value),
            runtime,
        }
    }

    pub(crate) fn get(&self) -> &T {
        self.value.as_ref().expect(PRESENT)
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.as_mut().expect(PRESENT)
    }

    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Another value on the same runtime (a handle made from this one).
    pub(crate) fn with<U>(&self, value: U) -> Held<U> {
        Held::new(value, self.runtime.clone())
    }

    /// The value, converted (a cursor's document type), on the same runtime.
    pub(crate) fn map<U>(mut self, f: impl FnOnce(T) -> U) -> Held<U> {
        let value = f(self.value.take().expect(PRESENT));
        Held::new(value, self.runtime.clone())
    }

    /// The value and the runtime share, apart.
    pub(crate) fn into_parts(mut self) -> (T, Arc<Runtime>) {
        (self.value.take().expect(PRESENT), self.runtime.clone())
    }

    /// Runs `f`'s future to completion with the value, blocking the thread.
    pub(crate) fn block_on<'s, F: std::future::Future>(
        &'s mut self,
        f: impl FnOnce(&'s mut T) -> F,
    ) -> F::Output {
        let runtime = &self.runtime;
        let value = self.value.as_mut().expect(PRESENT);
        runtime.block_on(f(value))
    }
}

impl<T: Clone> Clone for Held<T> {
    fn clone(&self) -> Self {
        self.with(self.get().clone())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        let _context = self.runtime.enter();
        drop(self.value.take());
    }
}
