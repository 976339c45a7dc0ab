//! Building the five objects with `k8s-openapi` types: one builder per kind, in the style of
//! stackable operator-rs (`XBuilder::new(..).option(..).build()`), and [`render`] calling them
//! in apply order.

mod config;
mod deployment;
mod hpa;
mod service;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::hash::config_hash;
use super::{Kind, Object, RenderError, RenderOptions, common_labels};
use crate::repo::LoadedService;
use crate::secrets::SecretData;

pub use config::{ConfigMapBuilder, SecretBuilder};
pub use deployment::{CONTAINER_NAME, DeploymentBuilder, template_digest};
pub use hpa::HpaBuilder;
pub use service::ServiceBuilder;

/// Renders one valid service in apply order: ConfigMap (if `spec.config`), Secret (if
/// `spec.secrets`), Deployment, Service, HorizontalPodAutoscaler (if `spec.autoscaling`).
pub(super) fn render(
    svc: &LoadedService,
    secrets: Option<&SecretData>,
    opts: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let spec = &svc.spec.spec;
    let canary = spec.rollout.as_ref().is_some_and(|r| r.is_canary());
    let secret_data = match (&spec.secrets, secrets) {
        (None, _) => None,
        (Some(_), Some(data)) => Some(data),
        (Some(r), None) => {
            return Err(RenderError::MissingSecrets {
                namespace: svc.namespace.clone(),
                name: svc.spec.metadata.name.clone(),
                file: r.file.clone(),
            });
        }
    };
    let hash = config_hash(&spec.config, secret_data);
    let meta = MetaBuilder::new(svc, opts);
    let meta = if canary { meta.versioned(&hash) } else { meta };
    let mut out = Vec::new();
    if !spec.config.is_empty() {
        out.push(ConfigMapBuilder::new(&meta, &spec.config).build()?);
    }
    if let Some(data) = secret_data {
        out.push(SecretBuilder::new(&meta, data).config_hash(&hash).build()?);
    }
    out.push(DeploymentBuilder::new(&meta).config_hash(&hash).build()?);
    out.push(ServiceBuilder::new(&meta).build()?);
    if let Some(autoscaling) = &spec.autoscaling {
        out.push(HpaBuilder::new(&meta, autoscaling).api(opts.hpa).build()?);
    }
    for obj in &mut out {
        super::hash::stamp(&mut obj.body);
    }
    Ok(out)
}

/// What every builder shares: the service, its labels and annotations, and the step from a
/// typed object to an [`Object`].
pub struct MetaBuilder<'a> {
    svc: &'a LoadedService,
    labels: BTreeMap<String, String>,
    /// Set for canary-strategy services: the config hash that names the ConfigMap and Secret.
    version: Option<String>,
}

impl<'a> MetaBuilder<'a> {
    /// The metadata of `svc`'s objects, labelled for `opts`.
    pub fn new(svc: &'a LoadedService, opts: &RenderOptions) -> Self {
        Self {
            svc,
            labels: common_labels(svc, opts),
            version: None,
        }
    }

    /// Names the ConfigMap and Secret after `config_hash` (canary strategy: each version's
    /// pods read their own values, and the stable ones keep theirs during a rollout).
    pub fn versioned(mut self, config_hash: &str) -> Self {
        self.version = Some(config_hash.to_owned());
        self
    }

    /// The ConfigMap's name.
    pub fn config_map_name(&self) -> String {
        let base = crate::render::config_map_name(self.name());
        match &self.version {
            Some(h) => crate::spec::names::versioned(&base, h),
            None => base,
        }
    }

    /// The Secret's name.
    pub fn secret_name(&self) -> String {
        let base = crate::render::secret_name(self.name());
        match &self.version {
            Some(h) => crate::spec::names::versioned(&base, h),
            None => base,
        }
    }

    /// True for a canary-strategy service (its pods carry a track label).
    pub fn canary_strategy(&self) -> bool {
        self.version.is_some()
    }

    /// The service rendered.
    pub fn service(&self) -> &'a LoadedService {
        self.svc
    }

    /// The service's name (`metadata.name`).
    pub fn name(&self) -> &'a str {
        &self.svc.spec.metadata.name
    }

    /// The labels of every object (and of the pod template).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// `metadata` of an object named `name`: namespace, labels, the user's annotations.
    pub fn build(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.svc.namespace.clone()),
            labels: Some(self.labels.clone()),
            annotations: non_empty(self.svc.spec.metadata.annotations.clone()),
            ..Default::default()
        }
    }

    /// A built object as JSON.
    fn object(&self, kind: Kind, name: &str, body: &impl Serialize) -> Result<Object, RenderError> {
        let body = serde_json::to_value(body).map_err(|cause| RenderError::Serialize {
            kind,
            name: name.to_owned(),
            cause,
        })?;
        Ok(Object {
            kind,
            namespace: self.svc.namespace.clone(),
            name: name.to_owned(),
            body,
        })
    }
}

/// `None` for an empty map (the field is left out), else the map.
fn non_empty<K, V>(m: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!m.is_empty()).then_some(m)
}
