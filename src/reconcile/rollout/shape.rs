//! A service's objects for a rollout decision (pure): which to apply, which live ones to keep
//! untouched, which leftovers of earlier versions to delete.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::decide::Shape;
use super::{TRACK_LABEL, Track, canary_name};
use crate::reconcile::keys::ObjectRef;
use crate::render::{Kind, Object, SERVICE_LABEL, config_map_name, hash, secret_name};
use crate::spec::names::is_versioned;

/// The objects of a service under a rollout decision.
#[derive(Debug, Default)]
pub struct Shaped {
    /// To apply.
    pub objects: Vec<Object>,
    /// Live objects to leave exactly as they are (neither written nor pruned): the stable
    /// Deployment and the ConfigMap/Secret its pods read, during a canary or after an abort;
    /// after a promotion, the ConfigMap/Secret the old pods read until they are replaced.
    pub keep: Vec<ObjectRef>,
    /// Live objects of earlier versions to delete: the canary Deployment once it is done,
    /// ConfigMaps/Secrets no version reads any more.
    pub retire: Vec<ObjectRef>,
}

/// Shapes `rendered` (the service as git wants it) for `shape`. `live` holds the source's live
/// objects (at least this service's). `settled`: the stable Deployment runs git's version with
/// every pod updated and available; until then (say, right after a promotion) the pods of its
/// earlier version may still read their ConfigMap/Secret, which are kept.
pub fn shape(
    namespace: &str,
    name: &str,
    rendered: Vec<Object>,
    shape: Shape,
    live: &BTreeMap<ObjectRef, Value>,
    settled: bool,
) -> Shaped {
    let stable_key = ObjectRef::new(Kind::Deployment, namespace, name);
    let canary_key = ObjectRef::new(Kind::Deployment, namespace, &canary_name(name));
    let mut out = Shaped::default();
    match shape {
        Shape::Stable => out.objects = rendered,
        Shape::Canary { replicas, .. } => {
            for o in rendered {
                if o.kind == Kind::Deployment && o.name == name {
                    out.objects.push(canary(o, replicas));
                } else {
                    out.objects.push(o);
                }
            }
            out.keep = kept(&stable_key, live);
        }
        Shape::Hold => {
            out.objects = rendered
                .into_iter()
                .filter(|o| matches!(o.kind, Kind::Service | Kind::HorizontalPodAutoscaler))
                .collect();
            out.keep = kept(&stable_key, live);
        }
    }
    let mut in_use: Vec<ObjectRef> = out.objects.iter().map(ObjectRef::of).collect();
    in_use.extend(out.keep.iter().cloned());
    let in_use = |k: &ObjectRef| in_use.contains(k);
    if live.contains_key(&canary_key) && !in_use(&canary_key) {
        out.retire.push(canary_key);
    }
    let bases = [
        (Kind::ConfigMap, config_map_name(name)),
        (Kind::Secret, secret_name(name)),
    ];
    for (key, value) in live {
        let versioned = key.namespace == namespace
            && bases
                .iter()
                .any(|(kind, base)| key.kind == *kind && is_versioned(base, &key.name))
            && value
                .pointer("/metadata/labels")
                .and_then(|l| l.get(SERVICE_LABEL))
                .and_then(Value::as_str)
                == Some(name);
        if !versioned || in_use(key) {
            continue;
        }
        if shape == Shape::Stable && !settled {
            out.keep.push(key.clone());
        } else {
            out.retire.push(key.clone());
        }
    }
    out
}

/// The stable Deployment and what its pods read.
fn kept(stable: &ObjectRef, live: &BTreeMap<ObjectRef, Value>) -> Vec<ObjectRef> {
    let Some(deployment) = live.get(stable) else {
        return Vec::new();
    };
    let mut keep = vec![stable.clone()];
    let env_from = deployment
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("envFrom").and_then(Value::as_array))
        .flatten();
    for source in env_from {
        for (field, kind) in [
            ("configMapRef", Kind::ConfigMap),
            ("secretRef", Kind::Secret),
        ] {
            if let Some(n) = source
                .get(field)
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
            {
                keep.push(ObjectRef::new(kind, &stable.namespace, n));
            }
        }
    }
    keep
}

/// The canary Deployment made from git's Deployment: its own name, the `canary` track in its
/// selector and pods, `replicas` pods (no HPA scales it).
fn canary(mut deployment: Object, replicas: i32) -> Object {
    let name = canary_name(&deployment.name);
    let track = Value::from(Track::Canary.as_str());
    let body = &mut deployment.body;
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".to_owned(), Value::from(name.as_str()));
    }
    if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".to_owned(), json!(replicas));
        if let Some(labels) = spec
            .get_mut("selector")
            .and_then(|s| s.get_mut("matchLabels"))
            .and_then(Value::as_object_mut)
        {
            labels.insert(TRACK_LABEL.to_owned(), track.clone());
        }
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(|t| t.get_mut("metadata"))
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            labels.insert(TRACK_LABEL.to_owned(), track);
        }
    }
    hash::stamp(body);
    deployment.name = name;
    deployment
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
