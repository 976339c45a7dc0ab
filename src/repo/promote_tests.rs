use serde_json::json;

use super::*;

fn apply(base: &Value, patch: &Value) -> Value {
    let mut v = base.clone();
    json_patch::merge(&mut v, patch);
    v
}

#[test]
fn merge_diff_is_none_for_equal_values() {
    assert_eq!(merge_diff(&json!({"a": 1}), &json!({"a": 1})), None);
    assert_eq!(merge_diff(&json!("x"), &json!("x")), None);
}

#[test]
fn merge_diff_recurses_into_mappings_and_nulls_missing_keys() {
    let base = json!({"name": "iris", "version": "v1", "uri": "s3://a"});
    let target = json!({"name": "iris", "version": "v3", "format": "onnx"});
    let p = merge_diff(&base, &target);
    assert_eq!(
        p,
        Some(json!({"version": "v3", "format": "onnx", "uri": null}))
    );
    assert_eq!(apply(&base, &p.unwrap_or_default()), target);
}

#[test]
fn merge_diff_replaces_lists_and_scalars_whole() {
    assert_eq!(merge_diff(&json!([1, 2]), &json!([1])), Some(json!([1])));
    assert_eq!(
        merge_diff(&json!("a"), &json!({"b": 1})),
        Some(json!({"b": 1}))
    );
    assert_eq!(merge_diff(&json!({"b": 1}), &json!("a")), Some(json!("a")));
}

#[test]
fn merge_diff_round_trips_nested_mappings() {
    let base = json!({"a": {"b": {"c": 1, "d": 2}, "e": 3}, "f": [1]});
    let target = json!({"a": {"b": {"c": 1, "x": 9}}, "f": [2], "g": {"h": 1}});
    let p = merge_diff(&base, &target).unwrap_or_default();
    assert_eq!(
        p,
        json!({"a": {"b": {"x": 9, "d": null}, "e": null}, "f": [2], "g": {"h": 1}})
    );
    assert_eq!(apply(&base, &p), target);
}

#[test]
fn field_patch_handles_absent_sides() {
    assert_eq!(field_patch(None, None), None);
    assert_eq!(field_patch(Some(&json!("a")), None), Some(Value::Null));
    assert_eq!(field_patch(None, Some(&json!("a"))), Some(json!("a")));
}

fn base() -> Value {
    json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
        "metadata": {"name": "iris"},
        "spec": {"model": {"name": "iris", "version": "v1"}, "image": "r/iris:1",
            "config": {"LOG_LEVEL": "info", "BATCH": "8", "FLAGS": "none"},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}})
}

fn merged(overlay: &Value) -> Value {
    apply(&base(), overlay)
}

fn staging() -> Value {
    json!({"spec": {"model": {"version": "v3"}, "image": "r/iris:3",
        "config": {"BATCH": "32", "FLAGS": null}, "autoscaling": {"maxReplicas": 2}}})
}

fn prod() -> Value {
    json!({"metadata": {"name": "iris"},
        "spec": {"model": {"version": "v2"}, "image": "r/iris:2",
            "config": {"ALERTS": "pager"}, "autoscaling": {"minReplicas": 3}}})
}

fn run(to: &Value, fields: &[Field]) -> Result<Option<Promotion>, PromoteError> {
    promote(
        &base(),
        &merged(&staging()),
        to,
        fields,
        Path::new("env/prod/iris.yaml"),
    )
}

#[test]
fn promotes_what_runs_and_keeps_the_rest_of_the_target() {
    let p = run(&prod(), &Field::RUNS).unwrap().unwrap();
    let overlay = p.overlay.unwrap();
    assert_eq!(
        overlay,
        json!({"metadata": {"name": "iris"},
            "spec": {"model": {"version": "v3"}, "image": "r/iris:3",
                "config": {"BATCH": "32", "FLAGS": null}, "autoscaling": {"minReplicas": 3}}})
    );
    // Key order of the target is kept (what the file shows).
    let keys: Vec<&String> = overlay["spec"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["model", "image", "config", "autoscaling"]);
    let now = merged(&overlay);
    let from = merged(&staging());
    for f in Field::RUNS {
        assert_eq!(now["spec"][f.key()], from["spec"][f.key()], "{f:?}");
    }
    assert_eq!(
        now["spec"]["autoscaling"],
        json!({"minReplicas": 3, "maxReplicas": 3})
    );
    assert_eq!(
        p.changes,
        [
            Change::Model {
                name: "iris".into(),
                version: "v3".into()
            },
            Change::Image("r/iris:3".into()),
            Change::Config(3)
        ]
    );
    assert_eq!(p.replaced_config, ["ALERTS"]);
    assert_eq!(
        summary("iris", "staging", "prod", &p.changes),
        "promote iris from staging to prod: model iris v3, image r/iris:3, config (3 keys)"
    );
}

#[test]
fn nothing_to_promote_when_the_target_already_runs_it() {
    let p = run(&prod(), &Field::RUNS).unwrap().unwrap();
    let again = run(&p.overlay.unwrap(), &Field::RUNS).unwrap();
    assert_eq!(again, None);
}

#[test]
fn fields_equal_to_the_base_leave_the_overlay_and_an_empty_overlay_goes() {
    // Promoting the base itself: every promoted field of the target's overlay goes.
    let to = json!({"apiVersion": "mlsync.dev/v1alpha1", "metadata": {"name": "iris"},
        "spec": {"image": "r/iris:2"}});
    let p = promote(&base(), &base(), &to, &Field::RUNS, Path::new("x.yaml"))
        .unwrap()
        .unwrap();
    assert_eq!(p.overlay, None);
    assert_eq!(p.changes, [Change::Image("r/iris:1".into())]);
    // Other fields keep the overlay (and its spec) alive.
    let to = json!({"spec": {"image": "r/iris:2", "replicas": 2}});
    let p = promote(&base(), &base(), &to, &Field::RUNS, Path::new("x.yaml"))
        .unwrap()
        .unwrap();
    assert_eq!(p.overlay, Some(json!({"spec": {"replicas": 2}})));
}

#[test]
fn a_target_without_overlay_gets_one() {
    let p = run(&json!({}), &[Field::Image]).unwrap().unwrap();
    assert_eq!(p.overlay, Some(json!({"spec": {"image": "r/iris:3"}})));
    assert!(p.replaced_config.is_empty());
}

#[test]
fn secrets_only_when_asked() {
    let from = apply(
        &merged(&staging()),
        &json!({"spec": {"secrets": {"file": "s/v3.sops.yaml"}}}),
    );
    let to = json!({"spec": {"secrets": {"file": "s/prod.sops.yaml"}}});
    let file = Path::new("x.yaml");
    let p = promote(&base(), &from, &to, &[Field::Image], file)
        .unwrap()
        .unwrap();
    assert_eq!(
        p.overlay.unwrap()["spec"]["secrets"]["file"],
        "s/prod.sops.yaml"
    );
    let p = promote(&base(), &from, &to, &[Field::Secrets], file)
        .unwrap()
        .unwrap();
    assert_eq!(
        p.overlay.unwrap()["spec"]["secrets"]["file"],
        "s/v3.sops.yaml"
    );
    assert_eq!(p.changes, [Change::Secrets(Some("s/v3.sops.yaml".into()))]);
    // The source has no secrets while the base does: the target's are removed.
    let mut b = base();
    b["spec"]["secrets"] = json!({"file": "s/base.sops.yaml"});
    let from = apply(&b, &json!({"spec": {"secrets": null}}));
    let p = promote(&b, &from, &json!({}), &[Field::Secrets], file)
        .unwrap()
        .unwrap();
    assert_eq!(p.overlay, Some(json!({"spec": {"secrets": null}})));
    assert_eq!(p.changes[0].to_string(), "no secrets");
}

#[test]
fn a_target_overlay_that_is_not_a_mapping_is_an_error_naming_the_file() {
    let e = run(&json!({"spec": [1]}), &Field::RUNS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to promote into env/prod/iris.yaml: spec is not a mapping"
    );
    let e = run(&json!("x"), &Field::RUNS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to promote into env/prod/iris.yaml: the document is not a mapping"
    );
}

#[test]
fn request_checks_name_the_problem() {
    let known = ["iris-classifier", "image-classifier"];
    assert!(check_request("iris-classifier", "staging", "prod", known).is_ok());
    let e = check_request("iris-classifier", "prod", "prod", known).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to promote iris-classifier: --from and --to are both prod"
    );
    let e = check_request("iris-clasifier", "staging", "prod", known).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to promote iris-clasifier: no service named iris-clasifier in the base specs (did you mean iris-classifier?)"
    );
    let e = check_request("fraud", "staging", "prod", known).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to promote fraud: no service named fraud in the base specs"
    );
}
