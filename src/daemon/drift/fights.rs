//! Telling a one-off edit from a fight (pure, time passed in).
//!
//! Each drift of an object that mlsync heals is counted. [`FIGHT_THRESHOLD`] drifts of the same
//! object within [`FIGHT_WINDOW`] mean someone (another controller, a script, a person) keeps
//! changing it back: mlsync stops healing that object for a backoff that doubles with each fight
//! in a row, from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], so the two writers do not hammer the
//! API server. An object that stays quiet for [`MAX_BACKOFF`] starts afresh.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::reconcile::keys::ObjectRef;

/// Drifts of one object within [`FIGHT_WINDOW`] that make a fight.
pub const FIGHT_THRESHOLD: usize = 3;
/// The window [`FIGHT_THRESHOLD`] drifts must fall in.
pub const FIGHT_WINDOW: Duration = Duration::from_secs(60);
/// How long healing pauses after the first fight.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest pause.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What to do about one drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Heal it.
    Heal,
    /// This drift makes a fight: do not heal until the instant given (report it once).
    FightStarted {
        /// When healing resumes.
        until: Instant,
        /// How long the pause is.
        backoff: Duration,
    },
    /// Still inside a fight's pause: do not heal.
    Paused {
        /// When healing resumes.
        until: Instant,
    },
}

#[derive(Debug, Default)]
struct History {
    drifts: VecDeque<Instant>,
    fights: u32,
    paused_until: Option<Instant>,
    last: Option<Instant>,
}

/// Drift history per object.
#[derive(Debug, Default)]
pub struct Fights {
    objects: BTreeMap<ObjectRef, History>,
}

impl Fights {
    /// Records a drift of `key` at `now` and decides whether to heal it.
    pub fn drifted(&mut self, key: &ObjectRef, now: Instant) -> Decision {
        let h = self.objects.entry(key.clone()).or_default();
        if h.last.is_some_and(|t| now.duration_since(t) >= MAX_BACKOFF) {
            *h = History::default();
        }
        h.last = Some(now);
        if let Some(until) = h.paused_until {
            if now < until {
                return Decision::Paused { until };
            }
            h.paused_until = None;
        }
        while h
            .drifts
            .front()
            .is_some_and(|t| now.duration_since(*t) > FIGHT_WINDOW)
        {
            h.drifts.pop_front();
        }
        h.drifts.push_back(now);
        if h.drifts.len() < FIGHT_THRESHOLD {
            return Decision::Heal;
        }
        h.drifts.clear();
        let backoff = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(h.fights))
            .min(MAX_BACKOFF);
        h.fights = h.fights.saturating_add(1);
        let until = now + backoff;
        h.paused_until = Some(until);
        Decision::FightStarted { until, backoff }
    }

    /// Whether `key` is in a fight's pause at `now`.
    pub fn paused(&self, key: &ObjectRef, now: Instant) -> bool {
        self.objects
            .get(key)
            .and_then(|h| h.paused_until)
            .is_some_and(|until| now < until)
    }

    /// Forgets objects that are no longer wanted.
    pub fn retain(&mut self, mut keep: impl FnMut(&ObjectRef) -> bool) {
        self.objects.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Kind;

    #[test]
    fn a_third_drift_within_a_minute_is_a_fight_and_pauses_healing_with_growing_backoff() {
        let key = ObjectRef::new(Kind::ConfigMap, "ns", "a-config");
        let mut f = Fights::default();
        let t0 = Instant::now();
        assert_eq!(f.drifted(&key, t0), Decision::Heal);
        assert_eq!(
            f.drifted(&key, t0 + Duration::from_secs(10)),
            Decision::Heal
        );
        let t2 = t0 + Duration::from_secs(20);
        assert_eq!(
            f.drifted(&key, t2),
            Decision::FightStarted {
                until: t2 + FIRST_BACKOFF,
                backoff: FIRST_BACKOFF
            }
        );
        assert!(f.paused(&key, t2 + Duration::from_secs(29)));
        assert_eq!(
            f.drifted(&key, t2 + Duration::from_secs(5)),
            Decision::Paused {
                until: t2 + FIRST_BACKOFF
            }
        );
        // After the pause: healing again; the next fight pauses twice as long.
        let t3 = t2 + FIRST_BACKOFF;
        assert!(!f.paused(&key, t3));
        assert_eq!(f.drifted(&key, t3), Decision::Heal);
        assert_eq!(f.drifted(&key, t3 + Duration::from_secs(1)), Decision::Heal);
        let t4 = t3 + Duration::from_secs(2);
        assert_eq!(
            f.drifted(&key, t4),
            Decision::FightStarted {
                until: t4 + FIRST_BACKOFF * 2,
                backoff: FIRST_BACKOFF * 2
            }
        );
        // Drifts spread out (one a minute) are edits, not a fight; quiet objects start afresh.
        let other = ObjectRef::new(Kind::ConfigMap, "ns", "b-config");
        for i in 0..5 {
            let at = t0 + Duration::from_secs(61 * i);
            assert_eq!(f.drifted(&other, at), Decision::Heal);
        }
        let later = t4 + MAX_BACKOFF * 2;
        assert_eq!(f.drifted(&key, later), Decision::Heal);
    }
}
