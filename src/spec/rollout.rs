//! `spec.rollout`: how a new version of a service replaces the running one — all at once
//! (`rolling`, the Deployment's own rolling update) or as a canary watched by metric analysis.
//!
//! Durations are written like `30s`, `2m` or `1h30m` ([`humantime`]); the schema checks their
//! shape and [`super::checks`] that they parse.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a new version is rolled out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// `rolling` (default) or `canary`.
    #[serde(default)]
    pub strategy: Strategy,
    /// The canary's steps, in order (canary only).
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Metric analysis during the steps (canary only).
    pub analysis: Option<Analysis>,
}

/// The rollout strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// The Deployment's rolling update (what every service without `rollout` gets).
    #[default]
    Rolling,
    /// A second Deployment `<name>-canary` takes a share of the traffic step by step.
    Canary,
}

/// One canary step: a traffic share and how long to watch it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// Percent of the traffic for the new version, 1–99; absent: the previous step's.
    pub weight: Option<u8>,
    /// How long to watch; `{}` waits for `mlsync rollout promote`; absent: no wait.
    pub pause: Option<Pause>,
}

/// A step's pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Pause {
    /// A duration as written (`2m`).
    For(String),
    /// `{}`: until an operator promotes.
    Manual(ManualPause),
}

/// The empty object `{}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualPause {}

/// Metric analysis of the canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Analysis {
    /// Time between checks (default `30s`).
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Failed checks that abort the rollout (default 1).
    #[serde(default = "one")]
    pub failure_limit: u32,
    /// Checks in a row without data that hold the rollout for an operator (default 3).
    #[serde(default = "three")]
    pub inconclusive_limit: u32,
    /// Where to query.
    pub prometheus: Option<PrometheusRef>,
    /// What to check.
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

/// A Prometheus server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusRef {
    /// Base URL of its HTTP API, e.g. `http://prometheus.monitoring:9090`.
    pub address: String,
}

/// One PromQL query and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metric {
    /// Shown in status, Events and metrics.
    pub name: String,
    /// PromQL; `{{service}}`, `{{namespace}}` and `{{track}}` are substituted.
    pub query: String,
    /// The check fails above this.
    pub max: Option<f64>,
    /// The check fails below this.
    pub min: Option<f64>,
}

fn default_interval() -> String {
    "30s".to_owned()
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

/// Placeholders a metric query may use, written `{{service}}` (no spaces); `validate` refuses
/// any other `{{…}}`.
pub const PLACEHOLDERS: [&str; 3] = ["service", "namespace", "track"];

/// Parses a duration as written in a spec (`30s`, `2m`, `1h30m`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text).ok()
}

impl Rollout {
    /// True for the canary strategy.
    pub fn is_canary(&self) -> bool {
        self.strategy == Strategy::Canary
    }
}

impl Analysis {
    /// The check interval (30 s when it does not parse; `validate` reports that).
    pub fn interval(&self) -> Duration {
        parse_duration(&self.interval).unwrap_or(Duration::from_secs(30))
    }
}
