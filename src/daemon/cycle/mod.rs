//! One reconcile of the daemon: fetch, load, plan, apply, health, then record it in the admin
//! state, the logs and systemd's status line.

use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::drift::{self, DriftWatch};
use super::incremental::{self, Basis};
use super::leader::LeaderStatus;
use super::notices::{self, FailedAt};
use super::outcome;
use super::rollback::Rollbacks;
use super::source::{SharedSource, Snapshot};
use super::wakes::Wakes;
use crate::admin::AdminState;
use crate::admin::status::{Outcome, ReconcileReport};
use crate::cluster::KubeOptions;
use crate::notifications::Notifications;
use crate::notify::Notifier;
use crate::reconcile::events::publish::Publisher;
use crate::reconcile::events::{Context, plan_events};
use crate::reconcile::{ReconcileError, ReconcileOptions, Reconciler};
use crate::secrets::SecretSource;
use crate::source_id::{SourceId, SourceIdPolicy};
use crate::trigger::TriggerReason;

/// What the loop needs to know about a finished reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleResult {
    /// Everything (or at least some services) applied: next poll at the normal interval.
    Done,
    /// Nothing could be applied (fetch, load or cluster failed): retry with backoff.
    Failed,
}

/// The cluster a daemon reconciles, and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// How to reach the cluster.
    pub kube: KubeOptions,
    /// Prune, adopt, write and event settings.
    pub options: ReconcileOptions,
    /// The environment whose overlays are merged over the base specs (`--env`).
    pub env: Option<String>,
    /// The target's name in the daemon config (`None` without one).
    pub name: Option<String>,
}

/// The daemon's long-lived reconcile state.
pub struct Cycle {
    /// Where the repo comes from (shared by every target of the daemon).
    pub source: Arc<SharedSource>,
    /// Shared with the admin server.
    pub state: AdminState,
    /// systemd notifications.
    pub notifier: Notifier,
    /// How to reach the cluster and reconcile there.
    pub target: Target,
    /// Decrypts SOPS files.
    pub secrets: Arc<dyn SecretSource>,
    /// Whether this replica may write (leader election); checked again before the apply.
    pub leader: LeaderStatus,
    /// Built on first use, dropped after a cluster error so discovery runs again.
    reconciler: Option<Reconciler>,
    /// `--rollback-on-failure` bookkeeping, when enabled.
    rollbacks: Option<Rollbacks>,
    /// Kubernetes Events (`--events`), made with the reconciler.
    events: Option<Publisher>,
    /// How the ownership id is chosen (its default resolved once for the source).
    source_id: SourceIdPolicy,
    /// The ownership id of the last plan, to log it when it is first known or changes.
    last_source_id: Option<SourceId>,
    /// `--self-heal`.
    self_heal: bool,
    /// The drift watch, started with the first connection.
    drift: Option<DriftWatch>,
    /// What the last successful reconcile left, for the next one to look only at what changed.
    basis: Option<Basis>,
    /// When canary rollouts want their next look.
    wakes: Wakes,
    /// Where notices go (none by default).
    notifications: Notifications,
    /// The home namespace and source id of the last plan: where the inventory ConfigMap is.
    inventory: Option<(String, String)>,
}

impl Cycle {
    /// A cycle that connects to the cluster on its first run. `source_id` is resolved once for
    /// the source, so the ownership id does not change between commits or checkouts.
    pub fn new(
        source: Arc<SharedSource>,
        state: AdminState,
        notifier: Notifier,
        target: Target,
        secrets: Arc<dyn SecretSource>,
        leader: LeaderStatus,
        source_id: SourceIdPolicy,
    ) -> Self {
        Self {
            source,
            state,
            notifier,
            target,
            secrets,
            leader,
            reconciler: None,
            rollbacks: None,
            events: None,
            source_id,
            last_source_id: None,
            self_heal: true,
            drift: None,
            basis: None,
            wakes: Wakes::default(),
            notifications: Notifications::disabled(),
            inventory: None,
        }
    }

    /// Sends notices of this target's reconciles to `notifications`.
    pub fn with_notifications(mut self, notifications: Notifications) -> Self {
        self.notifications = notifications;
        self
    }

    /// Enables `--rollback-on-failure`.
    pub fn with_rollback(mut self, enabled: bool) -> Self {
        self.rollbacks = enabled.then(Rollbacks::default);
        self
    }

    /// Sets `--self-heal` (on by default): heal drift the watch finds, or only report it.
    pub fn with_self_heal(mut self, on: bool) -> Self {
        self.self_heal = on;
        self
    }

    /// When the next canary rollout wants a look (fire [`TriggerReason::Rollout`] then).
    pub fn next_rollout_look(&self) -> Option<Instant> {
        self.wakes.next()
    }

    /// The loop fired a [`TriggerReason::Rollout`] for the looks due now.
    pub fn rollout_looks_fired(&mut self) {
        self.wakes.fire(Instant::now());
    }

    /// Runs one reconcile and records it.
    pub async fn run(&mut self, reason: TriggerReason) -> CycleResult {
        let started = Instant::now();
        info!(trigger = %reason, "reconcile started");
        let (fetched, fetch_metrics) = self.source.fetch(started).await;
        if let Some((duration, ok)) = fetch_metrics {
            self.state.record_fetch(duration, ok);
        }
        super::source::record_verification(&self.state, &fetched, fetch_metrics.is_some());
        let snap = match fetched {
            Ok(snap) => snap,
            Err(f) => {
                warn!(error = %f.error, revision = f.last_good.as_deref().unwrap_or("none"), "fetch failed; the cluster keeps the last applied revision");
                let refused = f.unverified.as_ref().map(|(_, reason)| *reason);
                if let Some((commit, reason)) = &f.unverified {
                    self.record_unverified(commit, reason).await;
                }
                self.notifications.send(notices::failed(
                    self.target.name.as_deref(),
                    f.last_good.as_deref(),
                    FailedAt::Fetch,
                    &f.error,
                    refused,
                ));
                return self.fail(f.last_good, f.error, started);
            }
        };
        if snap.rewrite.is_some() {
            // The source logged both commit ids; count it for alerting.
            self.state.record_history_rewrite();
        }
        let revision = snap.revision.clone();
        if reason.routine()
            && self.basis.as_ref().is_some_and(|b| b.is_of(&revision))
            && self.drift.as_ref().is_some_and(DriftWatch::quiet)
        {
            debug!(revision = %revision, trigger = %reason, "git and the cluster are as the last reconcile left them (drift watch): nothing to do");
            self.state.record_skipped();
            return CycleResult::Done;
        }
        match self.reconcile(&snap, reason, started).await {
            Ok(report) => {
                let result = if report.outcome == Outcome::Failure {
                    CycleResult::Failed
                } else {
                    CycleResult::Done
                };
                self.record(&report);
                result
            }
            Err(e) => {
                warn!(revision = %revision, error = %e, "reconcile failed");
                self.notifications.send(notices::failed(
                    self.target.name.as_deref(),
                    Some(&revision),
                    FailedAt::Reconcile,
                    &e,
                    None,
                ));
                self.fail(Some(revision), e, started)
            }
        }
    }

    async fn reconcile(
        &mut self,
        snap: &Snapshot,
        reason: TriggerReason,
        started: Instant,
    ) -> Result<ReconcileReport, String> {
        let rev = snap.revision.as_str();
        // Whatever goes wrong below, the next reconcile is a whole one.
        let basis = self.basis.take();
        let repo = crate::repo::load_env(&snap.root, self.target.env.as_deref())
            .map_err(|e| e.to_string())?;
        for d in &repo.diagnostics {
            warn!(revision = %rev, diagnostic = %d, "invalid config");
        }
        if repo.services.is_empty() && repo.invalid.is_empty() {
            let paths = repo
                .config
                .paths
                .clone()
                .unwrap_or_else(|| vec![".".into()]);
            warn!(revision = %rev, paths = %paths.join(", "), "no MLService specs found: nothing to apply; pruning everything this source manages needs --allow-mass-prune");
        }
        if self.reconciler.is_none() {
            let r = self.connect().await.map_err(|e| e.to_string())?;
            self.events = self.target.options.events.then(|| {
                Publisher::new(r.client().clone(), r.hpa_version())
                    .for_target(self.target.name.as_deref())
            });
            if self.drift.is_none() {
                self.drift = Some(DriftWatch::spawn(drift::Settings {
                    client: r.client().clone(),
                    hpa: r.hpa_version(),
                    self_heal: self.self_heal,
                    events: self.target.options.events,
                    state: self.state.clone(),
                    leader: self.leader.clone(),
                }));
            }
            self.reconciler = Some(r);
        }
        let Some(r) = self.reconciler.as_ref() else {
            return Err("failed to connect to the cluster".into());
        };
        let pinned = self.rollbacks.as_ref().is_some_and(Rollbacks::pinned);
        let overrides = self
            .rollbacks
            .as_mut()
            .map(|rb| rb.overrides(rev))
            .unwrap_or_default();
        let source_id = self
            .source_id
            .resolve_for(&repo)
            .map_err(|e| e.to_string())?;
        let inputs = incremental::inputs(&repo, &source_id.id);
        // Taken before the plan reads the cluster: what happens after it is looked at next time.
        let look = self
            .drift
            .as_ref()
            .map(DriftWatch::look)
            .unwrap_or_default();
        let focus = match (&basis, &inputs, &self.drift, &look.services) {
            (Some(b), Some(i), Some(d), Some(attention)) if !pinned => {
                let mut attention = attention.clone();
                attention.extend(self.wakes.due(Instant::now()));
                b.focus(i, &attention, &d.counts())
            }
            _ => None,
        };
        let mut planned = match r
            .plan_with(&repo, &source_id, &overrides, focus.as_ref())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, ReconcileError::Cluster(_) | ReconcileError::Read { .. }) {
                    // Discovery runs again next time (the API server may have changed).
                    self.reconciler = None;
                }
                return Err(e.to_string());
            }
        };
        note_source_id(
            &mut self.last_source_id,
            &self.source_id,
            &planned.source_id,
        );
        if !self.leader.is_leader() {
            return Err(
                "failed to apply: this replica stopped leading; nothing was written".into(),
            );
        }
        if let Some(drift) = &self.drift {
            drift.want(&planned, &look);
        }
        let (home, source) = planned.source();
        self.inventory = Some((home.to_owned(), source.to_owned()));
        let mut report = r.apply(&mut planned).await;
        r.check_health(&mut report, None).await;
        self.wakes.after(
            focus.as_ref().map(|f| &f.services),
            &report.rollouts,
            Instant::now(),
        );
        let checks: Vec<&'static str> = report
            .rollouts
            .iter()
            .flat_map(|r| r.checked.iter().map(|v| v.as_str()))
            .collect();
        let events: Vec<&'static str> = report
            .rollouts
            .iter()
            .filter_map(|r| r.decision.event.as_ref())
            .map(crate::reconcile::rollout::stage::reason)
            .collect();
        self.state
            .record_rollouts(&self.wakes.phase_counts(), &checks, &events);
        for r in &report.rollouts {
            if let Some(event) = &r.decision.event {
                info!(service = %r.key, event = crate::reconcile::rollout::stage::reason(event), rollout = r.summary().unwrap_or_default(), "rollout");
            }
        }
        if let Some(rb) = self.rollbacks.as_mut() {
            let pins = rb.observe(rev, &planned, &report.services);
            if !pins.is_empty() {
                for (key, pin) in &pins {
                    warn!(service = %key, revision = %rev, good = %pin.good, "rollout failed: rolling back to the last good revision");
                }
                let overrides = rb.overrides(rev);
                if let Ok(mut again) = r
                    .plan_with(&repo, &source_id, &overrides, focus.as_ref())
                    .await
                {
                    if let Some(drift) = &self.drift {
                        drift.want(&again, &look);
                    }
                    report = r.apply(&mut again).await;
                    r.check_health(&mut report, None).await;
                }
            }
            for s in report.services.iter_mut() {
                if let Some(pin) = rb.pin(&s.namespace, &s.name) {
                    let h = s.health.take().unwrap_or_default();
                    s.health = Some(format!(
                        "{h}; rolled back: the rollout of {} failed, running {}",
                        short(&pin.bad),
                        short(&pin.good)
                    ));
                    s.unhealthy = true;
                }
            }
        }
        // Events are writes too: a replica that stopped leading during the run records none.
        if let Some(events) = self.events.as_mut()
            && self.leader.is_leader()
        {
            let (home, source) = planned.source();
            let ctx = Context {
                revision: Some(rev),
                home_namespace: home,
                source_id: source,
                invalid: &repo.invalid,
            };
            events
                .publish_seen(&plan_events(&report, &ctx), &report.seen)
                .await;
        }
        for o in report.objects() {
            if let Some(action) = outcome::object_action(&o.outcome) {
                self.state.record_object(&o.kind.to_string(), action);
            }
        }
        for n in notices::of_reconcile(self.target.name.as_deref(), rev, reason, &report) {
            self.notifications.send(n);
        }
        if let Some(why) = &report.prune_refused {
            warn!(revision = %rev, held = report.prune_held.len(), services_kept = report.kept_services.len(), reason = %why, "pruning refused: objects that left git are kept");
        }
        for s in report.services.iter() {
            let Some(error) = &s.error else { continue };
            warn!(service = %format!("{}/{}", s.namespace, s.name), revision = %rev, error = %error, "service not applied");
        }
        let invalid = outcome::invalid_services(&repo.invalid);
        for (ns, name, why) in &invalid {
            warn!(service = %format!("{ns}/{name}"), revision = %rev, error = %why, "service not applied");
        }
        let mut status = outcome::to_status(&report, &invalid, rev, started.elapsed());
        if let (Some(f), Some(b)) = (&focus, &basis) {
            incremental::complete(&mut status, &incremental::in_git(&repo), f, b);
        }
        self.basis = Basis::after(inputs, &status);
        let (changed, unchanged, failed) = outcome::counts(&report);
        // Services left out (conflicts, invalid specs): their objects are skipped, not failed.
        let services_not_applied =
            report.services.iter().filter(|s| s.error.is_some()).count() + invalid.len();
        info!(
            revision = %rev,
            outcome = status.outcome.as_str(),
            duration_ms = started.elapsed().as_millis() as u64,
            services = status.services.as_ref().map_or(0, Vec::len),
            services_not_applied,
            looked_at = focus.as_ref().map_or(report.services.len(), |f| f.services.len()),
            changed,
            unchanged,
            failed,
            "reconciled"
        );
        Ok(status)
    }

    async fn connect(&self) -> Result<Reconciler, ReconcileError> {
        let client = crate::cluster::connect(&self.target.kube).await?;
        let mut opts = self.target.options.clone();
        // Every write checks leadership, not only the start of the cycle.
        opts.write.leading = Some(self.leader.receiver());
        Reconciler::new(client, Arc::clone(&self.secrets), opts).await
    }
}

mod record;
pub use record::status_line;
use record::{note_source_id, short};
