//! Rules a JSON Schema cannot express, reported with the same quality as schema errors.

use super::names::{INVENTORY_NAME_PREFIX, config_map_name, escape_segment};
use super::schema::Violation;
use super::{MLService, QuantityText, ResourceList, quantity};

/// Label keys mlsync sets itself; a spec may not override them.
const RESERVED_LABEL_PREFIXES: &[&str] = &["mlsync.dev/", "app.kubernetes.io/"];

/// Checks one deserialized spec; returns every violation.
pub fn check(svc: &MLService) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |pointer: &str, message: String| {
        out.push(Violation {
            pointer: pointer.to_owned(),
            message,
        });
    };
    let spec = &svc.spec;

    if let Some(a) = &spec.autoscaling {
        if a.min_replicas > a.max_replicas {
            push(
                "/spec/autoscaling/maxReplicas",
                format!(
                    "must be at least minReplicas ({}), got {}",
                    a.min_replicas, a.max_replicas
                ),
            );
        }
        if spec.replicas.is_some() {
            push(
                "/spec/replicas",
                "must not be set together with spec.autoscaling: the HorizontalPodAutoscaler owns the replica count (use spec.autoscaling.minReplicas)".into(),
            );
        }
        if a.target_cpu.is_none() && a.target_memory.is_none() {
            push(
                "/spec/autoscaling",
                "needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage".into(),
            );
        }
        let requests = spec.resources.requests.as_ref();
        if a.target_cpu.is_some() && requests.and_then(|r| r.cpu.as_ref()).is_none() {
            push(
                "/spec/autoscaling/targetCPUUtilizationPercentage",
                "needs spec.resources.requests.cpu: utilization is measured against the CPU request".into(),
            );
        }
        if a.target_memory.is_some() && requests.and_then(|r| r.memory.as_ref()).is_none() {
            push(
                "/spec/autoscaling/targetMemoryUtilizationPercentage",
                "needs spec.resources.requests.memory: utilization is measured against the memory request".into(),
            );
        }
    }

    if let (Some(req), Some(lim)) = (&spec.resources.requests, &spec.resources.limits) {
        for (name, r, l) in [
            ("cpu", &req.cpu, &lim.cpu),
            ("memory", &req.memory, &lim.memory),
        ] {
            if let (Some(r), Some(l)) = (r, l)
                && exceeds(r, l)
            {
                push(
                    &format!("/spec/resources/requests/{name}"),
                    format!(
                        "must not exceed spec.resources.limits.{name} ({})",
                        l.as_string()
                    ),
                );
            }
        }
    }
    check_gpus(
        spec.resources.requests.as_ref(),
        spec.resources.limits.as_ref(),
        &mut push,
    );

    let name = svc.metadata.name.as_str();
    let inventory = INVENTORY_NAME_PREFIX.trim_end_matches('-');
    if name == inventory || name.starts_with(INVENTORY_NAME_PREFIX) {
        let cm = config_map_name(name);
        let source = cm.trim_start_matches(INVENTORY_NAME_PREFIX);
        push(
            "/metadata/name",
            format!(
                "`{name}` is reserved: its ConfigMap {cm} would take the name of the inventory of source `{source}` (mlsync names them {INVENTORY_NAME_PREFIX}<sourceId>)"
            ),
        );
    }

    for key in svc.metadata.labels.keys() {
        if RESERVED_LABEL_PREFIXES.iter().any(|p| key.starts_with(p)) {
            push(
                &format!("/metadata/labels/{}", escape_segment(key)),
                format!(
                    "key `{key}` is reserved: mlsync sets app.kubernetes.io/* and mlsync.dev/* labels itself"
                ),
            );
        }
    }
    out.extend(super::rollout_checks::check(svc));
    out.extend(super::limits::check(svc));
    out
}

fn check_gpus(
    req: Option<&ResourceList>,
    lim: Option<&ResourceList>,
    push: &mut impl FnMut(&str, String),
) {
    let r = req.and_then(|r| r.gpu);
    let l = lim.and_then(|l| l.gpu);
    if let Some(r) = r
        && l != Some(r)
    {
        push(
            "/spec/resources/requests/gpu",
            "must equal spec.resources.limits.gpu: GPUs cannot be overcommitted (setting only limits.gpu is enough)".into(),
        );
    }
}

fn exceeds(request: &QuantityText, limit: &QuantityText) -> bool {
    match (
        quantity::parse(&request.as_string()),
        quantity::parse(&limit.as_string()),
    ) {
        (Some(r), Some(l)) => r > l,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(extra: serde_json::Value) -> MLService {
        let mut base = serde_json::json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
            "metadata": {"name": "a"}, "spec": {"model": {"name": "m", "version": "v1"}, "image": "i"}});
        if let (Some(spec), Some(extra)) = (base["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn pointers(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|x| x.pointer.as_str()).collect()
    }

    #[test]
    fn min_above_max() {
        let v = check(&svc(
            serde_json::json!({"resources": {"requests": {"cpu": "100m"}},
            "autoscaling": {"minReplicas": 5, "maxReplicas": 2, "targetCPUUtilizationPercentage": 50}}),
        ));
        assert_eq!(v[0].pointer, "/spec/autoscaling/maxReplicas");
        assert_eq!(v[0].message, "must be at least minReplicas (5), got 2");
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn hpa_needs_requests_and_a_target() {
        let v = check(&svc(
            serde_json::json!({"replicas": 2, "autoscaling": {"maxReplicas": 3}}),
        ));
        assert_eq!(pointers(&v), vec!["/spec/replicas", "/spec/autoscaling"]);
        let v = check(&svc(
            serde_json::json!({"autoscaling": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50}}),
        ));
        assert_eq!(
            pointers(&v),
            vec!["/spec/autoscaling/targetCPUUtilizationPercentage"]
        );
    }

    #[test]
    fn requests_above_limits_and_gpus() {
        let v = check(&svc(serde_json::json!({"resources": {
            "requests": {"cpu": "1", "memory": "1Gi", "gpu": 1}, "limits": {"cpu": "500m", "memory": "2Gi"}}})));
        assert_eq!(
            pointers(&v),
            vec![
                "/spec/resources/requests/cpu",
                "/spec/resources/requests/gpu"
            ]
        );
        assert_eq!(
            v[0].message,
            "must not exceed spec.resources.limits.cpu (500m)"
        );
    }

    #[test]
    fn inventory_names_are_reserved() {
        // The reported collision: service `mlsync-inventory` in a repo with `sourceId: config`
        // (that the inventory is named so is tested in `reconcile::inventory`).
        for (name, reserved) in [
            ("mlsync-inventory", true),
            ("mlsync-inventory-a", true),
            ("mlsync-inventoryx", false),
            ("my-mlsync-inventory", false),
        ] {
            let mut s = svc(serde_json::json!({}));
            s.metadata.name = name.to_owned();
            assert_eq!(
                pointers(&check(&s)) == ["/metadata/name"],
                reserved,
                "{name}"
            );
        }
    }

    #[test]
    fn reserved_labels() {
        let mut s = svc(serde_json::json!({}));
        s.metadata
            .labels
            .insert("mlsync.dev/source".into(), "x".into());
        let v = check(&s);
        assert_eq!(pointers(&v), vec!["/metadata/labels/mlsync.dev~1source"]);
    }
}
