use super::*;
use crate::render::hash::stamp;
use crate::render::{MANAGED_BY_LABEL, SOURCE_LABEL};
use serde_json::json;

fn obj(kind: Kind, ns: &str, name: &str, service: &str, source: &str, data: &str) -> Object {
    let mut body = json!({"kind": kind.as_str(), "metadata": {"name": name, "namespace": ns,
        "labels": {MANAGED_BY_LABEL: "mlsync", SOURCE_LABEL: source, SERVICE_LABEL: service}},
        "data": {"K": data}});
    stamp(&mut body);
    Object {
        kind,
        namespace: ns.into(),
        name: name.into(),
        body,
    }
}

fn live_of(objs: &[Object]) -> BTreeMap<ObjectKey, Value> {
    objs.iter()
        .map(|o| (ObjectRef::of(o), o.body.clone()))
        .collect()
}

fn rules(adopt: bool, prune: PrunePolicy) -> Rules {
    Rules {
        adopt,
        recreate: false,
        prune,
        managed_elsewhere: 0,
    }
}

const POLICY: PrunePolicy = PrunePolicy {
    enabled: true,
    allow_mass_prune: false,
    max_fraction: 0.5,
};

fn svc(name: &str, objects: Vec<Object>) -> DesiredService {
    DesiredService::new("ns".into(), name.into(), Ok(objects))
}

#[test]
fn create_unchanged_update() {
    let a = obj(Kind::ConfigMap, "ns", "a-config", "a", "repo", "1");
    let b = obj(Kind::ConfigMap, "ns", "b-config", "b", "repo", "1");
    let b_changed = obj(Kind::ConfigMap, "ns", "b-config", "b", "repo", "2");
    let live = live_of(std::slice::from_ref(&b));
    let p = plan(
        vec![svc("a", vec![a]), svc("b", vec![b_changed])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(p.services[0].objects[0].action, Action::Create);
    assert_eq!(
        p.services[1].objects[0].action,
        Action::Update(vec![
            "spec in git changed".into(),
            "data.K changed in the cluster".into()
        ])
    );
    let p = plan(
        vec![svc("b", vec![b.clone()])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(p.services[0].objects[0].action, Action::Unchanged);
    assert!(!p.has_changes());
}

#[test]
fn foreign_and_other_source_objects_are_conflicts_unless_adopted() {
    let mine = obj(Kind::ConfigMap, "ns", "a-config", "a", "repo", "1");
    let mut foreign = mine.body.clone();
    foreign["metadata"]["labels"] = json!({});
    let live: BTreeMap<_, _> =
        [(ObjectRef::new(Kind::ConfigMap, "ns", "a-config"), foreign)].into();
    let p = plan(
        vec![svc("a", vec![mine.clone()])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(matches!(
        p.services[0].objects[0].action,
        Action::Conflict(_)
    ));
    let error = p.services[0].error.as_ref().unwrap();
    assert!(matches!(error, ServiceCause::Conflict(_)), "{error:?}");
    assert!(error.to_string().contains("not managed by mlsync"));
    assert!(!p.has_changes());
    let p = plan(
        vec![svc("a", vec![mine.clone()])],
        &live,
        "repo",
        rules(true, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(matches!(p.services[0].objects[0].action, Action::Update(_)));
    let other = live_of(&[obj(
        Kind::ConfigMap,
        "ns",
        "a-config",
        "a",
        "other-repo",
        "1",
    )]);
    let p = plan(
        vec![svc("a", vec![mine])],
        &other,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let error = p.services[0].error.as_ref().unwrap().to_string();
    assert!(
        error.contains("managed by mlsync source other-repo, not by this one (repo)"),
        "{error}"
    );
    // The message says how to take the objects back when the id is this repo's old one.
    assert!(
        error.contains("set `sourceId: other-repo` in mlsync.yaml (or --source-id other-repo)"),
        "{error}"
    );
}

#[test]
fn prune_what_left_git_but_not_protected_services() {
    let keep: Vec<Object> = (0..3)
        .map(|i| {
            obj(
                Kind::ConfigMap,
                "ns",
                &format!("k{i}"),
                &format!("k{i}"),
                "repo",
                "1",
            )
        })
        .collect();
    let gone = obj(Kind::ConfigMap, "ns", "gone", "gone", "repo", "1");
    let broken = obj(
        Kind::ConfigMap,
        "ns",
        "broken-config",
        "broken",
        "repo",
        "1",
    );
    let mut all = keep.clone();
    all.push(gone);
    all.push(broken);
    let live = live_of(&all);
    let desired: Vec<DesiredService> = keep.iter().map(|o| svc(&o.name, vec![o.clone()])).collect();
    let protected: BTreeSet<_> = [ServiceKey::new("ns", "broken")].into();
    let p = plan(
        desired,
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &protected,
        &BTreeSet::new(),
    );
    assert_eq!(
        p.prune.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        vec!["gone"]
    );
    assert!(p.prune_refused.is_none());
}

#[test]
fn a_service_that_failed_keeps_its_objects() {
    let a = obj(Kind::Secret, "ns", "a-secrets", "a", "repo", "1");
    let other = obj(Kind::ConfigMap, "ns", "z", "z", "repo", "1");
    let live = live_of(&[a, other.clone()]);
    let failed = DesiredService::new(
        "ns".into(),
        "a".into(),
        Err(ServiceCause::SecretsUndecryptable(
            "failed to decrypt".into(),
        )),
    );
    let p = plan(
        vec![failed, svc("z", vec![other])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(p.prune.is_empty() && p.prune_held.is_empty());
    assert!(matches!(
        p.services[0].error,
        Some(ServiceCause::SecretsUndecryptable(_))
    ));
}

/// A focused run lists only the services it names; the guards count the objects it left out.
#[test]
fn mass_prune_guards_count_objects_outside_the_focus() {
    let gone = obj(Kind::ConfigMap, "ns", "o0", "s0", "repo", "1");
    let live = live_of(std::slice::from_ref(&gone));
    let focused = |elsewhere| {
        plan(
            vec![],
            &live,
            "repo",
            Rules {
                managed_elsewhere: elsewhere,
                ..rules(false, POLICY)
            },
            None,
            &BTreeSet::new(),
            &BTreeSet::new(),
        )
    };
    // Alone, the one object read would be "everything": refused.
    assert!(matches!(
        focused(0).prune_refused,
        Some(PruneRefusal::WouldDeleteAll { managed: 1 })
    ));
    // With 3 more in sync elsewhere it is 1 of 4: pruned.
    let p = focused(3);
    assert_eq!(p.prune_refused, None);
    assert_eq!(p.prune.len(), 1);
    // 1 of 2 is not over the 50% fraction: pruned.
    assert_eq!(focused(1).prune.len(), 1);
}

#[test]
fn mass_prune_guards() {
    let objs: Vec<Object> = (0..4)
        .map(|i| {
            obj(
                Kind::ConfigMap,
                "ns",
                &format!("o{i}"),
                &format!("s{i}"),
                "repo",
                "1",
            )
        })
        .collect();
    let live = live_of(&objs);
    // Everything left git: refused.
    let p = plan(
        vec![],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(p.prune.is_empty());
    assert_eq!(p.prune_held.len(), 4);
    assert!(
        p.prune_refused
            .unwrap()
            .to_string()
            .contains("all 4 managed objects")
    );
    // Three of four (75% > 50%): refused; allowed with the flag.
    let one = vec![svc("s0", vec![objs[0].clone()])];
    let p = plan(
        one,
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(p.prune_refused.unwrap().to_string().contains("3 of 4"));
    let allow = PrunePolicy {
        allow_mass_prune: true,
        ..POLICY
    };
    let p = plan(
        vec![svc("s0", vec![objs[0].clone()])],
        &live,
        "repo",
        rules(false, allow),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(p.prune.len(), 3);
    // Half is allowed by default; a blocker or --prune=false holds it.
    let half = vec![
        svc("s0", vec![objs[0].clone()]),
        svc("s1", vec![objs[1].clone()]),
    ];
    let p = plan(
        half,
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(p.prune.len(), 2);
    let half = vec![
        svc("s0", vec![objs[0].clone()]),
        svc("s1", vec![objs[1].clone()]),
    ];
    let p = plan(
        half,
        &live,
        "repo",
        rules(false, POLICY),
        Some("x.yaml unreadable".into()),
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(
        p.prune.is_empty()
            && p.prune_refused
                .unwrap()
                .to_string()
                .contains("x.yaml unreadable")
    );
    let off = PrunePolicy {
        enabled: false,
        ..POLICY
    };
    let half = vec![
        svc("s0", vec![objs[0].clone()]),
        svc("s1", vec![objs[1].clone()]),
    ];
    let p = plan(
        half,
        &live,
        "repo",
        rules(false, off),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(p.prune.is_empty() && p.prune_refused.is_none() && p.prune_held.len() == 2);
}

#[test]
fn objects_read_as_unchanged_are_not_compared_again() {
    // `live::fetch` cut this one down after finding it unchanged (see `trim`): its data is gone,
    // which a comparison would take for drift.
    let a = obj(Kind::ConfigMap, "ns", "a-config", "a", "repo", "1");
    let mut live = live_of(std::slice::from_ref(&a));
    let key = ObjectRef::of(&a);
    if let Some(v) = live.get_mut(&key).and_then(|v| v.as_object_mut()) {
        v.remove("data");
    }
    let p = plan(
        vec![svc("a", vec![a.clone()])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::from([key]),
    );
    assert_eq!(p.services[0].objects[0].action, Action::Unchanged);
    let p = plan(
        vec![svc("a", vec![a])],
        &live,
        "repo",
        rules(false, POLICY),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert!(matches!(p.services[0].objects[0].action, Action::Update(_)));
}

#[test]
fn kept_objects_stay_and_retired_ones_go_whatever_the_guards_say() {
    // Live: the stable Deployment's ConfigMap (kept during a canary), an old version's
    // ConfigMap and a finished canary (retired); git applies only the new ConfigMap.
    let new = obj(Kind::ConfigMap, "ns", "a-config-2", "a", "repo", "2");
    let stable = obj(Kind::ConfigMap, "ns", "a-config-1", "a", "repo", "1");
    let old = obj(Kind::ConfigMap, "ns", "a-config-0", "a", "repo", "0");
    let canary = obj(Kind::Deployment, "ns", "a-canary", "a", "repo", "0");
    let live = live_of(&[stable.clone(), old.clone(), canary.clone()]);
    let mut a = svc("a", vec![new]);
    a.keep = vec![ObjectRef::of(&stable)];
    a.retire = vec![ObjectRef::of(&old), ObjectRef::of(&canary)];
    let strict = PrunePolicy {
        enabled: false,
        ..POLICY
    };
    let p = plan(
        vec![a],
        &live,
        "repo",
        rules(false, strict),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    let pruned: Vec<&str> = p.prune.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(pruned, ["a-config-0", "a-canary"]);
    assert!(p.prune_refused.is_none() && p.prune_held.is_empty());
    // Without the keep, the stable ConfigMap would be a prune (held: pruning is off).
    let p = plan(
        vec![svc(
            "a",
            vec![obj(Kind::ConfigMap, "ns", "a-config-2", "a", "repo", "2")],
        )],
        &live,
        "repo",
        rules(false, strict),
        None,
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    assert_eq!(p.prune_held.len(), 3);
}
