//! The HorizontalPodAutoscaler of `spec.autoscaling`.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};

use super::MetaBuilder;
use crate::render::{HpaVersion, Kind, Object, RenderError};
use crate::spec::Autoscaling;

/// Builds the HPA scaling the service's Deployment on CPU and/or memory utilization.
pub struct HpaBuilder<'a> {
    meta: &'a MetaBuilder<'a>,
    autoscaling: &'a Autoscaling,
    api: HpaVersion,
}

impl<'a> HpaBuilder<'a> {
    /// An HPA for `autoscaling`, as `autoscaling/v2` unless [`HpaBuilder::api`] says otherwise.
    pub fn new(meta: &'a MetaBuilder<'a>, autoscaling: &'a Autoscaling) -> Self {
        Self {
            meta,
            autoscaling,
            api: HpaVersion::V2,
        }
    }

    /// The API version to emit (v2beta2 has the same shape as v2).
    pub fn api(mut self, api: HpaVersion) -> Self {
        self.api = api;
        self
    }

    /// The object.
    pub fn build(self) -> Result<Object, RenderError> {
        let name = self.meta.name();
        let a = self.autoscaling;
        let mut metrics = Vec::new();
        if let Some(t) = a.target_cpu {
            metrics.push(metric("cpu", t));
        }
        if let Some(t) = a.target_memory {
            metrics.push(metric("memory", t));
        }
        let hpa = HorizontalPodAutoscaler {
            metadata: self.meta.build(name),
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
        let mut object = self
            .meta
            .object(Kind::HorizontalPodAutoscaler, name, &hpa)?;
        object.body["apiVersion"] = self.api.api_version().into();
        Ok(object)
    }
}

/// A `Resource` metric with a utilization target in percent.
fn metric(resource: &str, target: i32) -> MetricSpec {
    MetricSpec {
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
    }
}
