//! Canary rollouts (`spec.rollout.strategy: canary`): a new version of a service runs as a
//! second Deployment `<name>-canary` behind the same Service, takes a growing share of the
//! traffic step by step while its metrics are checked, and is then promoted (the stable
//! Deployment moves to the new template, the canary goes) or aborted (the canary goes, the
//! stable version keeps serving and the revision is quarantined until git changes the service).
//!
//! - [`state`]: what a rollout has reached, kept in the cluster (an annotation on the stable
//!   Deployment) so a restart or a new leader continues it; operators' intents (an annotation on
//!   the canary Deployment, written by `mlsync rollout`).
//! - [`decide`]: observation × state → the next state and the shape of the service (pure).
//! - [`analysis`]: a check of the canary's metrics; [`prometheus`] the HTTP API it queries.
//! - [`shape`]: the service's objects for a decision: the canary Deployment, the stable
//!   Deployment and its config kept as they are, leftovers to retire (pure).
//! - [`record`]: writes the state (the one write of its own).
//! - [`stage`]: runs the above for the services of a plan (reads the cluster and Prometheus).

pub mod analysis;
pub mod decide;
pub mod prometheus;
pub mod record;
pub mod shape;
pub mod stage;
pub mod state;

pub use crate::render::{TEMPLATE_ANNOTATION, TRACK_LABEL};
/// Suffix of the canary Deployment's name.
pub const CANARY_SUFFIX: &str = "-canary";

/// The canary Deployment of service `name`.
pub fn canary_name(name: &str) -> String {
    format!("{name}{CANARY_SUFFIX}")
}

/// Which Deployment a pod belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The serving version.
    Stable,
    /// The version being rolled out.
    Canary,
}

impl Track {
    /// The label value and the `{{track}}` of queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Track::Stable => "stable",
            Track::Canary => "canary",
        }
    }
}
