//! Retries after the server shed an operation for overload (Client Backpressure
//! specification), as pure functions: which errors, how many times, how long to wait.
//!
//! An error labelled both `SystemOverloadedError` and `RetryableError` may be retried whatever
//! the operation (a write inside a transaction, a commit, a `runCommand`): the server refused it
//! before doing anything. Once any attempt failed with `SystemOverloadedError`, an operation
//! gets up to `maxAdaptiveRetries` retries (default 2) instead of the retryable reads and
//! writes' one, each after an exponential backoff with full jitter.

use std::time::Duration;

use crate::error::Error;

/// The label of an error the server returned because it is overloaded.
pub(crate) const SYSTEM_OVERLOADED_ERROR: &str = "SystemOverloadedError";
/// The label of an error that is safe to retry whatever the operation.
pub(crate) const RETRYABLE_ERROR: &str = "RetryableError";
/// `maxAdaptiveRetries` when the options do not say.
pub(crate) const DEFAULT_MAX_ADAPTIVE_RETRIES: u32 = 2;

/// The first backoff's ceiling; each retry doubles it.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The server shed the operation and says it is safe to send again.
pub(crate) fn is_overload_retryable(e: &Error) -> bool {
    e.contains_label(SYSTEM_OVERLOADED_ERROR) && e.contains_label(RETRYABLE_ERROR)
}

/// How many retries an operation may have made once its latest attempt failed with `e`:
/// `max_adaptive` once any attempt was shed for overload (`overloaded`), else the retryable
/// reads and writes' one.
pub(crate) fn retry_limit(overloaded: bool, max_adaptive: u32) -> u32 {
    if overloaded {
        max_adaptive
    } else {
        1
    }
}

/// The wait before retry number `retry` (1 for the first) after an overload error:
/// `jitter × min(10 s, 100 ms × 2^(retry − 1))`, `jitter` drawn from [0, 1).
pub(crate) fn backoff(retry: u32, jitter: f64) -> Duration {
    let ceiling = BASE_BACKOFF
        .checked_mul(1_u32 << retry.saturating_sub(1).min(16))
        .map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF));
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A jitter in [0, 1), from the OS (`getrandom`, already in the tree): retries are rare, so
/// a system call each costs nothing that matters and needs no generator state.
pub(crate) fn jitter() -> f64 {
    // 53 random bits make a uniform f64 in [0, 1); without randomness, half the ceiling.
    getrandom::u64().map_or(0.5, |n| (n >> 11) as f64 / (1_u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn labelled(labels: &[&str]) -> Error {
        let mut e = Error::new(ErrorKind::Command {
            code: 462,
            code_name: "IngressRequestRateLimitExceeded".into(),
            message: "rate exceeded".into(),
        });
        for l in labels {
            e.add_label(l);
        }
        e
    }

    #[test]
    fn only_errors_with_both_labels_are_retried_for_overload() {
        assert!(is_overload_retryable(&labelled(&[
            RETRYABLE_ERROR,
            SYSTEM_OVERLOADED_ERROR
        ])));
        assert!(!is_overload_retryable(&labelled(&[
            SYSTEM_OVERLOADED_ERROR
        ])));
        assert!(!is_overload_retryable(&labelled(&[RETRYABLE_ERROR])));
        assert!(!is_overload_retryable(&labelled(&[])));
    }

    #[test]
    fn overload_raises_the_retry_limit_to_max_adaptive_retries() {
        assert_eq!(retry_limit(false, 2), 1);
        assert_eq!(retry_limit(true, 2), 2);
        assert_eq!(retry_limit(true, 0), 0);
        assert_eq!(retry_limit(true, 7), 7);
    }

    #[test]
    fn backoff_doubles_from_100ms_up_to_10s_scaled_by_jitter() {
        let ms = |retry| backoff(retry, 1.0).as_millis();
        assert_eq!(
            [1, 2, 3, 4, 5, 8].map(ms),
            [100, 200, 400, 800, 1600, 10_000]
        );
        assert_eq!(ms(u32::MAX), 10_000);
        assert_eq!(backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
        let j = jitter();
        assert!((0.0..1.0).contains(&j), "{j}");
    }
}
