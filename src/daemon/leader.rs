//! Leader election among mlsync replicas with a `coordination.k8s.io/v1` Lease.
//!
//! Only the holder of the Lease `mlsync-<source-id>` writes to the cluster; the other replicas
//! stand by and take over when the lease is released (at once) or expires (after the lease
//! duration). The elector runs as a background task ([`spawn`]) and publishes whether this
//! replica leads through a [`LeaderStatus`].
//!
//! Guarantees:
//! - every write to the Lease is a `replace` at the resourceVersion just read (or a `create`),
//!   so of two racing replicas exactly one wins; the loser gets a 409 and stands by;
//! - a leader that cannot renew stops leading at its *renew deadline*, half-way between the
//!   renew interval and the lease duration, before any standby can consider the lease expired;
//! - on shutdown the leader stops leading first, then releases the lease (clears
//!   `holderIdentity`) so a standby takes over without waiting;
//! - if the elector task ends in any way (panic, abort), the status reads "not leader".
//!
//! RBAC: `get`, `create` and `update` on `leases` (API group `coordination.k8s.io`) in the
//! lease namespace. See `docs/leader-election.md`.

mod decide;
mod elector;
mod options;

use std::future::Future;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use decide::{Decision, LeaseRecord, Observer, decide, is_expired, must_step_down};
pub use options::{LeaderOptions, default_retry_period, identity, lease_name, resolve_namespace};

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The settings are inconsistent.
    #[error("failed to use the leader-election settings: {0}")]
    Settings(String),
    /// A request about the Lease failed.
    #[error("failed to {action} lease {namespace}/{name}: {cause}")]
    Api {
        /// What was attempted ("read", "create", "update").
        action: &'static str,
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The client error (part of the message, not a `source()`).
        cause: Box<kube::Error>,
    },
    /// A request about the Lease did not answer in time.
    #[error("failed to {action} lease {namespace}/{name}: no answer within {timeout:?}")]
    Timeout {
        /// What was attempted.
        action: &'static str,
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The time allowed.
        timeout: Duration,
    },
}

/// Leader-election settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (see [`lease_name`]).
    pub lease_name: String,
    /// This replica's holder identity (see [`identity`]); unique per process.
    pub identity: String,
    /// How long a lease stays valid without renewal (default 15 s, at least 1 s).
    pub lease_duration: Duration,
    /// How often the leader renews (default 5 s; must be shorter than `lease_duration`).
    pub renew_interval: Duration,
    /// How often a standby checks the lease, and how soon a failed request is retried
    /// (default 2 s).
    pub retry_period: Duration,
}

impl LeaderSettings {
    /// Settings with the default durations.
    pub fn new(namespace: String, lease_name: String, identity: String) -> LeaderSettings {
        LeaderSettings {
            namespace,
            lease_name,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            retry_period: Duration::from_secs(2),
        }
    }

    /// When a leader that could not renew stops leading, measured from the start of its last
    /// successful renewal: half-way between the renew interval and the lease duration
    /// (10 s with the defaults), so it steps down well before a standby may take over.
    pub fn renew_deadline(&self) -> Duration {
        (self.renew_interval + self.lease_duration) / 2
    }

    /// Checks the settings are consistent.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let fail = |msg: String| Err(LeaderError::Settings(msg));
        if self.identity.is_empty() || self.lease_name.is_empty() || self.namespace.is_empty() {
            return fail("the lease namespace, lease name and identity must not be empty".into());
        }
        if self.lease_duration < Duration::from_secs(1) {
            return fail(format!(
                "the lease duration {:?} is shorter than 1s",
                self.lease_duration
            ));
        }
        if self.renew_interval.is_zero() || self.renew_interval >= self.lease_duration {
            return fail(format!(
                "the lease renew interval {:?} must be above zero and shorter than the lease duration {:?}",
                self.renew_interval, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.lease_duration {
            return fail(format!(
                "the retry period {:?} must be above zero and shorter than the lease duration {:?}",
                self.retry_period, self.lease_duration
            ));
        }
        Ok(())
    }
}

/// Whether this replica leads, as published by the elector.
#[derive(Debug, Clone)]
pub struct LeaderStatus {
    rx: watch::Receiver<bool>,
    /// Keeps the channel of [`LeaderStatus::always`] open.
    _always: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl LeaderStatus {
    /// A status that always leads (leader election off: a single replica). Never changes.
    pub fn always() -> LeaderStatus {
        let (tx, rx) = watch::channel(true);
        LeaderStatus {
            rx,
            _always: Some(std::sync::Arc::new(tx)),
        }
    }

    /// Whether this replica leads now. False once the elector task has ended.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow() && !self.rx.is_closed()
    }

    /// Waits until leadership changes and returns the new value; returns `false` (and then
    /// immediately on every call) once the elector task has ended.
    pub async fn changed(&mut self) -> bool {
        match self.rx.changed().await {
            Ok(()) => *self.rx.borrow_and_update(),
            Err(_) => false,
        }
    }

    /// Waits until this replica leads. Returns `false` if the elector ended before that.
    pub async fn wait_leader(&mut self) -> bool {
        self.rx.wait_for(|leading| *leading).await.is_ok()
    }

    /// The underlying watch receiver (`true` while leading).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }
}

/// Validates `settings` and starts the elector task. It runs until `shutdown` completes, then
/// stops leading and releases the lease. Aborting the returned handle stops it without release
/// (the lease then expires after its duration).
pub fn spawn(
    client: Client,
    settings: LeaderSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(LeaderStatus, JoinHandle<()>), LeaderError> {
    settings.validate()?;
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(elector::run(client, settings, tx, shutdown));
    Ok((LeaderStatus { rx, _always: None }, handle))
}
