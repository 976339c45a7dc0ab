use serde_json::json;

use super::*;

const COMMIT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

fn notice(kind: NoticeKind) -> Notice {
    Notice {
        target: Some("prod".to_owned()),
        revision: Some(COMMIT.to_owned()),
        kind,
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

/// Every kind once, with its name, severity, line and metadata.
fn every_kind() -> Vec<(
    NoticeKind,
    &'static str,
    Severity,
    &'static str,
    serde_json::Value,
)> {
    use NoticeKind::*;
    use Severity::*;
    vec![
        (
            RevisionApplied {
                changed: vec![s("ml/a"), s("ml/b")],
            },
            "revisionApplied",
            Info,
            "Revision 0a1b2c3d4e5f applied: 2 services changed",
            json!({"changed": ["ml/a", "ml/b"]}),
        ),
        (
            ReconcileFailed {
                cause: s("fetch"),
                message: s("could not\nreach git"),
            },
            "reconcileFailed",
            Warning,
            "Reconcile of revision 0a1b2c3d4e5f failed (fetch): could not reach git",
            json!({"cause": "fetch", "message": "could not\nreach git"}),
        ),
        (
            ReconcilePartial {
                failed: vec![s("ml/a")],
            },
            "reconcilePartial",
            Warning,
            "Revision 0a1b2c3d4e5f partly applied: 1 service failed",
            json!({"failed": ["ml/a"]}),
        ),
        (
            ServiceDegraded {
                service: s("ml/a"),
                reason: s("0/2 replicas ready"),
            },
            "serviceDegraded",
            Warning,
            "Service ml/a is degraded: 0/2 replicas ready",
            json!({"service": "ml/a", "reason": "0/2 replicas ready"}),
        ),
        (
            RolloutPromoted { service: s("ml/a") },
            "rolloutPromoted",
            Info,
            "Rollout of ml/a promoted at revision 0a1b2c3d4e5f",
            json!({"service": "ml/a"}),
        ),
        (
            RolloutAborted {
                service: s("ml/a"),
                reason: s("error rate 0.2 > 0.05"),
            },
            "rolloutAborted",
            Warning,
            "Rollout of ml/a aborted at revision 0a1b2c3d4e5f: error rate 0.2 > 0.05",
            json!({"service": "ml/a", "reason": "error rate 0.2 > 0.05"}),
        ),
        (
            DriftCorrected {
                object: s("Deployment ml/a"),
            },
            "driftCorrected",
            Info,
            "Drift corrected: Deployment ml/a was changed in the cluster and set back to git",
            json!({"object": "Deployment ml/a"}),
        ),
        (
            PruneRefused {
                reason: s("3 of 4 objects would go"),
            },
            "pruneRefused",
            Warning,
            "Pruning refused at revision 0a1b2c3d4e5f: 3 of 4 objects would go",
            json!({"reason": "3 of 4 objects would go"}),
        ),
        (
            CommitRejected {
                reason: s("unsigned"),
            },
            "commitRejected",
            Warning,
            "Commit 0a1b2c3d4e5f rejected: unsigned",
            json!({"reason": "unsigned"}),
        ),
    ]
}

#[test]
fn every_kind_has_its_name_severity_line_and_metadata() {
    for (kind, name, severity, line, metadata) in every_kind() {
        let t = kind.notice_type();
        assert_eq!(t.as_str(), name);
        assert_eq!(t.severity(), severity, "{name}");
        let parsed: NoticeType = serde_json::from_value(json!(name)).unwrap();
        assert_eq!(parsed, t, "the config filter takes the same name");
        assert_eq!(serde_json::to_value(&kind).unwrap(), metadata, "{name}");
        assert_eq!(notice(kind).message(), line);
    }
}

#[test]
fn lines_without_revision_or_changes() {
    let mut n = notice(NoticeKind::RevisionApplied { changed: vec![] });
    n.revision = None;
    assert_eq!(n.message(), "Config applied: no service changed");
    n.kind = NoticeKind::ReconcileFailed {
        cause: s("cluster"),
        message: s("forbidden"),
    };
    assert_eq!(n.message(), "Reconcile failed (cluster): forbidden");
    n.revision = Some(s("working-tree"));
    n.kind = NoticeKind::CommitRejected { reason: s("x") };
    assert_eq!(
        n.message(),
        "Commit working-tree rejected: x",
        "not a commit id: kept"
    );
}

#[test]
fn a_long_message_is_cut_to_one_bounded_line() {
    let n = notice(NoticeKind::PruneRefused {
        reason: "word\t".repeat(1000),
    });
    let line = n.message();
    assert_eq!(line.chars().count(), MAX_LINE);
    assert!(line.ends_with('…'));
    assert!(!line.contains('\t') && !line.contains("  "));
}

#[test]
fn dedup_key_leaves_out_free_text_only() {
    let a = notice(NoticeKind::ReconcileFailed {
        cause: s("fetch"),
        message: s("one"),
    });
    let mut b = a.clone();
    b.kind = NoticeKind::ReconcileFailed {
        cause: s("fetch"),
        message: s("two"),
    };
    assert_eq!(a.dedup_key(), b.dedup_key());
    let mut other_target = a.clone();
    other_target.target = Some(s("staging"));
    assert_ne!(a.dedup_key(), other_target.dedup_key());
    let degraded = |reason: &str| {
        notice(NoticeKind::ServiceDegraded {
            service: s("ml/a"),
            reason: s(reason),
        })
        .dedup_key()
    };
    assert_ne!(
        degraded("x"),
        degraded("y"),
        "the reason is part of the key"
    );
}
