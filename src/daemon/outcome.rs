//! Turning a reconcile [`Report`] into what the admin server shows (pure).

use std::time::Duration;

use crate::admin::metrics::ObjectAction;
use crate::admin::status::{Outcome, PruneRefusal, ReconcileReport, ServiceResult, ServiceState};
use crate::reconcile::cause::ServiceCause;
use crate::reconcile::report::{self, HealthState, Report, ServiceReport};
use crate::repo::InvalidService;

/// A service that could not be loaded: (namespace, name, why).
pub type Invalid = (String, String, String);

/// The invalid services of a loaded repo with a short reason each.
pub fn invalid_services(invalid: &[InvalidService]) -> Vec<Invalid> {
    invalid
        .iter()
        .map(|i| {
            (
                i.namespace.clone(),
                i.name.clone(),
                ServiceCause::InvalidSpec.to_string(),
            )
        })
        .collect()
}

/// `cause` of a service whose rollout failed (or was rolled back).
pub const ROLLOUT_FAILED: &str = "rolloutFailed";
/// `cause` of a service whose canary rollout was aborted: the stable version serves.
pub const ROLLOUT_ABORTED: &str = "rolloutAborted";
/// `cause` of a service whose health could not be read.
pub const HEALTH_UNKNOWN: &str = "healthUnknown";

/// The state of one applied (or refused) service, with its error and the error's cause name.
fn service_state(s: &ServiceReport) -> (ServiceState, Option<String>, Option<&'static str>) {
    if let Some(e) = &s.error {
        return (ServiceState::Failed, Some(e.to_string()), Some(e.as_str()));
    }
    let health = s.health.as_deref().unwrap_or("not checked");
    let rollout = || Some(format!("rollout: {health}"));
    if s.unhealthy {
        return (ServiceState::Degraded, rollout(), Some(ROLLOUT_FAILED));
    }
    match s.health_state {
        HealthState::Available => (ServiceState::Synced, None, None),
        HealthState::Progressing => (ServiceState::Progressing, None, None),
        HealthState::Failed => (ServiceState::Degraded, rollout(), Some(ROLLOUT_FAILED)),
        HealthState::Unknown | HealthState::NotChecked => (
            ServiceState::Unknown,
            Some(format!("health: {health}")),
            Some(HEALTH_UNKNOWN),
        ),
    }
}

/// The status report of one finished reconcile of `revision`.
///
/// Success: every service applied (rolling out, available, or degraded: its rollout failed) and
/// nothing refused. Partial: some services applied, while others or prunes failed. Failure: no
/// service applied and something failed.
pub fn to_status(
    report: &Report,
    invalid: &[Invalid],
    revision: &str,
    duration: Duration,
) -> ReconcileReport {
    let mut services: Vec<ServiceResult> = report
        .services
        .iter()
        .map(|s| {
            let rollout = report
                .rollouts
                .iter()
                .find(|r| r.key.namespace == s.namespace && r.key.name == s.name);
            let (state, error, cause) = match rollout {
                // The stable version serves; git's version was given up and is not retried.
                Some(r) if r.aborted() && s.error.is_none() => {
                    (ServiceState::Degraded, r.summary(), Some(ROLLOUT_ABORTED))
                }
                _ => service_state(s),
            };
            ServiceResult {
                name: s.name.clone(),
                namespace: s.namespace.clone(),
                state,
                error,
                cause,
                rollout: rollout.and_then(|r| r.summary()),
            }
        })
        .collect();
    services.extend(invalid.iter().map(|(ns, name, why)| ServiceResult {
        name: name.clone(),
        namespace: ns.clone(),
        state: ServiceState::Failed,
        error: Some(why.clone()),
        cause: Some(ServiceCause::InvalidSpec.as_str()),
        rollout: None,
    }));
    // A failed rollout (degraded) is the workload's problem, shown per service; the apply
    // itself worked, so it does not make the reconcile partial (nor the daemon unready).
    let failed = services
        .iter()
        .filter(|s| s.state == ServiceState::Failed)
        .count();
    let mut problems: Vec<String> = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} of {} services failed", services.len()));
    }
    let failed_prunes = report
        .pruned
        .iter()
        .filter(|p| matches!(p.outcome, report::Outcome::Failed(_)))
        .count();
    if failed_prunes > 0 {
        problems.push(format!("{failed_prunes} prunes failed"));
    }
    if let Some(r) = &report.prune_refused {
        problems.push(format!("pruning refused: {r}"));
    }
    problems.extend(report.errors.iter().map(ToString::to_string));
    let applied = services.len() - failed;
    let outcome = match (problems.is_empty(), applied > 0) {
        (true, _) => Outcome::Success,
        (false, true) => Outcome::Partial,
        (false, false) => Outcome::Failure,
    };
    ReconcileReport {
        outcome,
        duration,
        revision: Some(revision.to_owned()),
        error: (!problems.is_empty()).then(|| problems.join("; ")),
        services: Some(services),
        prune_refused: report.prune_refused.as_ref().map(|reason| PruneRefusal {
            reason: reason.to_string(),
            held_objects: report.prune_held.len(),
        }),
        kept_services: report
            .kept_services
            .iter()
            .map(|k| (k.namespace.clone(), k.name.clone()))
            .collect(),
    }
}

/// The metrics action of one object outcome; `None` for outcomes the metric does not count
/// (held, skipped).
pub fn object_action(o: &report::Outcome) -> Option<ObjectAction> {
    match o {
        report::Outcome::Created => Some(ObjectAction::Created),
        report::Outcome::Configured | report::Outcome::Recreated => Some(ObjectAction::Configured),
        report::Outcome::Unchanged => Some(ObjectAction::Unchanged),
        report::Outcome::Pruned => Some(ObjectAction::Pruned),
        report::Outcome::Failed(_) => Some(ObjectAction::Failed),
        report::Outcome::Held | report::Outcome::Skipped => None,
    }
}

/// Counts of a report for the one log line per reconcile: (changed, unchanged, failed objects).
pub fn counts(report: &Report) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for o in report.objects() {
        match o.outcome {
            ref x if x.is_change() => c.0 += 1,
            report::Outcome::Unchanged => c.1 += 1,
            report::Outcome::Failed(_) => c.2 += 1,
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::report::ObjectOutcome;
    use crate::render::Kind;

    fn svc(
        name: &str,
        error: Option<ServiceCause>,
        health: &str,
        unhealthy: bool,
    ) -> ServiceReport {
        ServiceReport {
            namespace: "ns".into(),
            name: name.into(),
            objects: vec![ObjectOutcome {
                kind: Kind::Deployment,
                namespace: "ns".into(),
                name: name.into(),
                outcome: if error.is_some() {
                    report::Outcome::Skipped
                } else {
                    report::Outcome::Created
                },
            }],
            error,
            health: Some(health.into()),
            health_state: match health.split(' ').next() {
                Some("available") => HealthState::Available,
                Some("progressing") => HealthState::Progressing,
                Some("failed") => HealthState::Failed,
                _ => HealthState::Unknown,
            },
            unhealthy,
        }
    }

    #[test]
    fn health_that_could_not_be_read_is_unknown_never_synced() {
        let r = Report {
            services: vec![svc(
                "a",
                None,
                "unknown (failed to list Deployments in namespace ns: connection refused)",
                false,
            )],
            ..Report::default()
        };
        let s = to_status(&r, &[], "abc", Duration::ZERO);
        let services = s.services.unwrap();
        assert_eq!(services[0].state, ServiceState::Unknown);
        assert_eq!(services[0].cause, Some(HEALTH_UNKNOWN));
        assert!(
            services[0]
                .error
                .as_deref()
                .unwrap()
                .contains("connection refused")
        );
    }

    #[test]
    fn all_applied_is_success_even_while_rolling_out() {
        let r = Report {
            services: vec![
                svc("a", None, "available", false),
                svc("b", None, "progressing (0/1)", false),
            ],
            ..Report::default()
        };
        let s = to_status(&r, &[], "abc", Duration::from_secs(1));
        assert_eq!(s.outcome, Outcome::Success);
        assert_eq!(s.error, None);
        let states: Vec<_> = s.services.unwrap().iter().map(|x| x.state).collect();
        assert_eq!(states, [ServiceState::Synced, ServiceState::Progressing]);
        assert_eq!(counts(&r), (2, 0, 0));
    }

    #[test]
    fn a_broken_service_makes_it_partial_and_names_the_error() {
        let r = Report {
            services: vec![
                svc("a", None, "available", false),
                svc(
                    "b",
                    Some(ServiceCause::SecretsUndecryptable(
                        "failed to decrypt".into(),
                    )),
                    "",
                    false,
                ),
            ],
            ..Report::default()
        };
        let invalid = vec![("ns".into(), "c".into(), "spec is invalid".into())];
        let s = to_status(&r, &invalid, "abc", Duration::ZERO);
        assert_eq!(s.outcome, Outcome::Partial);
        assert_eq!(s.error.as_deref(), Some("2 of 3 services failed"));
        let services = s.services.unwrap();
        assert_eq!(services[1].error.as_deref(), Some("failed to decrypt"));
        assert_eq!(services[2].state, ServiceState::Failed);
        // The cause comes from the variant, whatever the message says.
        let causes: Vec<_> = services.iter().map(|x| x.cause).collect();
        assert_eq!(
            causes,
            [None, Some("secretsUndecryptable"), Some("invalidSpec")]
        );
    }

    #[test]
    fn nothing_applied_is_failure() {
        let r = Report {
            services: vec![svc("a", Some(ServiceCause::NotLeading), "", false)],
            errors: vec![crate::reconcile::cause::RunError::NamespaceNotLeading {
                namespace: "x".into(),
            }],
            ..Report::default()
        };
        let s = to_status(&r, &[], "abc", Duration::ZERO);
        assert_eq!(s.outcome, Outcome::Failure);
        assert!(s.error.unwrap().contains("failed to create namespace x"));
        assert_eq!(object_action(&report::Outcome::Held), None);
        let degraded = Report {
            services: vec![svc("a", None, "failed (ProgressDeadlineExceeded)", true)],
            ..Report::default()
        };
        let s = to_status(&degraded, &[], "abc", Duration::ZERO);
        assert_eq!(s.outcome, Outcome::Success);
        let services = s.services.unwrap();
        assert_eq!(services[0].state, ServiceState::Degraded);
        assert_eq!(services[0].cause, Some(ROLLOUT_FAILED));
        assert!(
            services[0]
                .error
                .as_deref()
                .unwrap()
                .contains("ProgressDeadlineExceeded")
        );
        assert_eq!(
            object_action(&report::Outcome::Recreated),
            Some(ObjectAction::Configured)
        );
    }
}
