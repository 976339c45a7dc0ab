//! Notifications to webhooks: a generic JSON webhook (optionally HMAC-signed, as Flux's
//! `generic-hmac`) and Slack incoming webhooks.
//!
//! - [`config`]: the `notifications:` list of the daemon config ([`ReceiverConfig`]) and
//!   [`load`], which checks it and reads the receivers' secret files (`secret`).
//! - [`notice`]: what is sent ([`Notice`], [`NoticeKind`]), its stable name and severity.
//! - [`body`]: the JSON and Slack bodies and the HMAC signature.
//! - `worker`: one task per receiver: queue, dedup (`dedup`), retries ([`DeliveryOptions`]),
//!   over hyper (`http`).
//! - [`metrics`]: `mlsync_notifications_total{receiver, result}`.
//!
//! [`Notifications::send`] never blocks and never fails: each receiver has a bounded queue, a
//! full one drops the notice (counted, and warned about at most once a minute per receiver), so
//! a slow or dead receiver never delays a reconcile. Neither logs nor errors ever show a Slack
//! URL or a secret.

pub mod body;
pub mod config;
mod dedup;
mod error;
mod http;
pub mod metrics;
pub mod notice;
mod secret;
mod worker;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

pub use config::{Receiver, ReceiverConfig, ReceiverType, load};
pub use error::{ConfigProblem, NotificationsError};
pub use metrics::{NotificationMetrics, NotificationResult};
pub use notice::{Notice, NoticeKind, NoticeType, Severity};
pub use worker::DeliveryOptions;

use worker::{Progress, Queued};

/// The shortest time between two warnings about dropped notices of one receiver.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// The sending side: a cheap [`Clone`] handle shared by everything that notifies. The receivers'
/// tasks end when the last handle is dropped and their queues are empty.
#[derive(Clone, Default)]
pub struct Notifications {
    /// `None`: disabled.
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queues: Vec<Queue>,
    progress: Arc<Progress>,
    metrics: NotificationMetrics,
}

/// The queue of one receiver.
struct Queue {
    name: String,
    /// `None`: every kind.
    events: Option<BTreeSet<NoticeType>>,
    sender: mpsc::Sender<Arc<Queued>>,
    drops: Mutex<DropLog>,
}

/// Dropped notices of one receiver not yet warned about.
#[derive(Default)]
struct DropLog {
    last_warning: Option<Instant>,
    unreported: u64,
}

impl fmt::Debug for Notifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .inner
            .iter()
            .flat_map(|inner| inner.queues.iter().map(|q| q.name.as_str()))
            .collect();
        f.debug_struct("Notifications")
            .field("receivers", &names)
            .finish()
    }
}

impl Notifications {
    /// Sends nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Starts one task per receiver, with the daemon's [`DeliveryOptions::default`]. Must be
    /// called within a tokio runtime (else it logs an error and sends nothing).
    pub fn spawn(receivers: Vec<Receiver>, metrics: NotificationMetrics) -> Self {
        Self::spawn_with(receivers, metrics, DeliveryOptions::default())
    }

    /// [`Notifications::spawn`] with other queue, dedup and retry settings (tests).
    pub fn spawn_with(
        receivers: Vec<Receiver>,
        metrics: NotificationMetrics,
        options: DeliveryOptions,
    ) -> Self {
        if receivers.is_empty() {
            return Self::disabled();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("notifications need a tokio runtime; none will be sent");
            return Self::disabled();
        };
        let progress = Arc::new(Progress::default());
        let mut queues = Vec::with_capacity(receivers.len());
        for receiver in receivers {
            let (sender, queue) = mpsc::channel(options.queue_capacity.max(1));
            metrics.init(&receiver.name);
            queues.push(Queue {
                name: receiver.name.clone(),
                events: receiver.events.clone(),
                sender,
                drops: Mutex::new(DropLog::default()),
            });
            let task = worker::run(
                receiver,
                queue,
                progress.clone(),
                metrics.clone(),
                options.clone(),
            );
            runtime.spawn(task);
        }
        Self {
            inner: Some(Arc::new(Inner {
                queues,
                progress,
                metrics,
            })),
        }
    }

    /// Whether any receiver is configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `notice` for every receiver whose `events` include its kind. Never blocks, never
    /// fails: a full queue drops the notice for that receiver (metric `dropped`, a warning).
    pub fn send(&self, notice: Notice) {
        let Some(inner) = &self.inner else {
            return;
        };
        let kind = notice.kind.notice_type();
        let now = jiff::Timestamp::now();
        let seconds = jiff::TimestampRound::new()
            .smallest(jiff::Unit::Second)
            .mode(jiff::RoundMode::Trunc);
        // RFC 3339 in UTC, whole seconds: `2025-01-02T03:04:05Z`.
        let timestamp = now.round(seconds).unwrap_or(now).to_string();
        let item = Arc::new(Queued { notice, timestamp });
        for queue in inner
            .queues
            .iter()
            .filter(|q| accepts(q.events.as_ref(), kind))
        {
            inner.progress.add();
            match queue.sender.try_send(item.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                    inner.progress.done();
                    inner
                        .metrics
                        .record(&queue.name, NotificationResult::Dropped);
                    queue.dropped(kind);
                }
            }
        }
    }

    /// Waits until every queued notice was handled (sent, failed after its retries, or
    /// deduplicated), at most `timeout`; `false` if some were still pending (daemon shutdown).
    pub async fn flush(&self, timeout: Duration) -> bool {
        match &self.inner {
            Some(inner) => {
                let deadline = tokio::time::Instant::now() + timeout;
                inner.progress.idle(deadline).await
            }
            None => true,
        }
    }
}

/// Whether a receiver with the `events` filter gets notices of `kind` (`None`: every kind).
fn accepts(events: Option<&BTreeSet<NoticeType>>, kind: NoticeType) -> bool {
    events.is_none_or(|e| e.contains(&kind))
}

impl Queue {
    /// Notes a dropped notice; warns unless a warning was given less than a minute ago (the
    /// next one then says how many were dropped in between).
    fn dropped(&self, kind: NoticeType) {
        let mut log = self.drops.lock().unwrap_or_else(PoisonError::into_inner);
        log.unreported += 1;
        let now = Instant::now();
        let due = log
            .last_warning
            .is_none_or(|at| now.saturating_duration_since(at) >= DROP_WARNING_INTERVAL);
        if due {
            tracing::warn!(
                receiver = %self.name,
                kind = kind.as_str(),
                dropped = log.unreported,
                "notification queue full (receiver slow or down); notices dropped"
            );
            log.last_warning = Some(now);
            log.unreported = 0;
        }
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
