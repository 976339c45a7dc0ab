use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn admits_without_closing_anything_below_the_limit() {
    let table = ConnTable::new(3);
    for _ in 0..3 {
        let (_, evicted) = table.admit(ip("10.0.0.1"));
        assert!(!evicted);
    }
    assert_eq!(table.len(), 3);
}

#[test]
fn a_full_table_closes_a_connection_of_the_peer_with_the_most() {
    let table = ConnTable::new(4);
    let (kubelet, _) = table.admit(ip("10.0.0.9"));
    let flood: Vec<_> = (0..3).map(|_| table.admit(ip("10.0.0.1")).0).collect();
    // The kubelet's connection is the oldest and idle, but its peer holds one connection.
    let (_, evicted) = table.admit(ip("10.0.0.1"));
    assert!(evicted);
    assert!(table.contains(kubelet.id));
    assert!(
        !table.contains(flood[0].id),
        "the flood's oldest goes first"
    );
    assert!(table.contains(flood[1].id));
    assert_eq!(table.len(), 4);
}

#[test]
fn the_closed_connection_is_told_to_close() {
    let table = ConnTable::new(1);
    let (first, _) = table.admit(ip("10.0.0.1"));
    let (_, evicted) = table.admit(ip("10.0.0.2"));
    assert!(evicted);
    // notify_one stored a permit: the task sees it even if it starts waiting afterwards.
    let notified = first.close.notified();
    tokio::pin!(notified);
    assert!(notified.as_mut().enable());
}

#[test]
fn idle_connections_go_before_busy_ones_and_the_longest_idle_first() {
    let table = ConnTable::new(3);
    let (a, _) = table.admit(ip("10.0.0.1"));
    let (b, _) = table.admit(ip("10.0.0.2"));
    let (c, _) = table.admit(ip("10.0.0.3"));
    table.request_started(a.id); // a is busy
    table.request_started(b.id);
    table.request_finished(b.id); // b was active after c was admitted
    table.admit(ip("10.0.0.4"));
    assert!(table.contains(a.id));
    assert!(table.contains(b.id));
    assert!(!table.contains(c.id));
}

#[test]
fn closing_frees_the_slot_and_forgets_the_peer() {
    let table = ConnTable::new(2);
    let (a, _) = table.admit(ip("10.0.0.1"));
    let (b, _) = table.admit(ip("10.0.0.1"));
    table.closed(a.id);
    table.closed(a.id); // twice is harmless (e.g. evicted, then the task ends)
    let (_, evicted) = table.admit(ip("10.0.0.2"));
    assert!(!evicted);
    assert!(table.contains(b.id));
    assert_eq!(table.len(), 2);
}

#[test]
fn ipv6_peers_are_counted_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
    assert_eq!(
        PeerKey::from(ip("2001:db8:1:2::1")),
        PeerKey::from(ip("2001:db8:1:2:ffff::7"))
    );
    assert_ne!(
        PeerKey::from(ip("2001:db8:1:2::1")),
        PeerKey::from(ip("2001:db8:1:3::1"))
    );
    assert_eq!(
        PeerKey::from(ip("::ffff:10.0.0.1")),
        PeerKey::from(ip("10.0.0.1"))
    );
}
