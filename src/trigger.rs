//! Coalescing reconcile triggers.
//!
//! Anything that wants a reconcile (the poll timer, a webhook, a file watcher) calls
//! [`TriggerSender::fire`]; the reconcile loop waits on [`TriggerReceiver::recv`]. The channel
//! holds at most one pending trigger, so a burst of fires while a reconcile runs leaves exactly
//! one more reconcile queued: at most one runs, at most one waits, the rest coalesce into it.

use std::fmt;

use tokio::sync::mpsc;

/// Why a reconcile was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerReason {
    /// The periodic poll interval elapsed.
    Poll,
    /// A verified GitHub webhook arrived.
    GithubWebhook,
    /// A verified GitLab webhook arrived.
    GitlabWebhook,
    /// Someone asked by hand (a signal or a command).
    Manual,
    /// The daemon started.
    Startup,
    /// A file changed in the watched local directory (`mlsync run` in path mode).
    FileChange,
    /// An owned object was changed or deleted in the cluster (the drift watch, `--self-heal`).
    Drift,
    /// A canary rollout is due a look (a check, the end of a pause), or its canary changed.
    Rollout,
}

impl TriggerReason {
    /// Whether a reconcile for this reason may be skipped when git and the cluster are known to
    /// be as the last reconcile left them (polls and webhooks, which only say "look again");
    /// start-up, manual and drift triggers always reconcile.
    pub fn routine(self) -> bool {
        matches!(
            self,
            Self::Poll | Self::GithubWebhook | Self::GitlabWebhook | Self::FileChange
        )
    }

    /// A short lowercase name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::GithubWebhook => "github-webhook",
            Self::GitlabWebhook => "gitlab-webhook",
            Self::Manual => "manual",
            Self::Startup => "startup",
            Self::FileChange => "file-change",
            Self::Drift => "drift",
            Self::Rollout => "rollout",
        }
    }
}

impl fmt::Display for TriggerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request for a reconcile. When fires coalesce, the first queued reason is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// What asked for the reconcile.
    pub reason: TriggerReason,
}

/// What happened to a [`TriggerSender::fire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireOutcome {
    /// The trigger was queued; a reconcile will follow.
    Queued,
    /// A trigger was already waiting; this one coalesced into it (a reconcile will still follow).
    Coalesced,
    /// The receiver is gone (the daemon is shutting down); nothing will follow.
    Closed,
}

impl FireOutcome {
    /// Whether a reconcile will follow this fire.
    pub fn will_reconcile(self) -> bool {
        matches!(self, Self::Queued | Self::Coalesced)
    }
}

/// The sending half; cheap to clone, one per trigger source. It may reach several channels
/// ([`TriggerSender::fan`]: one per target of the daemon).
#[derive(Debug, Clone)]
pub struct TriggerSender {
    txs: std::sync::Arc<[mpsc::Sender<Trigger>]>,
}

/// The receiving half, owned by the reconcile loop.
#[derive(Debug)]
pub struct TriggerReceiver {
    rx: mpsc::Receiver<Trigger>,
}

/// Creates a coalescing trigger channel (capacity one).
pub fn channel() -> (TriggerSender, TriggerReceiver) {
    let (tx, rx) = mpsc::channel(1);
    let txs = std::sync::Arc::from(vec![tx]);
    (TriggerSender { txs }, TriggerReceiver { rx })
}

impl TriggerSender {
    /// Requests a reconcile without waiting: queues it, or coalesces it into the one queued.
    /// With several channels, each gets it; the outcome is the best of theirs (queued, then
    /// coalesced, then closed).
    pub fn fire(&self, reason: TriggerReason) -> FireOutcome {
        let mut outcome = FireOutcome::Closed;
        for tx in self.txs.iter() {
            match tx.try_send(Trigger { reason }) {
                Ok(()) => outcome = FireOutcome::Queued,
                Err(mpsc::error::TrySendError::Full(_)) if outcome == FireOutcome::Closed => {
                    outcome = FireOutcome::Coalesced;
                }
                Err(_) => {}
            }
        }
        outcome
    }

    /// One sender that fires every channel `senders` reach.
    pub fn fan(senders: &[TriggerSender]) -> TriggerSender {
        let txs: Vec<_> = senders.iter().flat_map(|s| s.txs.iter().cloned()).collect();
        TriggerSender {
            txs: std::sync::Arc::from(txs),
        }
    }
}

impl TriggerReceiver {
    /// Waits for the next trigger; `None` once every sender is dropped and nothing is queued.
    pub async fn recv(&mut self) -> Option<Trigger> {
        self.rx.recv().await
    }

    /// Takes the queued trigger if there is one, without waiting.
    pub fn try_recv(&mut self) -> Option<Trigger> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_during_a_reconcile_leaves_exactly_one_queued() {
        let (tx, mut rx) = channel();
        assert_eq!(tx.fire(TriggerReason::Startup), FireOutcome::Queued);

        // The loop takes the trigger and "runs a reconcile"; meanwhile a burst arrives.
        let running = rx.recv().await.unwrap();
        assert_eq!(running.reason, TriggerReason::Startup);
        let outcomes: Vec<_> = (0..100)
            .map(|_| tx.fire(TriggerReason::GithubWebhook))
            .collect();
        assert_eq!(outcomes[0], FireOutcome::Queued);
        assert!(outcomes[1..].iter().all(|o| *o == FireOutcome::Coalesced));

        // After the reconcile finishes exactly one more is waiting, then none.
        let next = rx.try_recv().unwrap();
        assert_eq!(next.reason, TriggerReason::GithubWebhook);
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn a_fan_fires_every_channel_and_reports_the_best_outcome() {
        let (a, mut ra) = channel();
        let (b, rb) = channel();
        let both = TriggerSender::fan(&[a.clone(), b]);
        assert_eq!(a.fire(TriggerReason::Poll), FireOutcome::Queued);
        // a is full, b is empty: b queues it.
        assert_eq!(both.fire(TriggerReason::GithubWebhook), FireOutcome::Queued);
        assert_eq!(
            both.fire(TriggerReason::GithubWebhook),
            FireOutcome::Coalesced
        );
        drop(rb);
        assert_eq!(ra.try_recv().map(|t| t.reason), Some(TriggerReason::Poll));
        assert_eq!(both.fire(TriggerReason::Manual), FireOutcome::Queued);
        drop(ra);
        assert_eq!(both.fire(TriggerReason::Manual), FireOutcome::Closed);
    }

    #[tokio::test]
    async fn firing_after_the_receiver_is_gone_reports_closed() {
        let (tx, rx) = channel();
        drop(rx);
        let outcome = tx.fire(TriggerReason::Manual);
        assert_eq!(outcome, FireOutcome::Closed);
        assert!(!outcome.will_reconcile());
    }

    #[tokio::test]
    async fn recv_ends_when_every_sender_is_dropped() {
        let (tx, mut rx) = channel();
        let other = tx.clone();
        assert!(other.fire(TriggerReason::Poll).will_reconcile());
        drop(tx);
        drop(other);
        assert_eq!(
            rx.recv().await,
            Some(Trigger {
                reason: TriggerReason::Poll
            })
        );
        assert_eq!(rx.recv().await, None);
    }
}
