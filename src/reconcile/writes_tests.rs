use super::*;
use crate::reconcile::cause::ServiceCause;
use crate::reconcile::plan::{DesiredService, PrunePolicy, Rules, plan};
use crate::render::hash::stamp;
use crate::render::{MANAGED_BY_LABEL, Object, SERVICE_LABEL, SOURCE_LABEL};
use serde_json::json;

const SOURCE: &str = "repo";

fn labels(service: &str) -> Value {
    json!({MANAGED_BY_LABEL: "mlsync", SOURCE_LABEL: SOURCE, SERVICE_LABEL: service})
}

/// A rendered object of service `service` with `spec`.
fn obj(kind: Kind, ns: &str, name: &str, service: &str, spec: Value) -> Object {
    let mut body = json!({"kind": kind.as_str(),
        "metadata": {"name": name, "namespace": ns, "labels": labels(service)}, "spec": spec});
    stamp(&mut body);
    Object {
        kind,
        namespace: ns.into(),
        name: name.into(),
        body,
    }
}

fn svc(ns: &str, name: &str, objects: Vec<Object>) -> DesiredService {
    DesiredService::new(ns.into(), name.into(), Ok(objects))
}

fn rules(recreate: bool) -> Rules {
    Rules {
        adopt: false,
        recreate,
        prune: PrunePolicy {
            enabled: true,
            allow_mass_prune: true,
            max_fraction: 1.0,
        },
        managed_elsewhere: 0,
    }
}

fn inventory(recorded: &[&str], desired: &[&str]) -> Inventory {
    Inventory {
        home: "home".into(),
        source_id: SOURCE.into(),
        recorded: recorded.iter().map(|s| (*s).to_owned()).collect(),
        desired: desired.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn r(kind: Kind, ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new(kind, ns, name)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A live Deployment whose replicas mlsync's apply set.
fn live_deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({"kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels(name), "uid": "u1",
            "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}}})
}

#[test]
fn a_new_namespace_is_created_and_recorded_before_its_objects_then_prunes_and_shrink() {
    let desired = vec![svc(
        "new",
        "a",
        vec![obj(Kind::ConfigMap, "new", "a-config", "a", json!({}))],
    )];
    let gone = obj(Kind::ConfigMap, "old", "b-config", "b", json!({}));
    let live = BTreeMap::from([(ObjectRef::of(&gone), gone.body.clone())]);
    let p = plan(
        desired,
        &live,
        SOURCE,
        rules(false),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let w = writes(&p, &live, &set(&["new"]), &inventory(&["old"], &["new"]));
    assert_eq!(
        w.steps(),
        [
            Step::CreateNamespace("new".into()),
            Step::WriteInventory {
                namespaces: set(&["new", "old"]),
                shrink: false
            },
            Step::Apply {
                object: r(Kind::ConfigMap, "new", "a-config"),
                create: true
            },
            Step::Prune(r(Kind::ConfigMap, "old", "b-config")),
            Step::WriteInventory {
                namespaces: set(&["new"]),
                shrink: true
            },
        ]
    );
}

#[test]
fn nothing_to_do_is_no_write() {
    let cm = obj(Kind::ConfigMap, "ns", "a-config", "a", json!({}));
    let live = BTreeMap::from([(ObjectRef::of(&cm), cm.body.clone())]);
    let p = plan(
        vec![svc("ns", "a", vec![cm])],
        &live,
        SOURCE,
        rules(false),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let w = writes(&p, &live, &BTreeSet::new(), &inventory(&["ns"], &["ns"]));
    assert_eq!(w.steps(), []);
}

#[test]
fn switching_to_fixed_replicas_deletes_the_hpa_first_and_only_once() {
    let dep = obj(
        Kind::Deployment,
        "ns",
        "a",
        "a",
        json!({"replicas": 2, "selector": {"matchLabels": {"app": "a"}}}),
    );
    let hpa = obj(Kind::HorizontalPodAutoscaler, "ns", "a", "a", json!({}));
    let live = BTreeMap::from([
        (ObjectRef::of(&dep), live_deployment("ns", "a", 3)),
        (ObjectRef::of(&hpa), hpa.body.clone()),
    ]);
    let p = plan(
        vec![svc("ns", "a", vec![dep])],
        &live,
        SOURCE,
        rules(false),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let w = writes(&p, &live, &BTreeSet::new(), &inventory(&["ns"], &["ns"]));
    assert_eq!(
        w.steps(),
        [
            Step::DeleteHpa(r(Kind::HorizontalPodAutoscaler, "ns", "a")),
            Step::Apply {
                object: r(Kind::Deployment, "ns", "a"),
                create: false
            },
        ]
    );
}

#[test]
fn replicas_are_handed_over_to_a_new_hpa_before_the_apply_drops_them() {
    let dep = obj(
        Kind::Deployment,
        "ns",
        "a",
        "a",
        json!({"selector": {"matchLabels": {"app": "a"}}}),
    );
    let hpa = obj(Kind::HorizontalPodAutoscaler, "ns", "a", "a", json!({}));
    let live = BTreeMap::from([(ObjectRef::of(&dep), live_deployment("ns", "a", 3))]);
    let p = plan(
        vec![svc("ns", "a", vec![dep, hpa])],
        &live,
        SOURCE,
        rules(false),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let w = writes(&p, &live, &BTreeSet::new(), &inventory(&["ns"], &["ns"]));
    assert_eq!(
        w.steps(),
        [
            Step::HandOverReplicas {
                deployment: r(Kind::Deployment, "ns", "a"),
                replicas: 3
            },
            Step::Apply {
                object: r(Kind::Deployment, "ns", "a"),
                create: false
            },
            Step::Apply {
                object: r(Kind::HorizontalPodAutoscaler, "ns", "a"),
                create: true
            },
        ]
    );
}

#[test]
fn a_changed_selector_is_recreated_with_recreate_and_refused_without() {
    let dep = obj(
        Kind::Deployment,
        "ns",
        "a",
        "a",
        json!({"replicas": 3, "selector": {"matchLabels": {"app": "a-new"}}}),
    );
    let live = BTreeMap::from([(ObjectRef::of(&dep), live_deployment("ns", "a", 3))]);
    let desired = || vec![svc("ns", "a", vec![dep.clone()])];
    let p = plan(
        desired(),
        &live,
        SOURCE,
        rules(true),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let w = writes(&p, &live, &BTreeSet::new(), &inventory(&["ns"], &["ns"]));
    assert_eq!(w.steps(), [Step::Recreate(r(Kind::Deployment, "ns", "a"))]);

    let p = plan(
        desired(),
        &live,
        SOURCE,
        rules(false),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(
        p.services[0].error,
        Some(ServiceCause::ImmutableFieldChanged {
            object: r(Kind::Deployment, "ns", "a"),
            fields: vec!["spec.selector".into()],
        })
    );
    let w = writes(&p, &live, &BTreeSet::new(), &inventory(&["ns"], &["ns"]));
    assert_eq!(w.steps(), [], "a write bound to fail is not planned");
}
