//! Leader election against a real kube-apiserver + etcd: two electors on one Lease never lead
//! together; a released lease passes to the standby at once; a crashed leader's lease passes
//! to the standby only after it expired; a leader cut off from the API server steps down
//! before the standby takes over; the documented RBAC is enough (`rbac`).
//!
//! Short lease settings keep the tests quick; every wait is a bounded polling loop.

mod proxy;
mod rbac;
use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use mlsync::daemon::leader::{self, Decision, LeaderSettings, LeaderStatus, LeaseRecord};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const LEASE: &str = "mlsync-models";

/// One elector, as a replica of the daemon would run it.
struct Replica {
    id: String,
    status: LeaderStatus,
    handle: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl Replica {
    async fn start(ns: &str, id: &str, lease_duration: Duration) -> Replica {
        Replica::start_with(support::cluster().client().await, ns, id, lease_duration).await
    }

    async fn start_with(
        client: kube::Client,
        ns: &str,
        id: &str,
        lease_duration: Duration,
    ) -> Replica {
        // Elector logs appear with the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("mlsync=debug")
            .with_test_writer()
            .try_init();
        let mut settings = LeaderSettings::new(ns.to_owned(), LEASE.to_owned(), id.to_owned());
        settings.lease_duration = lease_duration;
        settings.renew_interval = Duration::from_millis(500);
        settings.retry_period = Duration::from_millis(200);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let (status, handle) = leader::spawn(client, settings, shutdown).expect("valid settings");
        Replica {
            id: id.to_owned(),
            status,
            handle,
            stop: Some(stop),
        }
    }

    /// Graceful shutdown: stop leading and release the lease; waits for the task to end.
    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.handle)
            .await
            .expect("elector ended after shutdown")
            .expect("elector task did not panic");
        assert!(
            !self.status.is_leader(),
            "{} still leads after shutdown",
            self.id
        );
    }
}

async fn lease(ns: &str) -> Lease {
    let api: Api<Lease> = Api::namespaced(support::cluster().client().await, ns);
    api.get(LEASE).await.expect("read the lease")
}

async fn holder(ns: &str) -> Option<String> {
    LeaseRecord::of(&lease(ns).await).holder
}

/// Polls `check` every 50 ms; fails the test after `limit`.
async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leaders(replicas: &[&Replica]) -> Vec<String> {
    replicas
        .iter()
        .filter(|r| r.status.is_leader())
        .map(|r| r.id.clone())
        .collect()
}

#[tokio::test]
async fn two_electors_never_lead_together() {
    let ns = support::cluster().namespace("leader-two").await;
    // A 4 s lease (renew deadline 2.25 s) tolerates a loaded test machine.
    let a = Replica::start(&ns, "replica-a", Duration::from_secs(4)).await;
    let b = Replica::start(&ns, "replica-b", Duration::from_secs(4)).await;
    wait_for("a leader", Duration::from_secs(30), || {
        a.status.is_leader() || b.status.is_leader()
    })
    .await;
    // Sample for about four lease durations (dozens of renewals).
    for sample in 0..40 {
        let before = leaders(&[&a, &b]);
        let held_by = holder(&ns).await;
        let after = leaders(&[&a, &b]);
        assert_eq!(before.len(), 1, "sample {sample}: leaders {before:?}");
        assert_eq!(before, after, "sample {sample}: leadership changed");
        assert_eq!(
            held_by.as_ref(),
            before.first(),
            "sample {sample}: lease holder"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let transitions = lease(&ns).await.spec.and_then(|s| s.lease_transitions);
    assert_eq!(
        transitions,
        Some(0),
        "the first holder kept the lease throughout"
    );
    a.shut_down().await;
    b.shut_down().await;
}

#[tokio::test]
async fn released_lease_passes_to_the_standby_at_once() {
    let ns = support::cluster().namespace("leader-release").await;
    // A 60 s lease: within the 20 s wait below only a release can hand it over.
    let a = Replica::start(&ns, "replica-a", Duration::from_secs(60)).await;
    let mut a_status = a.status.clone();
    assert!(
        tokio::time::timeout(Duration::from_secs(30), a_status.wait_leader())
            .await
            .expect("replica-a leads")
    );
    let b = Replica::start(&ns, "replica-b", Duration::from_secs(60)).await;
    for _ in 0..10 {
        assert!(
            !b.status.is_leader(),
            "replica-b leads while replica-a holds the lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.shut_down().await;
    wait_for("replica-b to lead", Duration::from_secs(20), || {
        b.status.is_leader()
    })
    .await;
    let spec = lease(&ns).await.spec.expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b.shut_down().await;
    assert_eq!(holder(&ns).await, None, "released on shutdown");
}

#[tokio::test]
async fn crashed_leader_is_replaced_after_the_lease_expires() {
    let ns = support::cluster().namespace("leader-crash").await;
    let duration = Duration::from_secs(2);
    let a = Replica::start(&ns, "replica-a", duration).await;
    wait_for("replica-a to lead", Duration::from_secs(30), || {
        a.status.is_leader()
    })
    .await;
    let b = Replica::start(&ns, "replica-b", duration).await;

    // Crash: the task stops without releasing the lease.
    a.handle.abort();
    assert!(a.handle.await.expect_err("aborted").is_cancelled());
    assert!(
        !a.status.is_leader(),
        "a dead elector must not report leadership"
    );
    let last = LeaseRecord::of(&lease(&ns).await);
    assert_eq!(last.holder.as_deref(), Some("replica-a"), "not released");
    let last_renewal = last.renew_time.expect("renewTime");

    wait_for("replica-b to take over", Duration::from_secs(30), || {
        b.status.is_leader()
    })
    .await;
    let taken = LeaseRecord::of(&lease(&ns).await);
    assert_eq!(taken.holder.as_deref(), Some("replica-b"));
    assert_eq!(taken.transitions, 1);
    let acquired = taken.acquire_time.expect("acquireTime");
    let waited = acquired.duration_since(last_renewal);
    assert!(
        waited >= SignedDuration::try_from(duration).unwrap(),
        "replica-b took the lease {waited:?} after the last renewal, before it expired"
    );
    b.shut_down().await;
}

/// Records every change of a replica's leadership, in order, into `events`.
fn record(
    mut rx: watch::Receiver<bool>,
    who: &'static str,
    events: Arc<Mutex<Vec<(&'static str, bool)>>>,
) {
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let leading = *rx.borrow_and_update();
            events.lock().unwrap().push((who, leading));
        }
    });
}

#[tokio::test]
async fn partitioned_leader_steps_down_before_the_standby_takes_over() {
    let ns = support::cluster().namespace("leader-partition").await;
    let duration = Duration::from_secs(2);
    let proxy = proxy::Proxy::start().await;
    let a = Replica::start_with(proxy.client().await, &ns, "replica-a", duration).await;
    wait_for("replica-a to lead", Duration::from_secs(30), || {
        a.status.is_leader()
    })
    .await;
    let b = Replica::start(&ns, "replica-b", duration).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    record(a.status.receiver(), "replica-a", events.clone());
    record(b.status.receiver(), "replica-b", events.clone());

    // replica-a's requests now hang: it cannot renew.
    proxy.cut();
    wait_for("replica-b to take over", Duration::from_secs(30), || {
        b.status.is_leader()
    })
    .await;
    let seen = events.lock().unwrap().clone();
    let a_down = seen.iter().position(|e| *e == ("replica-a", false));
    let b_up = seen.iter().position(|e| *e == ("replica-b", true));
    assert!(
        matches!((a_down, b_up), (Some(down), Some(up)) if down < up),
        "replica-a must stop leading before replica-b leads: {seen:?}"
    );

    // The partition heals: replica-a keeps running and stands by.
    proxy.restore();
    for _ in 0..20 {
        assert!(!a.status.is_leader() && b.status.is_leader());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !a.handle.is_finished(),
        "replica-a's elector survived the partition"
    );
    a.shut_down().await;
    assert_eq!(
        holder(&ns).await.as_deref(),
        Some("replica-b"),
        "a standby releases nothing"
    );
    b.shut_down().await;
}

/// The pure decision, without a cluster: expired or not, and who holds the lease.
#[test]
fn decision_logic_without_a_cluster() {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let lease = Duration::from_secs(15);
    let record = LeaseRecord {
        holder: Some("peer".to_owned()),
        renew_time: Some(now - SignedDuration::from_secs(20)),
        lease_duration: Some(lease),
        acquire_time: None,
        transitions: 0,
    };
    let standby = Decision::StandBy {
        holder: "peer".to_owned(),
    };
    assert_eq!(
        leader::decide(None, "me", Duration::ZERO, now, lease),
        Decision::Create
    );
    // Expired by the wall clock, but only just observed: wait a lease duration.
    assert_eq!(
        leader::decide(Some(&record), "me", Duration::ZERO, now, lease),
        standby
    );
    assert_eq!(
        leader::decide(Some(&record), "me", lease, now, lease),
        Decision::Acquire
    );
    assert_eq!(
        leader::decide(Some(&record), "peer", Duration::ZERO, now, lease),
        Decision::Renew
    );
    let fresh = LeaseRecord {
        renew_time: Some(now),
        ..record.clone()
    };
    assert_eq!(
        leader::decide(Some(&fresh), "me", lease * 2, now, lease),
        standby
    );
    let free = LeaseRecord {
        holder: None,
        ..record
    };
    assert_eq!(
        leader::decide(Some(&free), "me", Duration::ZERO, now, lease),
        Decision::Acquire
    );
}
