//! `plan -o json` and `apply -o json`: the same facts as the text output, for scripts and CI.
//!
//! Pure: a plan or a report in, a `serde_json::Value` out. Field names are camelCase like the
//! Kubernetes API; objects are `{kind, namespace, name}` plus what happened to them. No value of
//! any object body is included, so nothing secret can appear.

use serde_json::{Value, json};

use super::cause::{ApiFailure, ServiceCause};
use super::keys::ServiceKey;
use super::plan::{Action, ObjectPlan, Plan};
use super::report::{ObjectOutcome, Outcome, Report};
use super::writes::{Step, Writes};

fn planned_object(o: &ObjectPlan) -> Value {
    let mut v = json!({
        "kind": o.kind.as_str(),
        "namespace": o.namespace,
        "name": o.name,
        "action": o.action.verb(),
    });
    match &o.action {
        Action::Update(why) | Action::Recreate(why) => v["reasons"] = json!(why),
        Action::Conflict(why) => v["reasons"] = json!([why.to_string()]),
        _ => {}
    }
    v
}

/// A service's error as text, and the name of its cause.
fn cause(error: Option<&ServiceCause>) -> (Value, Value) {
    match error {
        Some(e) => (json!(e.to_string()), json!(e.as_str())),
        None => (Value::Null, Value::Null),
    }
}

/// One write of the plan, and the service it belongs to.
fn step(service: Option<&ServiceKey>, s: &Step) -> Value {
    let mut v = json!({"step": s.as_str()});
    if let Some(k) = service {
        v["service"] = json!(k.to_string());
    }
    match s {
        Step::CreateNamespace(ns) => v["namespace"] = json!(ns),
        Step::WriteInventory { namespaces, .. } => v["namespaces"] = json!(namespaces),
        Step::HandOverReplicas { replicas, .. } => v["replicas"] = json!(replicas),
        _ => {}
    }
    if let Some(o) = s.object() {
        v["kind"] = json!(o.kind.as_str());
        v["namespace"] = json!(o.namespace);
        v["name"] = json!(o.name);
    }
    v
}

/// What `plan` found: per service its objects and actions, then prunes and namespaces, and
/// every write `apply` will make, in order.
pub fn plan_json(plan: &Plan, writes: &Writes) -> Value {
    let services: Vec<Value> = plan
        .services
        .iter()
        .map(|s| {
            let state = match (&s.error, s.has_changes()) {
                (Some(_), _) => "error",
                (None, true) => "changes",
                (None, false) => "unchanged",
            };
            let (error, cause) = cause(s.error.as_ref());
            json!({
                "namespace": s.namespace,
                "name": s.name,
                "state": state,
                "error": error,
                "cause": cause,
                "objects": s.objects.iter().map(planned_object).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "services": services,
        "prune": plan.prune.iter().map(planned_object).collect::<Vec<_>>(),
        "pruneHeld": plan.prune_held.iter().map(planned_object).collect::<Vec<_>>(),
        "pruneRefused": plan.prune_refused.as_ref().map(ToString::to_string),
        "createNamespaces": writes.namespaces,
        "writes": writes
            .ordered()
            .into_iter()
            .map(|(k, s)| step(k, &s))
            .collect::<Vec<_>>(),
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
        v["reason"] = json!(why.to_string());
        if let ApiFailure::Status { code, reason, .. } = &why.api {
            v["apiStatus"] = json!({"code": code, "reason": reason});
        }
    }
    v
}

/// What `apply` did: per service its objects' outcomes and rollout health, then prunes.
pub fn report_json(report: &Report) -> Value {
    let services: Vec<Value> = report
        .services
        .iter()
        .map(|s| {
            let (error, cause) = cause(s.error.as_ref());
            json!({
                "namespace": s.namespace,
                "name": s.name,
                "changed": s.changed(),
                "error": error,
                "cause": cause,
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
        "pruneRefused": report.prune_refused.as_ref().map(ToString::to_string),
        "errors": report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::cause::{ObjectFailure, WriteOp};
    use crate::reconcile::keys::ObjectRef;
    use crate::reconcile::report::ServiceReport;
    use crate::render::Kind;

    #[test]
    fn report_names_objects_outcomes_and_failures() {
        let failure = ObjectFailure {
            op: WriteOp::Apply,
            api: ApiFailure::Status {
                code: 403,
                reason: "Forbidden".into(),
                message: "exceeded quota".into(),
            },
        };
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
                        outcome: Outcome::Failed(failure.clone()),
                    },
                ],
                error: Some(ServiceCause::ApplyFailed {
                    object: ObjectRef::new(Kind::Deployment, "ml", "iris"),
                    failure: Box::new(failure),
                }),
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
        assert_eq!(objects[1]["reason"], "exceeded quota (Forbidden)");
        assert_eq!(objects[1]["apiStatus"]["code"], 403);
        assert_eq!(
            v["services"][0]["error"],
            "failed to apply Deployment ml/iris: exceeded quota (Forbidden)"
        );
        assert_eq!(v["services"][0]["cause"], "applyFailed");
    }
}
