//! The daemon's Prometheus metrics (OpenMetrics text via `prometheus-client`).
//!
//! All metric handles are atomics behind `Arc`s; the registry is built once and only read
//! afterwards, so recording never blocks a scrape for long.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

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
    last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    revision: Family<RevisionLabels, Gauge>,
    service_status: Family<ServiceLabels, Gauge>,
    fetch_duration: Histogram,
    fetch_errors: Counter,
    objects: Family<ObjectLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `mlsync_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mlsync");
        let reconcile_duration = Histogram::new(exponential_buckets(0.1, 2.0, 12));
        let fetch_duration = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        let m = Self {
            registry: Registry::default(),
            reconcile_duration,
            reconciles: Family::default(),
            last_success: Gauge::default(),
            revision: Family::default(),
            service_status: Family::default(),
            fetch_duration,
            fetch_errors: Counter::default(),
            objects: Family::default(),
            webhooks: Family::default(),
        };
        let r = &mut registry;
        r.register_with_unit(
            "reconcile_duration",
            "Duration of reconciles",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        r.register("reconciles", "Reconciles by outcome", m.reconciles.clone());
        r.register_with_unit(
            "last_successful_reconcile_timestamp",
            "Unix time of the last successful reconcile",
            Unit::Seconds,
            m.last_success.clone(),
        );
        r.register(
            "last_applied_revision_info",
            "The git revision last applied (value 1)",
            m.revision.clone(),
        );
        r.register(
            "service_status",
            "1 for the state each MLService is in, 0 for the others",
            m.service_status.clone(),
        );
        r.register_with_unit(
            "git_fetch_duration",
            "Duration of git fetches",
            Unit::Seconds,
            m.fetch_duration.clone(),
        );
        r.register(
            "git_fetch_errors",
            "Failed git fetches",
            m.fetch_errors.clone(),
        );
        r.register(
            "objects_applied",
            "Kubernetes objects handled by apply/prune, by kind and action",
            m.objects.clone(),
        );
        r.register(
            "webhook_requests",
            "Webhook requests by provider and result",
            m.webhooks.clone(),
        );
        for outcome in Outcome::ALL {
            m.reconciles
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.as_str(),
                })
                .inc_by(0);
        }
        Self { registry, ..m }
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
        let labels = RevisionLabels {
            revision: revision.to_owned(),
        };
        if self.revision.get(&labels).is_none() {
            self.revision.clear();
        }
        self.revision.get_or_create(&labels).set(1);
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

    /// Counts one webhook request.
    pub fn count_webhook(&self, provider: &'static str, result: &'static str) {
        self.webhooks
            .get_or_create(&WebhookLabels { provider, result })
            .inc();
    }
}
