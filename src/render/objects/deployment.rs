//! The Deployment running the model server: one container, env from the model and the
//! ConfigMap/Secret, probes, resources, scheduling.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe as K8sProbe, ResourceRequirements, SecretEnvSource,
    Toleration as K8sToleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{MetaBuilder, non_empty};
use crate::render::hash::CONFIG_HASH_ANNOTATION;
use crate::render::{Kind, Object, RenderError, TEMPLATE_ANNOTATION, TRACK_LABEL, selector_labels};
use crate::spec::{Probe, ResourceList};

/// The container's name in the pod template.
pub const CONTAINER_NAME: &str = "model";

/// Builds the Deployment named like the service.
pub struct DeploymentBuilder<'a> {
    meta: &'a MetaBuilder<'a>,
    config_hash: Option<&'a str>,
}

impl<'a> DeploymentBuilder<'a> {
    /// The Deployment of the spec.
    pub fn new(meta: &'a MetaBuilder<'a>) -> Self {
        Self {
            meta,
            config_hash: None,
        }
    }

    /// Annotates the pod template with the config hash, so pods roll when config or secret
    /// values change.
    pub fn config_hash(mut self, hash: &'a str) -> Self {
        self.config_hash = Some(hash);
        self
    }

    /// The object.
    pub fn build(self) -> Result<Object, RenderError> {
        let svc = self.meta.service();
        let spec = &svc.spec.spec;
        let name = self.meta.name();
        let template_annotations = self
            .config_hash
            .map(|h| BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), h.to_owned())]));
        let mut pod_labels = self.meta.labels().clone();
        if self.meta.canary_strategy() {
            pod_labels.insert(TRACK_LABEL.to_owned(), "stable".to_owned());
        }
        let deployment = Deployment {
            metadata: self.meta.build(name),
            spec: DeploymentSpec {
                // With an HPA, replicas are the HPA's (see the hand-over in reconcile).
                replicas: if spec.autoscaling.is_some() {
                    None
                } else {
                    Some(spec.replicas.unwrap_or(1))
                },
                progress_deadline_seconds: spec.progress_deadline_seconds,
                selector: LabelSelector {
                    match_labels: Some(selector_labels(name)),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        annotations: template_annotations,
                        ..Default::default()
                    }),
                    spec: Some(pod_spec(self.meta)),
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let mut object = self.meta.object(Kind::Deployment, name, &deployment)?;
        if self.meta.canary_strategy() {
            let digest = template_digest(&object.body);
            if let Some(meta) = object
                .body
                .get_mut("metadata")
                .and_then(|m| m.as_object_mut())
            {
                let annotations = meta
                    .entry("annotations")
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(a) = annotations.as_object_mut() {
                    a.insert(TEMPLATE_ANNOTATION.to_owned(), digest.into());
                }
            }
        }
        Ok(object)
    }
}

fn pod_spec(meta: &MetaBuilder<'_>) -> PodSpec {
    let svc = meta.service();
    let spec = &svc.spec.spec;
    let mut env_from = Vec::new();
    if !spec.config.is_empty() {
        env_from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: meta.config_map_name(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if spec.secrets.is_some() {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: meta.secret_name(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let model = &spec.model;
    let mut env = vec![
        env_var("MLSYNC_MODEL_NAME", &model.name),
        env_var("MLSYNC_MODEL_VERSION", &model.version),
    ];
    if let Some(uri) = &model.uri {
        env.push(env_var("MLSYNC_MODEL_URI", uri));
    }
    if let Some(format) = &model.format {
        env.push(env_var("MLSYNC_MODEL_FORMAT", format));
    }
    let probe = |p: &Option<Probe>| p.as_ref().map(|p| http_probe(p, spec.port));
    let container = Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(spec.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: i32::from(spec.port),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        }]),
        env: Some(env),
        env_from: (!env_from.is_empty()).then_some(env_from),
        resources: resources(
            spec.resources.requests.as_ref(),
            spec.resources.limits.as_ref(),
        ),
        startup_probe: probe(&spec.probes.startup),
        readiness_probe: probe(&spec.probes.readiness),
        liveness_probe: probe(&spec.probes.liveness),
        ..Default::default()
    };
    PodSpec {
        containers: vec![container],
        node_selector: non_empty(spec.node_selector.clone()),
        tolerations: (!spec.tolerations.is_empty()).then(|| {
            spec.tolerations
                .iter()
                .map(|t| K8sToleration {
                    key: t.key.clone(),
                    operator: t.operator.clone(),
                    value: t.value.clone(),
                    effect: t.effect.clone(),
                    toleration_seconds: t.toleration_seconds,
                })
                .collect()
        }),
        ..Default::default()
    }
}

/// Digest (32 hex characters) of a Deployment body's pod template.
pub fn template_digest(deployment: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let text = serde_json::to_string(&template).unwrap_or_default();
    Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn env_var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..Default::default()
    }
}

fn http_probe(p: &Probe, default_port: u16) -> K8sProbe {
    K8sProbe {
        http_get: Some(HTTPGetAction {
            path: Some(p.path.clone()),
            port: IntOrString::Int(i32::from(p.port.unwrap_or(default_port))),
            ..Default::default()
        }),
        initial_delay_seconds: p.initial_delay_seconds,
        period_seconds: p.period_seconds,
        timeout_seconds: p.timeout_seconds,
        failure_threshold: p.failure_threshold,
        success_threshold: p.success_threshold,
        ..Default::default()
    }
}

fn resource_map(list: Option<&ResourceList>) -> Option<BTreeMap<String, Quantity>> {
    let list = list?;
    let mut m = BTreeMap::new();
    if let Some(cpu) = &list.cpu {
        m.insert("cpu".to_owned(), Quantity(cpu.as_string()));
    }
    if let Some(memory) = &list.memory {
        m.insert("memory".to_owned(), Quantity(memory.as_string()));
    }
    if let Some(gpu) = list.gpu {
        m.insert("nvidia.com/gpu".to_owned(), Quantity(gpu.to_string()));
    }
    non_empty(m)
}

fn resources(
    requests: Option<&ResourceList>,
    limits: Option<&ResourceList>,
) -> Option<ResourceRequirements> {
    let requests = resource_map(requests);
    let limits = resource_map(limits);
    (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
        requests,
        limits,
        ..Default::default()
    })
}
