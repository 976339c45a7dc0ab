//! Why a service was not applied and why a write failed, as types (pure).
//!
//! Every decision about a failure (Event reason, metric label, `/status` state, exit code,
//! rollback) matches on these variants; their `Display` is only for people and keeps the wording
//! of earlier versions, so the text and JSON output read as before.

mod api;
mod run;

use std::fmt;

pub use api::{ApiFailure, InventoryFailure, ObjectFailure, WriteOp};
pub use run::{PruneRefusal, RunError};

use super::keys::ObjectRef;

/// Why writes stopped when leadership ended during a run.
pub const NOT_LEADING: &str = "this replica stopped leading; nothing more was written";
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
#[cfg(test)]
mod tests;
