//! What the daemon tells notification receivers ([`crate::notifications`]) about a reconcile
//! (pure): the revision applied with the services it changed, drift corrected, a partial
//! reconcile, a degraded service, a canary promoted or aborted, a prune refused. Failed
//! reconciles and refused commits are told by [`failed`]. Every notice is built from typed
//! report fields and names only services, objects, revisions and reason labels: nothing of a
//! spec's values, let alone a secret, is ever part of one.

use crate::notifications::{Notice, NoticeKind};
use crate::reconcile::report::{HealthState, Report};
use crate::reconcile::rollout::decide::Event;
use crate::trigger::TriggerReason;

/// Why a reconcile failed altogether, as the `cause` of a `reconcileFailed` notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAt {
    /// Fetching the repo (git) or reading the directory.
    Fetch,
    /// Loading, planning or applying.
    Reconcile,
}

impl FailedAt {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailedAt::Fetch => "fetch",
            FailedAt::Reconcile => "reconcile",
        }
    }
}

/// The notices of a reconcile of `revision` started by `trigger` that got to apply.
pub fn of_reconcile(
    target: Option<&str>,
    revision: &str,
    trigger: TriggerReason,
    report: &Report,
) -> Vec<Notice> {
    let notice = |kind| Notice {
        target: target.map(str::to_owned),
        revision: Some(revision.to_owned()),
        kind,
    };
    let mut out = Vec::new();
    let changed: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.changed())
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    if trigger == TriggerReason::Drift {
        for s in &report.services {
            for o in s.objects.iter().filter(|o| o.outcome.is_change()) {
                let object = format!("{} {}/{}", o.kind, o.namespace, o.name);
                out.push(notice(NoticeKind::DriftCorrected { object }));
            }
        }
    } else if !changed.is_empty() {
        out.push(notice(NoticeKind::RevisionApplied { changed }));
    }
    let failed: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.error.is_some())
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    if !failed.is_empty() {
        out.push(notice(NoticeKind::ReconcilePartial { failed }));
    }
    for s in report
        .services
        .iter()
        .filter(|s| s.health_state == HealthState::Failed)
    {
        out.push(notice(NoticeKind::ServiceDegraded {
            service: format!("{}/{}", s.namespace, s.name),
            reason: "rolloutFailed".into(),
        }));
    }
    for r in &report.rollouts {
        let service = r.key.to_string();
        match &r.decision.event {
            Some(Event::Promoted { .. }) => {
                out.push(notice(NoticeKind::RolloutPromoted { service }));
            }
            Some(Event::Aborted(cause)) => out.push(notice(NoticeKind::RolloutAborted {
                service,
                reason: cause.label().into(),
            })),
            _ => {}
        }
    }
    if let Some(why) = &report.prune_refused {
        out.push(notice(NoticeKind::PruneRefused {
            reason: why.to_string(),
        }));
    }
    out
}

/// The notice of a reconcile that failed altogether; `refused` is the reason label of a commit
/// that was not applied because its signature did not verify.
pub fn failed(
    target: Option<&str>,
    revision: Option<&str>,
    at: FailedAt,
    message: &str,
    refused: Option<&str>,
) -> Notice {
    let kind = match refused {
        Some(reason) => NoticeKind::CommitRejected {
            reason: reason.to_owned(),
        },
        None => NoticeKind::ReconcileFailed {
            cause: at.as_str().to_owned(),
            message: message.to_owned(),
        },
    };
    Notice {
        target: target.map(str::to_owned),
        revision: revision.map(str::to_owned),
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::report::{ObjectOutcome, Outcome, ServiceReport};
    use crate::render::Kind;

    fn service(name: &str, outcome: Outcome) -> ServiceReport {
        ServiceReport {
            namespace: "ml".into(),
            name: name.into(),
            objects: vec![ObjectOutcome {
                kind: Kind::ConfigMap,
                namespace: "ml".into(),
                name: format!("{name}-config"),
                outcome,
            }],
            ..ServiceReport::default()
        }
    }

    #[test]
    fn a_revision_that_changed_services_names_them_and_a_no_op_says_nothing() {
        let report = Report {
            services: vec![
                service("a", Outcome::Configured),
                service("b", Outcome::Unchanged),
            ],
            ..Report::default()
        };
        let n = of_reconcile(Some("prod"), "abc", TriggerReason::Poll, &report);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].target.as_deref(), Some("prod"));
        assert!(
            matches!(&n[0].kind, NoticeKind::RevisionApplied { changed } if changed == &["ml/a".to_owned()])
        );
        let idle = Report {
            services: vec![service("a", Outcome::Unchanged)],
            ..Report::default()
        };
        assert!(of_reconcile(None, "abc", TriggerReason::Poll, &idle).is_empty());
    }

    #[test]
    fn a_heal_of_drift_is_told_per_object() {
        let report = Report {
            services: vec![service("a", Outcome::Configured)],
            ..Report::default()
        };
        let n = of_reconcile(None, "abc", TriggerReason::Drift, &report);
        assert_eq!(n.len(), 1);
        assert!(
            matches!(&n[0].kind, NoticeKind::DriftCorrected { object } if object == "ConfigMap ml/a-config")
        );
    }

    #[test]
    fn failures_degradations_and_refused_prunes_are_told() {
        let mut degraded = service("c", Outcome::Unchanged);
        degraded.health_state = HealthState::Failed;
        let mut broken = service("d", Outcome::Unchanged);
        broken.error = Some(crate::reconcile::cause::ServiceCause::InvalidSpec);
        let report = Report {
            services: vec![degraded, broken],
            prune_refused: Some(crate::reconcile::cause::PruneRefusal::WouldDeleteAll {
                managed: 3,
            }),
            ..Report::default()
        };
        let kinds: Vec<&'static str> = of_reconcile(None, "abc", TriggerReason::Poll, &report)
            .iter()
            .map(|n| n.kind.notice_type().as_str())
            .collect();
        assert_eq!(
            kinds,
            ["reconcilePartial", "serviceDegraded", "pruneRefused"]
        );
        let f = failed(Some("prod"), None, FailedAt::Fetch, "failed to fetch", None);
        assert!(matches!(&f.kind, NoticeKind::ReconcileFailed { cause, .. } if cause == "fetch"));
        let r = failed(None, Some("abc"), FailedAt::Fetch, "x", Some("unsigned"));
        assert!(matches!(&r.kind, NoticeKind::CommitRejected { reason } if reason == "unsigned"));
    }
}
