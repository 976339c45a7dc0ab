//! A rollout's state as kept in the cluster, and operators' intents (serde, pure).
//!
//! The state is JSON in the [`STATE_ANNOTATION`] of the stable Deployment, written with its own
//! field manager ([`FIELD_MANAGER`]) so that applying the stable Deployment never removes it.
//! An intent is JSON in the [`INTENT_ANNOTATION`] of the canary Deployment: `mlsync rollout
//! promote|abort|pause|resume` writes it, the leader acts on it once (its id is remembered in
//! the state).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Annotation on the stable Deployment holding the [`State`].
pub const STATE_ANNOTATION: &str = "mlsync.dev/rollout";
/// Annotation on the canary Deployment holding an [`Intent`].
pub const INTENT_ANNOTATION: &str = "mlsync.dev/rollout-intent";
/// Field manager of the state annotation.
pub const FIELD_MANAGER: &str = "mlsync-rollout";

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Moving through its steps.
    Progressing,
    /// Waiting for an operator: a `pause: {}` step, or `mlsync rollout pause`.
    Paused,
    /// Stopped because checks gave no data `inconclusiveLimit` times in a row: an operator
    /// promotes or aborts.
    Inconclusive,
    /// Given up: the canary is gone and this revision is quarantined for the service until
    /// git changes it.
    Aborted,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 4] = [
        Phase::Progressing,
        Phase::Paused,
        Phase::Inconclusive,
        Phase::Aborted,
    ];

    /// Lower-case name, for status, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Inconclusive => "inconclusive",
            Phase::Aborted => "aborted",
        }
    }
}

/// How one metric of a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Within its bounds.
    Pass,
    /// Outside its bounds.
    Fail,
    /// No data (no series, or NaN such as 0/0 without traffic).
    Inconclusive,
    /// Prometheus could not be asked (unreachable, query error): counted like no data.
    Error,
}

impl Verdict {
    /// Lower-case name, for status and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }
}

/// One metric's result in a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// The metric's name.
    pub name: String,
    /// Its value, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// How it came out.
    pub verdict: Verdict,
    /// The bound it broke (`> 0.01`, `< 0.5`), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

/// Why a rollout was aborted or stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum Cause {
    /// A metric broke its bound `failureLimit` times.
    MetricFailed {
        /// The metric.
        metric: String,
        /// Its value.
        value: f64,
        /// The bound (`> 0.01`).
        bound: String,
    },
    /// The canary Deployment exceeded its progress deadline (its pods never became ready).
    CanaryUnavailable,
    /// The canary's containers restarted (crashed, or failed their liveness probe).
    CanaryRestarted {
        /// Restarts counted over its pods.
        restarts: i32,
    },
    /// An operator aborted it (`mlsync rollout abort`).
    OperatorAbort,
    /// Checks gave no data `inconclusiveLimit` times in a row.
    NoData {
        /// The metric without data.
        metric: String,
    },
}

impl Cause {
    /// A short reason for metric labels and Event reasons' detail.
    pub fn label(&self) -> &'static str {
        match self {
            Cause::MetricFailed { .. } => "metric_failed",
            Cause::CanaryUnavailable => "canary_unavailable",
            Cause::CanaryRestarted { .. } => "canary_restarted",
            Cause::OperatorAbort => "operator_abort",
            Cause::NoData { .. } => "no_data",
        }
    }

    /// What happened, for people (`error-rate 0.034 > 0.01`).
    pub fn describe(&self) -> String {
        match self {
            Cause::MetricFailed {
                metric,
                value,
                bound,
            } => format!("{metric} {value} {bound}"),
            Cause::CanaryUnavailable => {
                "the canary's pods did not become ready within its progress deadline".to_owned()
            }
            Cause::CanaryRestarted { restarts } => {
                format!("the canary's containers restarted {restarts} times")
            }
            Cause::OperatorAbort => "aborted by an operator (mlsync rollout abort)".to_owned(),
            Cause::NoData { metric } => format!("{metric} gave no data"),
        }
    }
}

/// A rollout's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The template digest rolled out (the canary's version).
    pub revision: String,
    /// Where it is.
    pub phase: Phase,
    /// Index of the current step.
    pub step: usize,
    /// Number of steps.
    pub steps: usize,
    /// When it started.
    pub started: Timestamp,
    /// When the current step started.
    pub step_started: Timestamp,
    /// Failed checks so far.
    #[serde(default)]
    pub failed: u32,
    /// Checks without data in a row.
    #[serde(default)]
    pub inconclusive: u32,
    /// When the last check ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Timestamp>,
    /// The last check's results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<MetricResult>,
    /// Why it was aborted or stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The id of the last intent acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_seen: Option<String>,
}

impl State {
    /// Reads the state annotation of a live stable Deployment (`None`: none, or unreadable —
    /// an unreadable state starts the rollout again rather than promoting blindly).
    pub fn of(deployment: &serde_json::Value) -> Option<State> {
        let text = annotation(deployment, STATE_ANNOTATION)?;
        serde_json::from_str(text).ok()
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True when `intent` is one the leader has yet to act on: asked for this revision, not
    /// the last one acted on, and the rollout not aborted (what [`super::decide`] acts on).
    pub fn awaits(&self, intent: &Intent) -> bool {
        self.phase != Phase::Aborted
            && intent.revision == self.revision
            && self.intent_seen.as_deref() != Some(intent.id.as_str())
    }
}

/// What an operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Finish now: the canary's version becomes stable.
    Promote,
    /// Give up: remove the canary, quarantine the revision.
    Abort,
    /// Stop at the current step.
    Pause,
    /// Go on (also past a `pause: {}` step).
    Resume,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Abort => "abort",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }
}

/// An operator's intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// What to do.
    pub action: Action,
    /// Unique per request (acted on once).
    pub id: String,
    /// Which revision it was asked for (the canary's template digest).
    pub revision: String,
}

impl Intent {
    /// Reads the intent annotation of a live canary Deployment.
    pub fn of(deployment: &serde_json::Value) -> Option<Intent> {
        serde_json::from_str(annotation(deployment, INTENT_ANNOTATION)?).ok()
    }

    /// The annotation value (what `mlsync rollout` writes).
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An annotation of a live object.
pub fn annotation<'a>(object: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}
