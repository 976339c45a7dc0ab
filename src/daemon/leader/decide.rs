//! Pure leader-election decisions (no I/O): who holds a lease, whether it has expired, and the
//! lease record to write when claiming, renewing or releasing it.
//!
//! Expiry is judged conservatively, so that clock skew between replicas can only delay a
//! take-over, never let two replicas hold the lease:
//! - the lease must have stayed *unchanged* for its duration as measured by this process's own
//!   monotonic clock since it first saw the current record (immune to skew between nodes), and
//! - its `renewTime + leaseDurationSeconds` must lie before this node's wall clock.
//!
//! The longer of the record's and our own lease duration applies.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The parts of a Lease's spec the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `holderIdentity`; `None` (or empty in the object) when nobody holds the lease.
    pub holder: Option<String>,
    /// `renewTime`, written by the holder from its wall clock.
    pub renew_time: Option<Timestamp>,
    /// `leaseDurationSeconds`.
    pub lease_duration: Option<Duration>,
    /// `acquireTime`.
    pub acquire_time: Option<Timestamp>,
    /// `leaseTransitions`.
    pub transitions: i32,
}

impl LeaseRecord {
    /// Reads the record of a Lease object (a Lease without spec is free).
    pub fn of(lease: &Lease) -> LeaseRecord {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseRecord {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.map(|t| t.0),
            lease_duration: spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
            acquire_time: spec.acquire_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// What to do after reading the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease object exists: create it holding it ourselves.
    Create,
    /// The lease is free (released) or expired: take it over (replace at its resourceVersion).
    Acquire,
    /// We hold the lease: renew it (replace at its resourceVersion).
    Renew,
    /// A live peer holds the lease: wait.
    StandBy {
        /// The peer's identity.
        holder: String,
    },
}

/// Remembers since when (by the monotonic clock) the lease record has looked the same.
#[derive(Debug, Default)]
pub struct Observer {
    last: Option<(Option<LeaseRecord>, Instant)>,
}

impl Observer {
    /// Records an observation made at `at`; returns how long the record has been unchanged
    /// (zero when it is new or changed).
    pub fn observe(&mut self, record: Option<&LeaseRecord>, at: Instant) -> Duration {
        match &self.last {
            Some((seen, since)) if seen.as_ref() == record => at.saturating_duration_since(*since),
            _ => {
                self.last = Some((record.cloned(), at));
                Duration::ZERO
            }
        }
    }
}

/// Decides what to do with the lease `record` (`None`: no Lease object) as identity `me`.
///
/// `unchanged_for` comes from [`Observer::observe`], `now` is this node's wall clock and
/// `own_duration` our configured lease duration.
pub fn decide(
    record: Option<&LeaseRecord>,
    me: &str,
    unchanged_for: Duration,
    now: Timestamp,
    own_duration: Duration,
) -> Decision {
    let Some(record) = record else {
        return Decision::Create;
    };
    match record.holder.as_deref() {
        None => Decision::Acquire,
        Some(holder) if holder == me => Decision::Renew,
        Some(holder) => {
            if is_expired(record, unchanged_for, now, own_duration) {
                Decision::Acquire
            } else {
                Decision::StandBy {
                    holder: holder.to_owned(),
                }
            }
        }
    }
}

/// Whether a held lease has expired (see the module documentation).
pub fn is_expired(
    record: &LeaseRecord,
    unchanged_for: Duration,
    now: Timestamp,
    own_duration: Duration,
) -> bool {
    let duration = record
        .lease_duration
        .map_or(own_duration, |d| d.max(own_duration));
    if unchanged_for < duration {
        return false;
    }
    match record.renew_time {
        // No renewTime: the local observation alone decides.
        None => true,
        Some(renewed) => {
            let Ok(duration) = SignedDuration::try_from(duration) else {
                return false;
            };
            now.duration_since(renewed) > duration
        }
    }
}

/// How far the record's `renewTime` lies in the future of `now` (a sign of clock skew), if at all.
pub fn clock_skew(record: &LeaseRecord, now: Timestamp) -> Option<Duration> {
    let ahead = record.renew_time?.duration_since(now);
    Duration::try_from(ahead).ok().filter(|d| !d.is_zero())
}

/// Whether a leader whose last successful renewal *started* at `last_renewal` must stop
/// writing at `now`, given its renew deadline (shorter than the lease duration).
pub fn must_step_down(last_renewal: Instant, now: Instant, renew_deadline: Duration) -> bool {
    now.saturating_duration_since(last_renewal) >= renew_deadline
}

/// The spec to write when `me` creates, acquires or renews a lease whose current spec is
/// `current` (`None` when creating): holder, duration, renewTime, and on a change of holder
/// acquireTime and one more transition.
pub fn claimed(
    current: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    duration: Duration,
) -> LeaseSpec {
    let mut spec = current.cloned().unwrap_or_default();
    let previous = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    if previous != Some(me) {
        if current.is_some() {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        } else {
            spec.lease_transitions = Some(0);
        }
        spec.acquire_time = Some(MicroTime(now));
        spec.holder_identity = Some(me.to_owned());
    }
    spec.lease_duration_seconds = Some(whole_seconds(duration));
    spec.renew_time = Some(MicroTime(now));
    spec
}

/// The spec to write when releasing a lease: no holder, renewTime = now.
pub fn released(current: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        acquire_time: None,
        renew_time: Some(MicroTime(now)),
        ..current.clone()
    }
}

/// `leaseDurationSeconds` for `duration`: rounded up, at least 1.
pub fn whole_seconds(duration: Duration) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
