//! Which services need the next reconcile's attention, as the drift watch sees it (pure).
//!
//! A service needs attention when anything happened to one of its wanted objects since the plan
//! that last covered it: drift, a deletion, a rollout's status change (an HPA's own status
//! updates aside). A service that drifted needs it until its objects are equal to git again.
//! The daemon reconciles just these services (plus what git changed); when every scope is listed
//! and no service needs attention, the cluster is exactly as the last reconcile left it.
//!
//! Each mark carries a sequence number. A reconcile takes the number of the last mark it saw
//! ([`Attention::mark`]) before it reads the cluster, and its plan settles only marks up to that
//! one: something that happens to a service while the plan reads or applies marks it again, and
//! the next reconcile looks at it, even if this one covered it.

use std::collections::{BTreeMap, BTreeSet};

use crate::reconcile::keys::ServiceKey;

/// What the watch knows about the cluster, for one wanted set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attention {
    /// Which wanted set (its generation) this is about.
    pub generation: u64,
    /// Every scope has listed and is watching: what the watch has not reported did not happen.
    pub listed: bool,
    /// The sequence number of the last mark in `services`.
    pub mark: u64,
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

/// The worker's marks: each service with the sequence number of its latest mark.
#[derive(Debug, Default)]
pub struct Marks {
    seq: u64,
    services: BTreeMap<ServiceKey, u64>,
    /// A service was added or removed since the last [`Marks::publish`].
    changed: bool,
}

impl Marks {
    /// Something happened to `service`.
    pub fn mark(&mut self, service: ServiceKey) {
        self.seq += 1;
        if self.services.insert(service, self.seq).is_none() {
            self.changed = true;
        }
    }

    /// A plan covered the services of `covered` (every service when `None`), reading the
    /// cluster after mark `up_to`: their marks up to that one are settled. The services of
    /// `still_open` (drift not yet healed) stay marked.
    pub fn settle(
        &mut self,
        covered: Option<&BTreeSet<ServiceKey>>,
        up_to: u64,
        still_open: impl IntoIterator<Item = ServiceKey>,
    ) {
        let before = self.services.len();
        self.services
            .retain(|k, seq| *seq > up_to || covered.is_some_and(|c| !c.contains(k)));
        for k in still_open {
            self.services.entry(k).or_insert(self.seq);
        }
        self.changed |= self.services.len() != before;
    }

    /// The marked services and the number of the last mark, when the set changed since the last
    /// call (`force`: in any case).
    pub fn publish(&mut self, force: bool) -> Option<(u64, BTreeSet<ServiceKey>)> {
        if !std::mem::take(&mut self.changed) && !force {
            return None;
        }
        Some((self.seq, self.services.keys().cloned().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ServiceKey {
        ServiceKey::new("ns", name)
    }

    #[test]
    fn vouches_only_for_the_wanted_set_asked_for_once_listed() {
        let a = Attention {
            generation: 3,
            listed: true,
            mark: 0,
            services: [key("a")].into(),
        };
        assert_eq!(a.vouched(Some(3)).map(BTreeSet::len), Some(1));
        assert_eq!(a.vouched(Some(2)), None);
        assert_eq!(a.vouched(None), None);
        let unlisted = Attention { listed: false, ..a };
        assert_eq!(unlisted.vouched(Some(3)), None);
    }

    #[test]
    fn a_plan_settles_only_what_happened_before_it_read_the_cluster() {
        let mut m = Marks::default();
        m.mark(key("a"));
        let (seen, services) = m.publish(false).expect("a new service is published");
        assert_eq!(services, [key("a")].into());
        // While the reconcile reads and applies: "a" moves again, "b" moves.
        m.mark(key("a"));
        m.mark(key("b"));
        assert!(m.publish(false).is_some(), "b is new");
        // A whole plan that read the cluster after mark `seen` settles neither.
        m.settle(None, seen, []);
        assert_eq!(
            m.publish(true).map(|p| p.1),
            Some([key("a"), key("b")].into())
        );
        // A plan after both settles them, except a drift still open.
        let (seen, _) = m.publish(true).expect("forced");
        m.mark(key("c"));
        m.settle(None, seen, [key("b")]);
        assert_eq!(
            m.publish(true).map(|p| p.1),
            Some([key("b"), key("c")].into())
        );
    }

    #[test]
    fn a_focused_plan_settles_only_its_services() {
        let mut m = Marks::default();
        m.mark(key("a"));
        m.mark(key("b"));
        let (seen, _) = m.publish(false).expect("changed");
        m.settle(Some(&[key("a")].into()), seen, []);
        assert_eq!(m.publish(false).map(|p| p.1), Some([key("b")].into()));
        assert_eq!(m.publish(false), None, "unchanged since");
    }
}
