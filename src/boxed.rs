//! Boxing a future in place.

use std::future::Future;

use futures_core::future::BoxFuture;

/// Boxes the future `make` returns, built where it will live. `Box::pin(make())` builds the
/// future on the stack and then copies all of it into the box, and an operation's future (its
/// whole state machine: selection, check-out, retry, the round trip) is several kilobytes;
/// allocating first lets the compiler write the few fields a new future holds straight into
/// the box.
pub(crate) fn boxed<'a, F>(make: impl FnOnce() -> F) -> BoxFuture<'a, F::Output>
where
    F: Future + Send + 'a,
{
    let slot: Box<F> = Box::write(Box::new_uninit(), make());
    Box::into_pin(slot)
}
