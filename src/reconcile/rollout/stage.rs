//! The rollout stage of a plan: for each canary-strategy service, read what the cluster shows
//! (the stable and canary Deployments, the kept state, an operator's intent), check the
//! canary's metrics when a check is due (the only I/O: Prometheus), decide, and shape the
//! service's objects.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::decide::{self, CanaryView, Decision, Event, Observed, Shape, StableView};
use super::shape::{self, Shaped};
use super::state::{Intent, Phase, State, Verdict};
use super::{TEMPLATE_ANNOTATION, TRACK_LABEL, analysis, canary_name};
use crate::reconcile::health::Rollout;
use crate::reconcile::keys::{ObjectRef, ServiceKey};
use crate::render::{Kind, Object};
use crate::render::{SERVICE_LABEL, config_map_name, secret_name};
use crate::spec::names::is_versioned;
use crate::spec::rollout::Rollout as RolloutSpec;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use tracing::warn;

/// A service's rollout as a plan decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutReport {
    /// The service.
    pub key: ServiceKey,
    /// The decision.
    pub decision: Decision,
    /// Whether the stable Deployment exists (the state lives on it).
    pub stable_exists: bool,
    /// The verdicts of the check made by this decision, one per metric (empty: none made).
    pub checked: Vec<Verdict>,
}

impl RolloutReport {
    /// Forgets the rollout state of a service that no longer uses the canary strategy.
    pub fn forget(key: ServiceKey) -> Self {
        Self {
            key,
            decision: Decision {
                shape: Shape::Stable,
                state: None,
                changed: true,
                event: None,
                wake: None,
            },
            stable_exists: true,
            checked: Vec::new(),
        }
    }

    /// The state to keep, when a rollout is under way or aborted.
    pub fn state(&self) -> Option<&State> {
        self.decision.state.as_ref()
    }

    /// True while a canary runs (progressing, paused or inconclusive).
    pub fn in_progress(&self) -> bool {
        matches!(self.decision.shape, Shape::Canary { .. })
    }

    /// True when the revision git wants is quarantined (its rollout was aborted).
    pub fn aborted(&self) -> bool {
        self.state().is_some_and(|s| s.phase == Phase::Aborted)
    }

    /// The line `plan`, `diff` and `apply` print:
    /// `rollout ml/iris: canary rollout started; canary step 1/3 at 10% (1 canary pods)`.
    /// `None` when the decision has neither an event nor a rollout to tell about.
    pub fn line(&self) -> Option<String> {
        let text = match &self.decision.event {
            // Notes that do not say where the rollout goes next get the summary too.
            Some(e @ (Event::Started { .. } | Event::StepPassed { .. } | Event::Resumed)) => {
                let note = note(e, self);
                match self.summary() {
                    Some(s) => format!("{note}; {s}"),
                    None => note,
                }
            }
            Some(e) => note(e, self),
            None => self.summary()?,
        };
        Some(format!("rollout {}: {text}", self.key))
    }

    /// One line for `plan`, `/status` and logs: `canary step 2/3 at 50% (1 of 3 pods),
    /// error-rate 0.002`, `aborted at step 1/3: error-rate 0.034 > 0.01`, …
    pub fn summary(&self) -> Option<String> {
        let st = self.state()?;
        let step = format!("step {}/{}", st.step + 1, st.steps);
        let results: Vec<String> = st
            .results
            .iter()
            .map(|r| match r.value {
                Some(v) => format!("{} {v}", r.name),
                None => format!("{} {}", r.name, r.verdict.as_str()),
            })
            .collect();
        let results = if results.is_empty() {
            String::new()
        } else {
            format!(", {}", results.join(", "))
        };
        let cause = st
            .cause
            .as_ref()
            .map(|c| format!(": {}", c.describe()))
            .unwrap_or_default();
        Some(match (st.phase, self.decision.shape) {
            (Phase::Aborted, _) => format!("canary aborted at {step}{cause}"),
            (phase, Shape::Canary { replicas, weight }) => {
                let next = match (phase, self.decision.wake) {
                    (Phase::Progressing, Some(w)) => {
                        format!(", next look in {}", humantime::format_duration(round(w)))
                    }
                    _ => String::new(),
                };
                let what = match phase {
                    Phase::Progressing => "canary",
                    Phase::Paused => "canary paused at",
                    _ => "canary inconclusive at",
                };
                format!("{what} {step} at {weight}% ({replicas} canary pods){next}{results}{cause}")
            }
            _ => format!("canary {step}{results}"),
        })
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// The template digest a rendered Deployment carries.
fn digest(o: &Value) -> Option<String> {
    super::state::annotation(o, TEMPLATE_ANNOTATION).map(str::to_owned)
}

fn int(v: &Value, pointer: &str) -> Option<i32> {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

fn stable_view(live: &Value) -> StableView {
    StableView {
        digest: digest(live),
        replicas: int(live, "/status/replicas")
            .or_else(|| int(live, "/spec/replicas"))
            .unwrap_or(1),
        state: State::of(live),
    }
}

fn canary_view(live: &Value) -> CanaryView {
    let deadline_exceeded = live
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Progressing")
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
        });
    let generation = int(live, "/metadata/generation").unwrap_or(0);
    let observed = int(live, "/status/observedGeneration").unwrap_or(0);
    // Until the controller has seen the current spec, its ready count is of the old one.
    let ready = if observed >= generation {
        int(live, "/status/readyReplicas")
            .unwrap_or(0)
            .min(int(live, "/status/updatedReplicas").unwrap_or(0))
    } else {
        0
    };
    CanaryView {
        digest: digest(live),
        replicas: int(live, "/spec/replicas").unwrap_or(0),
        ready,
        deadline_exceeded,
        restarts: None,
        intent: Intent::of(live),
    }
}

/// Looks again this often while the stable Deployment settles after a promotion.
const SETTLE_RECHECK: Duration = Duration::from_secs(10);

/// Decides the rollout of service `namespace`/`name` from its `rendered` objects and the
/// `live` ones, checking the canary's metrics if due, and shapes its objects.
pub async fn stage(
    client: &Client,
    rollout: &RolloutSpec,
    key: &ServiceKey,
    rendered: Vec<Object>,
    live: &BTreeMap<ObjectRef, Value>,
    now: Timestamp,
) -> (Shaped, RolloutReport) {
    let (namespace, name) = (key.namespace.as_str(), key.name.as_str());
    let desired = rendered
        .iter()
        .find(|o| o.kind == Kind::Deployment && o.name == name)
        .and_then(|o| digest(&o.body))
        .unwrap_or_default();
    let stable = live.get(&ObjectRef::new(Kind::Deployment, namespace, name));
    let mut observed = Observed {
        desired,
        stable: stable.map(stable_view),
        canary: live
            .get(&ObjectRef::new(
                Kind::Deployment,
                namespace,
                &canary_name(name),
            ))
            .map(canary_view),
        now,
    };
    // Built-in check: restarts of the current canary's pods (one LIST, only while it runs).
    let running = observed
        .stable
        .as_ref()
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| s.revision == observed.desired && s.phase != Phase::Aborted);
    if let Some(c) = observed
        .canary
        .as_mut()
        .filter(|c| running && c.digest.as_deref() == Some(observed.desired.as_str()))
    {
        c.restarts = restarts(client, namespace, name).await;
    }
    let check = match &rollout.analysis {
        Some(a) if decide::check_due(rollout, &observed) => {
            Some(analysis::check(a, namespace, name).await)
        }
        _ => None,
    };
    let checked = check
        .iter()
        .flatten()
        .map(|r| r.verdict)
        .collect::<Vec<_>>();
    let mut decision = decide::decide(rollout, &observed, check);
    // The stable Deployment runs git's version, all pods updated and available.
    let settled = stable.is_some_and(|s| {
        digest(s).as_deref() == Some(observed.desired.as_str())
            && crate::reconcile::health::rollout(s) == Rollout::Available
    });
    if decision.shape == Shape::Stable && stable.is_some() && !settled {
        // Its earlier pods' config goes once they are replaced: look again.
        decision.wake.get_or_insert(SETTLE_RECHECK);
    }
    let shaped = shape::shape(namespace, name, rendered, decision.shape, live, settled);
    let report = RolloutReport {
        key: key.clone(),
        decision,
        stable_exists: stable.is_some(),
        checked,
    };
    (shaped, report)
}

/// Container restarts over the canary pods of service `name`; `None` when they cannot be read
/// (RBAC without `list pods`: the check is skipped, with a warning).
async fn restarts(client: &Client, namespace: &str, name: &str) -> Option<i32> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "{SERVICE_LABEL}={name},{TRACK_LABEL}={}",
        super::Track::Canary.as_str()
    );
    match pods.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => Some(
            list.items
                .iter()
                .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
                .flatten()
                .map(|c| c.restart_count)
                .sum(),
        ),
        Err(e) => {
            warn!(%namespace, service = %name, error = %e, "canary restarts not checked: failed to list its pods");
            None
        }
    }
}

/// The service whose canary rollout deletes `object` (its finished canary Deployment, a
/// ConfigMap or Secret of an earlier version), if one does: such objects are replaced, they
/// did not leave git.
pub fn retired_by<'a>(rollouts: &'a [RolloutReport], object: &ObjectRef) -> Option<&'a ServiceKey> {
    rollouts
        .iter()
        .map(|r| &r.key)
        .filter(|k| k.namespace == object.namespace)
        .find(|k| match object.kind {
            Kind::Deployment => object.name == canary_name(&k.name),
            Kind::ConfigMap => is_versioned(&config_map_name(&k.name), &object.name),
            Kind::Secret => is_versioned(&secret_name(&k.name), &object.name),
            _ => false,
        })
}

/// The Event reason of a rollout event.
pub fn reason(event: &Event) -> &'static str {
    match event {
        Event::Started { superseded: false } => "RolloutStarted",
        Event::Started { superseded: true } => "RolloutSuperseded",
        Event::StepPassed { .. } => "RolloutStepPassed",
        Event::Promoted { .. } => "RolloutPromoted",
        Event::Aborted(_) => "RolloutAborted",
        Event::Inconclusive(_) => "RolloutInconclusive",
        Event::Paused { .. } => "RolloutPaused",
        Event::Resumed => "RolloutResumed",
    }
}

/// True for events that warn (the new version was not promoted on its own).
pub fn warns(event: &Event) -> bool {
    matches!(event, Event::Aborted(_) | Event::Inconclusive(_))
}

/// The note of a rollout event.
pub fn note(event: &Event, report: &RolloutReport) -> String {
    let step = report
        .state()
        .map(|s| format!(" at step {}/{}", s.step + 1, s.steps))
        .unwrap_or_default();
    match event {
        Event::Started { superseded } => format!(
            "canary rollout started{}",
            if *superseded {
                ", superseding the rollout of an older revision"
            } else {
                ""
            }
        ),
        Event::StepPassed { step, steps } => format!("canary passed step {step}/{steps}"),
        Event::Promoted { by_operator } => format!(
            "canary promoted{}: the new version is stable",
            if *by_operator { " by an operator" } else { "" }
        ),
        Event::Aborted(cause) => format!(
            "canary aborted{step}: {}; the stable version keeps serving and this revision is not retried until git changes the service",
            cause.describe()
        ),
        Event::Inconclusive(cause) => format!(
            "canary stopped{step}: {}; promote or abort it (mlsync rollout promote|abort)",
            cause.describe()
        ),
        Event::Paused { by_operator } => format!(
            "canary paused{step}{}; mlsync rollout resume (or promote) goes on",
            if *by_operator { " by an operator" } else { "" }
        ),
        Event::Resumed => format!("canary resumed{step}"),
    }
}
