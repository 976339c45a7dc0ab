//! The Service in front of the model server.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::MetaBuilder;
use crate::render::{Kind, Object, RenderError, selector_labels};

/// Builds the Service named like the service: port `http` to the container port.
pub struct ServiceBuilder<'a> {
    meta: &'a MetaBuilder<'a>,
}

impl<'a> ServiceBuilder<'a> {
    /// The Service of the spec's `service` section.
    pub fn new(meta: &'a MetaBuilder<'a>) -> Self {
        Self { meta }
    }

    /// The object.
    pub fn build(self) -> Result<Object, RenderError> {
        let name = self.meta.name();
        let spec = &self.meta.service().spec.spec;
        let mut metadata = self.meta.build(name);
        if !spec.service.annotations.is_empty() {
            let mut a = metadata.annotations.take().unwrap_or_default();
            a.extend(spec.service.annotations.clone());
            metadata.annotations = Some(a);
        }
        let service = Service {
            metadata,
            spec: Some(ServiceSpec {
                type_: Some(spec.service.type_.clone()),
                selector: Some(selector_labels(name)),
                ports: Some(vec![ServicePort {
                    name: Some("http".to_owned()),
                    port: i32::from(spec.service.port),
                    target_port: Some(IntOrString::Int(i32::from(spec.port))),
                    // Always explicit: server-side apply before Kubernetes 1.21 rejects ports
                    // without it.
                    protocol: Some("TCP".to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.meta.object(Kind::Service, name, &service)
    }
}
