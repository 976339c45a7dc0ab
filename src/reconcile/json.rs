//! `plan -o json` and `apply -o json`: the same facts as the text output, for scripts and CI.
//!
//! Pure: a plan or a report in, a `serde_json::Value` out. Field names are camelCase like the
//! Kubernetes API; objects are `{kind, namespace, name}` plus what happened to them. No value of
//! any object body is included, so nothing secret can appear.

use serde_json::{Value, json};

use super::plan::{Action, ObjectPlan, Plan};
use super::report::{ObjectOutcome, Outcome, Report};

fn planned_object(o: &ObjectPlan) -> Value {
    let mut v = json!({
        "kind": o.kind.as_str(),
        "namespace": o.namespace,
        "name": o.name,
        "action": o.action.verb(),
    });
    match &o.action {
        Action::Update(why) => v["reasons"] = json!(why),
        Action::Conflict(why) => v["reasons"] = json!([why]),
        _ => {}
    }
    v
}

/// What `plan` found: per service its objects and actions, then prunes and namespaces.
pub fn plan_json(plan: &Plan, create_namespaces: impl IntoIterator<Item = String>) -> Value {
    let services: Vec<Value> = plan
        .services
        .iter()
        .map(|s| {
            let state = match (&s.error, s.has_changes()) {
                (Some(_), _) => "error",
                (None, true) => "changes",
                (None, false) => "unchanged",
            };
            json!({
                "namespace": s.namespace,
                "name": s.name,
                "state": state,
                "error": s.error,
                "objects": s.objects.iter().map(planned_object).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "services": services,
        "prune": plan.prune.iter().map(planned_object).collect::<Vec<_>>(),
        "pruneHeld": plan.prune_held.iter().map(planned_object).collect::<Vec<_>>(),
        "pruneRefused": plan.prune_refused,
        "createNamespaces": create_namespaces.into_iter().collect::<Vec<_>>(),
    })
}

fn object_outcome(o: &ObjectOutcome) -> Value {
    let mut v = json!({
        "kind": o.kind.as_str(),
        "namespace": o.namespace,
        "name": o.name,
        "outcome": o.outcome.as_str(),
    });
    if let Outcome::Failed(why) = &o.outcome {
        v["reason"] = json!(why);
    }
    v
}

/// What `apply` did: per service its objects' outcomes and rollout health, then prunes.
pub fn report_json(report: &Report) -> Value {
    let services: Vec<Value> = report
        .services
        .iter()
        .map(|s| {
            json!({
                "namespace": s.namespace,
                "name": s.name,
                "changed": s.changed(),
                "error": s.error,
                "health": s.health,
                "unhealthy": s.unhealthy,
                "objects": s.objects.iter().map(object_outcome).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "changed": report.changed(),
        "failed": report.failed(),
        "services": services,
        "pruned": report.pruned.iter().map(object_outcome).collect::<Vec<_>>(),
        "pruneHeld": report.prune_held.iter().map(object_outcome).collect::<Vec<_>>(),
        "pruneRefused": report.prune_refused,
        "errors": report.errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::report::ServiceReport;
    use crate::render::Kind;

    #[test]
    fn report_names_objects_outcomes_and_failures() {
        let report = Report {
            services: vec![ServiceReport {
                namespace: "ml".into(),
                name: "iris".into(),
                objects: vec![
                    ObjectOutcome {
                        kind: Kind::ConfigMap,
                        namespace: "ml".into(),
                        name: "iris-config".into(),
                        outcome: Outcome::Configured,
                    },
                    ObjectOutcome {
                        kind: Kind::Deployment,
                        namespace: "ml".into(),
                        name: "iris".into(),
                        outcome: Outcome::Failed("field is immutable".into()),
                    },
                ],
                error: Some("failed to apply Deployment ml/iris".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = report_json(&report);
        assert_eq!(v["changed"], true);
        assert_eq!(v["failed"], true);
        let objects = &v["services"][0]["objects"];
        assert_eq!(objects[0]["kind"], "ConfigMap");
        assert_eq!(objects[0]["outcome"], "configured");
        assert_eq!(objects[1]["outcome"], "failed");
        assert_eq!(objects[1]["reason"], "field is immutable");
        assert_eq!(
            v["services"][0]["error"],
            "failed to apply Deployment ml/iris"
        );
    }
}
