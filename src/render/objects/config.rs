//! What the pod reads through `envFrom`: the ConfigMap of `spec.config` and the Secret of
//! `spec.secrets` (decrypted values).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::MetaBuilder;
use crate::render::hash::CONFIG_HASH_ANNOTATION;
use crate::render::{Kind, Object, RenderError};
use crate::secrets::SecretData;

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
        let name = self.meta.config_map_name();
        let cm = ConfigMap {
            metadata: self.meta.build(&name),
            data: Some(self.data.clone()),
            ..Default::default()
        };
        self.meta.object(Kind::ConfigMap, &name, &cm)
    }
}

/// Builds the `<service>-secrets` Secret (type Opaque).
pub struct SecretBuilder<'a> {
    meta: &'a MetaBuilder<'a>,
    data: &'a SecretData,
    config_hash: Option<&'a str>,
}

impl<'a> SecretBuilder<'a> {
    /// A Secret holding the decrypted `data`.
    pub fn new(meta: &'a MetaBuilder<'a>, data: &'a SecretData) -> Self {
        Self {
            meta,
            data,
            config_hash: None,
        }
    }

    /// Annotates the Secret with the (keyed) config hash, so a later run sees value changes
    /// without reading values back.
    pub fn config_hash(mut self, hash: &'a str) -> Self {
        self.config_hash = Some(hash);
        self
    }

    /// The object.
    pub fn build(self) -> Result<Object, RenderError> {
        let name = self.meta.secret_name();
        let mut metadata = self.meta.build(&name);
        if let Some(hash) = self.config_hash {
            metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(CONFIG_HASH_ANNOTATION.to_owned(), hash.to_owned());
        }
        let values = self
            .data
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
            .collect();
        let secret = Secret {
            metadata,
            type_: Some("Opaque".to_owned()),
            data: Some(values),
            ..Default::default()
        };
        self.meta.object(Kind::Secret, &name, &secret)
    }
}
