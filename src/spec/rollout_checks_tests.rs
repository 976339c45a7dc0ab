use super::*;
use serde_json::{Value, json};

/// A service with `rollout` (and the other spec fields in `extra`).
fn svc(rollout: Value, extra: Value) -> MLService {
    let mut spec =
        json!({"model": {"name": "m", "version": "v1"}, "image": "i", "rollout": rollout});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(
        json!({"apiVersion": "mlsync.dev/v1alpha1", "kind": "MLService",
        "metadata": {"name": "a"}, "spec": spec}),
    )
    .unwrap()
}

fn run(rollout: Value) -> Vec<(String, String)> {
    check(&svc(rollout, json!({})))
        .into_iter()
        .map(|v| (v.pointer, v.message))
        .collect()
}

fn pointers(rollout: Value) -> Vec<String> {
    run(rollout).into_iter().map(|(p, _)| p).collect()
}

/// A canary with analysis, as in the schema reference.
fn canary() -> Value {
    json!({"strategy": "canary",
        "steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "1h30m"}, {"pause": {}}],
        "analysis": {"interval": "30s", "failureLimit": 2,
            "prometheus": {"address": "http://prometheus.monitoring:9090"},
            "metrics": [
                {"name": "error-rate", "max": 0.01,
                 "query": "sum(rate(x{service=\"{{service}}\",namespace=\"{{namespace}}\",track=\"{{track}}\"}[1m]))"},
                {"name": "p95", "query": "q", "min": 0, "max": 0.3}]}})
}

fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    *base.pointer_mut(pointer).unwrap() = value;
    base
}

#[test]
fn a_full_canary_and_a_plain_rolling_are_valid() {
    assert_eq!(run(canary()), vec![]);
    assert_eq!(run(json!({})), vec![]);
    assert_eq!(run(json!({"strategy": "rolling"})), vec![]);
    assert_eq!(
        run(json!({"strategy": "canary", "steps": [{"weight": 5}]})),
        vec![]
    );
    let no_rollout = svc(json!(null), json!({}));
    assert!(no_rollout.spec.rollout.is_none());
    assert_eq!(check(&no_rollout), vec![]);
}

#[test]
fn canary_needs_steps() {
    assert_eq!(
        run(json!({"strategy": "canary"})),
        vec![(
            "/spec/rollout/steps".into(),
            "strategy canary needs at least one step, e.g. `steps: [{weight: 10, pause: 2m}, {pause: {}}]`".into()
        )]
    );
}

#[test]
fn steps_and_analysis_are_for_canary_only() {
    let msg = "only used by strategy: canary; set spec.rollout.strategy: canary or remove it";
    for strategy in [json!("rolling"), json!(null)] {
        let mut r = with(canary(), "/strategy", strategy);
        if r["strategy"].is_null() {
            r.as_object_mut().unwrap().remove("strategy");
        }
        assert_eq!(
            run(r),
            vec![
                ("/spec/rollout/steps".into(), msg.into()),
                ("/spec/rollout/analysis".into(), msg.into())
            ]
        );
    }
}

#[test]
fn canary_with_zero_replicas() {
    let v = check(&svc(canary(), json!({"replicas": 0})));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].pointer, "/spec/replicas");
    assert_eq!(
        v[0].message,
        "must be at least 1 with spec.rollout.strategy canary: the canary takes its share of the traffic from running pods"
    );
    assert_eq!(check(&svc(canary(), json!({"replicas": 1}))), vec![]);
    let rolling = json!({"strategy": "rolling"});
    assert_eq!(check(&svc(rolling, json!({"replicas": 0}))), vec![]);
}

#[test]
fn durations_must_parse_and_be_positive() {
    let r = with(canary(), "/steps/0/pause", json!("0s"));
    let r = with(r, "/steps/1/pause", json!("99999999999999999999h"));
    let r = with(r, "/analysis/interval", json!("500ms"));
    assert_eq!(
        run(r),
        vec![
            ("/spec/rollout/steps/0/pause".into(), "must be longer than 0s: leave pause out for no minimum, or write {} to wait for `mlsync rollout resume` or `promote`".into()),
            ("/spec/rollout/steps/1/pause".into(), "`99999999999999999999h` is not a duration mlsync can use (too large?); write it like 30s, 2m or 1h30m".into()),
            ("/spec/rollout/analysis/interval".into(), "must be at least 1s (got 500ms)".into()),
        ]
    );
    assert_eq!(
        pointers(with(canary(), "/analysis/interval", json!("0m"))),
        vec!["/spec/rollout/analysis/interval"]
    );
    assert_eq!(
        run(with(canary(), "/analysis/interval", json!("1s"))),
        vec![]
    );
}

#[test]
fn weights_never_decrease_and_the_first_step_has_one() {
    let r = with(
        canary(),
        "/steps",
        json!([{"pause": "1m"}, {"weight": 20}, {"pause": {}}, {"weight": 20}, {"weight": 10}, {}]),
    );
    assert_eq!(
        run(r),
        vec![
            ("/spec/rollout/steps/0".into(), "needs a weight: a canary needs a share of the traffic, e.g. `{weight: 10, pause: 2m}`".into()),
            ("/spec/rollout/steps/4/weight".into(), "must not be less than the previous step's weight (20): weights only grow (a step without weight keeps the previous one)".into()),
        ]
    );
    // A step without weight keeps the previous one.
    let r = with(
        canary(),
        "/steps",
        json!([{"weight": 30}, {"pause": "1m"}, {"weight": 29}]),
    );
    assert_eq!(pointers(r), vec!["/spec/rollout/steps/2/weight"]);
}

#[test]
fn metrics_need_bounds_in_order_and_unique_names() {
    let r = with(
        canary(),
        "/analysis/metrics",
        json!([
            {"name": "a", "query": "q"},
            {"name": "b", "query": "q", "min": 2, "max": 1.5},
            {"name": "a", "query": "q", "min": 0},
            {"name": "c", "query": "q", "min": 1, "max": 1},
        ]),
    );
    assert_eq!(
        run(r),
        vec![
            ("/spec/rollout/analysis/metrics/0".into(), "needs max, min or both: the bounds the metric must stay within, e.g. `max: 0.01`".into()),
            ("/spec/rollout/analysis/metrics/1/min".into(), "must not be greater than max (1.5): no value could pass".into()),
            ("/spec/rollout/analysis/metrics/2/name".into(), "duplicate metric `a`: also spec.rollout.analysis.metrics[0]; metric names must be unique within the service".into()),
        ]
    );
}

#[test]
fn only_known_placeholders() {
    let q = "x{a=\"{{service}}\",b=\"{{ service }}\",c=\"{{pod}}\",d=\"{{pod}}\"} + y{t=\"{{track}";
    let r = with(canary(), "/analysis/metrics/1/query", json!(q));
    let allowed = "{{service}}, {{namespace}}, {{track}}";
    let at = "/spec/rollout/analysis/metrics/1/query".to_owned();
    assert_eq!(
        run(r),
        vec![
            (
                at.clone(),
                format!(
                    "unknown placeholder `{{{{ service }}}}`; the placeholders are {allowed} (written without spaces)"
                )
            ),
            (
                at.clone(),
                format!(
                    "unknown placeholder `{{{{pod}}}}`; the placeholders are {allowed} (written without spaces)"
                )
            ),
            (
                at,
                format!("`{{{{` is not closed with `}}}}`; the placeholders are {allowed}")
            ),
        ]
    );
    assert!(unknown_placeholders("sum(rate(x[1m])) / {{namespace}}{{track}}").is_empty());
}

#[test]
fn metrics_need_prometheus() {
    let mut r = canary();
    r["analysis"].as_object_mut().unwrap().remove("prometheus");
    assert_eq!(
        run(r.clone()),
        vec![(
            "/spec/rollout/analysis".into(),
            "needs prometheus to query its metrics, e.g. `prometheus: {address: http://prometheus.monitoring:9090}`".into()
        )]
    );
    r["analysis"]["metrics"] = json!([]);
    assert_eq!(run(r), vec![]);
}

#[test]
fn prometheus_address_is_an_absolute_http_url() {
    let at = "/spec/rollout/analysis/prometheus/address";
    for (address, message) in [
        (
            "prometheus.monitoring:9090",
            "must start with http:// or https://, e.g. http://prometheus.monitoring:9090",
        ),
        (
            "ftp://prometheus",
            "must start with http:// or https://, e.g. http://prometheus.monitoring:9090",
        ),
        (
            "/api/v1",
            "must be an absolute http:// or https:// URL with a host, e.g. http://prometheus.monitoring:9090 (relative URL without a base)",
        ),
        (
            "http://",
            "must be an absolute http:// or https:// URL with a host, e.g. http://prometheus.monitoring:9090 (empty host)",
        ),
        (
            "http://prom:9090/?x=1",
            "must not have a query (?…) or fragment (#…): it is the base URL mlsync adds /api/v1/query to",
        ),
        (
            "https://prom#top",
            "must not have a query (?…) or fragment (#…): it is the base URL mlsync adds /api/v1/query to",
        ),
    ] {
        let r = with(canary(), "/analysis/prometheus/address", json!(address));
        assert_eq!(run(r), vec![(at.into(), message.into())], "{address}");
    }
    for good in [
        "https://prom.example.com/prometheus",
        "http://10.0.0.1:9090/",
        "http://[::1]:9090",
    ] {
        let r = with(canary(), "/analysis/prometheus/address", json!(good));
        assert_eq!(run(r), vec![], "{good}");
    }
}
