//! The elector task (I/O): reads the Lease, acts on the pure [`decide`] result with optimistic
//! concurrency, enforces the renew deadline and publishes leadership.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

use super::decide::{
    Decision, LeaseRecord, Observer, claimed, clock_skew, decide, must_step_down, released,
};
use super::{LeaderError, LeaderSettings};

/// Publishes leadership; reads "not leader" once dropped (task ended, aborted or panicked).
struct Publisher(watch::Sender<bool>);

impl Publisher {
    fn set(&self, leading: bool) {
        self.0.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Runs the elector until `shutdown` completes, then steps down and releases the lease.
pub(super) async fn run(
    client: Client,
    settings: LeaderSettings,
    tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let mut elector = Elector {
        api: Api::namespaced(client, &settings.namespace),
        settings,
        publisher: Publisher(tx),
        observer: Observer::default(),
        renewed_at: None,
        logged_holder: None,
    };
    tokio::pin!(shutdown);
    loop {
        let wait = tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = until(elector.deadline()) => {
                elector.step_down("the lease could not be renewed before the renew deadline");
                continue;
            }
            wait = elector.tick() => wait,
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = until(elector.deadline()) => {
                elector.step_down("the lease could not be renewed before the renew deadline");
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    elector.shutdown().await;
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

struct Elector {
    api: Api<Lease>,
    settings: LeaderSettings,
    publisher: Publisher,
    observer: Observer,
    /// While leading: when the last successful renewal started.
    renewed_at: Option<Instant>,
    /// The holder last reported while standing by (to log changes only).
    logged_holder: Option<String>,
}

impl Elector {
    fn lease(&self) -> String {
        format!("{}/{}", self.settings.namespace, self.settings.lease_name)
    }

    /// When a leader must stop leading unless it renews first.
    fn deadline(&self) -> Option<Instant> {
        self.renewed_at
            .map(|at| at + self.settings.renew_deadline())
    }

    /// One round: read the lease and act. Returns how long to wait before the next round.
    async fn tick(&mut self) -> Duration {
        let started = Instant::now();
        match self.attempt(started).await {
            Ok(wait) => wait,
            Err(err) => {
                tracing::warn!(lease = %self.lease(), error = %err, "leader election request failed");
                if let Some(renewed) = self.renewed_at
                    && must_step_down(renewed, Instant::now(), self.settings.renew_deadline())
                {
                    self.step_down("the lease could not be renewed before the renew deadline");
                }
                self.settings.retry_period.min(self.settings.renew_interval)
            }
        }
    }

    async fn attempt(&mut self, started: Instant) -> Result<Duration, LeaderError> {
        let name = self.settings.lease_name.clone();
        let current = self.call("read", self.api.get_opt(&name)).await?;
        let record = current.as_ref().map(LeaseRecord::of);
        let unchanged_for = self.observer.observe(record.as_ref(), started);
        let now = Timestamp::now();
        if let Some(skew) = record.as_ref().and_then(|r| clock_skew(r, now))
            && unchanged_for.is_zero()
            && skew > Duration::from_secs(1)
        {
            tracing::warn!(lease = %self.lease(), ?skew, "the lease's renewTime lies in the future: clocks are skewed; take-over waits longer");
        }
        let me = self.settings.identity.clone();
        let duration = self.settings.lease_duration;
        let written = match decide(record.as_ref(), &me, unchanged_for, now, duration) {
            Decision::StandBy { holder } => {
                self.step_down(&format!("the lease is held by {holder}"));
                if self.logged_holder.as_deref() != Some(holder.as_str()) {
                    tracing::info!(lease = %self.lease(), holder = %holder, "standing by, held by {holder}");
                    self.logged_holder = Some(holder);
                }
                return Ok(self.settings.retry_period);
            }
            Decision::Create => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.settings.namespace.clone()),
                        labels: Some(
                            [(
                                "app.kubernetes.io/managed-by".to_owned(),
                                "mlsync".to_owned(),
                            )]
                            .into(),
                        ),
                        ..ObjectMeta::default()
                    },
                    spec: Some(claimed(None, &me, now, duration)),
                };
                self.call("create", self.api.create(&PostParams::default(), &lease))
                    .await
            }
            Decision::Acquire | Decision::Renew => {
                // Replace at the resourceVersion just read: a concurrent writer makes this a 409.
                let mut lease = current.unwrap_or_default();
                lease.spec = Some(claimed(lease.spec.as_ref(), &me, now, duration));
                self.call(
                    "update",
                    self.api.replace(&name, &PostParams::default(), &lease),
                )
                .await
            }
        };
        match written {
            Ok(lease) => {
                self.observer
                    .observe(Some(&LeaseRecord::of(&lease)), Instant::now());
                self.lead(started);
                Ok(self.settings.renew_interval)
            }
            Err(err) if lost_race(&err) => {
                tracing::debug!(lease = %self.lease(), "another replica wrote the lease first");
                Ok(self.settings.retry_period.min(self.settings.renew_interval))
            }
            Err(err) => Err(err),
        }
    }

    fn lead(&mut self, renewal_started: Instant) {
        if self.renewed_at.is_none() {
            tracing::info!(lease = %self.lease(), identity = %self.settings.identity, "became leader");
        }
        self.renewed_at = Some(renewal_started);
        self.logged_holder = None;
        self.publisher.set(true);
    }

    fn step_down(&mut self, reason: &str) {
        self.publisher.set(false);
        if self.renewed_at.take().is_some() {
            tracing::warn!(lease = %self.lease(), "lost leadership: {reason}");
        }
    }

    /// Stops leading, then clears `holderIdentity` if this replica holds the lease (also when
    /// an interrupted request may have acquired it unseen), within one lease duration.
    async fn shutdown(mut self) {
        self.publisher.set(false);
        if self.renewed_at.take().is_some() {
            tracing::info!(lease = %self.lease(), "stopped leading: shutting down");
        }
        // Past the lease duration a release is pointless: the lease has expired anyway.
        let limit = self.settings.lease_duration;
        let released = tokio::time::timeout(limit, self.release())
            .await
            .unwrap_or_else(|_| {
                Err(LeaderError::Timeout {
                    action: "release",
                    namespace: self.settings.namespace.clone(),
                    name: self.settings.lease_name.clone(),
                    timeout: limit,
                })
            });
        match released {
            Ok(true) => tracing::info!(lease = %self.lease(), "released the lease"),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(lease = %self.lease(), error = %err, "failed to release the lease; a standby takes over once it expires");
            }
        }
    }

    async fn release(&self) -> Result<bool, LeaderError> {
        let name = &self.settings.lease_name;
        let Some(mut lease) = self.call("read", self.api.get_opt(name)).await? else {
            return Ok(false);
        };
        if LeaseRecord::of(&lease).holder.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(false);
        }
        let spec = lease.spec.take().unwrap_or_default();
        lease.spec = Some(released(&spec, Timestamp::now()));
        match self
            .call(
                "update",
                self.api.replace(name, &PostParams::default(), &lease),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if lost_race(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Runs one API request, bounded by the lease duration.
    async fn call<T>(
        &self,
        action: &'static str,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaderError> {
        let timeout = self.settings.lease_duration;
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(LeaderError::Api {
                action,
                namespace: self.settings.namespace.clone(),
                name: self.settings.lease_name.clone(),
                cause: Box::new(source),
            }),
            Err(_) => Err(LeaderError::Timeout {
                action,
                namespace: self.settings.namespace.clone(),
                name: self.settings.lease_name.clone(),
                timeout,
            }),
        }
    }
}

/// A 409: another replica created or updated the lease between our read and write.
fn lost_race(err: &LeaderError) -> bool {
    match err {
        LeaderError::Api { cause, .. } => matches!(
            cause.as_ref(),
            kube::Error::Api(status) if status.is_conflict() || status.is_already_exists()
        ),
        _ => false,
    }
}
