//! Why a service was not applied and why a write failed, as types (pure).
//!
//! Every decision about a failure (Event reason, metric label, `/status` state, exit code,
//! rollback) matches on these variants; their `Display` is only for people and keeps the wording
//! of earlier versions, so the text and JSON output read as before.

use std::fmt;

use super::keys::ObjectRef;

/// Why writes stopped when leadership ended during a run.
pub const NOT_LEADING: &str = "this replica stopped leading; nothing more was written";

/// What the API server answered when it refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailure {
    /// A `Status` from the API server, as it sent it.
    Status {
        /// HTTP status code (`403`, `409`, `422`, …).
        code: u16,
        /// Machine-readable reason (`Forbidden`, `Invalid`, …); may be empty.
        reason: String,
        /// The server's message.
        message: String,
    },
    /// No status: the request got no answer from the API server (connection, TLS, decoding),
    /// as the client printed it.
    Transport(String),
}

impl ApiFailure {
    /// The failure of a kube request.
    pub fn from_kube(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => ApiFailure::Status {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            other => ApiFailure::Transport(other.to_string()),
        }
    }

    /// The HTTP status code, when the API server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiFailure::Status { code, .. } => Some(*code),
            ApiFailure::Transport(_) => None,
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiFailure::Status {
                reason, message, ..
            } if reason.is_empty() => f.write_str(message),
            ApiFailure::Status {
                reason, message, ..
            } => write!(f, "{message} ({reason})"),
            ApiFailure::Transport(t) => f.write_str(t),
        }
    }
}

/// Which write of an object the API server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// Server-side apply of the object.
    Apply,
    /// Handing `spec.replicas` over to the HPA's field manager.
    HandOver,
    /// Deleting it to re-create it (`--recreate`).
    DeleteForRecreate,
    /// Waiting until the deleted object is gone.
    WaitForDeletion,
    /// Creating it again after the delete.
    Recreate,
    /// Deleting it (prune, or an HPA removed before its Deployment gets fixed replicas).
    Delete,
}

/// One request about an object that failed: which, and what the API server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The request.
    pub op: WriteOp,
    /// The answer.
    pub api: ApiFailure,
}

impl fmt::Display for ObjectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = &self.api;
        match self.op {
            WriteOp::Apply => write!(f, "{api}"),
            WriteOp::HandOver => write!(f, "failed to hand spec.replicas over to the HPA: {api}"),
            WriteOp::DeleteForRecreate => write!(f, "failed to delete for re-creation: {api}"),
            WriteOp::WaitForDeletion => write!(f, "failed to wait for deletion: {api}"),
            WriteOp::Recreate => write!(f, "failed to re-create: {api}"),
            WriteOp::Delete => write!(f, "failed to delete: {api}"),
        }
    }
}

/// Why an object with a desired name cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// It exists and mlsync does not manage it.
    Unmanaged,
    /// Another mlsync source manages it.
    OtherSource {
        /// Its source id.
        other: String,
        /// This run's source id.
        ours: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Unmanaged => {
                f.write_str("exists and is not managed by mlsync (use --adopt to take it over)")
            }
            Conflict::OtherSource { other: s, ours } => write!(
                f,
                "is managed by mlsync source {s}, not by this one ({ours}); if {s} is an earlier id of this repo, set `sourceId: {s}` in mlsync.yaml (or --source-id {s}) to manage it again"
            ),
        }
    }
}

/// The inventory ConfigMap could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryFailure {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What the API server said.
    pub api: ApiFailure,
}

impl fmt::Display for InventoryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to write inventory ConfigMap {}/{}: {}",
            self.namespace, self.name, self.api
        )
    }
}

/// Why a service is not (fully) applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCause {
    /// Its spec is invalid (run `mlsync validate`).
    InvalidSpec,
    /// Its namespace does not exist and mlsync.yaml does not ask to create it.
    NamespaceMissing {
        /// The namespace.
        namespace: String,
    },
    /// Its SOPS secrets file could not be read or decrypted (the error, which never holds a
    /// secret value).
    SecretsUndecryptable(String),
    /// Rendering its objects failed.
    RenderFailed(String),
    /// Objects with its names belong to someone else.
    Conflict(Vec<(ObjectRef, Conflict)>),
    /// Immutable fields of an object changed and `--recreate` was not given.
    ImmutableFieldChanged {
        /// The object.
        object: ObjectRef,
        /// The fields (`spec.selector`, …).
        fields: Vec<String>,
    },
    /// Its namespace is not recorded in the inventory, which could not be written.
    NotRecorded {
        /// The namespace.
        namespace: String,
        /// Why the inventory was not written.
        why: Box<InventoryFailure>,
    },
    /// This replica stopped leading before (all of) it was written.
    NotLeading,
    /// The API server refused a write of one of its objects; later ones were not written.
    ApplyFailed {
        /// The object.
        object: ObjectRef,
        /// The failed request.
        failure: Box<ObjectFailure>,
    },
}

impl ServiceCause {
    /// A short, stable name of the variant (the `cause` field of the JSON output).
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceCause::InvalidSpec => "invalidSpec",
            ServiceCause::NamespaceMissing { .. } => "namespaceMissing",
            ServiceCause::SecretsUndecryptable(_) => "secretsUndecryptable",
            ServiceCause::RenderFailed(_) => "renderFailed",
            ServiceCause::Conflict(_) => "conflict",
            ServiceCause::ImmutableFieldChanged { .. } => "immutableFieldChanged",
            ServiceCause::NotRecorded { .. } => "notRecorded",
            ServiceCause::NotLeading => "notLeading",
            ServiceCause::ApplyFailed { .. } => "applyFailed",
        }
    }
}

impl fmt::Display for ServiceCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceCause::InvalidSpec => f.write_str(
                "spec is invalid (run mlsync validate); the cluster keeps its previous state",
            ),
            ServiceCause::NamespaceMissing { namespace } => write!(
                f,
                "namespace {namespace} does not exist (create it, or set createNamespaces: true in mlsync.yaml)"
            ),
            ServiceCause::SecretsUndecryptable(e) | ServiceCause::RenderFailed(e) => f.write_str(e),
            ServiceCause::Conflict(objects) => {
                f.write_str("conflict: ")?;
                for (i, (o, why)) in objects.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{o} {why}")?;
                }
                Ok(())
            }
            ServiceCause::ImmutableFieldChanged { object, fields } => write!(
                f,
                "failed to apply {object}: field is immutable: {} changed (re-run with --recreate to delete and re-create the object)",
                fields.join(", ")
            ),
            ServiceCause::NotRecorded { namespace, why } => write!(
                f,
                "not applied: namespace {namespace} is not recorded in the inventory ({why})"
            ),
            ServiceCause::NotLeading => f.write_str(NOT_LEADING),
            ServiceCause::ApplyFailed { object, failure } => {
                write!(f, "failed to apply {object}: {failure}")
            }
        }
    }
}

/// A failure outside any service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// A namespace could not be created.
    CreateNamespace {
        /// The namespace.
        namespace: String,
        /// What the API server said.
        api: ApiFailure,
    },
    /// A namespace was not created: this replica does not lead.
    NamespaceNotLeading {
        /// The namespace.
        namespace: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::CreateNamespace { namespace, api } => {
                write!(f, "failed to create namespace {namespace}: {api}")
            }
            RunError::NamespaceNotLeading { namespace } => {
                write!(f, "failed to create namespace {namespace}: {NOT_LEADING}")
            }
        }
    }
}

/// Why a prune guard kept objects that left git.
#[derive(Debug, Clone, PartialEq)]
pub enum PruneRefusal {
    /// The repo could not be read completely (the load's reason).
    RepoIncomplete(String),
    /// It would delete every managed object.
    WouldDeleteAll {
        /// How many.
        managed: usize,
    },
    /// It would delete more than `--max-prune-fraction` of them.
    OverFraction {
        /// Objects to delete.
        prune: usize,
        /// Managed objects.
        managed: usize,
        /// The limit.
        max_fraction: f64,
    },
    /// This replica stopped leading before the prunes.
    NotLeading {
        /// Prunes held.
        held: usize,
    },
}

impl fmt::Display for PruneRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneRefusal::RepoIncomplete(b) => {
                write!(f, "the repo could not be read completely ({b})")
            }
            PruneRefusal::WouldDeleteAll { managed } => write!(
                f,
                "it would delete all {managed} managed objects (use --allow-mass-prune if that is intended)"
            ),
            PruneRefusal::OverFraction {
                prune,
                managed,
                max_fraction,
            } => write!(
                f,
                "it would delete {prune} of {managed} managed objects, more than --max-prune-fraction {max_fraction} (use --allow-mass-prune if that is intended)"
            ),
            PruneRefusal::NotLeading { held } => write!(f, "{NOT_LEADING}: {held} prunes held"),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
