//! The task of one receiver: takes notices from its queue one at a time, skips duplicates,
//! POSTs the body with retries (exponential backoff with a little jitter on connection
//! failures, timeouts, 5xx and 429) and counts the result. A receiver that is down costs a
//! metric and a warning naming the receiver (never its URL or a secret), nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::sync::{Notify, mpsc};

use super::body;
use super::config::{Endpoint, Receiver};
use super::dedup::Dedup;
use super::http::Failure;
use super::metrics::{NotificationMetrics, NotificationResult};
use super::notice::Notice;

/// How notices are queued, deduplicated and retried. [`Default`] is what the daemon uses; tests
/// shorten the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Notices waiting per receiver; more are dropped (default 64).
    pub queue_capacity: usize,
    /// How long a delivered notice suppresses an equal one (default 10 min; zero: never).
    pub dedup_window: Duration,
    /// How long one POST may take, answer included (default 10 s).
    pub request_timeout: Duration,
    /// Attempts per notice, the first included (default 5).
    pub attempts: u32,
    /// The wait after the first failed attempt, doubled after each further one (default 1 s).
    pub first_backoff: Duration,
    /// The longest wait between attempts (default 30 s).
    pub max_backoff: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 64,
            dedup_window: Duration::from_secs(600),
            request_timeout: Duration::from_secs(10),
            attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl DeliveryOptions {
    /// The wait after failed attempt `attempt` (1 for the first): doubling from
    /// `first_backoff`, at most `max_backoff`, then up to 10% longer at random.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = self
            .first_backoff
            .saturating_mul(doubling)
            .min(self.max_backoff);
        let jitter = base.mul_f64(rand::thread_rng().gen_range(0.0..0.1));
        base.saturating_add(jitter)
    }
}

/// A notice in the queues, with the time it was sent (the body's `timestamp`).
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) notice: Notice,
    pub(crate) timestamp: String,
}

/// How many notices are queued or being delivered, over all receivers, for `flush`.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pending: AtomicUsize,
    idle: Notify,
}

impl Progress {
    /// One more notice queued.
    pub(crate) fn add(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// One notice handled (or not queued after all).
    pub(crate) fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Waits until no notice is pending; `false` if that did not happen by `deadline`.
    pub(crate) async fn idle(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `done` in between is not missed.
            notified.as_mut().enable();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// Runs one receiver until every handle of its queue is gone and the queue is empty.
pub(crate) async fn run(
    receiver: Receiver,
    mut queue: mpsc::Receiver<Arc<Queued>>,
    progress: Arc<Progress>,
    metrics: NotificationMetrics,
    options: DeliveryOptions,
) {
    let mut dedup = Dedup::new(options.dedup_window);
    while let Some(item) = queue.recv().await {
        let result = handle(&receiver, &item, &mut dedup, &options).await;
        metrics.record(&receiver.name, result);
        progress.done();
    }
}

/// Delivers one notice unless it is a duplicate; returns its result.
async fn handle(
    receiver: &Receiver,
    item: &Queued,
    dedup: &mut Dedup,
    options: &DeliveryOptions,
) -> NotificationResult {
    let key = item.notice.dedup_key();
    let kind = item.notice.kind.notice_type().as_str();
    if dedup.is_duplicate(&key, Instant::now()) {
        tracing::debug!(receiver = %receiver.name, kind, "notification deduplicated");
        return NotificationResult::Deduplicated;
    }
    match deliver(receiver, item, options).await {
        Ok(attempts) => {
            dedup.delivered(key, Instant::now());
            tracing::debug!(receiver = %receiver.name, kind, attempts, "notification sent");
            NotificationResult::Sent
        }
        Err((failure, attempts)) => {
            tracing::warn!(
                receiver = %receiver.name,
                kind,
                attempts,
                error = %failure,
                "failed to send a notification"
            );
            NotificationResult::Failed
        }
    }
}

/// POSTs the notice's body until it is accepted or retrying is over; returns the attempts
/// made, with the last failure when it was not accepted.
async fn deliver(
    receiver: &Receiver,
    item: &Queued,
    options: &DeliveryOptions,
) -> Result<u32, (Failure, u32)> {
    let (url, headers, body) = match &receiver.endpoint {
        Endpoint::Generic { url, key } => {
            let body = body::generic(&item.notice, &item.timestamp);
            let headers = match key {
                Some(key) => vec![(body::SIGNATURE_HEADER, body::signature(key.expose(), &body))],
                None => Vec::new(),
            };
            (url.as_str(), headers, body)
        }
        Endpoint::Slack { url } => match std::str::from_utf8(url.expose()) {
            Ok(url) => (url, Vec::new(), body::slack(&item.notice)),
            Err(_) => return Err((Failure::Request, 0)),
        },
    };
    let attempts = options.attempts.max(1);
    let mut attempt = 1;
    loop {
        let sent = receiver
            .client
            .post(url, &headers, body.clone(), options.request_timeout)
            .await;
        match sent {
            Ok(()) => return Ok(attempt),
            Err(failure) if failure.retryable() && attempt < attempts => {
                let wait = options.backoff(attempt);
                tracing::debug!(
                    receiver = %receiver.name,
                    attempt,
                    error = %failure,
                    retry_in = ?wait,
                    "notification not accepted; retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(failure) => return Err((failure, attempt)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_small_jitter() {
        let options = DeliveryOptions::default();
        for (attempt, base) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (40, 30)] {
            let wait = options.backoff(attempt);
            let base = Duration::from_secs(base);
            assert!(
                wait >= base && wait <= base.mul_f64(1.1),
                "{attempt}: {wait:?}"
            );
        }
    }

    #[tokio::test]
    async fn progress_is_idle_when_nothing_is_pending() {
        let progress = Arc::new(Progress::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        assert!(progress.idle(deadline).await);
        progress.add();
        let waiter = tokio::spawn({
            let progress = progress.clone();
            async move { progress.idle(deadline).await }
        });
        tokio::task::yield_now().await;
        progress.done();
        assert!(waiter.await.unwrap());
        progress.add();
        assert!(!progress.idle(tokio::time::Instant::now()).await);
    }
}
