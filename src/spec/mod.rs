//! The `MLService` spec (`apiVersion: mlsync.dev/v1alpha1`) and the repo config (`mlsync.yaml`).
//!
//! The types mirror `schema/*.schema.json`; documents are checked against the schema first
//! ([`schema`]), then deserialized into these types, then given the checks a schema cannot
//! express ([`checks`]).

pub mod checks;
pub mod limits;
pub mod names;
pub mod overlay_schema;
pub mod quantity;
pub mod rollout;
mod rollout_checks;
pub mod schema;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The spec's `apiVersion`.
pub const API_VERSION: &str = "mlsync.dev/v1alpha1";

/// One ML model service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MLService {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always `MLService`.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: Metadata,
    /// What to run.
    pub spec: ServiceSpec,
}

/// Object metadata of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Names the Deployment, Service and HPA.
    pub name: String,
    /// Target namespace; `None` means the repo default.
    pub namespace: Option<String>,
    /// Copied onto every object.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Copied onto every object.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The body of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// The model served.
    pub model: Model,
    /// Container image.
    pub image: String,
    /// Container port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Fixed replicas (only without autoscaling).
    pub replicas: Option<i32>,
    /// Deployment progressDeadlineSeconds.
    pub progress_deadline_seconds: Option<i32>,
    /// ConfigMap data.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Encrypted secrets file.
    pub secrets: Option<SecretsRef>,
    /// CPU, memory and GPU.
    #[serde(default)]
    pub resources: Resources,
    /// The Service.
    #[serde(default)]
    pub service: ServiceExposure,
    /// The HPA.
    pub autoscaling: Option<Autoscaling>,
    /// HTTP probes.
    #[serde(default)]
    pub probes: Probes,
    /// Pod nodeSelector.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Pod tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// How a new version replaces the running one (default: a rolling update).
    pub rollout: Option<rollout::Rollout>,
}

fn default_port() -> u16 {
    5000
}

/// The model's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Model {
    /// Model name.
    pub name: String,
    /// Model version (a label value).
    pub version: String,
    /// Artifact location.
    pub uri: Option<String>,
    /// Artifact format.
    pub format: Option<String>,
}

/// Reference to a SOPS-encrypted file in the repo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsRef {
    /// Path relative to the repo root.
    pub file: String,
}

/// Requests and limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Requests.
    pub requests: Option<ResourceList>,
    /// Limits.
    pub limits: Option<ResourceList>,
}

/// CPU, memory (quantities as written) and whole GPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    /// CPU quantity.
    pub cpu: Option<QuantityText>,
    /// Memory quantity.
    pub memory: Option<QuantityText>,
    /// `nvidia.com/gpu`.
    pub gpu: Option<u32>,
}

/// A quantity as written in YAML: a string (`100m`) or a number (`2`, `0.5`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QuantityText {
    /// `"100m"`.
    Text(String),
    /// `2` or `0.5`.
    Number(serde_json::Number),
}

impl QuantityText {
    /// The Kubernetes string form.
    pub fn as_string(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(n) => n.to_string(),
        }
    }
}

/// How the Service exposes the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceExposure {
    /// ClusterIP, NodePort or LoadBalancer.
    #[serde(rename = "type", default = "default_service_type")]
    pub type_: String,
    /// Service port.
    #[serde(default = "default_service_port")]
    pub port: u16,
    /// Service-only annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ServiceExposure {
    fn default() -> Self {
        Self {
            type_: default_service_type(),
            port: default_service_port(),
            annotations: BTreeMap::new(),
        }
    }
}

fn default_service_type() -> String {
    "ClusterIP".to_owned()
}

fn default_service_port() -> u16 {
    80
}

/// HPA settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// Lower bound.
    #[serde(default = "one")]
    pub min_replicas: i32,
    /// Upper bound.
    pub max_replicas: i32,
    /// CPU target.
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu: Option<i32>,
    /// Memory target.
    #[serde(rename = "targetMemoryUtilizationPercentage")]
    pub target_memory: Option<i32>,
}

fn one() -> i32 {
    1
}

/// The three probes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probes {
    /// Startup probe.
    pub startup: Option<Probe>,
    /// Readiness probe.
    pub readiness: Option<Probe>,
    /// Liveness probe.
    pub liveness: Option<Probe>,
}

/// An HTTP GET probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// HTTP path.
    pub path: String,
    /// Port (default: the container port).
    pub port: Option<u16>,
    /// initialDelaySeconds.
    pub initial_delay_seconds: Option<i32>,
    /// periodSeconds.
    pub period_seconds: Option<i32>,
    /// timeoutSeconds.
    pub timeout_seconds: Option<i32>,
    /// failureThreshold.
    pub failure_threshold: Option<i32>,
    /// successThreshold.
    pub success_threshold: Option<i32>,
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// Taint key.
    pub key: Option<String>,
    /// Exists or Equal.
    pub operator: Option<String>,
    /// Taint value.
    pub value: Option<String>,
    /// Taint effect.
    pub effect: Option<String>,
    /// Seconds tolerated (NoExecute).
    pub toleration_seconds: Option<i64>,
}

/// `mlsync.yaml` at the repo root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoConfig {
    /// Optional, [`API_VERSION`].
    pub api_version: Option<String>,
    /// Optional, `RepoConfig`.
    pub kind: Option<String>,
    /// Namespace for specs without one.
    pub default_namespace: Option<String>,
    /// Directories holding specs.
    pub paths: Option<Vec<String>>,
    /// Ownership label value.
    pub source_id: Option<String>,
    /// Create missing namespaces.
    #[serde(default)]
    pub create_namespaces: bool,
    /// Environments (`--env NAME`): each a set of overlays over the base specs.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

impl RepoConfig {
    /// The namespace a spec without `metadata.namespace` goes to.
    pub fn default_namespace(&self) -> &str {
        self.default_namespace.as_deref().unwrap_or("default")
    }
}

/// One entry of `environments` in `mlsync.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Namespace for services that set none, in this environment (default: `defaultNamespace`).
    pub namespace: Option<String>,
    /// Ownership label value in this environment (default: the repo's id + `-` + the name).
    pub source_id: Option<String>,
    /// Directory of this environment's overlays (default: `environments/<name>`).
    pub path: Option<String>,
}

impl EnvironmentConfig {
    /// The overlay directory of environment `name`, as written in the repo.
    pub fn overlay_dir(&self, name: &str) -> String {
        self.path
            .clone()
            .unwrap_or_else(|| format!("environments/{name}"))
    }
}
