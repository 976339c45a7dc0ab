//! What the daemon keeps of its canary rollouts between reconciles (pure bookkeeping): each
//! reconcile records, for the services it looked at, when their rollout wants its next look (a
//! metric check, the end of a pause) and its phase; the loop fires a
//! [`crate::trigger::TriggerReason::Rollout`] at the earliest, and that reconcile looks at the
//! services that are due. The phases make the `mlsync_rollouts` gauge.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::reconcile::keys::ServiceKey;
use crate::reconcile::rollout::decide::EARLY;
use crate::reconcile::rollout::stage::RolloutReport;
use crate::reconcile::rollout::state::Phase;

/// The next look of each service whose rollout wants one.
#[derive(Debug, Default)]
pub struct Wakes {
    due: BTreeMap<ServiceKey, Instant>,
    /// The phase of each service's rollout, as last looked at.
    phases: BTreeMap<ServiceKey, Phase>,
    /// Services whose look was fired and has not happened yet.
    fired: BTreeSet<ServiceKey>,
}

/// A fired look that no reconcile took (a failed fetch, say) is fired again after this.
const RETRY: Duration = Duration::from_secs(10);

impl Wakes {
    /// Records a reconcile that looked at `looked_at` (`None`: every service) and decided
    /// `rollouts`, at `now`.
    pub fn after(
        &mut self,
        looked_at: Option<&BTreeSet<ServiceKey>>,
        rollouts: &[RolloutReport],
        now: Instant,
    ) {
        match looked_at {
            Some(keys) => {
                self.due.retain(|k, _| !keys.contains(k));
                self.fired.retain(|k| !keys.contains(k));
                self.phases.retain(|k, _| !keys.contains(k));
            }
            None => {
                self.due.clear();
                self.fired.clear();
                self.phases.clear();
            }
        }
        for r in rollouts {
            if let Some(state) = r.state() {
                self.phases.insert(r.key.clone(), state.phase);
            }
            if let Some(wake) = r.decision.wake {
                self.due.insert(r.key.clone(), now + wake);
            }
        }
    }

    /// How many rollouts are in each phase (every phase, 0 included).
    pub fn phase_counts(&self) -> Vec<(&'static str, i64)> {
        Phase::ALL
            .iter()
            .map(|p| {
                let n = self.phases.values().filter(|q| *q == p).count();
                (p.as_str(), i64::try_from(n).unwrap_or(i64::MAX))
            })
            .collect()
    }

    /// The earliest look wanted.
    pub fn next(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Marks the services due at `now` (within [`EARLY`]) as fired (the loop fires a trigger): they wait for
    /// their look, and are fired again after [`RETRY`] should no reconcile take them.
    pub fn fire(&mut self, now: Instant) {
        for (k, at) in self.due.iter_mut() {
            if *at <= now + EARLY {
                self.fired.insert(k.clone());
                *at = now + RETRY;
            }
        }
    }

    /// The services due a look at `now`: fired, or due within [`EARLY`] (looked at together
    /// with those due now: their rollouts count a check or a pause end as due that early).
    pub fn due(&self, now: Instant) -> BTreeSet<ServiceKey> {
        self.due
            .iter()
            .filter(|(_, at)| **at <= now + EARLY)
            .map(|(k, _)| k.clone())
            .chain(self.fired.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::rollout::decide::{Decision, Shape};

    fn report(name: &str, wake: Option<u64>) -> RolloutReport {
        RolloutReport {
            key: ServiceKey::new("ns", name),
            decision: Decision {
                shape: Shape::Stable,
                state: None,
                changed: false,
                event: None,
                wake: wake.map(Duration::from_secs),
            },
            stable_exists: true,
            checked: Vec::new(),
        }
    }

    #[test]
    fn each_look_replaces_the_wakes_of_the_services_it_looked_at() {
        let t0 = Instant::now();
        let mut w = Wakes::default();
        w.after(None, &[report("a", Some(30)), report("b", Some(10))], t0);
        assert_eq!(w.next(), Some(t0 + Duration::from_secs(10)));
        assert!(w.due(t0).is_empty());
        let later = t0 + Duration::from_secs(10);
        assert_eq!(w.due(later), BTreeSet::from([ServiceKey::new("ns", "b")]));
        // Fired: due until looked at, and fired again only after the retry time.
        w.fire(later);
        assert_eq!(w.due(later), BTreeSet::from([ServiceKey::new("ns", "b")]));
        assert_eq!(w.next(), Some(later + RETRY));
        // A focused look at b only: b is promoted (no wake), a keeps its own.
        let looked = BTreeSet::from([ServiceKey::new("ns", "b")]);
        w.after(Some(&looked), &[report("b", None)], later);
        assert_eq!(w.next(), Some(t0 + Duration::from_secs(30)));
        // A whole look forgets services without a rollout.
        w.after(None, &[], later);
        assert_eq!(w.next(), None);
    }

    #[test]
    fn looks_due_within_early_are_taken_together() {
        let t0 = Instant::now();
        let mut w = Wakes::default();
        let mut c = report("c", None);
        c.decision.wake = Some(Duration::from_millis(10_500));
        w.after(None, &[report("b", Some(10)), c, report("d", Some(12))], t0);
        let at = t0 + Duration::from_secs(10);
        assert_eq!(
            w.due(at),
            BTreeSet::from([ServiceKey::new("ns", "b"), ServiceKey::new("ns", "c")])
        );
    }
}
