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
mod tests {
    use super::*;

    fn obj(kind: Kind, name: &str, body: Value) -> Object {
        Object {
            kind,
            namespace: "ns".into(),
            name: name.into(),
            body,
        }
    }

    fn deployment(name: &str, cm: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {SERVICE_LABEL: "m"}},
               "spec": {"selector": {"matchLabels": {SERVICE_LABEL: "m"}},
                        "template": {"metadata": {"labels": {SERVICE_LABEL: "m", TRACK_LABEL: "stable"}},
                                     "spec": {"containers": [{"name": "model", "envFrom": [{"configMapRef": {"name": cm}}]}]}}}})
    }

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {SERVICE_LABEL: "m"}}, "data": {}})
    }

    fn rendered() -> Vec<Object> {
        vec![
            obj(
                Kind::ConfigMap,
                "m-config-0123456789",
                cm("m-config-0123456789"),
            ),
            obj(
                Kind::Deployment,
                "m",
                deployment("m", "m-config-0123456789"),
            ),
            obj(Kind::Service, "m", json!({"metadata": {"name": "m"}})),
        ]
    }

    fn live() -> BTreeMap<ObjectRef, Value> {
        BTreeMap::from([
            (
                ObjectRef::new(Kind::Deployment, "ns", "m"),
                deployment("m", "m-config-abcdef0123"),
            ),
            (
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-abcdef0123"),
                cm("m-config-abcdef0123"),
            ),
            (
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-0000000000"),
                cm("m-config-0000000000"),
            ),
        ])
    }

    #[test]
    fn a_canary_runs_beside_the_stable_deployment_and_its_config() {
        let s = shape(
            "ns",
            "m",
            rendered(),
            Shape::Canary {
                replicas: 2,
                weight: 50,
            },
            &live(),
            true,
        );
        let names: Vec<&str> = s.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["m-config-0123456789", "m-canary", "m"]);
        let c = &s.objects[1].body;
        assert_eq!(c["spec"]["replicas"], 2);
        assert_eq!(c["spec"]["selector"]["matchLabels"][TRACK_LABEL], "canary");
        assert_eq!(
            c["spec"]["template"]["metadata"]["labels"][TRACK_LABEL],
            "canary"
        );
        assert_eq!(
            s.keep,
            [
                ObjectRef::new(Kind::Deployment, "ns", "m"),
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-abcdef0123"),
            ]
        );
        assert_eq!(
            s.retire,
            [ObjectRef::new(Kind::ConfigMap, "ns", "m-config-0000000000")]
        );
    }

    #[test]
    fn promotion_applies_git_and_retires_the_canary_and_old_config() {
        let mut live = live();
        live.insert(
            ObjectRef::new(Kind::Deployment, "ns", "m-canary"),
            deployment("m-canary", "m-config-0123456789"),
        );
        // The stable Deployment rolls to git's version: its old pods still read their config.
        let s = shape("ns", "m", rendered(), Shape::Stable, &live, false);
        assert_eq!(s.objects.len(), 3);
        assert_eq!(
            s.keep,
            [
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-0000000000"),
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-abcdef0123"),
            ]
        );
        assert_eq!(
            s.retire,
            [ObjectRef::new(Kind::Deployment, "ns", "m-canary")]
        );
        // Once it settled, the config no version reads goes.
        let s = shape("ns", "m", rendered(), Shape::Stable, &live, true);
        assert!(s.keep.is_empty());
        assert_eq!(
            s.retire,
            [
                ObjectRef::new(Kind::Deployment, "ns", "m-canary"),
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-0000000000"),
                ObjectRef::new(Kind::ConfigMap, "ns", "m-config-abcdef0123"),
            ]
        );
    }

    #[test]
    fn an_abort_keeps_the_stable_version_and_applies_only_service_and_hpa() {
        let mut live = live();
        live.insert(
            ObjectRef::new(Kind::Deployment, "ns", "m-canary"),
            deployment("m-canary", "m-config-0123456789"),
        );
        let s = shape("ns", "m", rendered(), Shape::Hold, &live, true);
        let names: Vec<&str> = s.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["m"]);
        assert_eq!(s.objects[0].kind, Kind::Service);
        assert!(
            s.retire
                .contains(&ObjectRef::new(Kind::Deployment, "ns", "m-canary"))
        );
        assert!(s.keep.contains(&ObjectRef::new(
            Kind::ConfigMap,
            "ns",
            "m-config-abcdef0123"
        )));
    }

    #[test]
    fn another_services_config_with_a_similar_name_is_not_retired() {
        let mut live = live();
        let mut other = cm("m-config-1111111111");
        other["metadata"]["labels"][SERVICE_LABEL] = json!("m-config");
        live.insert(
            ObjectRef::new(Kind::ConfigMap, "ns", "m-config-1111111111"),
            other,
        );
        let s = shape("ns", "m", rendered(), Shape::Stable, &live, true);
        assert!(!s.retire.contains(&ObjectRef::new(
            Kind::ConfigMap,
            "ns",
            "m-config-1111111111"
        )));
    }
}
