//! Leader-election options, the holder identity and the lease name.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{LeaderError, LeaderSettings};

/// Leader-election options of the daemon.
#[derive(Debug, Clone)]
pub struct LeaderOptions {
    /// Run as one of several replicas: only the holder of a coordination.k8s.io/v1 Lease
    /// reconciles; the others stand by.
    pub leader_election: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else "default").
    pub leader_election_namespace: Option<String>,
    /// How long a lease stays valid without renewal; a standby takes over after it.
    pub lease_duration: Duration,
    /// How often the leader renews the lease (must be shorter than the lease duration).
    pub lease_renew_interval: Duration,
}

impl LeaderOptions {
    /// The elector settings for the source `source_id`, or `None` when leader election is off.
    /// Reads `POD_NAMESPACE`, `POD_NAME` and the host name from the environment.
    pub fn settings(&self, source_id: &str) -> Result<Option<LeaderSettings>, LeaderError> {
        if !self.leader_election {
            return Ok(None);
        }
        let namespace = resolve_namespace(
            self.leader_election_namespace.as_deref(),
            env_nonempty("POD_NAMESPACE").as_deref(),
        );
        let mut settings =
            LeaderSettings::new(namespace, lease_name(source_id), identity(&base_identity()));
        settings.lease_duration = self.lease_duration;
        settings.renew_interval = self.lease_renew_interval;
        settings.retry_period = default_retry_period(self.lease_renew_interval);
        settings.validate()?;
        Ok(Some(settings))
    }
}

/// The Lease namespace: the flag, else `pod_namespace`, else "default".
pub fn resolve_namespace(flag: Option<&str>, pod_namespace: Option<&str>) -> String {
    flag.filter(|n| !n.is_empty())
        .or(pod_namespace)
        .unwrap_or("default")
        .to_owned()
}

/// How often a standby polls: the renew interval, at most 2 s.
pub fn default_retry_period(renew_interval: Duration) -> Duration {
    renew_interval.min(Duration::from_secs(2))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `POD_NAME`, else the host name, else "mlsync".
fn base_identity() -> String {
    env_nonempty("POD_NAME")
        .or_else(|| env_nonempty("HOSTNAME"))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "mlsync".to_owned())
}

/// A holder identity: `base` plus a random suffix, so a restarted pod with the same name never
/// mistakes its predecessor's lease for its own.
pub fn identity(base: &str) -> String {
    format!("{base}-{:08x}", rand::random::<u32>())
}

/// The Lease name for a source id: `mlsync-<id>`, lowercased with `_` turned into `-` (a Lease
/// name is a DNS subdomain); when that changed the id, a short hash of the original keeps
/// distinct ids apart.
pub fn lease_name(source_id: &str) -> String {
    let cleaned: String = source_id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    let cleaned = cleaned.trim_matches(|c| c == '-' || c == '.');
    if cleaned == source_id && !cleaned.is_empty() {
        format!("mlsync-{cleaned}")
    } else {
        let hash = hex::encode(Sha256::digest(source_id.as_bytes()));
        let short = hash.get(..8).unwrap_or_default();
        if cleaned.is_empty() {
            format!("mlsync-{short}")
        } else {
            format!("mlsync-{cleaned}-{short}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(lease_duration: u64, renew_ms: u64) -> LeaderOptions {
        LeaderOptions {
            leader_election: true,
            leader_election_namespace: Some("ops".into()),
            lease_duration: Duration::from_secs(lease_duration),
            lease_renew_interval: Duration::from_millis(renew_ms),
        }
    }

    #[test]
    fn settings_follow_the_options() {
        let off = LeaderOptions {
            leader_election: false,
            ..options(15, 5000)
        };
        assert!(off.settings("models").unwrap().is_none());

        let settings = options(2, 500).settings("models").unwrap().unwrap();
        assert_eq!(settings.namespace, "ops");
        assert_eq!(settings.lease_name, "mlsync-models");
        assert_eq!(settings.lease_duration, Duration::from_secs(2));
        assert_eq!(settings.renew_interval, Duration::from_millis(500));
        assert_eq!(settings.retry_period, Duration::from_millis(500));
    }

    #[test]
    fn rejects_a_renew_interval_not_below_the_lease_duration() {
        let err = options(5, 5000).settings("models").unwrap_err().to_string();
        assert!(err.contains("renew interval"), "{err}");
    }

    #[test]
    fn namespace_falls_back_to_the_pod_then_default() {
        assert_eq!(resolve_namespace(Some("ops"), Some("pod-ns")), "ops");
        assert_eq!(resolve_namespace(None, Some("pod-ns")), "pod-ns");
        assert_eq!(resolve_namespace(Some(""), None), "default");
    }

    #[test]
    fn identities_differ_between_starts() {
        let a = identity("mlsync-0");
        let b = identity("mlsync-0");
        assert!(a.starts_with("mlsync-0-") && b.starts_with("mlsync-0-"));
        assert_ne!(a, b);
    }

    #[test]
    fn lease_names_are_dns_names_and_keep_ids_apart() {
        assert_eq!(lease_name("models"), "mlsync-models");
        assert_eq!(lease_name("team.ml-prod"), "mlsync-team.ml-prod");
        let upper = lease_name("Team_A");
        assert!(upper.starts_with("mlsync-team-a-"), "{upper}");
        assert_ne!(upper, lease_name("team-a"));
        assert_ne!(upper, lease_name("team_a"));
    }
}
