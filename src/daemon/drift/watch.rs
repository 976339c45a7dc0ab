//! The drift watch's worker: it keeps one [scope watch](super::scope) per (kind, namespace)
//! of the wanted set, compares what they see with git and acts on drift.

use crate::reconcile::rollout::CANARY_SUFFIX;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::Client;
use kube::runtime::events::EventType;
use serde_json::Value;
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use super::attention::{Attention, Marks};
use super::fights::{Decision, Fights};
use super::handle::Settings;
use super::scope::{Scope, Seen, watch_scope};
use super::wanted::{Verdict, Wanted};
use crate::admin::AdminState;
use crate::admin::drift::{DriftKind, DriftedObject};
use crate::daemon::leader::LeaderStatus;
use crate::reconcile::events::publish::Publisher;
use crate::reconcile::events::{PlannedEvent, Target};
use crate::reconcile::keys::{ObjectRef, ServiceKey};
use crate::render::{HpaVersion, Kind};
use crate::trigger::TriggerReason;

/// A wanted set, the services its plan covered (`None`: every service), and the last mark the
/// plan had seen before it read the cluster (see [`super::attention`]).
pub(super) type Asked = (Arc<Wanted>, Option<BTreeSet<ServiceKey>>, u64);

/// Starts the worker; it watches what `wanted` names from then on.
pub(super) fn start(
    settings: Settings,
    wanted: tokio_watch::Receiver<Option<Asked>>,
) -> (JoinHandle<()>, tokio_watch::Receiver<Attention>) {
    let Settings {
        client,
        hpa,
        self_heal,
        events,
        state,
        leader,
    } = settings;
    let (attention_tx, attention_rx) = tokio_watch::channel(Attention::default());
    let publisher = events.then(|| Publisher::new(client.clone(), hpa).for_target(state.target()));
    let worker = Worker {
        client,
        hpa,
        self_heal,
        state,
        leader,
        publisher,
        wanted: None,
        scopes: BTreeMap::new(),
        fights: Fights::default(),
        open: BTreeMap::new(),
        generation: 0,
        marks: Marks::default(),
        attention: attention_tx,
    };
    (tokio::spawn(worker.run(wanted)), attention_rx)
}

/// A running scope watch.
struct ScopeWatch {
    task: JoinHandle<()>,
    /// The source id its label selector names.
    source_id: String,
    /// Names listed since the last `Init`, while a listing is under way.
    listing: Option<BTreeSet<String>>,
    /// Whether a listing has completed (the first one only sets the baseline).
    listed: bool,
    /// Whether the watch broke since its last listing (it may have missed events).
    broken: bool,
}

impl Drop for ScopeWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Worker {
    client: Client,
    hpa: HpaVersion,
    self_heal: bool,
    state: AdminState,
    leader: LeaderStatus,
    publisher: Option<Publisher>,
    wanted: Option<Arc<Wanted>>,
    scopes: BTreeMap<Scope, ScopeWatch>,
    fights: Fights,
    /// Objects that differ from git now. One edit makes several watch events (the controllers
    /// react to it too) before the heal lands: only the first of them opens a drift, which is
    /// what is counted, reported and healed; the next in-sync event closes it. The value is the
    /// end of a fight's pause, when healing it resumes.
    open: BTreeMap<ObjectRef, Option<Instant>>,
    /// The generation of the wanted set being watched.
    generation: u64,
    /// The services with an event about a wanted object since their last plan (see
    /// [`super::attention`]).
    marks: Marks,
    /// Where [`super::DriftWatch::attention`] reads from.
    attention: tokio_watch::Sender<Attention>,
}

impl Worker {
    async fn run(mut self, mut wanted: tokio_watch::Receiver<Option<Asked>>) {
        let (tx, mut rx) = mpsc::channel::<(Scope, Seen)>(1024);
        loop {
            let resume = self.open.values().flatten().min().copied();
            tokio::select! {
                biased;
                changed = wanted.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let next = wanted.borrow_and_update().clone();
                    if let Some((w, focus, read_after)) = next {
                        self.rescope(&w, &tx);
                        self.generation = w.generation();
                        let open: Vec<ServiceKey> =
                            self.open.keys().filter_map(|k| w.service_of(k)).collect();
                        self.marks.settle(focus.as_ref(), read_after, open);
                        self.wanted = Some(w);
                    }
                }
                Some((scope, seen)) = rx.recv() => self.handle(scope, seen).await,
                () = sleep_until_some(resume) => self.resume(),
            }
            let listed = self.scopes.values().all(|s| s.listed && !s.broken);
            let marks = &mut self.marks;
            let generation = self.generation;
            self.attention.send_if_modified(|a| {
                let force = a.generation != generation || a.listed != listed;
                let Some((mark, services)) = marks.publish(force) else {
                    return false;
                };
                *a = Attention {
                    generation,
                    listed,
                    mark,
                    services,
                };
                true
            });
        }
    }

    /// Fights whose pause is over: heal those objects again (a reconcile; if the other writer
    /// is still at it, the next drift after the heal counts towards the next fight).
    fn resume(&mut self) {
        let now = Instant::now();
        let mut due = false;
        for until in self.open.values_mut() {
            if until.is_some_and(|t| t <= now) {
                *until = None;
                due = true;
            }
        }
        if due && self.self_heal {
            info!("drift: a DriftFight's pause is over; healing again");
            self.state.trigger().fire(TriggerReason::Drift);
        }
    }

    /// Watches exactly the scopes of `w`, with its source id.
    fn rescope(&mut self, w: &Wanted, tx: &mpsc::Sender<(Scope, Seen)>) {
        let scopes = w.scopes();
        self.scopes
            .retain(|scope, s| scopes.contains(scope) && s.source_id == w.source_id());
        for scope in scopes {
            if self.scopes.contains_key(&scope) {
                continue;
            }
            let task = tokio::spawn(watch_scope(
                self.client.clone(),
                self.hpa,
                scope.clone(),
                w.source_id().to_owned(),
                tx.clone(),
            ));
            let watch = ScopeWatch {
                task,
                source_id: w.source_id().to_owned(),
                listing: None,
                listed: false,
                broken: false,
            };
            self.scopes.insert(scope, watch);
        }
        self.fights.retain(|k| w.contains(k));
        self.open.retain(|k, _| w.contains(k));
    }

    async fn handle(&mut self, scope: Scope, seen: Seen) {
        let Some(watch) = self.scopes.get_mut(&scope) else {
            return; // a scope no longer watched
        };
        let (kind, namespace) = &scope;
        let mut checks: Vec<(ObjectRef, Option<Value>)> = Vec::new();
        match seen {
            Seen::Error => watch.broken = true,
            Seen::Init => watch.listing = Some(BTreeSet::new()),
            Seen::Object {
                name,
                live,
                listing,
            } => {
                if listing && let Some(names) = watch.listing.as_mut() {
                    names.insert(name.clone());
                }
                checks.push((ObjectRef::new(*kind, namespace, &name), Some(live)));
            }
            Seen::Deleted(name) => checks.push((ObjectRef::new(*kind, namespace, &name), None)),
            Seen::InitDone => {
                watch.broken = false;
                let names = watch.listing.take().unwrap_or_default();
                // The first listing is the baseline (the reconcile that asked for the watch
                // may still be creating objects); a later one (after a reconnect) finds what
                // was deleted while the watch was away.
                if std::mem::replace(&mut watch.listed, true)
                    && let Some(w) = &self.wanted
                {
                    checks.extend(
                        w.keys_in(*kind, namespace)
                            .filter(|k| !names.contains(&k.name))
                            .map(|k| (k.clone(), None)),
                    );
                }
            }
        }
        for (key, live) in checks {
            self.check(&key, live.as_ref()).await;
        }
    }

    /// Compares one watched object with git and acts on drift.
    async fn check(&mut self, key: &ObjectRef, live: Option<&Value>) {
        let Some(w) = &self.wanted else { return };
        let verdict = w.verdict(key, live);
        if verdict != Verdict::NotWanted
            && !(key.kind == Kind::HorizontalPodAutoscaler && verdict == Verdict::InSync)
            && let Some(service) = w.service_of(key)
        {
            self.marks.mark(service);
            // A canary's pods becoming ready, or an operator's intent on it: its rollout moves.
            if key.kind == Kind::Deployment && key.name.ends_with(CANARY_SUFFIX) {
                self.state.trigger().fire(TriggerReason::Rollout);
            }
        }
        let (drift, changes) = match verdict {
            Verdict::NotWanted | Verdict::OtherRevision => return,
            Verdict::InSync => {
                if self.open.remove(key).is_some() {
                    self.state
                        .record_in_sync(key.kind.as_str(), &key.namespace, &key.name);
                }
                return;
            }
            Verdict::Changed(changes) => (DriftKind::Changed, changes),
            Verdict::Deleted => (DriftKind::Deleted, vec!["deleted".to_owned()]),
        };
        if self.open.contains_key(key) {
            return; // the same drift, seen again before it was healed
        }
        let decision = self.fights.drifted(key, Instant::now());
        let fight_until = match decision {
            Decision::Heal => None,
            Decision::FightStarted { until, .. } | Decision::Paused { until } => Some(until),
        };
        self.open.insert(key.clone(), fight_until);
        let heal = self.self_heal && decision == Decision::Heal;
        info!(object = %key, drift = drift.as_str(), changes = %changes.join(", "), heal, "drift: an object mlsync applied was changed in the cluster");
        let new_fight = matches!(decision, Decision::FightStarted { .. });
        self.state.record_drift(
            DriftedObject {
                kind: key.kind.as_str().to_owned(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                drift,
                changes: changes.clone(),
                since: jiff::Timestamp::now(),
                fight_until: fight_until.map(timestamp),
            },
            new_fight,
        );
        if let Decision::FightStarted { backoff, .. } = decision {
            let pause = humantime::format_duration(backoff);
            warn!(object = %key, pause = %pause, "DriftFight: someone keeps changing this object back; mlsync stops re-applying it for a while");
            let uid = live
                .and_then(|l| l.pointer("/metadata/uid"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            self.publish_fight(key, uid, &changes, &pause.to_string())
                .await;
        }
        if heal {
            self.state.trigger().fire(TriggerReason::Drift);
        }
    }

    async fn publish_fight(
        &self,
        key: &ObjectRef,
        uid: Option<String>,
        changes: &[String],
        pause: &str,
    ) {
        if !self.leader.is_leader() {
            return;
        }
        let Some(publisher) = self.publisher.as_ref() else {
            return;
        };
        let event = PlannedEvent {
            type_: EventType::Warning,
            reason: "DriftFight",
            action: "Heal",
            note: crate::reconcile::events::note(format!(
                "changed in the cluster {} times within {}s ({}): another writer keeps changing it; mlsync stops re-applying it for {pause}",
                super::fights::FIGHT_THRESHOLD,
                super::fights::FIGHT_WINDOW.as_secs(),
                changes.join(", ")
            )),
            regarding: Target {
                kind: key.kind,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            },
            fallback: None,
        };
        publisher.publish_about(&event, uid).await;
    }
}

/// Completes at `at`, never when `at` is `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The wall-clock time of a tokio instant.
fn timestamp(at: Instant) -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    let ahead = at.saturating_duration_since(Instant::now());
    jiff::SignedDuration::try_from(ahead)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now)
}
