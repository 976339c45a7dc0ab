//! The drift watch's tasks: one kube runtime watcher per (kind, namespace), and the task that
//! compares what they see with git and acts on drift.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use kube::Client;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, events::EventType};
use serde_json::Value;
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::fights::{Decision, Fights};
use super::wanted::{Verdict, Wanted};
use crate::admin::AdminState;
use crate::admin::drift::{DriftKind, DriftedObject};
use crate::cluster;
use crate::daemon::leader::LeaderStatus;
use crate::reconcile::Planned;
use crate::reconcile::events::publish::Publisher;
use crate::reconcile::events::{PlannedEvent, Target};
use crate::reconcile::keys::ObjectRef;
use crate::reconcile::live;
use crate::render::{HpaVersion, Kind};
use crate::trigger::TriggerReason;

/// One (kind, namespace) watched.
type Scope = (Kind, String);

/// What a scope's watcher saw.
#[derive(Debug)]
enum Seen {
    /// The watch (re)starts listing.
    Init,
    /// An object, during the listing (`listing`) or after it.
    Object {
        name: String,
        live: Value,
        listing: bool,
    },
    /// An object was deleted.
    Deleted(String),
    /// The listing is complete.
    InitDone,
    /// The watch broke; the runtime reconnects (and re-lists when it must).
    Error,
}

/// The daemon's drift watch; see the [module documentation](super). Dropping it stops it.
pub struct DriftWatch {
    wanted: tokio_watch::Sender<Option<Arc<Wanted>>>,
    quiet: tokio_watch::Receiver<Quiet>,
    digest_key: Vec<u8>,
    task: JoinHandle<()>,
}

/// Whether the cluster is known to be as the last plan left it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Quiet {
    /// Which [`DriftWatch::want`] this is about.
    generation: u64,
    /// Every scope listed and watching, and not one event about a wanted object since (other
    /// than an HPA's own status updates, which its controller writes all the time).
    quiet: bool,
}

impl DriftWatch {
    /// Starts the watch (it watches nothing until [`DriftWatch::want`]). With `self_heal`,
    /// drift fires a reconcile through `state`'s trigger; `events` publishes `DriftFight`
    /// Events (only while `leader` leads).
    pub fn spawn(
        client: Client,
        hpa: HpaVersion,
        self_heal: bool,
        events: bool,
        state: AdminState,
        leader: LeaderStatus,
    ) -> Self {
        let (tx, rx) = tokio_watch::channel(None);
        let (quiet_tx, quiet_rx) = tokio_watch::channel(Quiet::default());
        state.set_self_heal(self_heal);
        let publisher = events.then(|| Publisher::new(client.clone(), hpa));
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
            eventful: true,
            quiet: quiet_tx,
        };
        Self {
            wanted: tx,
            quiet: quiet_rx,
            digest_key: rand::random::<[u8; 32]>().to_vec(),
            task: tokio::spawn(worker.run(rx)),
        }
    }

    /// What the cluster should hold from now on: the objects `planned` applies. Called right
    /// after planning, so that the watch events of the apply itself compare with the new plan.
    pub fn want(&self, planned: &Planned) {
        let wanted = Wanted::of(planned, &self.digest_key);
        self.wanted.send_replace(Some(Arc::new(wanted)));
    }

    /// True when the cluster is known to be exactly as the last [`DriftWatch::want`] left it:
    /// every scope is listed and watching, and nothing about a wanted object has happened since
    /// (no drift, no status change of a Deployment). A poll that finds git unchanged then has
    /// nothing to do and need not ask the API server anything.
    pub fn quiet(&self) -> bool {
        let q = *self.quiet.borrow();
        let asked = self.wanted.borrow().as_ref().map(|w| w.generation());
        q.quiet && asked == Some(q.generation)
    }
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
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
    /// Whether an event about a wanted object arrived since the wanted set was last replaced.
    eventful: bool,
    /// Where [`DriftWatch::quiet`] reads from.
    quiet: tokio_watch::Sender<Quiet>,
}

impl Worker {
    async fn run(mut self, mut wanted: tokio_watch::Receiver<Option<Arc<Wanted>>>) {
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
                    if let Some(w) = next {
                        self.rescope(&w, &tx);
                        self.generation = w.generation();
                        self.eventful = false;
                        self.wanted = Some(w);
                    }
                }
                Some((scope, seen)) = rx.recv() => self.handle(scope, seen).await,
                () = sleep_until_some(resume) => self.resume(),
            }
            let quiet = !self.eventful
                && self.open.is_empty()
                && self.scopes.values().all(|s| s.listed && !s.broken);
            self.quiet.send_if_modified(|q| {
                let next = Quiet {
                    generation: self.generation,
                    quiet,
                };
                std::mem::replace(q, next) != next
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
        {
            self.eventful = true;
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

/// Watches one scope and forwards what it sees; kube's runtime reconnects with backoff.
async fn watch_scope(
    client: Client,
    hpa: HpaVersion,
    scope: Scope,
    source_id: String,
    tx: mpsc::Sender<(Scope, Seen)>,
) {
    let (kind, namespace) = &scope;
    let api = cluster::api(&client, *kind, hpa, namespace);
    let config = watcher::Config::default().labels(&live::selector(&source_id));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut errors: u32 = 0;
    while let Some(item) = stream.next().await {
        let seen = match item {
            Ok(Event::Init) => Seen::Init,
            Ok(Event::InitApply(o)) => object(o, *kind, hpa, true),
            Ok(Event::Apply(o)) => object(o, *kind, hpa, false),
            Ok(Event::Delete(o)) => Seen::Deleted(o.metadata.name.unwrap_or_default()),
            Ok(Event::InitDone) => {
                if errors > 0 {
                    info!(kind = %kind, namespace = %namespace, "drift watch is back");
                    errors = 0;
                }
                Seen::InitDone
            }
            Err(e) => {
                // The runtime retries with backoff; say so once per outage.
                if errors == 0 {
                    warn!(kind = %kind, namespace = %namespace, error = %e, "drift watch interrupted; retrying (drift is still found at the next poll)");
                } else {
                    debug!(kind = %kind, namespace = %namespace, error = %e, "drift watch still interrupted");
                }
                errors = errors.saturating_add(1);
                Seen::Error
            }
        };
        if tx.send((scope.clone(), seen)).await.is_err() {
            return;
        }
    }
}

/// A watched object as the comparison reads it: JSON with `apiVersion` and `kind` set (list
/// items come without them).
fn object(o: DynamicObject, kind: Kind, hpa: HpaVersion, listing: bool) -> Seen {
    let name = o.metadata.name.clone().unwrap_or_default();
    let mut live = serde_json::to_value(&o).unwrap_or(Value::Null);
    if let Some(m) = live.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            cluster::api_resource(kind, hpa).api_version.into(),
        );
        m.insert("kind".into(), kind.as_str().into());
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    Seen::Object {
        name,
        live,
        listing,
    }
}
