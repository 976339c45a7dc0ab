//! The daemon's Prometheus metrics (OpenMetrics text via `prometheus-client`).
//!
//! All metric handles are atomics behind `Arc`s; the registry is built once and only read
//! afterwards, so recording never blocks a scrape for long.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::info::Info;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::borrow::Cow;

use prometheus_client::registry::{Registry, Unit};

use super::drift::DriftKind;
use super::status::{Outcome, ServiceState, ServiceStatus};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What was done to one Kubernetes object during apply/prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectAction {
    /// Did not exist; created.
    Created,
    /// Existed and was changed.
    Configured,
    /// Existed and already matched.
    Unchanged,
    /// Left git; deleted.
    Pruned,
    /// Apply or delete failed.
    Failed,
}

impl ObjectAction {
    /// The lowercase label value (`kubectl apply` wording).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RevisionLabels {
    revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
    namespace: String,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DriftLabels {
    kind: String,
    drift: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerificationLabels {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    provider: &'static str,
    result: &'static str,
}

/// Every metric the daemon exports, plus the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_duration: Histogram,
    reconciles: Family<OutcomeLabels, Counter>,
    last_success: Gauge<f64, AtomicU64>,
    revision: Arc<RevisionInfo>,
    service_status: Family<ServiceLabels, Gauge>,
    fetch_duration: Histogram,
    fetch_errors: Counter,
    objects: Family<ObjectLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
    history_rewrites: Counter,
    prune_refused: Gauge,
    drifts: Family<DriftLabels, Counter>,
    drift_fights: Family<KindLabels, Counter>,
    skipped: Counter,
    rollouts: Family<PhaseLabels, Gauge>,
    rollout_checks: Family<VerdictLabels, Counter>,
    rollout_events: Family<ReasonLabels, Counter>,
    commit_verifications: Family<VerificationLabels, Counter>,
}

/// `mlsync_last_applied_revision_info`: an OpenMetrics info metric whose only series is
/// the current revision (a collector, because `Info` itself cannot change).
#[derive(Debug, Default)]
struct RevisionInfo(RwLock<Option<String>>);

impl Collector for RevisionInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let revision = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(revision) = revision else {
            return Ok(());
        };
        let info = Info::new(RevisionLabels { revision });
        let metric = encoder.encode_descriptor(
            "last_applied_revision",
            "The git revision last applied.",
            None,
            info.metric_type(),
        )?;
        info.encode(metric)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `mlsync_` prefix.
    pub fn new() -> Self {
        Self::for_target(None)
    }

    /// Creates and registers every metric under the `mlsync_` prefix, each series labelled
    /// `target="<name>"` when a target is named (a daemon reconciling several clusters).
    pub fn for_target(target: Option<&str>) -> Self {
        let reconcile_duration = Histogram::new(exponential_buckets(0.1, 2.0, 12));
        let fetch_duration = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        for outcome in Outcome::ALL {
            let labels = OutcomeLabels {
                outcome: outcome.as_str(),
            };
            reconciles.get_or_create(&labels).inc_by(0);
        }
        let last_success = Gauge::<f64, AtomicU64>::default();
        let revision = Arc::new(RevisionInfo::default());
        let service_status = Family::default();
        let fetch_errors = Counter::default();
        let objects = Family::default();
        let webhooks = Family::default();
        let history_rewrites = Counter::default();
        let prune_refused = Gauge::default();
        let drifts = Family::default();
        let drift_fights = Family::default();
        let skipped = Counter::default();
        let rollouts = Family::default();
        let rollout_checks = Family::default();
        let rollout_events = Family::default();
        let commit_verifications = Family::default();

        let labels = target.map(|t| (Cow::Borrowed("target"), Cow::Owned(t.to_owned())));
        let mut r = Registry::with_prefix_and_labels("mlsync", labels.into_iter());
        let secs = Unit::Seconds;
        let dur = "Duration of reconciles";
        r.register_with_unit(
            "reconcile_duration",
            dur,
            secs.clone(),
            reconcile_duration.clone(),
        );
        r.register("reconciles", "Reconciles by outcome", reconciles.clone());
        let ts = "Unix time of the last successful reconcile";
        r.register_with_unit(
            "last_successful_reconcile_timestamp",
            ts,
            secs.clone(),
            last_success.clone(),
        );
        r.register_collector(Box::new(revision.clone()));
        let st = "1 for the state each MLService is in, 0 for the others";
        r.register("service_status", st, service_status.clone());
        r.register_with_unit(
            "git_fetch_duration",
            "Duration of git fetches",
            secs,
            fetch_duration.clone(),
        );
        r.register(
            "git_fetch_errors",
            "Failed git fetches",
            fetch_errors.clone(),
        );
        let obj = "Kubernetes objects handled by apply/prune, by kind and action";
        r.register("objects_applied", obj, objects.clone());
        let wh = "Webhook requests by provider and result";
        r.register("webhook_requests", wh, webhooks.clone());
        let hr = "Fetches after which the followed branch or tag no longer descended from the commit followed before (force-pushes)";
        r.register("source_history_rewrites", hr, history_rewrites.clone());
        let pr =
            "1 while the last reconcile refused pruning (objects that left git are kept), else 0";
        r.register("prune_refused", pr, prune_refused.clone());
        let dr = "Owned objects seen changed or deleted in the cluster (drift), by kind and drift";
        r.register("drift_detected", dr, drifts.clone());
        let df = "Objects someone kept changing back (DriftFight): healing paused with backoff";
        r.register("drift_fights", df, drift_fights.clone());
        let sk = "Polls and webhooks that found git and the cluster as the last reconcile left them (drift watch): nothing planned, nothing read";
        r.register("reconciles_skipped", sk, skipped.clone());
        let ro = "Canary rollouts by phase (progressing, paused, inconclusive, aborted)";
        r.register("rollouts", ro, rollouts.clone());
        let rc =
            "Canary metric checks by verdict (pass, fail, inconclusive, error), one per metric";
        r.register("rollout_checks", rc, rollout_checks.clone());
        let re = "Canary rollout events by reason (RolloutStarted, RolloutAborted, …)";
        r.register("rollout_events", re, rollout_events.clone());
        let cv = "Signature verifications of fetched commits (--allowed-signers), by result (verified, or why the commit was refused: unsigned, unknownKey, …)";
        r.register("commit_verifications", cv, commit_verifications.clone());
        Self {
            registry: r,
            reconcile_duration,
            reconciles,
            last_success,
            revision,
            service_status,
            fetch_duration,
            fetch_errors,
            objects,
            webhooks,
            history_rewrites,
            prune_refused,
            drifts,
            drift_fights,
            skipped,
            rollouts,
            rollout_checks,
            rollout_events,
            commit_verifications,
        }
    }

    /// Counts one signature verification of a fetched commit (`verified` or the reason).
    pub fn count_commit_verification(&self, result: &'static str) {
        self.commit_verifications
            .get_or_create(&VerificationLabels { result })
            .inc();
    }

    /// Sets how many canary rollouts are in each phase (every phase is set, 0 included).
    pub fn set_rollouts(&self, phases: &[(&'static str, i64)]) {
        for (phase, count) in phases {
            self.rollouts
                .get_or_create(&PhaseLabels { phase })
                .set(*count);
        }
    }

    /// Counts one metric's result in a canary check.
    pub fn count_rollout_check(&self, verdict: &'static str) {
        self.rollout_checks
            .get_or_create(&VerdictLabels { verdict })
            .inc();
    }

    /// Counts one rollout event.
    pub fn count_rollout_event(&self, reason: &'static str) {
        self.rollout_events
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Encodes every metric in OpenMetrics text format (served with [`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Counts one reconcile and observes its duration.
    pub fn observe_reconcile(&self, outcome: Outcome, duration: Duration, now_unix: f64) {
        self.reconcile_duration.observe(duration.as_secs_f64());
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == Outcome::Success {
            self.last_success.set(now_unix);
        }
    }

    /// Makes `revision` the only series of the revision info metric.
    pub fn set_revision(&self, revision: &str) {
        let mut current = self
            .revision
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = Some(revision.to_owned());
    }

    /// Sets the per-service status series to `current`, dropping services only in `previous`.
    pub fn set_services(&self, previous: &[ServiceStatus], current: &[ServiceStatus]) {
        let labels = |s: &ServiceStatus, state: ServiceState| ServiceLabels {
            service: s.name.clone(),
            namespace: s.namespace.clone(),
            state: state.as_str(),
        };
        for gone in previous.iter().filter(|p| {
            !current
                .iter()
                .any(|c| c.name == p.name && c.namespace == p.namespace)
        }) {
            for state in ServiceState::ALL {
                self.service_status.remove(&labels(gone, state));
            }
        }
        for s in current {
            for state in ServiceState::ALL {
                self.service_status
                    .get_or_create(&labels(s, state))
                    .set(i64::from(state == s.state));
            }
        }
    }

    /// Counts one git fetch and observes its duration.
    pub fn observe_fetch(&self, duration: Duration, ok: bool) {
        self.fetch_duration.observe(duration.as_secs_f64());
        if !ok {
            self.fetch_errors.inc();
        }
    }

    /// Counts one object handled by apply or prune.
    pub fn count_object(&self, kind: &str, action: ObjectAction) {
        self.objects
            .get_or_create(&ObjectLabels {
                kind: kind.to_owned(),
                action: action.as_str(),
            })
            .inc();
    }

    /// Counts one force-push of the followed ref (see [`crate::source::HistoryRewrite`]).
    pub fn count_history_rewrite(&self) {
        self.history_rewrites.inc();
    }

    /// Sets whether the last reconcile refused pruning.
    pub fn set_prune_refused(&self, refused: bool) {
        self.prune_refused.set(i64::from(refused));
    }

    /// Counts one drift of an object of `kind`.
    pub fn count_drift(&self, kind: &str, drift: DriftKind) {
        self.drifts
            .get_or_create(&DriftLabels {
                kind: kind.to_owned(),
                drift: drift.as_str(),
            })
            .inc();
    }

    /// Counts one fight over an object of `kind`.
    pub fn count_drift_fight(&self, kind: &str) {
        self.drift_fights
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts one reconcile skipped because nothing changed.
    pub fn count_skipped(&self) {
        self.skipped.inc();
    }

    /// Counts one webhook request.
    pub fn count_webhook(&self, provider: &'static str, result: &'static str) {
        self.webhooks
            .get_or_create(&WebhookLabels { provider, result })
            .inc();
    }
}
