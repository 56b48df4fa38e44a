//! Backoff with jitter for retries, and the stretching interval used while polling.

use crate::domain::config::TimingConfig;
use rand::Rng;
use std::time::Duration;

/// How often and how fast failed calls are retried; derived from [`TimingConfig`] so tests with
/// millisecond polls also retry in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    pub base_ms: u64,
    pub max_ms: u64,
}

impl RetryPolicy {
    pub fn from_timing(t: &TimingConfig) -> RetryPolicy {
        RetryPolicy {
            retries: 4,
            base_ms: (t.poll_ms / 2).clamp(1, 2_000),
            max_ms: t.poll_max_ms.max(1),
        }
    }

    /// Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
    /// (half fixed, half random) so concurrent clients spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.max_ms);
        let half = exp / 2;
        let jitter = if half > 0 {
            rand::rng().random_range(0..=half)
        } else {
            0
        };
        Duration::from_millis(half + jitter)
    }
}

/// Poll interval that starts at `poll_ms`, grows ×1.5 while nothing changes, and resets when
/// progress is seen.
#[derive(Debug, Clone)]
pub struct PollInterval {
    start: u64,
    max: u64,
    cur: u64,
}

impl PollInterval {
    pub fn new(t: &TimingConfig) -> PollInterval {
        let start = t.poll_ms.max(1);
        PollInterval {
            start,
            max: t.poll_max_ms.max(start),
            cur: start,
        }
    }

    /// The wait before the next poll; `progressed` resets the interval.
    pub fn next(&mut self, progressed: bool) -> Duration {
        if progressed {
            self.cur = self.start;
        } else {
            self.cur = (self.cur + self.cur / 2).clamp(self.start, self.max);
        }
        Duration::from_millis(self.cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let t = TimingConfig {
            poll_ms: 100,
            poll_max_ms: 1000,
            ..TimingConfig::default()
        };
        let p = RetryPolicy::from_timing(&t);
        for a in 0..10 {
            let d = p.delay(a).as_millis() as u64;
            let exp = (50u64 << a).min(1000);
            assert!(d >= exp / 2 && d <= exp, "attempt {a}: {d}");
        }
        let mut i = PollInterval::new(&t);
        assert_eq!(i.next(false).as_millis(), 150);
        assert_eq!(i.next(false).as_millis(), 225);
        assert_eq!(i.next(true).as_millis(), 100);
        for _ in 0..20 {
            i.next(false);
        }
        assert_eq!(i.next(false).as_millis(), 1000);
    }
}
