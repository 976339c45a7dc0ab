//! What is sent: a [`Notice`] of a typed [`NoticeKind`], its stable name ([`NoticeType`]), its
//! [`Severity`], its one human line and the key notices are deduplicated by.

use serde::{Deserialize, Serialize};

/// Something the daemon did or saw, for the receivers of notifications.
///
/// Every field holds only what the caller gives: no secret may be put in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The environment (`--env`) the daemon reconciles, if any.
    pub target: Option<String>,
    /// The git revision (commit id) concerned, if any.
    pub revision: Option<String>,
    /// What happened.
    pub kind: NoticeKind,
}

/// What happened; its fields become the body's `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum NoticeKind {
    /// A revision was applied.
    RevisionApplied {
        /// The services it changed, as `namespace/name`.
        changed: Vec<String>,
    },
    /// A reconcile failed as a whole.
    ReconcileFailed {
        /// A short typed cause label from the caller (`fetch`, `cluster`, …).
        cause: String,
        /// The error, one line.
        message: String,
    },
    /// A reconcile applied some services and failed others.
    ReconcilePartial {
        /// The services that failed, as `namespace/name`.
        failed: Vec<String>,
    },
    /// A service is not healthy.
    ServiceDegraded {
        /// The service, as `namespace/name`.
        service: String,
        /// Why.
        reason: String,
    },
    /// A canary rollout was promoted.
    RolloutPromoted {
        /// The service, as `namespace/name`.
        service: String,
    },
    /// A canary rollout was aborted.
    RolloutAborted {
        /// The service, as `namespace/name`.
        service: String,
        /// Why.
        reason: String,
    },
    /// An object changed in the cluster was set back to git's version.
    DriftCorrected {
        /// The object, as `Kind namespace/name`.
        object: String,
    },
    /// Pruning was refused (objects that left git are kept).
    PruneRefused {
        /// Why.
        reason: String,
    },
    /// A commit was not applied (e.g. its signature could not be verified).
    CommitRejected {
        /// Why.
        reason: String,
    },
}

/// The kind of a notice without its fields: the names of the config's `events` filter and of
/// the body's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeType {
    /// [`NoticeKind::RevisionApplied`].
    RevisionApplied,
    /// [`NoticeKind::ReconcileFailed`].
    ReconcileFailed,
    /// [`NoticeKind::ReconcilePartial`].
    ReconcilePartial,
    /// [`NoticeKind::ServiceDegraded`].
    ServiceDegraded,
    /// [`NoticeKind::RolloutPromoted`].
    RolloutPromoted,
    /// [`NoticeKind::RolloutAborted`].
    RolloutAborted,
    /// [`NoticeKind::DriftCorrected`].
    DriftCorrected,
    /// [`NoticeKind::PruneRefused`].
    PruneRefused,
    /// [`NoticeKind::CommitRejected`].
    CommitRejected,
}

impl NoticeType {
    /// The stable camelCase name (`revisionApplied`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeType::RevisionApplied => "revisionApplied",
            NoticeType::ReconcileFailed => "reconcileFailed",
            NoticeType::ReconcilePartial => "reconcilePartial",
            NoticeType::ServiceDegraded => "serviceDegraded",
            NoticeType::RolloutPromoted => "rolloutPromoted",
            NoticeType::RolloutAborted => "rolloutAborted",
            NoticeType::DriftCorrected => "driftCorrected",
            NoticeType::PruneRefused => "pruneRefused",
            NoticeType::CommitRejected => "commitRejected",
        }
    }

    /// How serious a notice of this kind is.
    pub fn severity(self) -> Severity {
        match self {
            NoticeType::RevisionApplied | NoticeType::RolloutPromoted => Severity::Info,
            NoticeType::DriftCorrected => Severity::Info,
            NoticeType::ReconcileFailed
            | NoticeType::ReconcilePartial
            | NoticeType::ServiceDegraded
            | NoticeType::RolloutAborted
            | NoticeType::PruneRefused
            | NoticeType::CommitRejected => Severity::Warning,
        }
    }
}

/// How serious a notice is (the body's `severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something went as intended.
    Info,
    /// Something needs a look.
    Warning,
}

impl Severity {
    /// `info` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
        }
    }
}

/// What makes two notices "the same" for deduplication (like Kubernetes Events): kind, target,
/// subject (service, object or list of services), revision and reason (or cause label). A
/// failure's free-text message is not part of it.
pub(crate) type DedupKey = (NoticeType, Option<String>, String, Option<String>, String);

impl NoticeKind {
    /// The kind without its fields.
    pub fn notice_type(&self) -> NoticeType {
        match self {
            NoticeKind::RevisionApplied { .. } => NoticeType::RevisionApplied,
            NoticeKind::ReconcileFailed { .. } => NoticeType::ReconcileFailed,
            NoticeKind::ReconcilePartial { .. } => NoticeType::ReconcilePartial,
            NoticeKind::ServiceDegraded { .. } => NoticeType::ServiceDegraded,
            NoticeKind::RolloutPromoted { .. } => NoticeType::RolloutPromoted,
            NoticeKind::RolloutAborted { .. } => NoticeType::RolloutAborted,
            NoticeKind::DriftCorrected { .. } => NoticeType::DriftCorrected,
            NoticeKind::PruneRefused { .. } => NoticeType::PruneRefused,
            NoticeKind::CommitRejected { .. } => NoticeType::CommitRejected,
        }
    }

    /// The services a message lists as bullets (Slack), if the kind has a list.
    pub(crate) fn services(&self) -> &[String] {
        match self {
            NoticeKind::RevisionApplied { changed } => changed,
            NoticeKind::ReconcilePartial { failed } => failed,
            _ => &[],
        }
    }

    /// `(subject, reason)` of the dedup key.
    fn subject_and_reason(&self) -> (String, String) {
        match self {
            NoticeKind::RevisionApplied { changed } => (changed.join(","), String::new()),
            NoticeKind::ReconcileFailed { cause, .. } => (String::new(), cause.clone()),
            NoticeKind::ReconcilePartial { failed } => (failed.join(","), String::new()),
            NoticeKind::ServiceDegraded { service, reason }
            | NoticeKind::RolloutAborted { service, reason } => (service.clone(), reason.clone()),
            NoticeKind::RolloutPromoted { service } => (service.clone(), String::new()),
            NoticeKind::DriftCorrected { object } => (object.clone(), String::new()),
            NoticeKind::PruneRefused { reason } | NoticeKind::CommitRejected { reason } => {
                (String::new(), reason.clone())
            }
        }
    }
}

impl Notice {
    /// The key of deduplication (see [`DedupKey`]).
    pub(crate) fn dedup_key(&self) -> DedupKey {
        let (subject, reason) = self.kind.subject_and_reason();
        let kind = self.kind.notice_type();
        (
            kind,
            self.target.clone(),
            subject,
            self.revision.clone(),
            reason,
        )
    }

    /// One human line: what happened, with the short revision where it helps; caller-given
    /// text is folded onto one line.
    pub fn message(&self) -> String {
        let rev = self.revision.as_deref().map(short_revision);
        // "Revision abc" or "Config"; " of revision abc" or ""; " abc" or "".
        let subject = rev.map_or_else(|| "Config".to_owned(), |r| format!("Revision {r}"));
        let of = rev.map_or_else(String::new, |r| format!(" of revision {r}"));
        let at = rev.map_or_else(String::new, |r| format!(" at revision {r}"));
        let bare = rev.map_or_else(String::new, |r| format!(" {r}"));
        let line = match &self.kind {
            NoticeKind::RevisionApplied { changed } => {
                format!("{subject} applied: {}", count(changed.len(), "changed"))
            }
            NoticeKind::ReconcileFailed { cause, message } => {
                format!("Reconcile{of} failed ({cause}): {message}")
            }
            NoticeKind::ReconcilePartial { failed } => {
                format!(
                    "{subject} partly applied: {}",
                    count(failed.len(), "failed")
                )
            }
            NoticeKind::ServiceDegraded { service, reason } => {
                format!("Service {service} is degraded: {reason}")
            }
            NoticeKind::RolloutPromoted { service } => {
                format!("Rollout of {service} promoted{at}")
            }
            NoticeKind::RolloutAborted { service, reason } => {
                format!("Rollout of {service} aborted{at}: {reason}")
            }
            NoticeKind::DriftCorrected { object } => {
                format!("Drift corrected: {object} was changed in the cluster and set back to git")
            }
            NoticeKind::PruneRefused { reason } => format!("Pruning refused{at}: {reason}"),
            NoticeKind::CommitRejected { reason } => format!("Commit{bare} rejected: {reason}"),
        };
        one_line(&line)
    }
}

/// "no service changed", "1 service failed", "2 services changed".
fn count(n: usize, what: &str) -> String {
    match n {
        0 => format!("no service {what}"),
        1 => format!("1 service {what}"),
        n => format!("{n} services {what}"),
    }
}

/// A git commit id (40 or 64 hex digits) shortened to 12; anything else as it is.
fn short_revision(revision: &str) -> &str {
    let is_commit_id =
        matches!(revision.len(), 40 | 64) && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_commit_id {
        &revision[..12]
    } else {
        revision
    }
}

/// The longest message line, in characters.
const MAX_LINE: usize = 1000;

/// `text` on one line (control characters become spaces, runs of spaces one), at most
/// [`MAX_LINE`] characters (then ending in `…`).
fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= MAX_LINE {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_LINE - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
#[path = "notice_tests.rs"]
mod tests;
