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
