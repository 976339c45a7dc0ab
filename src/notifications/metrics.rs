//! `mlsync_notifications_total{receiver, result}`: what became of each notice, per receiver.
//!
//! One count per notice and receiver, for its final result: a notice delivered on its third
//! attempt counts once as `sent` (attempts are not counted); one that still failed after every
//! retry counts once as `failed`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// What became of one notice at one receiver (the label `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationResult {
    /// Delivered (a 2xx answer), possibly after retries.
    Sent,
    /// Not delivered: retries exhausted, or an answer that retrying cannot change (4xx).
    Failed,
    /// Not queued: the receiver's queue was full (it is slow or down) or closed.
    Dropped,
    /// Not sent: the same notice was delivered within the dedup window.
    Deduplicated,
}

impl NotificationResult {
    /// Every result, in label order.
    pub const ALL: [NotificationResult; 4] = [
        NotificationResult::Sent,
        NotificationResult::Failed,
        NotificationResult::Dropped,
        NotificationResult::Deduplicated,
    ];

    /// The label value: `sent`, `failed`, `dropped`, `deduplicated`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationResult::Sent => "sent",
            NotificationResult::Failed => "failed",
            NotificationResult::Dropped => "dropped",
            NotificationResult::Deduplicated => "deduplicated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Labels {
    receiver: String,
    result: &'static str,
}

/// The notification counters. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct NotificationMetrics {
    notices: Family<Labels, Counter>,
}

impl NotificationMetrics {
    /// Counters that no registry exports (tests, or notifications without a metrics server).
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters registered in `registry` as `notifications` (a counter: `notifications_total`).
    /// In the daemon's registry, which has the prefix `mlsync`, that is
    /// `mlsync_notifications_total{receiver, result}`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::new();
        let help = "Notices by receiver and result (sent, failed, dropped, deduplicated)";
        registry.register("notifications", help, metrics.notices.clone());
        metrics
    }

    /// Counts one notice of `receiver` with `result`.
    pub fn record(&self, receiver: &str, result: NotificationResult) {
        self.notices.get_or_create(&labels(receiver, result)).inc();
    }

    /// Creates the series of `receiver` at 0, so they exist before the first notice.
    pub fn init(&self, receiver: &str) {
        for result in NotificationResult::ALL {
            self.notices
                .get_or_create(&labels(receiver, result))
                .inc_by(0);
        }
    }

    /// How many notices of `receiver` ended with `result`.
    pub fn count(&self, receiver: &str, result: NotificationResult) -> u64 {
        self.notices
            .get(&labels(receiver, result))
            .map_or(0, |counter| counter.get())
    }
}

fn labels(receiver: &str, result: NotificationResult) -> Labels {
    Labels {
        receiver: receiver.to_owned(),
        result: result.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_one_series_per_receiver_and_result() {
        let mut registry = Registry::with_prefix("mlsync");
        let metrics = NotificationMetrics::register(&mut registry);
        metrics.init("team-hook");
        metrics.record("team-hook", NotificationResult::Sent);
        metrics.record("team-hook", NotificationResult::Sent);
        metrics.record("team-hook", NotificationResult::Dropped);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("# TYPE mlsync_notifications counter"),
            "{text}"
        );
        for (result, n) in [
            ("sent", 2),
            ("failed", 0),
            ("dropped", 1),
            ("deduplicated", 0),
        ] {
            let line = format!(
                "mlsync_notifications_total{{receiver=\"team-hook\",result=\"{result}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert_eq!(metrics.count("team-hook", NotificationResult::Sent), 2);
        assert_eq!(metrics.count("other", NotificationResult::Sent), 0);
    }
}
