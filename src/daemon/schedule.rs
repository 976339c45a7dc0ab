//! When the next poll or retry is due: poll interval with ±10% jitter, exponential backoff
//! after failures (pure; the random draw is passed in).

use std::time::Duration;

/// First retry delay after a failure; doubles per consecutive failure up to `--backoff-max`.
pub const BACKOFF_START: Duration = Duration::from_secs(1);

/// Share of the interval the jitter may add or remove.
const JITTER: f64 = 0.1;

/// Poll and retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `--interval`.
    pub interval: Duration,
    /// `--backoff-max`.
    pub backoff_max: Duration,
}

impl Schedule {
    /// Delay until the next poll after a success: `interval` scaled by `1 + 0.1 * unit`, where
    /// `unit` is a random draw in `[-1, 1]`.
    pub fn next_poll(&self, unit: f64) -> Duration {
        self.interval.mul_f64(1.0 + JITTER * unit.clamp(-1.0, 1.0))
    }

    /// Delay until the retry after `failures` consecutive failures (1 = the first):
    /// 1s, 2s, 4s, … capped at `backoff_max`, with the same ±10% jitter below the cap.
    pub fn next_retry(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = BACKOFF_START.saturating_mul(1u32 << exp);
        let jittered = base.mul_f64(1.0 + JITTER * unit.clamp(-1.0, 1.0));
        jittered.min(self.backoff_max)
    }
}

/// A uniform draw in `[-1, 1]` for the jitter.
pub fn draw() -> f64 {
    use rand::Rng as _;
    rand::thread_rng().gen_range(-1.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Schedule = Schedule {
        interval: Duration::from_secs(60),
        backoff_max: Duration::from_secs(300),
    };

    #[test]
    fn poll_jitter_stays_within_ten_percent() {
        assert_eq!(S.next_poll(0.0), Duration::from_secs(60));
        assert_eq!(S.next_poll(1.0), Duration::from_secs(66));
        assert_eq!(S.next_poll(-1.0), Duration::from_secs(54));
        assert_eq!(S.next_poll(7.0), Duration::from_secs(66));
        for _ in 0..1000 {
            let d = S.next_poll(draw());
            assert!(
                d >= Duration::from_secs(54) && d <= Duration::from_secs(66),
                "{d:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let plain: Vec<u64> = (1..=11).map(|n| S.next_retry(n, 0.0).as_secs()).collect();
        assert_eq!(plain, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(S.next_retry(u32::MAX, 1.0), Duration::from_secs(300));
        assert_eq!(S.next_retry(0, 0.0), Duration::from_secs(1));
        assert_eq!(S.next_retry(2, -1.0), Duration::from_millis(1800));
    }
}
