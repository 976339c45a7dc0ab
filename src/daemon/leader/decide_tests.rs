//! Unit tests of the pure decision logic (no cluster).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::*;

const LEASE: Duration = Duration::from_secs(15);

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn held_by(holder: &str, renewed_at: i64) -> LeaseRecord {
    LeaseRecord {
        holder: Some(holder.to_owned()),
        renew_time: Some(ts(renewed_at)),
        lease_duration: Some(LEASE),
        acquire_time: Some(ts(0)),
        transitions: 3,
    }
}

#[test]
fn creates_a_missing_lease() {
    assert_eq!(
        decide(None, "me", Duration::ZERO, ts(0), LEASE),
        Decision::Create
    );
}

#[test]
fn acquires_a_released_lease_at_once() {
    let mut record = held_by("peer", 0);
    record.holder = None;
    assert_eq!(
        decide(Some(&record), "me", Duration::ZERO, ts(0), LEASE),
        Decision::Acquire
    );
}

#[test]
fn an_empty_holder_in_the_object_means_free() {
    let lease = Lease {
        spec: Some(LeaseSpec {
            holder_identity: Some(String::new()),
            ..LeaseSpec::default()
        }),
        ..Lease::default()
    };
    assert_eq!(LeaseRecord::of(&lease).holder, None);
    assert_eq!(LeaseRecord::of(&Lease::default()).holder, None);
}

#[test]
fn renews_its_own_lease() {
    let record = held_by("me", 0);
    assert_eq!(
        decide(Some(&record), "me", Duration::ZERO, ts(100), LEASE),
        Decision::Renew
    );
}

#[test]
fn stands_by_while_a_peer_holds_a_live_lease() {
    let record = held_by("peer", 0);
    let standby = Decision::StandBy {
        holder: "peer".to_owned(),
    };
    // Wall clock says live, and only just observed.
    assert_eq!(
        decide(Some(&record), "me", Duration::ZERO, ts(5), LEASE),
        standby
    );
    // Unchanged long enough locally, but renewed recently by the wall clock.
    assert_eq!(
        decide(Some(&record), "me", LEASE * 2, ts(14), LEASE),
        standby
    );
    // Old by the wall clock, but this process has not watched it for a lease duration
    // (e.g. it just started): conservative, wait.
    assert_eq!(
        decide(Some(&record), "me", Duration::from_secs(3), ts(1000), LEASE),
        standby
    );
}

#[test]
fn acquires_an_expired_lease() {
    let record = held_by("peer", 0);
    assert_eq!(
        decide(Some(&record), "me", LEASE, ts(16), LEASE),
        Decision::Acquire
    );
}

#[test]
fn the_longer_duration_applies() {
    let mut record = held_by("peer", 0);
    record.lease_duration = Some(Duration::from_secs(60));
    assert!(!is_expired(&record, LEASE, ts(30), LEASE));
    assert!(is_expired(&record, Duration::from_secs(60), ts(61), LEASE));
    record.lease_duration = Some(Duration::from_secs(1));
    assert!(!is_expired(&record, Duration::from_secs(2), ts(2), LEASE));
}

#[test]
fn a_holder_clock_ahead_only_delays_takeover() {
    // The holder's clock runs 100 s ahead: its renewTime looks like the future.
    let record = held_by("peer", 100);
    assert_eq!(clock_skew(&record, ts(0)), Some(Duration::from_secs(100)));
    assert!(!is_expired(&record, LEASE * 4, ts(60), LEASE));
    assert!(is_expired(&record, LEASE * 8, ts(116), LEASE));
    assert_eq!(clock_skew(&held_by("peer", 0), ts(1)), None);
}

#[test]
fn observer_measures_time_since_the_last_change() {
    let start = Instant::now();
    let mut observer = Observer::default();
    let a = held_by("peer", 0);
    let b = held_by("peer", 5);
    assert_eq!(observer.observe(Some(&a), start), Duration::ZERO);
    let later = start + Duration::from_secs(4);
    assert_eq!(observer.observe(Some(&a), later), Duration::from_secs(4));
    // A renewal resets the clock.
    assert_eq!(observer.observe(Some(&b), later), Duration::ZERO);
    let even_later = later + Duration::from_secs(7);
    assert_eq!(
        observer.observe(Some(&b), even_later),
        Duration::from_secs(7)
    );
    assert_eq!(observer.observe(None, even_later), Duration::ZERO);
}

#[test]
fn steps_down_at_the_renew_deadline() {
    let renewed = Instant::now();
    let deadline = Duration::from_secs(10);
    assert!(!must_step_down(
        renewed,
        renewed + Duration::from_secs(9),
        deadline
    ));
    assert!(must_step_down(renewed, renewed + deadline, deadline));
}

#[test]
fn claiming_sets_holder_times_and_transitions() {
    let created = claimed(None, "me", ts(0), Duration::from_millis(1500));
    assert_eq!(created.holder_identity.as_deref(), Some("me"));
    assert_eq!(created.lease_duration_seconds, Some(2));
    assert_eq!(created.lease_transitions, Some(0));
    assert_eq!(created.acquire_time, Some(MicroTime(ts(0))));

    let renewed = claimed(Some(&created), "me", ts(5), LEASE);
    assert_eq!(renewed.renew_time, Some(MicroTime(ts(5))));
    assert_eq!(renewed.acquire_time, Some(MicroTime(ts(0))));
    assert_eq!(renewed.lease_transitions, Some(0));

    let taken = claimed(Some(&renewed), "peer", ts(30), LEASE);
    assert_eq!(taken.holder_identity.as_deref(), Some("peer"));
    assert_eq!(taken.acquire_time, Some(MicroTime(ts(30))));
    assert_eq!(taken.lease_transitions, Some(1));

    let free = released(&taken, ts(31));
    assert_eq!(free.holder_identity, None);
    assert_eq!(free.lease_transitions, Some(1));
    assert_eq!(
        free.renew_time.map(|t| t.0.duration_since(ts(30))),
        Some(SignedDuration::from_secs(1))
    );
}

#[test]
fn whole_seconds_round_up() {
    assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
    assert_eq!(whole_seconds(Duration::from_secs(15)), 15);
    assert_eq!(whole_seconds(Duration::from_millis(15_001)), 16);
}
