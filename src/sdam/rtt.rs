//! The average round-trip time of a server's checks (Server Selection: an exponentially
//! weighted moving average with alpha 0.2).

use std::time::Duration;

/// The weight of a new sample.
const ALPHA: f64 = 0.2;

/// The moving average of one server's check round trips.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RttAverage {
    average: Option<Duration>,
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
        next
    }

    /// The average, if any sample was taken since the last reset.
    pub fn average(&self) -> Option<Duration> {
        self.average
    }

    /// Forgets the samples: a server that became unavailable has no average.
    pub fn reset(&mut self) {
        self.average = None;
    }
}
