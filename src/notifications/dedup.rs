//! Deduplication like Kubernetes Events: a notice equal to one delivered less than a window ago
//! (same kind, target, subject, revision and reason: see [`DedupKey`]) is not sent again.
//!
//! Only delivered notices are remembered: one that failed is sent again when it comes again.
//! The clock is passed in, so the rule is tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::notice::DedupKey;

/// The most notices remembered per receiver; past it the oldest is forgotten.
const MAX_ENTRIES: usize = 4096;

/// The notices one receiver got within the window, with when.
#[derive(Debug)]
pub(crate) struct Dedup {
    window: Duration,
    delivered: HashMap<DedupKey, Instant>,
}

impl Dedup {
    /// Remembers deliveries for `window` (`Duration::ZERO`: no deduplication).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            delivered: HashMap::new(),
        }
    }

    /// Whether a notice with `key` was delivered less than the window before `now`.
    pub(crate) fn is_duplicate(&self, key: &DedupKey, now: Instant) -> bool {
        self.delivered
            .get(key)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.window)
    }

    /// Notes that a notice with `key` was delivered at `now`; forgets deliveries older than
    /// the window.
    pub(crate) fn delivered(&mut self, key: DedupKey, now: Instant) {
        if self.window.is_zero() {
            return;
        }
        let window = self.window;
        self.delivered
            .retain(|_, at| now.saturating_duration_since(*at) < window);
        if self.delivered.len() >= MAX_ENTRIES {
            let oldest = self
                .delivered
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.delivered.remove(&oldest);
            }
        }
        self.delivered.insert(key, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::{Notice, NoticeKind};

    fn applied(revision: &str) -> Notice {
        Notice {
            target: Some("prod".to_owned()),
            revision: Some(revision.to_owned()),
            kind: NoticeKind::RevisionApplied {
                changed: vec!["ml/ranker".to_owned()],
            },
        }
    }

    fn failed(cause: &str, message: &str) -> Notice {
        Notice {
            target: None,
            revision: Some("abc".to_owned()),
            kind: NoticeKind::ReconcileFailed {
                cause: cause.to_owned(),
                message: message.to_owned(),
            },
        }
    }

    #[test]
    fn same_notice_within_the_window_is_a_duplicate() {
        let start = Instant::now();
        let mut dedup = Dedup::new(Duration::from_secs(600));
        let key = applied("abc").dedup_key();
        assert!(!dedup.is_duplicate(&key, start));
        dedup.delivered(key.clone(), start);
        assert!(dedup.is_duplicate(&key, start + Duration::from_secs(599)));
        assert!(!dedup.is_duplicate(&key, start + Duration::from_secs(600)));
        assert!(!dedup.is_duplicate(&applied("def").dedup_key(), start));
    }

    #[test]
    fn the_key_is_the_cause_not_the_message() {
        let start = Instant::now();
        let mut dedup = Dedup::new(Duration::from_secs(600));
        dedup.delivered(failed("fetch", "timed out after 3.1s").dedup_key(), start);
        let again = failed("fetch", "timed out after 2.9s").dedup_key();
        assert!(dedup.is_duplicate(&again, start));
        assert!(!dedup.is_duplicate(&failed("cluster", "x").dedup_key(), start));
    }

    #[test]
    fn a_zero_window_remembers_nothing() {
        let start = Instant::now();
        let mut dedup = Dedup::new(Duration::ZERO);
        let key = applied("abc").dedup_key();
        dedup.delivered(key.clone(), start);
        assert!(!dedup.is_duplicate(&key, start));
    }

    #[test]
    fn memory_is_bounded() {
        let start = Instant::now();
        let mut dedup = Dedup::new(Duration::from_secs(600));
        for n in 0..MAX_ENTRIES + 10 {
            let at = start + Duration::from_millis(n as u64);
            dedup.delivered(applied(&n.to_string()).dedup_key(), at);
        }
        assert_eq!(dedup.delivered.len(), MAX_ENTRIES);
        let first = applied("0").dedup_key();
        assert!(!dedup.is_duplicate(&first, start + Duration::from_secs(1)));
    }
}
