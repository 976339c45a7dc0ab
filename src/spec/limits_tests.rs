//! Table tests of [`super`]: each limit at its boundary, and what `check` reports where.

use super::*;
use serde_json::json;

fn svc(metadata: serde_json::Value, spec: serde_json::Value) -> MLService {
    let mut base = json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
        "metadata": {"name": "a"}, "spec": {"model": {"name": "m", "version": "v1"}, "image": "i"}});
    for (k, v) in metadata.as_object().unwrap() {
        base["metadata"][k] = v.clone();
    }
    for (k, v) in spec.as_object().unwrap() {
        base["spec"][k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn pointers(s: &MLService) -> Vec<String> {
    check(s).into_iter().map(|v| v.pointer).collect()
}

/// A name rule: why a name is refused, if it is.
type Rule = fn(&str) -> Option<String>;

#[test]
fn names() {
    let ok = |f: Rule, s: &str| f(s).is_none();
    let table: &[(Rule, &str, bool)] = &[
        (dns1123_label, "a", true),
        (dns1123_label, "0a", true),
        (dns1123_label, &"a".repeat(63), true),
        (dns1123_label, &"a".repeat(64), false),
        (dns1123_label, "a-", false),
        (dns1123_label, "A", false),
        (dns1123_label, "", false),
        (dns1035_label, &"a".repeat(63), true),
        (dns1035_label, &"a".repeat(64), false),
        (dns1035_label, "0a", false),
        (dns1035_label, "a.b", false),
        (dns1123_subdomain, "a.b-c.0", true),
        (dns1123_subdomain, &"a".repeat(253), true),
        (dns1123_subdomain, &"a".repeat(254), false),
        (dns1123_subdomain, "a..b", false),
        (dns1123_subdomain, "a.", false),
        (dns1123_subdomain, "a_b", false),
    ];
    for (f, s, want) in table {
        assert_eq!(ok(*f, s), *want, "{s}");
    }
}

#[test]
fn keys() {
    let prefix = format!("{}.io", "p".repeat(250));
    let table = [
        ("app", true),
        ("example.com/app", true),
        (&*format!("example.com/{}", "n".repeat(63)), true),
        (&*format!("example.com/{}", "n".repeat(64)), false),
        (&*format!("{prefix}/n"), true),
        (&*format!("x{prefix}/n"), false),
        ("/n", false),
        ("a/b/c", false),
        ("Example.com/n", false),
        ("example.com/", false),
        ("-n", false),
    ];
    for (k, want) in table {
        assert_eq!(qualified_name(k).is_none(), want, "{k}");
    }
    let table = [
        ("KEY_1", true),
        ("a.b-c", true),
        (&*"K".repeat(253), true),
        (&*"K".repeat(254), false),
        ("", false),
        (".", false),
        ("..a", false),
        ("a b", false),
        ("a/b", false),
    ];
    for (k, want) in table {
        assert_eq!(data_key(k).is_none(), want, "{k}");
    }
    assert_eq!(
        data_key(&"K".repeat(300)).unwrap(),
        "key is 300 characters long; Kubernetes allows at most 253"
    );
}

#[test]
fn data_size() {
    assert!(check_data([MAX_DATA_BYTES - 1, 1].into_iter()).is_none());
    assert!(check_data([MAX_DATA_BYTES, 1].into_iter()).is_some());
}

#[test]
fn config_keys_and_size_are_reported_at_their_place() {
    let long = "K".repeat(254);
    let s = svc(json!({}), json!({"config": {long.clone(): "v", "OK": "v"}}));
    assert_eq!(pointers(&s), vec![format!("/spec/config/{long}")]);
    let half = "v".repeat(MAX_DATA_BYTES / 2);
    let s = svc(
        json!({}),
        json!({"config": {"A": half, "B": format!("{half}x")}}),
    );
    assert_eq!(pointers(&s), vec!["/spec/config"]);
}

#[test]
fn object_names_after_suffixes() {
    // The schema caps metadata.name at 63 (a Service name); without it, every kind's own
    // rule applies to the name it gets.
    let s = svc(json!({"name": "a".repeat(64)}), json!({}));
    let v = check(&s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].message.starts_with("makes the Service name"), "{v:?}");
    let s = svc(json!({"name": "a".repeat(250)}), json!({}));
    let kinds: Vec<_> = check(&s)
        .iter()
        .map(|v| v.message.split(' ').nth(2).unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "Service"]);
}

#[test]
fn labels_annotations_and_node_selector() {
    let prefix = format!("{}.io", "p".repeat(251));
    let s = svc(
        json!({"labels": {format!("{prefix}/n"): "v", "ok": "-bad"},
               "annotations": {format!("{prefix}/n"): "v"}}),
        json!({"nodeSelector": {format!("{prefix}/n"): "v"}}),
    );
    let esc = format!("{prefix}~1n");
    assert_eq!(
        pointers(&s),
        vec![
            "/metadata/labels/ok".to_owned(),
            format!("/metadata/labels/{esc}"),
            format!("/spec/nodeSelector/{esc}"),
            format!("/metadata/annotations/{esc}"),
        ]
    );
    let budget = MAX_ANNOTATION_BYTES - OWN_ANNOTATION_BYTES;
    let fits = svc(
        json!({"annotations": {"a": "v".repeat(budget - 1)}}),
        json!({}),
    );
    assert!(check(&fits).is_empty());
    let over = svc(json!({"annotations": {"a": "v".repeat(budget)}}), json!({}));
    assert_eq!(pointers(&over), vec!["/metadata/annotations"]);
    // Service annotations add to the common ones on the Service only.
    let half = "v".repeat(budget / 2);
    let s = svc(
        json!({"annotations": {"a": half}}),
        json!({"service": {"annotations": {"b": half}}}),
    );
    assert_eq!(pointers(&s), vec!["/spec/service/annotations"]);
}

#[test]
fn tolerations_and_probes() {
    let s = svc(
        json!({}),
        json!({"tolerations": [
            {"key": "k", "operator": "Exists", "value": "v"},
            {"operator": "Equal", "value": "v"},
            {"key": "k", "value": "not a label value"},
            {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5},
            {"operator": "Exists"},
            {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5}
        ],
        "probes": {"liveness": {"path": "/", "successThreshold": 2},
                   "startup": {"path": "/", "successThreshold": 1},
                   "readiness": {"path": "/", "successThreshold": 3}}}),
    );
    assert_eq!(
        pointers(&s),
        vec![
            "/spec/tolerations/0/value",
            "/spec/tolerations/1/operator",
            "/spec/tolerations/2/value",
            "/spec/tolerations/3/tolerationSeconds",
            "/spec/probes/liveness/successThreshold",
        ]
    );
}
