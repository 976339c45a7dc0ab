//! `mlsync validate` on `spec.rollout`: the exact `file:line:column: field.path: message` lines
//! of the schema's rules and of the checks a schema cannot express, and the exit codes. The specs
//! are the fixtures in `tests/data/rollout/`.

use std::path::Path;
use std::process::Command;

/// Validates a repo holding the fixture `tests/data/rollout/<name>` as `svc.yaml` (and
/// `extra` files); returns (exit code, stdout lines).
fn validate(name: &str, extra: &[(&str, &str)]) -> (i32, Vec<String>) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rollout")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&fixture, dir.path().join("svc.yaml")).unwrap();
    for (path, content) in extra {
        std::fs::write(dir.path().join(path), content).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (
        out.status.code().unwrap_or(-1),
        stdout.lines().map(str::to_owned).collect(),
    )
}

#[test]
fn a_canary_with_analysis_is_valid() {
    let (code, lines) = validate("canary.yaml", &[]);
    assert_eq!(lines, ["1 valid service(s), 0 invalid, 0 error(s)"]);
    assert_eq!(code, 0);
}

#[test]
fn a_canary_next_to_a_service_without_rollout_is_valid() {
    let plain = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata: {name: wine}
spec:
  model: {name: wine, version: v1}
  image: example/wine:1
  rollout: {strategy: rolling}
";
    let (code, lines) = validate("canary.yaml", &[("wine.yaml", plain)]);
    assert_eq!(lines, ["2 valid service(s), 0 invalid, 0 error(s)"]);
    assert_eq!(code, 0);
}

#[test]
fn schema_errors_in_a_rollout() {
    let (code, lines) = validate("bad-schema.yaml", &[]);
    let duration_or_promote = "must be a duration such as 30s, 2m or 1h30m, or {} to wait for `mlsync rollout resume` or `promote`";
    let step = "must be a step such as {weight: 10, pause: 2m} or {pause: {}}";
    let weight = "must be a percentage of the traffic from 1 to 99";
    assert_eq!(
        lines,
        [
            "svc.yaml:10:5: spec.rollout.strategy: must be rolling or canary".to_owned(),
            format!("svc.yaml:12:10: spec.rollout.steps[0].weight: {weight}"),
            format!("svc.yaml:12:21: spec.rollout.steps[0].pause: {duration_or_promote}"),
            format!("svc.yaml:13:10: spec.rollout.steps[1].weight: {weight}"),
            format!("svc.yaml:13:23: spec.rollout.steps[1].pause: {duration_or_promote}"),
            format!("svc.yaml:14:9: spec.rollout.steps[2]: {step}"),
            format!("svc.yaml:15:9: spec.rollout.steps[3]: {step}"),
            "svc.yaml:17:7: spec.rollout.analysis.interval: must be a duration such as 30s, 2m or 1h30m (units ms, s, m, h)".to_owned(),
            "svc.yaml:18:7: spec.rollout.analysis.failureLimit: must be at least 1".to_owned(),
            "svc.yaml:20:20: spec.rollout.analysis.prometheus.url: unknown field `url`; allowed fields: address".to_owned(),
            "svc.yaml:20:7: spec.rollout.analysis.prometheus: missing required field `address`".to_owned(),
            "svc.yaml:22:12: spec.rollout.analysis.metrics[0].name: must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit".to_owned(),
            "svc.yaml:22:30: spec.rollout.analysis.metrics[0].query: must be a PromQL query (a non-empty string)".to_owned(),
            "svc.yaml:22:41: spec.rollout.analysis.metrics[0].max: must be a number".to_owned(),
            "svc.yaml:23:11: spec.rollout.analysis.metrics[1]: missing required field `name`".to_owned(),
            "svc.yaml:19:7: spec.rollout.analysis.inconclusiveLimt: unknown field `inconclusiveLimt`; did you mean `inconclusiveLimit`?".to_owned(),
            "0 valid service(s), 1 invalid, 16 error(s)".to_owned(),
        ]
    );
    assert_eq!(code, 1);
}

#[test]
fn rollout_rules_a_schema_cannot_express() {
    let (code, lines) = validate("bad-checks.yaml", &[]);
    let only_canary =
        "only used by strategy: canary; set spec.rollout.strategy: canary or remove it";
    assert_eq!(
        lines,
        [
            // iris: a canary.
            "svc.yaml:9:3: spec.replicas: must be at least 1 with spec.rollout.strategy canary: the canary takes its share of the traffic from running pods".to_owned(),
            "svc.yaml:13:9: spec.rollout.steps[0]: needs a weight: a canary needs a share of the traffic, e.g. `{weight: 10, pause: 2m}`".to_owned(),
            "svc.yaml:13:10: spec.rollout.steps[0].pause: must be longer than 0s: leave pause out for no minimum, or write {} to wait for `mlsync rollout resume` or `promote`".to_owned(),
            "svc.yaml:15:10: spec.rollout.steps[2].weight: must not be less than the previous step's weight (50): weights only grow (a step without weight keeps the previous one)".to_owned(),
            "svc.yaml:17:7: spec.rollout.analysis.interval: must be at least 1s (got 500ms)".to_owned(),
            "svc.yaml:18:20: spec.rollout.analysis.prometheus.address: must start with http:// or https://, e.g. http://prometheus.monitoring:9090".to_owned(),
            "svc.yaml:20:11: spec.rollout.analysis.metrics[0]: needs max, min or both: the bounds the metric must stay within, e.g. `max: 0.01`".to_owned(),
            "svc.yaml:21:11: spec.rollout.analysis.metrics[0].query: unknown placeholder `{{pod}}`; the placeholders are {{service}}, {{namespace}}, {{track}} (written without spaces)".to_owned(),
            "svc.yaml:22:12: spec.rollout.analysis.metrics[1].name: duplicate metric `error-rate`: also spec.rollout.analysis.metrics[0]; metric names must be unique within the service".to_owned(),
            "svc.yaml:22:41: spec.rollout.analysis.metrics[1].min: must not be greater than max (0.5): no value could pass".to_owned(),
            // digits: steps and analysis without strategy canary.
            format!("svc.yaml:32:5: spec.rollout.steps: {only_canary}"),
            format!("svc.yaml:34:5: spec.rollout.analysis: {only_canary}"),
            "svc.yaml:34:5: spec.rollout.analysis: needs prometheus to query its metrics, e.g. `prometheus: {address: http://prometheus.monitoring:9090}`".to_owned(),
            // wine: a canary without steps.
            "svc.yaml:45:3: spec.rollout.steps: strategy canary needs at least one step, e.g. `steps: [{weight: 10, pause: 2m}, {pause: {}}]`".to_owned(),
            "svc.yaml:48:20: spec.rollout.analysis.prometheus.address: must not have a query (?…) or fragment (#…): it is the base URL mlsync adds /api/v1/query to".to_owned(),
            "0 valid service(s), 3 invalid, 15 error(s)".to_owned(),
        ]
    );
    assert_eq!(code, 1);
}
