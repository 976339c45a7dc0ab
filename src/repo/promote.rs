//! Promotion by commit (`mlsync promote`): the overlay change that makes one environment run
//! what another runs (pure: JSON values in, JSON values out; the command reads and writes files).
//!
//! What runs is `spec.model`, `spec.image` and `spec.config` ([`Field::RUNS`]), and with
//! `--secrets` also `spec.secrets` (the path of the encrypted file, never its content).
//! Everything else (replicas, autoscaling, resources, namespace, …) stays per environment.
//!
//! For each promoted field `F`, the new overlay of the target environment holds the JSON merge
//! patch ([`merge_diff`]) that turns the base spec's `F` into the source environment's merged
//! `F`, or nothing when the base already has that value. An overlay left without fields is no
//! overlay at all ([`Promotion::overlay`] is `None`: the file goes).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A field of `spec` that promotion copies from one environment to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `spec.model` (name, version, uri, format).
    Model,
    /// `spec.image`.
    Image,
    /// `spec.config`, as a whole.
    Config,
    /// `spec.secrets` (the path of the encrypted file), only with `--secrets`.
    Secrets,
}

impl Field {
    /// What an environment runs: promoted always.
    pub const RUNS: [Field; 3] = [Field::Model, Field::Image, Field::Config];

    /// The key under `spec`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Model => "model",
            Field::Image => "image",
            Field::Config => "config",
            Field::Secrets => "secrets",
        }
    }
}

/// Why a promotion cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// `--from` and `--to` name the same environment.
    #[error("failed to promote {service}: --from and --to are both {env}")]
    SameEnvironment {
        /// The service.
        service: String,
        /// The environment named twice.
        env: String,
    },
    /// No base spec has that name.
    #[error("failed to promote {service}: no service named {service} in the base specs{hint}")]
    UnknownService {
        /// The name asked for.
        service: String,
        /// ` (did you mean …?)`, or empty.
        hint: String,
    },
    /// The target overlay (or its `spec`) is not a mapping, so no field can be set in it.
    #[error("failed to promote into {}: {what} is not a mapping", file.display())]
    NotMapping {
        /// The overlay file, relative to the repo root.
        file: PathBuf,
        /// `the document` or `spec`.
        what: &'static str,
    },
}

/// The JSON merge patch (RFC 7386) that turns `base` into `target`; `None` when they are equal.
///
/// Mappings are compared key by key (a key missing in `target` becomes `null`); anything else
/// that differs is replaced by `target` as a whole. `target` holds no `null` (a merged spec
/// does not), so merging the result over `base` gives `target`.
pub fn merge_diff(base: &Value, target: &Value) -> Option<Value> {
    if base == target {
        return None;
    }
    match (base, target) {
        (Value::Object(b), Value::Object(t)) => {
            let mut patch = Map::new();
            for (k, tv) in t {
                let p = match b.get(k) {
                    Some(bv) => merge_diff(bv, tv),
                    None => Some(tv.clone()),
                };
                if let Some(p) = p {
                    patch.insert(k.clone(), p);
                }
            }
            for k in b.keys() {
                if !t.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(target.clone()),
    }
}

/// The patch for one field that may be absent on either side: `null` removes a field the
/// target lacks, a field the base lacks is written whole; `None` when nothing is needed.
pub fn field_patch(base: Option<&Value>, target: Option<&Value>) -> Option<Value> {
    match (base, target) {
        (None, None) => None,
        (Some(_), None) => Some(Value::Null),
        (None, Some(t)) => Some(t.clone()),
        (Some(b), Some(t)) => merge_diff(b, t),
    }
}

/// One field merged with an overlay's value for it (absent: kept; `null`: removed).
fn merged_field(base: Option<&Value>, patch: Option<&Value>) -> Option<Value> {
    match patch {
        None => base.cloned(),
        Some(Value::Null) => None,
        Some(p) => {
            let mut v = base.cloned().unwrap_or(Value::Null);
            json_patch::merge(&mut v, p);
            Some(v)
        }
    }
}

/// What a promotion changes in the target environment, for the summary and commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The model is now this one.
    Model {
        /// `spec.model.name`.
        name: String,
        /// `spec.model.version`.
        version: String,
    },
    /// The image is now this one.
    Image(String),
    /// This many config keys were added, changed or removed.
    Config(usize),
    /// The secrets file is now this one (`None`: no secrets any more).
    Secrets(Option<String>),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Model { name, version } => write!(f, "model {name} {version}"),
            Change::Image(image) => write!(f, "image {image}"),
            Change::Config(1) => f.write_str("config (1 key)"),
            Change::Config(n) => write!(f, "config ({n} keys)"),
            Change::Secrets(Some(file)) => write!(f, "secrets {file}"),
            Change::Secrets(None) => f.write_str("no secrets"),
        }
    }
}

/// The result of a promotion that changes something.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// The target environment's new overlay of the service; `None` when it is left empty (no
    /// overlay needed: the file goes).
    pub overlay: Option<Value>,
    /// What changes in the target environment, in field order.
    pub changes: Vec<Change>,
    /// Config keys the target's overlay set itself whose value the promotion replaces or
    /// removes (`spec.config` is promoted as a whole).
    pub replaced_config: Vec<String>,
}

/// Computes the promotion of `fields` into the overlay `to_overlay` (`{}` when the target has
/// none; `file` names it in errors): `base` is the service's base spec, `from` its merged spec
/// in the source environment. `Ok(None)`: the target already runs the same.
pub fn promote(
    base: &Value,
    from: &Value,
    to_overlay: &Value,
    fields: &[Field],
    file: &Path,
) -> Result<Option<Promotion>, PromoteError> {
    let not_mapping = |what| PromoteError::NotMapping {
        file: file.to_owned(),
        what,
    };
    let Value::Object(doc) = to_overlay else {
        return Err(not_mapping("the document"));
    };
    let old_spec = match doc.get("spec") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(not_mapping("spec")),
    };
    let spec_of = |v: &'_ Value, f: Field| v.get("spec").and_then(|s| s.get(f.key())).cloned();
    let mut spec = old_spec.clone();
    let mut changes = Vec::new();
    let mut replaced_config = Vec::new();
    for &f in fields {
        let b = spec_of(base, f);
        let want = spec_of(from, f);
        let now = merged_field(b.as_ref(), old_spec.get(f.key()));
        if now == want {
            continue;
        }
        changes.push(change(f, now.as_ref(), want.as_ref()));
        if f == Field::Config
            && let Some(Value::Object(own)) = old_spec.get(f.key())
        {
            replaced_config = own
                .iter()
                .filter(|(k, v)| !v.is_null() && want.as_ref().and_then(|w| w.get(k)) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
        }
        match field_patch(b.as_ref(), want.as_ref()) {
            Some(p) => {
                spec.insert(f.key().to_owned(), p);
            }
            None => {
                spec.shift_remove(f.key());
            }
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let mut out = doc.clone();
    if spec.is_empty() {
        out.shift_remove("spec");
    } else {
        out.insert("spec".to_owned(), Value::Object(spec));
    }
    Ok(Some(Promotion {
        overlay: (!is_identity_only(&out)).then_some(Value::Object(out)),
        changes,
        replaced_config,
    }))
}

/// True when an overlay changes nothing: at most `apiVersion`, `kind` and `metadata.name`.
fn is_identity_only(doc: &Map<String, Value>) -> bool {
    doc.iter().all(|(k, v)| match k.as_str() {
        "apiVersion" | "kind" => true,
        "metadata" => v.as_object().is_some_and(|m| m.keys().all(|k| k == "name")),
        _ => false,
    })
}

fn change(f: Field, now: Option<&Value>, want: Option<&Value>) -> Change {
    let text = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match f {
        Field::Model => Change::Model {
            name: text(want, "name"),
            version: text(want, "version"),
        },
        Field::Image => Change::Image(want.and_then(Value::as_str).unwrap_or_default().into()),
        Field::Config => {
            let keys = |v: Option<&Value>| {
                v.and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
                    .unwrap_or_default()
            };
            let n = keys(now)
                .union(&keys(want))
                .filter(|k| now.and_then(|v| v.get(k)) != want.and_then(|v| v.get(k)))
                .count();
            Change::Config(n)
        }
        Field::Secrets => Change::Secrets(
            want.and_then(|w| w.get("file"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
    }
}

/// The default commit message: `promote iris from staging to prod: model iris v3, image …`.
pub fn summary(service: &str, from: &str, to: &str, changes: &[Change]) -> String {
    let what: Vec<String> = changes.iter().map(Change::to_string).collect();
    format!("promote {service} from {from} to {to}: {}", what.join(", "))
}

/// Checks `--from`/`--to` and that `service` is one of `known` (the base specs' names),
/// suggesting the closest name when it is not.
pub fn check_request<'a>(
    service: &str,
    from: &str,
    to: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Result<(), PromoteError> {
    if from == to {
        return Err(PromoteError::SameEnvironment {
            service: service.to_owned(),
            env: from.to_owned(),
        });
    }
    let mut nearest: Option<(usize, &str)> = None;
    for n in known {
        if n == service {
            return Ok(());
        }
        let d = strsim::damerau_levenshtein(service, n);
        if d <= 2.max(n.len() / 4) && nearest.is_none_or(|(best, _)| d < best) {
            nearest = Some((d, n));
        }
    }
    Err(PromoteError::UnknownService {
        service: service.to_owned(),
        hint: nearest
            .map(|(_, n)| format!(" (did you mean {n}?)"))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
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
}
