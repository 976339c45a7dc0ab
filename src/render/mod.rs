//! Spec → Kubernetes objects (pure: no I/O).
//!
//! Objects are built with `k8s-openapi` types, so a misspelt field is a compile error, then
//! turned into `serde_json::Value`: one uniform shape for output, diffing and server-side apply,
//! and the only way to emit `autoscaling/v2beta2` (same shape as v2) for clusters older than 1.23.

pub mod hash;
pub mod objects;
pub mod output;
mod service;
pub mod yaml;

pub use crate::spec::names::{INVENTORY_NAME_PREFIX, Kind, config_map_name, secret_name};
pub use service::render_service;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::repo::LoadedService;
use crate::secrets::SecretData;

/// Label: which service an object belongs to.
pub const SERVICE_LABEL: &str = "mlsync.dev/service";
/// Label: which source (config repo) owns an object.
pub const SOURCE_LABEL: &str = "mlsync.dev/source";
/// Label: `app.kubernetes.io/managed-by`, always `mlsync`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "mlsync";

/// Label on the pods of a canary-strategy service: `stable` or `canary` (its track).
pub const TRACK_LABEL: &str = "mlsync.dev/track";
/// Annotation on a canary-strategy Deployment: a digest of its pod template, so a rollout can
/// tell which version the stable Deployment runs (equal digests, same version).
pub const TEMPLATE_ANNOTATION: &str = "mlsync.dev/template";

/// The HorizontalPodAutoscaler API to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HpaVersion {
    /// `autoscaling/v2` (Kubernetes ≥ 1.23).
    #[default]
    V2,
    /// `autoscaling/v2beta2` (same shape; Kubernetes < 1.23).
    V2beta2,
}

impl HpaVersion {
    /// The `apiVersion` string.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V2 => "autoscaling/v2",
            Self::V2beta2 => "autoscaling/v2beta2",
        }
    }
}

/// Settings that do not come from the spec.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Value of the [`SOURCE_LABEL`] ownership label.
    pub source_id: String,
    /// HPA API version.
    pub hpa: HpaVersion,
}

/// One rendered object. `Debug` never shows the body (a Secret's body holds its values).
#[derive(Clone, PartialEq)]
pub struct Object {
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The full manifest.
    pub body: Value,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Labels on every object of a service (user labels first, ours win).
pub fn common_labels(svc: &LoadedService, opts: &RenderOptions) -> BTreeMap<String, String> {
    let m = &svc.spec.metadata;
    let mut labels = m.labels.clone();
    for (k, v) in [
        ("app.kubernetes.io/name", svc.spec.spec.model.name.as_str()),
        ("app.kubernetes.io/instance", m.name.as_str()),
        (
            "app.kubernetes.io/version",
            svc.spec.spec.model.version.as_str(),
        ),
        ("app.kubernetes.io/component", "model-server"),
        (MANAGED_BY_LABEL, MANAGED_BY),
        (SERVICE_LABEL, m.name.as_str()),
        (SOURCE_LABEL, opts.source_id.as_str()),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    labels
}

/// The Deployment selector and Service selector: stable across model versions.
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/instance".to_owned(), name.to_owned()),
        (SERVICE_LABEL.to_owned(), name.to_owned()),
    ])
}

/// Renders one valid service in apply order: ConfigMap (if `spec.config`), Secret (if
/// `spec.secrets`), Deployment, Service, HorizontalPodAutoscaler (if `spec.autoscaling`).
/// `secrets` must be the decrypted `spec.secrets` file when the spec has one; commands call
/// [`render_service`], which decrypts it.
pub fn render(
    svc: &LoadedService,
    secrets: Option<&SecretData>,
    opts: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    objects::render(svc, secrets, opts)
}

/// Errors from rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The spec references a secrets file but no data was supplied.
    #[error("failed to render {namespace}/{name}: secrets file {file} was not decrypted")]
    MissingSecrets {
        /// Namespace.
        namespace: String,
        /// Service.
        name: String,
        /// The file.
        file: String,
    },
    /// The spec's secrets file is not a readable path inside the repo.
    #[error("failed to read secrets file {file}: {cause}")]
    SecretsPath {
        /// `spec.secrets.file` as written.
        file: String,
        /// Why (part of the message, not a `source()`).
        cause: crate::repo::ConfineError,
    },
    /// The spec's secrets file could not be decrypted.
    #[error(transparent)]
    Secrets(crate::secrets::SecretsError),
    /// Serialization of a built object failed (a bug).
    #[error("failed to serialize {kind} {name}: {cause}")]
    Serialize {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
        /// Why (part of the message, not a `source()`).
        cause: serde_json::Error,
    },
}
