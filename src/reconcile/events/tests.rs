use super::*;
use crate::reconcile::cause::{
    ApiFailure, Conflict, ObjectFailure, PruneRefusal, RunError, WriteOp,
};
use crate::reconcile::keys::ObjectRef;
use crate::reconcile::report::ServiceReport;

fn denied(op: WriteOp) -> ObjectFailure {
    ObjectFailure {
        op,
        api: ApiFailure::Status {
            code: 403,
            reason: String::new(),
            message: "denied".into(),
        },
    }
}

fn obj(kind: Kind, name: &str, outcome: Outcome) -> ObjectOutcome {
    ObjectOutcome {
        kind,
        namespace: "ml".into(),
        name: name.into(),
        outcome,
    }
}

fn svc(name: &str, objects: Vec<ObjectOutcome>, error: Option<ServiceCause>) -> ServiceReport {
    ServiceReport {
        namespace: "ml".into(),
        name: name.into(),
        objects,
        error,
        ..Default::default()
    }
}

fn ctx(invalid: &[InvalidService]) -> Context<'_> {
    Context {
        revision: Some("0123456789abcdef0123"),
        home_namespace: "home",
        source_id: "my.repo",
        invalid,
    }
}

fn deployment(name: &str) -> Target {
    Target::new(Kind::Deployment, "ml", name)
}

fn inventory() -> Target {
    Target::new(Kind::ConfigMap, "home", "mlsync-inventory-my-repo")
}

#[test]
fn a_no_op_reconcile_emits_nothing() {
    let report = Report {
        services: vec![svc(
            "iris",
            vec![
                obj(Kind::ConfigMap, "iris-config", Outcome::Unchanged),
                obj(Kind::Deployment, "iris", Outcome::Unchanged),
            ],
            None,
        )],
        prune_held: vec![obj(Kind::Service, "old", Outcome::Held)],
        ..Default::default()
    };
    assert_eq!(plan_events(&report, &ctx(&[])), vec![]);
    assert_eq!(plan_events(&Report::default(), &ctx(&[])), vec![]);
}

#[test]
fn a_changed_service_gets_one_applied_event_about_its_deployment() {
    let mut s = svc(
        "iris",
        vec![
            obj(Kind::ConfigMap, "iris-config", Outcome::Configured),
            obj(Kind::Secret, "iris-secrets", Outcome::Unchanged),
            obj(Kind::Deployment, "iris", Outcome::Created),
        ],
        None,
    );
    s.health = Some("progressing".into());
    let report = Report {
        services: vec![s, svc("other", vec![], None)],
        ..Default::default()
    };
    let events = plan_events(&report, &ctx(&[]));
    assert_eq!(
        events,
        vec![PlannedEvent {
            type_: EventType::Normal,
            reason: "Applied",
            action: "Apply",
            note: "applied revision 0123456789ab: configmap/iris-config configured, deployment/iris created; rollout: progressing".into(),
            regarding: deployment("iris"),
            fallback: Some(inventory()),
        }]
    );
}

#[test]
fn a_directory_is_named_working_tree() {
    let report = Report {
        services: vec![svc(
            "iris",
            vec![obj(Kind::Deployment, "iris", Outcome::Configured)],
            None,
        )],
        ..Default::default()
    };
    let c = Context {
        revision: None,
        ..ctx(&[])
    };
    assert_eq!(
        plan_events(&report, &c)[0].note,
        "applied working tree: deployment/iris configured"
    );
}

#[test]
fn failures_are_warnings_naming_the_cause() {
    let report = Report {
        services: vec![
            svc(
                "a",
                vec![
                    obj(Kind::ConfigMap, "a-config", Outcome::Configured),
                    obj(
                        Kind::Deployment,
                        "a",
                        Outcome::Failed(denied(WriteOp::Apply)),
                    ),
                ],
                Some(ServiceCause::ApplyFailed {
                    object: ObjectRef::new(Kind::Deployment, "ml", "a"),
                    failure: Box::new(denied(WriteOp::Apply)),
                }),
            ),
            svc(
                "b",
                vec![],
                Some(ServiceCause::SecretsUndecryptable(
                    "failed to decrypt secrets/b.enc.yaml: MAC check failed".into(),
                )),
            ),
            svc(
                "c",
                vec![obj(Kind::Deployment, "c", Outcome::Skipped)],
                Some(ServiceCause::Conflict(vec![(
                    ObjectRef::new(Kind::Deployment, "ml", "c"),
                    Conflict::Unmanaged,
                )])),
            ),
            svc(
                "d",
                vec![],
                Some(ServiceCause::NamespaceMissing {
                    namespace: "ml".into(),
                }),
            ),
            // The reason comes from the cause, not from how its text begins: a render error
            // worded like a secrets error is still no decryption failure.
            svc(
                "f",
                vec![],
                Some(ServiceCause::RenderFailed(
                    "failed to read the model card: conflict: x".into(),
                )),
            ),
        ],
        errors: vec![RunError::CreateNamespace {
            namespace: "x".into(),
            api: ApiFailure::Transport("forbidden".into()),
        }],
        ..Default::default()
    };
    let invalid = [InvalidService {
        namespace: "ml".into(),
        name: "e".into(),
    }];
    let events = plan_events(&report, &ctx(&invalid));
    let got: Vec<(EventType, &str, &str)> = events
        .iter()
        .map(|e| (e.type_, e.reason, e.regarding.name.as_str()))
        .collect();
    let w = EventType::Warning;
    assert_eq!(
        got,
        vec![
            (w, "ApplyFailed", "a"),
            (w, "DecryptFailed", "b"),
            (w, "Conflict", "c"),
            (w, "NotApplied", "d"),
            (w, "NotApplied", "f"),
            (w, "InvalidSpec", "e"),
            (w, "ReconcileFailed", "mlsync-inventory-my-repo"),
        ]
    );
    assert_eq!(
        events[0].note,
        "failed to apply deployment/a (revision 0123456789ab): denied; applied before the failure: configmap/a-config configured"
    );
    assert!(events[1].note.contains("MAC check failed"));
    assert!(
        events[5]
            .note
            .contains("nothing of it was applied or pruned")
    );
    assert_eq!(events[5].fallback, Some(inventory()));
}

#[test]
fn prunes_are_about_the_deleted_object_and_refusals_about_the_inventory() {
    let report = Report {
        pruned: vec![
            obj(Kind::Service, "gone", Outcome::Pruned),
            obj(
                Kind::Secret,
                "stuck",
                Outcome::Failed(denied(WriteOp::Delete)),
            ),
        ],
        ..Default::default()
    };
    let events = plan_events(&report, &ctx(&[]));
    assert_eq!(events[0].type_, EventType::Normal);
    assert_eq!(events[0].reason, "Pruned");
    assert_eq!(
        events[0].regarding,
        Target::new(Kind::Service, "ml", "gone")
    );
    assert_eq!(
        events[0].note,
        "deleted service/gone: it left git (revision 0123456789ab)"
    );
    assert_eq!(
        (events[1].type_, events[1].reason),
        (EventType::Warning, "PruneFailed")
    );

    let refused = Report {
        prune_held: vec![obj(Kind::Deployment, "x", Outcome::Held)],
        prune_refused: Some(PruneRefusal::WouldDeleteAll { managed: 1 }),
        ..Default::default()
    };
    let events = plan_events(&refused, &ctx(&[]));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "PruneRefused");
    assert_eq!(events[0].regarding, inventory());
    assert!(
        events[0]
            .note
            .ends_with("kept 1 objects that left git: deployment/x")
    );
}

#[test]
fn a_failed_rollout_of_a_change_is_a_warning_but_a_standing_one_is_quiet() {
    let mut s = svc(
        "iris",
        vec![obj(Kind::Deployment, "iris", Outcome::Configured)],
        None,
    );
    s.unhealthy = true;
    s.health = Some("failed: ProgressDeadlineExceeded".into());
    let mut report = Report {
        services: vec![s],
        ..Default::default()
    };
    let events = plan_events(&report, &ctx(&[]));
    assert_eq!(
        (events[0].type_, events[0].reason),
        (EventType::Warning, "RolloutFailed")
    );
    report.services[0].objects[0].outcome = Outcome::Unchanged;
    assert_eq!(plan_events(&report, &ctx(&[])), vec![]);
}

#[test]
fn notes_fit_the_api_limit_on_a_character_boundary() {
    let objects = (0..200)
        .map(|i| obj(Kind::ConfigMap, &format!("ü-{i}"), Outcome::Configured))
        .collect();
    let report = Report {
        services: vec![svc("iris", objects, None)],
        ..Default::default()
    };
    let n = &plan_events(&report, &ctx(&[]))[0].note;
    assert!(
        n.len() <= NOTE_LIMIT && n.len() > NOTE_LIMIT - 8,
        "{}",
        n.len()
    );
    assert!(n.ends_with('…'));
    assert_eq!(note("short".into()), "short");
}
