use super::*;
use crate::render::Kind;

/// The JSON and text outputs keep the wording of the string errors these types replaced.
#[test]
fn messages_read_as_before() {
    let object = ObjectRef::new(Kind::Deployment, "ml", "iris");
    let conflict = ServiceCause::Conflict(vec![(
        object.clone(),
        Conflict::OtherSource {
            other: "old".into(),
            ours: "new".into(),
        },
    )]);
    assert_eq!(
        conflict.to_string(),
        "conflict: Deployment ml/iris is managed by mlsync source old, not by this one (new); if old is an earlier id of this repo, set `sourceId: old` in mlsync.yaml (or --source-id old) to manage it again"
    );
    let failed = ServiceCause::ApplyFailed {
        object,
        failure: Box::new(ObjectFailure {
            op: WriteOp::HandOver,
            api: ApiFailure::Status {
                code: 403,
                reason: "Forbidden".into(),
                message: "no".into(),
            },
        }),
    };
    assert_eq!(
        failed.to_string(),
        "failed to apply Deployment ml/iris: failed to hand spec.replicas over to the HPA: no (Forbidden)"
    );
    assert_eq!(
        ServiceCause::NamespaceMissing {
            namespace: "ml".into()
        }
        .to_string(),
        "namespace ml does not exist (create it, or set createNamespaces: true in mlsync.yaml)"
    );
    assert_eq!(
        PruneRefusal::OverFraction {
            prune: 3,
            managed: 4,
            max_fraction: 0.5
        }
        .to_string(),
        "it would delete 3 of 4 managed objects, more than --max-prune-fraction 0.5 (use --allow-mass-prune if that is intended)"
    );
    assert_eq!(
        RunError::NamespaceNotLeading {
            namespace: "x".into()
        }
        .to_string(),
        format!("failed to create namespace x: {NOT_LEADING}")
    );
}
