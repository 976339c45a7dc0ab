use crate::admin::status::ServiceState;
use std::time::Duration;

use super::*;

fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

fn inputs(shared: u8, services: &[(&str, u8)]) -> Inputs {
    Inputs {
        shared: [shared; 32],
        services: services.iter().map(|(n, d)| (key(n), [*d; 32])).collect(),
    }
}

fn result(name: &str, state: ServiceState) -> ServiceResult {
    ServiceResult {
        name: name.into(),
        namespace: "ns".into(),
        state,
        error: None,
        cause: None,
        rollout: None,
    }
}

fn status(outcome: Outcome, services: Vec<ServiceResult>) -> ReconcileReport {
    ReconcileReport {
        outcome,
        duration: Duration::ZERO,
        revision: Some("r1".into()),
        error: None,
        services: Some(services),
        prune_refused: None,
        kept_services: vec![],
    }
}

fn basis(services: &[(&str, u8)], states: &[(&str, ServiceState)]) -> Basis {
    let results = states.iter().map(|(n, s)| result(n, *s)).collect();
    Basis::after(
        Some(inputs(1, services)),
        &status(Outcome::Success, results),
    )
    .expect("a successful reconcile leaves a basis")
}

fn counts(names: &[&str]) -> BTreeMap<ServiceKey, usize> {
    names.iter().map(|n| (key(n), 5)).collect()
}

const ABCD: [&str; 4] = ["a", "b", "c", "d"];

fn all_synced() -> Basis {
    basis(
        &[("a", 1), ("b", 1), ("c", 1), ("d", 1)],
        &ABCD.map(|n| (n, ServiceState::Synced)),
    )
}

#[test]
fn a_commit_that_changes_one_spec_focuses_on_that_service() {
    let b = all_synced();
    let next = inputs(1, &[("a", 1), ("b", 2), ("c", 1), ("d", 1)]);
    let f = b
        .focus(&next, &BTreeSet::new(), &counts(&ABCD))
        .expect("focused");
    assert_eq!(f.services, [key("b")].into());
    assert_eq!(f.managed_elsewhere, 15);
}

#[test]
fn unchanged_git_and_a_quiet_watch_focus_on_nothing() {
    let b = all_synced();
    let next = inputs(1, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    let f = b.focus(&next, &BTreeSet::new(), &counts(&ABCD));
    assert_eq!(f.map(|f| f.services.len()), Some(0));
}

#[test]
fn removed_services_and_what_the_watch_saw_are_in_focus() {
    let b = basis(
        &[
            ("a", 1),
            ("b", 1),
            ("c", 1),
            ("d", 1),
            ("e", 1),
            ("f", 1),
            ("g", 1),
        ],
        &[
            ("a", ServiceState::Synced),
            ("b", ServiceState::Progressing),
            ("c", ServiceState::Synced),
            ("d", ServiceState::Synced),
            ("e", ServiceState::Synced),
            ("f", ServiceState::Synced),
            ("g", ServiceState::Unknown),
        ],
    );
    // "a" left git; "c" drifted; "gone" is in neither load and is ignored; "b" still rolls
    // out, but the watch saw nothing happen to it: its last result stands; the health of "g"
    // could not be read: it is read again.
    let next = inputs(
        1,
        &[("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1), ("g", 1)],
    );
    let attention = [key("c"), key("gone")].into();
    let f = b
        .focus(
            &next,
            &attention,
            &counts(&["a", "b", "c", "d", "e", "f", "g"]),
        )
        .expect("focused");
    assert_eq!(f.services, [key("a"), key("c"), key("g")].into());
    assert_eq!(f.managed_elsewhere, 20);
    // The status of that run: its own results, then those that stand.
    let in_git: Vec<ServiceKey> = ["b", "c", "d", "e", "f", "g"].map(key).into();
    let mut s = status(Outcome::Success, vec![result("c", ServiceState::Synced)]);
    complete(&mut s, &in_git, &f, &b);
    let states: Vec<(String, ServiceState)> = s
        .services
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("c", ServiceState::Synced),
            ("b", ServiceState::Progressing),
            ("d", ServiceState::Synced),
            ("e", ServiceState::Synced),
            ("f", ServiceState::Synced),
        ]
        .map(|(n, s)| (n.to_owned(), s))
    );
}

#[test]
fn shared_inputs_or_a_large_change_make_a_whole_reconcile() {
    let b = all_synced();
    let config_changed = inputs(2, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    assert_eq!(
        b.focus(&config_changed, &BTreeSet::new(), &counts(&ABCD)),
        None
    );
    let three_of_four = inputs(1, &[("a", 2), ("b", 2), ("c", 2), ("d", 1)]);
    assert_eq!(
        b.focus(&three_of_four, &BTreeSet::new(), &counts(&ABCD)),
        None
    );
    let two_of_four = inputs(1, &[("a", 2), ("b", 2), ("c", 1), ("d", 1)]);
    assert!(
        b.focus(&two_of_four, &BTreeSet::new(), &counts(&ABCD))
            .is_some()
    );
}

#[test]
fn only_a_clean_success_leaves_a_basis() {
    let synced = || vec![result("a", ServiceState::Synced)];
    let ok = status(Outcome::Success, synced());
    assert!(Basis::after(Some(inputs(1, &[("a", 1)])), &ok).is_some());
    assert!(Basis::after(None, &ok).is_none());
    let partial = status(Outcome::Partial, synced());
    assert!(Basis::after(Some(inputs(1, &[("a", 1)])), &partial).is_none());
    let kept = ReconcileReport {
        kept_services: vec![("ns".into(), "old".into())],
        ..status(Outcome::Success, synced())
    };
    assert!(Basis::after(Some(inputs(1, &[("a", 1)])), &kept).is_none());
    let stopped = ReconcileReport {
        services: None,
        ..status(Outcome::Success, synced())
    };
    assert!(Basis::after(Some(inputs(1, &[("a", 1)])), &stopped).is_none());
}
