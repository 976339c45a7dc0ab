//! Publishing [`PlannedEvent`]s (I/O) with kube's `Recorder` (events.k8s.io/v1, reporting
//! controller `mlsync`), several at once. Each event carries its target's uid, so that
//! `kubectl describe` lists it: taken from what the run already read ([`Seen`]), read only when
//! the run does not know it; falls back to the inventory ConfigMap when a service's Deployment
//! does not exist.
//!
//! Publishing never fails a reconcile: failures (RBAC, API down) are counted and logged with
//! one `warn!` per call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::{debug, warn};

use super::{PlannedEvent, Target};
use crate::cluster;
use crate::reconcile::keys::ObjectRef;
use crate::reconcile::seen::{Seen, Uid};
use crate::render::HpaVersion;

/// The reporting controller of every event.
pub const CONTROLLER: &str = "mlsync";

/// The same warning (reason, object, note) is published again only after this long: a daemon
/// that keeps failing the same way does not write an event every few seconds.
pub const WARNING_REPEAT: Duration = Duration::from_secs(10 * 60);

/// Events in flight at once.
const PUBLISH_CONCURRENCY: usize = 8;

/// Publishes events; keep one per process (it remembers recent warnings).
///
/// Each [`Publisher::publish`] call uses a fresh kube `Recorder`: a long-lived one would turn
/// a later event with the same reason and object (say the `Applied` of the next revision)
/// into a repeat count on the earlier event, keeping the earlier note.
pub struct Publisher {
    client: Client,
    hpa: HpaVersion,
    reporter: Reporter,
    recent_warnings: HashMap<String, Instant>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("recent_warnings", &self.recent_warnings.len())
            .finish_non_exhaustive()
    }
}

/// The reporting instance: the pod name (`POD_NAME`, else `HOSTNAME`) when it is a usable one;
/// without one, kube's recorder uses the controller name.
fn instance() -> Option<String> {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty() && h.len() <= 128)
}

/// The kube event recorder's form of `ev`.
fn event_of(ev: &PlannedEvent) -> Event {
    Event {
        type_: ev.type_,
        reason: ev.reason.to_owned(),
        note: Some(ev.note.clone()),
        action: ev.action.to_owned(),
        secondary: None,
    }
}

impl Publisher {
    /// A publisher writing with `client`; `hpa` is the HPA API version the cluster serves.
    pub fn new(client: Client, hpa: HpaVersion) -> Self {
        Self {
            reporter: Reporter {
                controller: CONTROLLER.to_owned(),
                instance: instance(),
            },
            client,
            hpa,
            recent_warnings: HashMap::new(),
        }
    }

    /// Names the daemon target in the reporting instance (`<pod or host>/<target>`, or the
    /// target alone), so that a daemon driving several clusters says which of its targets wrote
    /// an event.
    pub fn for_target(mut self, target: Option<&str>) -> Self {
        if let Some(t) = target {
            let instance = match self.reporter.instance.take() {
                Some(host) if host.len() + t.len() < 128 => format!("{host}/{t}"),
                _ => t.to_owned(),
            };
            self.reporter.instance = Some(instance);
        }
        self
    }

    /// Publishes `events`; returns how many were published. Logs one warning when any failed.
    /// Reads each target's uid (see [`Publisher::publish_seen`] to avoid that).
    pub async fn publish(&mut self, events: &[PlannedEvent]) -> usize {
        self.publish_seen(events, &Seen::default()).await
    }

    /// Publishes `events` of a run that has `seen` the live objects: uids it knows are not read
    /// again. Returns how many were published; logs one warning when any failed.
    pub async fn publish_seen(&mut self, events: &[PlannedEvent], seen: &Seen) -> usize {
        let now = Instant::now();
        self.recent_warnings
            .retain(|_, at| now.duration_since(*at) < WARNING_REPEAT);
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        let mut to_send: Vec<(&PlannedEvent, String)> = Vec::new();
        for ev in events {
            let key = format!(
                "{}|{}/{}/{}|{}",
                ev.reason, ev.regarding.kind, ev.regarding.namespace, ev.regarding.name, ev.note
            );
            if ev.type_ == EventType::Warning && self.recent_warnings.contains_key(&key) {
                debug!(
                    reason = ev.reason,
                    "event repeats a recent warning; not published"
                );
                continue;
            }
            to_send.push((ev, key));
        }
        let this = &*self;
        let recorder = &recorder;
        let results: Vec<(&PlannedEvent, String, Result<(), kube::Error>)> = stream::iter(to_send)
            .map(|(ev, key)| async move {
                let reference = this.reference(ev, seen).await;
                let result = recorder.publish(&event_of(ev), &reference).await;
                (ev, key, result)
            })
            .buffered(PUBLISH_CONCURRENCY)
            .collect()
            .await;
        let mut published = 0;
        let mut failures: Vec<String> = Vec::new();
        for (ev, key, result) in results {
            match result {
                Ok(()) => {
                    published += 1;
                    if ev.type_ == EventType::Warning {
                        self.recent_warnings.insert(key, now);
                    }
                }
                Err(e) => {
                    let why = match e {
                        kube::Error::Api(s) => s.message,
                        other => other.to_string(),
                    };
                    failures.push(format!(
                        "{} for {}/{}: {why}",
                        ev.reason, ev.regarding.namespace, ev.regarding.name
                    ));
                }
            }
        }
        if let Some(first) = failures.first() {
            warn!(
                failed = failures.len(),
                of = events.len(),
                error = %first,
                "failed to publish Kubernetes events; the reconcile is not affected"
            );
        }
        published
    }

    /// Publishes one event about an object whose uid the caller knows (`None`: without uid);
    /// reads nothing. Logs a warning when it fails.
    pub async fn publish_about(&self, ev: &PlannedEvent, uid: Option<String>) {
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        let reference = self.object_ref(&ev.regarding, uid);
        if let Err(e) = recorder.publish(&event_of(ev), &reference).await {
            warn!(reason = ev.reason, error = %e, "failed to publish a Kubernetes event");
        }
    }

    /// The reference of the event's target (with its uid), or of its fallback when the target
    /// does not exist; the target without uid when neither can be read (e.g. a pruned object).
    async fn reference(&self, ev: &PlannedEvent, seen: &Seen) -> ObjectReference {
        if let Some(uid) = self.uid(&ev.regarding, seen).await {
            return self.object_ref(&ev.regarding, Some(uid));
        }
        if let Some(fallback) = &ev.fallback {
            let uid = self.uid(fallback, seen).await;
            return self.object_ref(fallback, uid);
        }
        self.object_ref(&ev.regarding, None)
    }

    /// The uid of `t`: as the run saw it, else read (`None` when it does not exist).
    async fn uid(&self, t: &Target, seen: &Seen) -> Option<String> {
        match seen.uid(&ObjectRef::new(t.kind, &t.namespace, &t.name)) {
            Uid::Known(uid) => return Some(uid),
            Uid::Gone => return None,
            Uid::Unknown => {}
        }
        let api = cluster::api(&self.client, t.kind, self.hpa, &t.namespace);
        match api.get_opt(&t.name).await {
            Ok(found) => found.and_then(|o| o.metadata.uid),
            Err(e) => {
                debug!(error = %e, kind = %t.kind, name = %t.name, "event target not read");
                None
            }
        }
    }

    fn object_ref(&self, t: &Target, uid: Option<String>) -> ObjectReference {
        ObjectReference {
            api_version: Some(cluster::api_resource(t.kind, self.hpa).api_version),
            kind: Some(t.kind.as_str().to_owned()),
            name: Some(t.name.clone()),
            namespace: Some(t.namespace.clone()),
            uid,
            ..Default::default()
        }
    }
}
