//! Which services need the next reconcile's attention, as the drift watch sees it (pure).
//!
//! A service needs attention when anything happened to one of its wanted objects since the plan
//! that last covered it: drift, a deletion, a rollout's status change (an HPA's own status
//! updates aside). A service that drifted needs it until its objects are equal to git again.
//! The daemon reconciles just these services (plus what git changed); when every scope is listed
//! and no service needs attention, the cluster is exactly as the last reconcile left it.

use std::collections::BTreeSet;

use crate::reconcile::keys::ServiceKey;

/// What the watch knows about the cluster, for one wanted set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attention {
    /// Which wanted set (its generation) this is about.
    pub generation: u64,
    /// Every scope has listed and is watching: what the watch has not reported did not happen.
    pub listed: bool,
    /// The services something happened to, or that differ from git.
    pub services: BTreeSet<ServiceKey>,
}

impl Attention {
    /// The services to look at again, when the watch can vouch for all the others (the
    /// wanted set `generation` is the one asked for, and every scope is listed); `None` when it
    /// cannot: then every service needs a look.
    pub fn vouched(&self, generation: Option<u64>) -> Option<&BTreeSet<ServiceKey>> {
        (self.listed && generation == Some(self.generation)).then_some(&self.services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouches_only_for_the_wanted_set_asked_for_once_listed() {
        let a = Attention {
            generation: 3,
            listed: true,
            services: [ServiceKey::new("ns", "a")].into(),
        };
        assert_eq!(a.vouched(Some(3)).map(BTreeSet::len), Some(1));
        assert_eq!(a.vouched(Some(2)), None);
        assert_eq!(a.vouched(None), None);
        let unlisted = Attention { listed: false, ..a };
        assert_eq!(unlisted.vouched(Some(3)), None);
    }
}
