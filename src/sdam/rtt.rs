//! The average round-trip time of a server's checks (Server Selection: an exponentially
//! weighted moving average with alpha 0.2).

use std::time::Duration;

/// The weight of a new sample.
const ALPHA: f64 = 0.2;

/// How many recent samples the minimum is taken over (CSOT specification, "Command
/// Execution": the minimum of the last 10).
const RECENT: usize = 10;

/// The moving average of one server's check round trips, and the minimum of the recent ones.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RttAverage {
    average: Option<Duration>,
    /// The last samples, a ring of `RECENT`.
    recent: [Duration; RECENT],
    /// How many of `recent` are samples (at most `RECENT`).
    samples: usize,
    /// Where the next sample goes in `recent`.
    next: usize,
}

impl RttAverage {
    /// No sample yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample and returns the new average (the first sample is the average).
    pub fn add_sample(&mut self, sample: Duration) -> Duration {
        let next = match self.average {
            None => sample,
            // Both inputs are finite and non-negative; only absurdly large ones could fail.
            Some(old) => Duration::try_from_secs_f64(
                ALPHA * sample.as_secs_f64() + (1.0 - ALPHA) * old.as_secs_f64(),
            )
            .unwrap_or(sample),
        };
        self.average = Some(next);
        self.recent[self.next] = sample;
        self.next = (self.next + 1) % RECENT;
        self.samples = (self.samples + 1).min(RECENT);
        next
    }

    /// The minimum of the last 10 samples; `None` with fewer than two (CSOT specification: a
    /// single sample, the handshake's, may include the connection's setup).
    pub fn minimum(&self) -> Option<Duration> {
        (self.samples >= 2).then(|| self.recent[..self.samples].iter().copied().min())?
    }

    /// The average, if any sample was taken since the last reset.
    pub fn average(&self) -> Option<Duration> {
        self.average
    }

    /// Forgets the samples: a server that became unavailable has no average.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
