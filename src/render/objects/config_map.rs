//! The ConfigMap of `spec.config`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::MetaBuilder;
use crate::render::{Kind, Object, RenderError, config_map_name};

/// Builds the `<service>-config` ConfigMap.
pub struct ConfigMapBuilder<'a> {
    meta: &'a MetaBuilder<'a>,
    data: &'a BTreeMap<String, String>,
}

impl<'a> ConfigMapBuilder<'a> {
    /// A ConfigMap holding `data`.
    pub fn new(meta: &'a MetaBuilder<'a>, data: &'a BTreeMap<String, String>) -> Self {
        Self { meta, data }
    }

    /// The object.
    pub fn build(self) -> Result<Object, RenderError> {
        let name = config_map_name(self.meta.name());
        let cm = ConfigMap {
            metadata: self.meta.build(&name),
            data: Some(self.data.clone()),
            ..Default::default()
        };
        self.meta.object(Kind::ConfigMap, &name, &cm)
    }
}
