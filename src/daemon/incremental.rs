//! Incremental reconciles: which services a reconcile must look at, from what git changed and
//! what the drift watch saw (see [`crate::reconcile::focus`]).
//!
//! After a reconcile that succeeded, the daemon keeps a [`Basis`]: a digest of what each
//! service is rendered from (its parsed spec, namespace and encrypted secrets file) and of what
//! every service shares (`mlsync.yaml`, the ownership id), and each service's result. The next
//! reconcile looks only at the services whose digest changed, that left git, or that the drift
//! watch reports something about (drift, or any status change, such as a rollout progressing),
//! or whose health could not be read last time:
//! every other service is exactly as a plan of the same inputs left it, and keeps its result. A change to the shared inputs, a watch that cannot vouch for the cluster, a pinned
//! rollback, or a focus of more than half the services makes it a whole reconcile.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::admin::status::{Outcome, ReconcileReport, ServiceResult, ServiceState};
use crate::reconcile::focus::Focus;
use crate::reconcile::keys::ServiceKey;
use crate::repo::Repo;

/// What the services of one repo load are rendered from, as digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    shared: [u8; 32],
    services: BTreeMap<ServiceKey, [u8; 32]>,
}

/// Digests what each service of `repo` is rendered from with the ownership id `source_id`
/// (I/O: reads each secrets file again, still encrypted). `None` when the load is not clean
/// (invalid specs or config, unreadable files, a secrets file that cannot be read): then only a
/// whole reconcile can tell what to do.
pub fn inputs(repo: &Repo, source_id: &str) -> Option<Inputs> {
    if !repo.is_valid() || !repo.invalid.is_empty() || !repo.unreadable_files.is_empty() {
        return None;
    }
    let mut shared = Sha256::new();
    shared.update(serde_json::to_vec(&repo.config).ok()?);
    shared.update([0]);
    shared.update(source_id.as_bytes());
    let mut services = BTreeMap::new();
    for svc in &repo.services {
        let mut d = Sha256::new();
        d.update(serde_json::to_vec(&svc.spec).ok()?);
        d.update([0]);
        d.update(svc.namespace.as_bytes());
        if let Some(r) = &svc.spec.spec.secrets {
            let path = repo.resolve(&r.file).ok()?;
            d.update([0]);
            d.update(std::fs::read(path).ok()?);
        }
        let key = ServiceKey::new(&svc.namespace, &svc.spec.metadata.name);
        services.insert(key, d.finalize().into());
    }
    Some(Inputs {
        shared: shared.finalize().into(),
        services,
    })
}

/// What the last successful reconcile left: its revision, its inputs and each service's
/// result.
#[derive(Debug, Clone)]
pub struct Basis {
    revision: String,
    inputs: Inputs,
    results: BTreeMap<ServiceKey, ServiceResult>,
}

impl Basis {
    /// The basis for the next reconcile after one of `inputs` that ended as `status`; `None`
    /// unless it succeeded with nothing held back (then the next reconcile is a whole one).
    pub fn after(inputs: Option<Inputs>, status: &ReconcileReport) -> Option<Basis> {
        let services = status.services.as_ref()?;
        if status.outcome != Outcome::Success
            || status.prune_refused.is_some()
            || !status.kept_services.is_empty()
        {
            return None;
        }
        Some(Basis {
            revision: status.revision.clone()?,
            inputs: inputs?,
            results: services
                .iter()
                .map(|s| (ServiceKey::new(&s.namespace, &s.name), s.clone()))
                .collect(),
        })
    }

    /// Whether this basis is of `revision`.
    pub fn is_of(&self, revision: &str) -> bool {
        self.revision == revision
    }

    /// The focus of a reconcile of `next`, where the drift watch vouches for every service but
    /// those in `attention`, and `counts` says how many objects each service has. `None`: a
    /// whole reconcile.
    pub fn focus(
        &self,
        next: &Inputs,
        attention: &BTreeSet<ServiceKey>,
        counts: &BTreeMap<ServiceKey, usize>,
    ) -> Option<Focus> {
        if next.shared != self.inputs.shared {
            return None;
        }
        let before = &self.inputs.services;
        let known = |k: &ServiceKey| before.contains_key(k) || next.services.contains_key(k);
        let mut services: BTreeSet<ServiceKey> = next
            .services
            .iter()
            .filter(|(k, d)| before.get(*k) != Some(*d))
            .map(|(k, _)| k.clone())
            .collect();
        services.extend(
            before
                .keys()
                .filter(|k| !next.services.contains_key(*k))
                .cloned(),
        );
        services.extend(attention.iter().filter(|k| known(k)).cloned());
        // A health that could not be read is not something the watch would report changing.
        services.extend(
            self.results
                .iter()
                .filter(|(k, r)| r.state == ServiceState::Unknown && known(k))
                .map(|(k, _)| k.clone()),
        );
        if services.len() * 2 > next.services.len() {
            return None;
        }
        let managed_elsewhere = counts
            .iter()
            .filter(|(k, _)| !services.contains(*k))
            .map(|(_, n)| n)
            .sum();
        Some(Focus {
            services,
            managed_elsewhere,
        })
    }
}

/// Completes the status of a reconcile that looked at the services of `focus` only: nothing
/// happened to the other services in git (`in_git`) since `basis`, so their results stand.
pub fn complete(status: &mut ReconcileReport, in_git: &[ServiceKey], focus: &Focus, basis: &Basis) {
    let Some(services) = status.services.as_mut() else {
        return;
    };
    for key in in_git.iter().filter(|k| !focus.services.contains(*k)) {
        if let Some(r) = basis.results.get(key) {
            services.push(r.clone());
        }
    }
}

/// The services of `repo`, by key.
pub fn in_git(repo: &Repo) -> Vec<ServiceKey> {
    repo.services
        .iter()
        .map(|s| ServiceKey::new(&s.namespace, &s.spec.metadata.name))
        .collect()
}

#[cfg(test)]
#[path = "incremental_tests.rs"]
mod tests;
