//! What the API server said when it refused a request, and which request it was.

use std::fmt;

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
