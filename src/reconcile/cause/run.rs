//! Failures outside any service: namespaces, prune guards.

use std::fmt;

use super::{ApiFailure, NOT_LEADING};
use crate::reconcile::keys::ServiceKey;

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
    /// A rollout's state could not be kept on its stable Deployment.
    RolloutState {
        /// The service.
        service: ServiceKey,
        /// What the API server said.
        api: ApiFailure,
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
            RunError::RolloutState { service, api } => {
                write!(f, "failed to record the rollout state of {service}: {api}")
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
