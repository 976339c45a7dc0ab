//! What the daemon reports about itself: the `/status` JSON document and how a reconcile
//! result updates it. Pure data and logic, no I/O; shared by the server and `mlsync status`.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a whole reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every object was applied or pruned.
    Success,
    /// Nothing could be applied (e.g. fetch or validation failed).
    Failure,
    /// Some services were applied, others failed.
    Partial,
}

impl Outcome {
    /// Every outcome, for pre-creating metric series.
    pub const ALL: [Outcome; 3] = [Self::Success, Self::Failure, Self::Partial];

    /// The lowercase name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Partial => "partial",
        }
    }
}

/// Where one MLService stands after the last reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Applied at the current revision and available.
    Synced,
    /// Applied; the rollout has not finished yet.
    Progressing,
    /// Applied, but the workload is not available.
    Degraded,
    /// Rendering or applying failed; the cluster keeps an older revision.
    Failed,
    /// Applied (or kept), but its health could not be read (e.g. the API server stopped
    /// answering): nothing is claimed.
    Unknown,
}

impl ServiceState {
    /// Every state, so the status gauge can show 0 for the states a service is not in.
    pub const ALL: [ServiceState; 5] = [
        Self::Synced,
        Self::Progressing,
        Self::Degraded,
        Self::Failed,
        Self::Unknown,
    ];

    /// The lowercase name used in JSON, tables and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Progressing => "progressing",
            Self::Degraded => "degraded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the service runs the revision of this reconcile.
    pub fn is_applied(self) -> bool {
        !matches!(self, Self::Failed)
    }
}

/// The result for one service, as the reconcile loop hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResult {
    /// The MLService name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Where it stands now.
    pub state: ServiceState,
    /// Why it is not synced, if it is not (never containing secret values).
    pub error: Option<String>,
    /// The cause of `error` as a stable name (`secretsUndecryptable`, `rolloutFailed`, …; see
    /// docs/admin.md), for scripts and alerts: never parse `error`.
    pub cause: Option<&'static str>,
    /// Its canary rollout, in words (`canary step 2/3 at 50% …`), when one runs or was aborted.
    pub rollout: Option<String>,
}

/// Pruning that a guard refused: objects that left git were kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneRefusal {
    /// Why the guard refused (e.g. it would delete all managed objects).
    pub reason: String,
    /// How many objects that left git were kept.
    pub held_objects: usize,
}

/// A service identified by (namespace, name).
pub type ServiceKey = (String, String);

/// Everything the loop records about one reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileReport {
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
    /// The git revision it worked on, if the fetch got that far.
    pub revision: Option<String>,
    /// The error that stopped it or the summary of what failed.
    pub error: Option<String>,
    /// Every service managed after this reconcile (services missing here are forgotten), or
    /// `None` when the reconcile stopped before it got to services (e.g. the fetch failed):
    /// then the previous per-service status is kept.
    pub services: Option<Vec<ServiceResult>>,
    /// Why pruning was refused, if it was.
    pub prune_refused: Option<PruneRefusal>,
    /// Services that left git but whose objects were kept (pruning refused or off): they
    /// still run, so they keep their status (not forgotten like services that are gone).
    pub kept_services: Vec<ServiceKey>,
}

/// The last reconcile, as shown in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReconcile {
    /// When it finished (RFC 3339).
    pub time: Timestamp,
    /// How it ended.
    pub outcome: Outcome,
    /// Its error, if any.
    pub error: Option<String>,
}

/// One service, as shown in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The MLService name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Where it stands.
    pub state: ServiceState,
    /// The last revision that was applied to it, if any.
    pub applied_revision: Option<String>,
    /// When its state, applied revision or error last changed (RFC 3339).
    pub last_change: Timestamp,
    /// Its current error, if any.
    pub last_error: Option<String>,
    /// The cause of `last_error` as a stable name (see [`ServiceResult::cause`]).
    #[serde(default)]
    pub last_cause: Option<String>,
    /// Its canary rollout, in words, when one runs or was aborted (see docs/rollouts.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
}

/// The error of a service first seen after it left git, kept because pruning was refused.
pub const KEPT: &str =
    "left git; its objects were kept because pruning was refused or is off (see pruneRefused)";

/// The cause of [`KEPT`].
pub const KEPT_CAUSE: &str = "keptAfterLeavingGit";

/// The `/status` document; also the daemon's in-memory status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    /// The target (a cluster of the daemon config) this status is of; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// True once a reconcile has succeeded (stays true afterwards).
    pub ready: bool,
    /// The last revision applied by a successful or partial reconcile.
    pub revision: Option<String>,
    /// The last reconcile of any outcome, if one ran.
    pub last_reconcile: Option<LastReconcile>,
    /// Every managed service, sorted by namespace then name: those in git, and those that left
    /// git but still run because pruning was refused.
    pub services: Vec<ServiceStatus>,
    /// Set while the last reconcile that got to pruning refused it; `null` otherwise.
    pub prune_refused: Option<PruneRefusal>,
    /// Objects changed behind mlsync's back, as the drift watch sees them.
    #[serde(default)]
    pub drift: super::drift::DriftStatus,
    /// `--allowed-signers`: the fetched commit whose signature was refused, so that nothing of
    /// it was applied; absent again once a fetched commit verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified_commit: Option<UnverifiedCommit>,
}

/// The cause of [`UnverifiedCommit`]: a commit not applied because its signature was refused.
pub const COMMIT_UNVERIFIED: &str = "commitUnverified";

/// A fetched commit not applied because its signature was refused (`--allowed-signers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnverifiedCommit {
    /// The refused commit.
    pub revision: String,
    /// Always [`COMMIT_UNVERIFIED`], the cause name scripts and alerts match on.
    pub cause: String,
    /// Why, as a stable name (`unsigned`, `unknownKey`, `badSignature`, …; see
    /// `VerifyError::reason` and docs/daemon.md#signed-commits): never parse `error`.
    pub reason: String,
    /// The message.
    pub error: String,
    /// When this commit was first refused for this reason (RFC 3339).
    pub since: Timestamp,
}

/// The outcome of verifying a fetched commit's signature, as the loop hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitVerification<'a> {
    /// The signature is good.
    Verified,
    /// The commit was not applied.
    Refused {
        /// The refused commit.
        revision: &'a str,
        /// `VerifyError::reason`.
        reason: &'static str,
        /// The message.
        error: &'a str,
    },
}

impl CommitVerification<'_> {
    /// The `result` label of `mlsync_commit_verifications_total`: `verified` or the reason.
    pub fn result(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Refused { reason, .. } => reason,
        }
    }
}

impl super::AdminState {
    /// Records a commit verification: counted in `mlsync_commit_verifications_total`, and a
    /// refused commit shown in `/status` (`unverifiedCommit`) until a fetched commit verifies.
    pub fn record_commit_verification(&self, verification: CommitVerification<'_>) {
        self.metrics
            .count_commit_verification(verification.result());
        self.status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .commit_verification(verification, Timestamp::now());
    }

    /// Clears `unverifiedCommit` without counting a verification: another target's fetch
    /// verified the commit this target now applies.
    pub fn clear_unverified_commit(&self) {
        self.status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unverified_commit = None;
    }
}

impl DaemonStatus {
    /// Folds a commit verification into the status, as of `now`: a refused commit is shown
    /// (keeping `since` while the same commit is refused for the same reason), a verified one
    /// clears it.
    pub fn commit_verification(&mut self, verification: CommitVerification<'_>, now: Timestamp) {
        let CommitVerification::Refused {
            revision,
            reason,
            error,
        } = verification
        else {
            self.unverified_commit = None;
            return;
        };
        let since = match &self.unverified_commit {
            Some(u) if u.revision == revision && u.reason == reason => u.since,
            _ => now,
        };
        self.unverified_commit = Some(UnverifiedCommit {
            revision: revision.to_owned(),
            cause: COMMIT_UNVERIFIED.to_owned(),
            reason: reason.to_owned(),
            error: error.to_owned(),
            since,
        });
    }

    /// Folds one reconcile result into the status, as of `now`.
    ///
    /// The daemon revision moves on success or partial outcomes; a service's applied
    /// revision moves on those outcomes when its state says the revision was applied.
    pub fn apply(&mut self, report: &ReconcileReport, now: Timestamp) {
        let applied = matches!(report.outcome, Outcome::Success | Outcome::Partial);
        if report.outcome == Outcome::Success {
            self.ready = true;
        }
        if applied && report.revision.is_some() {
            self.revision.clone_from(&report.revision);
        }
        self.last_reconcile = Some(LastReconcile {
            time: now,
            outcome: report.outcome,
            error: report.error.clone(),
        });
        let Some(results) = &report.services else {
            return;
        };
        self.prune_refused.clone_from(&report.prune_refused);
        let revision = report.revision.as_deref().filter(|_| applied);
        let mut services: Vec<ServiceStatus> = results
            .iter()
            .map(|r| self.next_service(r, revision, now))
            .collect();
        for (namespace, name) in &report.kept_services {
            if services
                .iter()
                .any(|s| &s.namespace == namespace && &s.name == name)
            {
                continue;
            }
            let previous = self
                .services
                .iter()
                .find(|s| &s.namespace == namespace && &s.name == name);
            services.push(previous.cloned().unwrap_or_else(|| ServiceStatus {
                name: name.clone(),
                namespace: namespace.clone(),
                state: ServiceState::Unknown,
                applied_revision: None,
                last_change: now,
                last_error: Some(KEPT.to_owned()),
                last_cause: Some(KEPT_CAUSE.to_owned()),
                rollout: None,
            }));
        }
        services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        services.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
        self.services = services;
    }

    /// The new status of one service given its previous one.
    fn next_service(
        &self,
        r: &ServiceResult,
        revision: Option<&str>,
        now: Timestamp,
    ) -> ServiceStatus {
        let previous = self
            .services
            .iter()
            .find(|s| s.name == r.name && s.namespace == r.namespace);
        let applied_revision = match (r.state.is_applied(), revision) {
            (true, Some(rev)) => Some(rev.to_owned()),
            _ => previous.and_then(|p| p.applied_revision.clone()),
        };
        let unchanged = previous.filter(|p| {
            p.state == r.state && p.applied_revision == applied_revision && p.last_error == r.error
        });
        ServiceStatus {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            state: r.state,
            applied_revision,
            last_change: unchanged.map_or(now, |p| p.last_change),
            last_error: r.error.clone(),
            last_cause: r.cause.map(str::to_owned),
            rollout: r.rollout.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn svc(name: &str, state: ServiceState, error: Option<&str>) -> ServiceResult {
        ServiceResult {
            name: name.into(),
            namespace: "ml".into(),
            state,
            error: error.map(Into::into),
            cause: error.map(|_| "applyFailed"),
            rollout: None,
        }
    }

    fn run(outcome: Outcome, rev: &str, services: Vec<ServiceResult>) -> ReconcileReport {
        ReconcileReport {
            outcome,
            duration: Duration::from_secs(1),
            revision: Some(rev.into()),
            error: None,
            services: Some(services),
            prune_refused: None,
            kept_services: vec![],
        }
    }

    #[test]
    fn services_kept_by_a_refused_prune_stay_with_their_state() {
        let mut s = DaemonStatus::default();
        let two = vec![
            svc("a", ServiceState::Synced, None),
            svc("b", ServiceState::Progressing, None),
        ];
        s.apply(&run(Outcome::Success, "r1", two), at(10));
        let refused = ReconcileReport {
            prune_refused: Some(PruneRefusal {
                reason: "it would delete all 8 managed objects".into(),
                held_objects: 8,
            }),
            kept_services: vec![("ml".into(), "a".into()), ("ml".into(), "b".into())],
            ..run(Outcome::Failure, "r2", vec![])
        };
        s.apply(&refused, at(20));
        let states: Vec<_> = s
            .services
            .iter()
            .map(|x| (x.name.as_str(), x.state))
            .collect();
        assert_eq!(
            states,
            [
                ("a", ServiceState::Synced),
                ("b", ServiceState::Progressing)
            ]
        );
        assert_eq!(s.services[0].last_change, at(10));
        assert_eq!(s.prune_refused.as_ref().map(|p| p.held_objects), Some(8));
        // A daemon that starts after the specs left git still lists what runs.
        let mut fresh = DaemonStatus::default();
        fresh.apply(&refused, at(30));
        assert_eq!(fresh.services.len(), 2);
        assert_eq!(fresh.services[0].state, ServiceState::Unknown);
        assert_eq!(fresh.services[0].last_error.as_deref(), Some(KEPT));
        // Pruning allowed again: the refusal clears and the services go.
        s.apply(&run(Outcome::Success, "r3", vec![]), at(40));
        assert_eq!(s.prune_refused, None);
        assert!(s.services.is_empty());
    }

    #[test]
    fn a_refused_commit_shows_until_one_verifies() {
        let mut s = DaemonStatus::default();
        let refused = |reason| CommitVerification::Refused {
            revision: "bad1",
            reason,
            error: "failed to verify the signature of commit bad1: it is not signed",
        };
        assert_eq!(refused("unsigned").result(), "unsigned");
        assert_eq!(CommitVerification::Verified.result(), "verified");
        s.commit_verification(refused("unsigned"), at(10));
        s.commit_verification(refused("unsigned"), at(20));
        let u = s.unverified_commit.clone().unwrap();
        assert_eq!(
            (
                u.revision.as_str(),
                u.cause.as_str(),
                u.reason.as_str(),
                u.since
            ),
            ("bad1", "commitUnverified", "unsigned", at(10))
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["unverifiedCommit"]["cause"], "commitUnverified");
        assert_eq!(json["unverifiedCommit"]["reason"], "unsigned");
        s.commit_verification(refused("unknownKey"), at(30));
        assert_eq!(s.unverified_commit.as_ref().map(|u| u.since), Some(at(30)));
        s.commit_verification(CommitVerification::Verified, at(40));
        assert_eq!(s.unverified_commit, None);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("unverifiedCommit").is_none(), "{json}");
    }

    #[test]
    fn a_failed_service_keeps_its_last_applied_revision() {
        let mut s = DaemonStatus::default();
        s.apply(
            &run(
                Outcome::Success,
                "r1",
                vec![svc("a", ServiceState::Synced, None)],
            ),
            at(10),
        );
        assert!(s.ready);
        let failed = vec![svc("a", ServiceState::Failed, Some("boom"))];
        s.apply(&run(Outcome::Partial, "r2", failed), at(20));
        let a = &s.services[0];
        assert_eq!(a.applied_revision.as_deref(), Some("r1"));
        assert_eq!(a.last_error.as_deref(), Some("boom"));
        assert_eq!(a.last_change, at(20));
        assert_eq!(s.revision.as_deref(), Some("r2"));
    }

    #[test]
    fn last_change_moves_only_when_something_changed() {
        let mut s = DaemonStatus::default();
        let synced = || vec![svc("a", ServiceState::Synced, None)];
        s.apply(&run(Outcome::Success, "r1", synced()), at(10));
        s.apply(&run(Outcome::Success, "r1", synced()), at(20));
        assert_eq!(s.services[0].last_change, at(10));
        s.apply(&run(Outcome::Success, "r2", synced()), at(30));
        assert_eq!(s.services[0].last_change, at(30));
        assert_eq!(s.last_reconcile.as_ref().map(|l| l.time), Some(at(30)));
    }

    #[test]
    fn failures_keep_the_revision_and_readiness_and_drop_missing_services() {
        let mut s = DaemonStatus::default();
        s.apply(&run(Outcome::Failure, "r0", vec![]), at(5));
        assert!(!s.ready);
        assert_eq!(s.revision, None);
        let two = vec![
            svc("b", ServiceState::Synced, None),
            svc("a", ServiceState::Synced, None),
        ];
        s.apply(&run(Outcome::Success, "r1", two), at(10));
        let names: Vec<_> = s.services.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        s.apply(
            &run(
                Outcome::Failure,
                "r2",
                vec![svc("a", ServiceState::Synced, None)],
            ),
            at(20),
        );
        assert!(s.ready);
        assert_eq!(s.revision.as_deref(), Some("r1"));
        assert_eq!(s.services.len(), 1);
    }
}
