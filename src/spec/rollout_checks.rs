//! The rules of `spec.rollout` a JSON Schema cannot express (the schema has already checked
//! types, ranges and the shape of durations when these run).

use std::collections::BTreeMap;
use std::time::Duration;

use super::MLService;
use super::rollout::{Analysis, PLACEHOLDERS, Pause, Step, parse_duration};
use super::schema::Violation;

const ROLLOUT: &str = "/spec/rollout";

/// Checks `spec.rollout` of one deserialized spec; returns every violation.
pub(super) fn check(svc: &MLService) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(rollout) = &svc.spec.rollout else {
        return out;
    };
    let mut push = |pointer: String, message: String| out.push(Violation { pointer, message });

    if rollout.is_canary() {
        if rollout.steps.is_empty() {
            push(
                format!("{ROLLOUT}/steps"),
                "strategy canary needs at least one step, e.g. `steps: [{weight: 10, pause: 2m}, {pause: {}}]`".into(),
            );
        }
        if svc.spec.replicas == Some(0) {
            push(
                "/spec/replicas".into(),
                "must be at least 1 with spec.rollout.strategy canary: the canary takes its share of the traffic from running pods".into(),
            );
        }
    } else {
        let only_canary =
            "only used by strategy: canary; set spec.rollout.strategy: canary or remove it";
        if !rollout.steps.is_empty() {
            push(format!("{ROLLOUT}/steps"), only_canary.into());
        }
        if rollout.analysis.is_some() {
            push(format!("{ROLLOUT}/analysis"), only_canary.into());
        }
    }
    check_steps(&rollout.steps, &mut push);
    if let Some(a) = &rollout.analysis {
        check_analysis(a, &mut push);
    }
    out
}

fn check_steps(steps: &[Step], push: &mut impl FnMut(String, String)) {
    let mut previous: Option<u8> = None;
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{ROLLOUT}/steps/{i}");
        match (step.weight, previous) {
            (None, None) if i == 0 => push(
                at.clone(),
                "needs a weight: a canary needs a share of the traffic, e.g. `{weight: 10, pause: 2m}`".into(),
            ),
            (Some(w), Some(p)) if w < p => push(
                format!("{at}/weight"),
                format!(
                    "must not be less than the previous step's weight ({p}): weights only grow (a step without weight keeps the previous one)"
                ),
            ),
            _ => {}
        }
        previous = step.weight.or(previous);
        if let Some(Pause::For(text)) = &step.pause {
            match parse_duration(text) {
                None => push(format!("{at}/pause"), unparsable(text)),
                Some(d) if d.is_zero() => push(
                    format!("{at}/pause"),
                    "must be longer than 0s: leave pause out for no minimum, or write {} to wait for `mlsync rollout resume` or `promote`".into(),
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_analysis(a: &Analysis, push: &mut impl FnMut(String, String)) {
    let at = format!("{ROLLOUT}/analysis");
    match parse_duration(&a.interval) {
        None => push(format!("{at}/interval"), unparsable(&a.interval)),
        Some(d) if d < Duration::from_secs(1) => push(
            format!("{at}/interval"),
            format!("must be at least 1s (got {})", a.interval),
        ),
        Some(_) => {}
    }
    match &a.prometheus {
        None if !a.metrics.is_empty() => push(
            at.clone(),
            "needs prometheus to query its metrics, e.g. `prometheus: {address: http://prometheus.monitoring:9090}`".into(),
        ),
        None => {}
        Some(p) => {
            if let Some(problem) = address_problem(&p.address) {
                push(format!("{at}/prometheus/address"), problem);
            }
        }
    }
    let mut first_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in a.metrics.iter().enumerate() {
        let at = format!("{at}/metrics/{i}");
        if m.min.is_none() && m.max.is_none() {
            push(
                at.clone(),
                "needs max, min or both: the bounds the metric must stay within, e.g. `max: 0.01`"
                    .into(),
            );
        }
        if let Some(j) = first_of.get(m.name.as_str()) {
            push(
                format!("{at}/name"),
                format!(
                    "duplicate metric `{}`: also spec.rollout.analysis.metrics[{j}]; metric names must be unique within the service",
                    m.name
                ),
            );
        } else {
            first_of.insert(&m.name, i);
        }
        for unknown in unknown_placeholders(&m.query) {
            push(format!("{at}/query"), unknown);
        }
        if let (Some(min), Some(max)) = (m.min, m.max)
            && min > max
        {
            push(
                format!("{at}/min"),
                format!("must not be greater than max ({max}): no value could pass"),
            );
        }
    }
}

fn unparsable(text: &str) -> String {
    format!(
        "`{text}` is not a duration mlsync can use (too large?); write it like 30s, 2m or 1h30m"
    )
}

/// What is wrong with a Prometheus base URL, if anything.
fn address_problem(address: &str) -> Option<String> {
    const EXAMPLE: &str = "e.g. http://prometheus.monitoring:9090";
    let url = match url::Url::parse(address) {
        Ok(url) => url,
        Err(e) => {
            return Some(format!(
                "must be an absolute http:// or https:// URL with a host, {EXAMPLE} ({e})"
            ));
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("must start with http:// or https://, {EXAMPLE}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some(format!("must name a host, {EXAMPLE}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some(
            "must not have a query (?…) or fragment (#…): it is the base URL mlsync adds /api/v1/query to"
                .into(),
        );
    }
    None
}

/// A message for each distinct `{{…}}` in `query` that is not one of [`PLACEHOLDERS`], and for
/// a `{{` that is not closed.
fn unknown_placeholders(query: &str) -> Vec<String> {
    let allowed = || {
        PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(format!(
                "`{{{{` is not closed with `}}}}`; the placeholders are {}",
                allowed()
            ));
            break;
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            let message = format!(
                "unknown placeholder `{{{{{name}}}}}`; the placeholders are {} (written without spaces)",
                allowed()
            );
            if !out.contains(&message) {
                out.push(message);
            }
        }
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
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
        let q =
            "x{a=\"{{service}}\",b=\"{{ service }}\",c=\"{{pod}}\",d=\"{{pod}}\"} + y{t=\"{{track}";
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
}
