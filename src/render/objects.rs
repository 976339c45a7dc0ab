//! Building the five objects with `k8s-openapi` types.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    PodSpec, PodTemplateSpec, Probe as K8sProbe, ResourceRequirements, Secret, SecretEnvSource,
    Service, ServicePort, ServiceSpec, Toleration as K8sToleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::hash::{CONFIG_HASH_ANNOTATION, config_hash};
use super::{
    Kind, Object, RenderError, RenderOptions, common_labels, config_map_name, secret_name,
    selector_labels,
};
use crate::repo::LoadedService;
use crate::secrets::SecretData;
use crate::spec::{Probe, ResourceList};

/// The container's name in the pod template.
pub const CONTAINER_NAME: &str = "model";

pub(super) fn render(
    svc: &LoadedService,
    secrets: Option<&SecretData>,
    opts: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let spec = &svc.spec.spec;
    let name = svc.spec.metadata.name.as_str();
    let labels = common_labels(svc, opts);
    let meta = |object_name: String| ObjectMeta {
        name: Some(object_name),
        namespace: Some(svc.namespace.clone()),
        labels: Some(labels.clone()),
        annotations: non_empty(svc.spec.metadata.annotations.clone()),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut push =
        |kind: Kind, object_name: String, body: &dyn erased::Ser| -> Result<(), RenderError> {
            let body = body.to_value().map_err(|cause| RenderError::Serialize {
                kind,
                name: object_name.clone(),
                cause,
            })?;
            out.push(Object {
                kind,
                namespace: svc.namespace.clone(),
                name: object_name,
                body,
            });
            Ok(())
        };

    if !spec.config.is_empty() {
        let cm = ConfigMap {
            metadata: meta(config_map_name(name)),
            data: Some(spec.config.clone()),
            ..Default::default()
        };
        push(Kind::ConfigMap, config_map_name(name), &cm)?;
    }
    let secret_data = match (&spec.secrets, secrets) {
        (None, _) => None,
        (Some(_), Some(data)) => Some(data),
        (Some(r), None) => {
            return Err(RenderError::MissingSecrets {
                namespace: svc.namespace.clone(),
                name: name.to_owned(),
                file: r.file.clone(),
            });
        }
    };
    let hash = config_hash(&spec.config, secret_data);
    if let Some(data) = secret_data {
        let mut secret_meta = meta(secret_name(name));
        secret_meta
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(CONFIG_HASH_ANNOTATION.to_owned(), hash.clone());
        let values = data
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
            .collect();
        let secret = Secret {
            metadata: secret_meta,
            type_: Some("Opaque".to_owned()),
            data: Some(values),
            ..Default::default()
        };
        push(Kind::Secret, secret_name(name), &secret)?;
    }

    let mut template_annotations = BTreeMap::new();
    template_annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), hash);
    let deployment = Deployment {
        metadata: meta(name.to_owned()),
        spec: DeploymentSpec {
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
                    labels: Some(labels.clone()),
                    annotations: Some(template_annotations),
                    ..Default::default()
                }),
                spec: Some(pod_spec(svc)),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    push(Kind::Deployment, name.to_owned(), &deployment)?;

    let mut service_meta = meta(name.to_owned());
    if !spec.service.annotations.is_empty() {
        let mut a = service_meta.annotations.take().unwrap_or_default();
        a.extend(spec.service.annotations.clone());
        service_meta.annotations = Some(a);
    }
    let service = Service {
        metadata: service_meta,
        spec: Some(ServiceSpec {
            type_: Some(spec.service.type_.clone()),
            selector: Some(selector_labels(name)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: i32::from(spec.service.port),
                target_port: Some(IntOrString::Int(i32::from(spec.port))),
                // Always explicit: server-side apply before Kubernetes 1.21 rejects ports without it.
                protocol: Some("TCP".to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    push(Kind::Service, name.to_owned(), &service)?;

    if let Some(a) = &spec.autoscaling {
        let metric = |resource: &str, target: i32| MetricSpec {
            type_: "Resource".to_owned(),
            resource: Some(ResourceMetricSource {
                name: resource.to_owned(),
                target: MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(target),
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        let mut metrics = Vec::new();
        if let Some(t) = a.target_cpu {
            metrics.push(metric("cpu", t));
        }
        if let Some(t) = a.target_memory {
            metrics.push(metric("memory", t));
        }
        let hpa = HorizontalPodAutoscaler {
            metadata: meta(name.to_owned()),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".to_owned()),
                    kind: "Deployment".to_owned(),
                    name: name.to_owned(),
                },
                min_replicas: Some(a.min_replicas),
                max_replicas: a.max_replicas,
                metrics: Some(metrics),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut body = serde_json::to_value(&hpa).map_err(|cause| RenderError::Serialize {
            kind: Kind::HorizontalPodAutoscaler,
            name: name.to_owned(),
            cause,
        })?;
        body["apiVersion"] = opts.hpa.api_version().into();
        out.push(Object {
            kind: Kind::HorizontalPodAutoscaler,
            namespace: svc.namespace.clone(),
            name: name.to_owned(),
            body,
        });
    }
    for obj in &mut out {
        super::hash::stamp(&mut obj.body);
    }
    Ok(out)
}

fn pod_spec(svc: &LoadedService) -> PodSpec {
    let spec = &svc.spec.spec;
    let name = svc.spec.metadata.name.as_str();
    let mut env_from = Vec::new();
    if !spec.config.is_empty() {
        env_from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(name),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if spec.secrets.is_some() {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret_name(name),
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

fn non_empty<K, V>(m: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!m.is_empty()).then_some(m)
}

/// Object-safe serialization to JSON, so one closure can take any k8s-openapi type.
mod erased {
    /// Serializes itself into a `serde_json::Value`.
    pub trait Ser {
        /// The JSON value.
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
    }
    impl<T: super::Serialize> Ser for T {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
    }
}
