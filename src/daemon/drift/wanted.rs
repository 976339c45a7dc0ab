//! What the cluster should hold, as the last plan said (pure): the index the drift watch
//! compares each watched object with.
//!
//! Secret values are not kept: a Secret's `data` is replaced by keyed digests (HMAC-SHA256 with
//! a key drawn once per process), and a live Secret's data is digested the same way before the
//! comparison, so the daemon holds no decrypted value between reconciles.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::reconcile::Planned;
use crate::reconcile::compare::{self, Ownership};
use crate::reconcile::keys::{ObjectRef, ServiceKey};
use crate::render::Kind;

/// How a watched object compares with what git wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not one of the objects the last plan wanted (or not ours): not drift.
    NotWanted,
    /// Equal to what git wants.
    InSync,
    /// Changed in the cluster: the fields (dotted paths) that differ.
    Changed(Vec<String>),
    /// Gone from the cluster.
    Deleted,
    /// Written by another revision than the plan's (the reconcile in flight is about to write
    /// it, or just did under a newer plan): not drift.
    OtherRevision,
}

/// One wanted object: its service's name and its body as compact JSON text.
#[derive(Debug)]
struct Entry {
    service: Box<str>,
    body: Box<str>,
}

/// The objects the last plan wanted, by identity.
#[derive(Debug, Default)]
pub struct Wanted {
    generation: u64,
    source_id: String,
    objects: BTreeMap<ObjectRef, Entry>,
    key: Vec<u8>,
}

impl Wanted {
    /// The objects of every service `planned` applies (services it skips are not watched for
    /// drift: their live objects may differ on purpose). `key` digests Secret values. When
    /// `planned` is [focused](crate::reconcile::focus), the services outside its focus keep
    /// what `previous` wanted of them.
    pub fn of(planned: &Planned, key: &[u8], previous: Option<&Wanted>) -> Self {
        let mut objects: BTreeMap<ObjectRef, Entry> = BTreeMap::new();
        if let (Some(focus), Some(previous)) = (&planned.focus, previous) {
            for (k, e) in &previous.objects {
                if !focus.contains(&k.namespace, &e.service) {
                    let entry = Entry {
                        service: e.service.clone(),
                        body: e.body.clone(),
                    };
                    objects.insert(k.clone(), entry);
                }
            }
        }
        for s in planned.plan.services.iter().filter(|s| s.error.is_none()) {
            for o in s.objects.iter().filter_map(|o| o.desired.as_ref()) {
                let body = match o.kind {
                    Kind::Secret => compact(&digest_data(&o.body, key)),
                    _ => compact(&o.body),
                };
                let service = s.name.as_str().into();
                objects.insert(ObjectRef::of(o), Entry { service, body });
            }
        }
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            source_id: planned.source().1.to_owned(),
            objects,
            key: key.to_vec(),
        }
    }

    /// Tells wanted sets apart (each [`Wanted::of`] has its own).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The source id whose label selects the watched objects.
    pub fn source_id(&self) -> &str {
        &self.source_id
    }

    /// Whether `key` is wanted.
    pub fn contains(&self, key: &ObjectRef) -> bool {
        self.objects.contains_key(key)
    }

    /// Every (kind, namespace) that holds a wanted object: what to watch.
    pub fn scopes(&self) -> BTreeSet<(Kind, String)> {
        self.objects
            .keys()
            .map(|k| (k.kind, k.namespace.clone()))
            .collect()
    }

    /// The service (namespace, name) of wanted object `key`.
    pub fn service_of(&self, key: &ObjectRef) -> Option<ServiceKey> {
        let e = self.objects.get(key)?;
        Some(ServiceKey::new(&key.namespace, &e.service))
    }

    /// How many objects of each service are wanted.
    pub fn counts(&self) -> BTreeMap<ServiceKey, usize> {
        let mut out = BTreeMap::new();
        for (k, e) in &self.objects {
            *out.entry(ServiceKey::new(&k.namespace, &e.service))
                .or_default() += 1;
        }
        out
    }

    /// The wanted objects of `kind` in `namespace`.
    pub fn keys_in(&self, kind: Kind, namespace: &str) -> impl Iterator<Item = &ObjectRef> {
        self.objects
            .keys()
            .filter(move |k| k.kind == kind && k.namespace == namespace)
    }

    /// How `live` (the object `key` as watched, `None` once deleted) compares with git.
    pub fn verdict(&self, key: &ObjectRef, live: Option<&Value>) -> Verdict {
        let Some(entry) = self.objects.get(key) else {
            return Verdict::NotWanted;
        };
        let Ok(desired) = serde_json::from_str::<Value>(&entry.body) else {
            return Verdict::NotWanted;
        };
        let Some(live) = live else {
            return Verdict::Deleted;
        };
        if compare::ownership(live, &self.source_id) != Ownership::Ours {
            return Verdict::NotWanted;
        }
        if let Some(hash) = compare::applied_hash(live)
            && compare::applied_hash(&desired) != Some(hash)
        {
            return Verdict::OtherRevision;
        }
        let digested;
        let live = if key.kind == Kind::Secret {
            digested = digest_data(live, &self.key);
            &digested
        } else {
            live
        };
        let changes = compare::differences(&desired, live);
        if changes.is_empty() {
            Verdict::InSync
        } else {
            Verdict::Changed(changes)
        }
    }
}

/// `v` as compact JSON text.
fn compact(v: &Value) -> Box<str> {
    serde_json::to_string(v)
        .unwrap_or_default()
        .into_boxed_str()
}

/// `obj` with each value of `data` replaced by its keyed digest (hex).
fn digest_data(obj: &Value, key: &[u8]) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(data)) = out.get_mut("data") {
        let digested: Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(digest(key, v))))
            .collect();
        *data = digested;
    }
    out
}

fn digest(key: &[u8], v: &Value) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(v.as_str().unwrap_or_default().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wanted(objects: Vec<(ObjectRef, Value)>) -> Wanted {
        let key = b"k".to_vec();
        Wanted {
            generation: 1,
            source_id: "src".into(),
            objects: objects
                .into_iter()
                .map(|(k, v)| {
                    let v = if k.kind == Kind::Secret {
                        digest_data(&v, &key)
                    } else {
                        v
                    };
                    let entry = Entry {
                        service: "a".into(),
                        body: compact(&v),
                    };
                    (k, entry)
                })
                .collect(),
            key,
        }
    }

    fn ours(extra: Value) -> Value {
        let mut v = json!({"metadata": {"labels": {
            "app.kubernetes.io/managed-by": "mlsync", "mlsync.dev/source": "src"}}});
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }

    #[test]
    fn verdicts() {
        let cm = ObjectRef::new(Kind::ConfigMap, "ns", "a-config");
        let secret = ObjectRef::new(Kind::Secret, "ns", "a-secrets");
        let w = wanted(vec![
            (cm.clone(), ours(json!({"data": {"K": "1"}}))),
            (secret.clone(), ours(json!({"data": {"P": "c2VjcmV0"}}))),
        ]);
        let live_cm = ours(json!({"data": {"K": "1"}, "status": {}}));
        assert_eq!(w.verdict(&cm, Some(&live_cm)), Verdict::InSync);
        assert_eq!(
            w.verdict(&cm, Some(&ours(json!({"data": {"K": "2"}})))),
            Verdict::Changed(vec!["data.K changed in the cluster".into()])
        );
        assert_eq!(w.verdict(&cm, None), Verdict::Deleted);
        let mut newer = ours(json!({"data": {"K": "2"}}));
        newer["metadata"]["annotations"] = json!({"mlsync.dev/applied-hash": "h2"});
        assert_eq!(w.verdict(&cm, Some(&newer)), Verdict::OtherRevision);
        let other = ObjectRef::new(Kind::ConfigMap, "ns", "b-config");
        assert_eq!(w.verdict(&other, Some(&live_cm)), Verdict::NotWanted);
        // A Secret compares by digest: equal values are in sync, changed ones are drift, and
        // the index holds no value.
        let live = ours(json!({"data": {"P": "c2VjcmV0"}}));
        assert_eq!(w.verdict(&secret, Some(&live)), Verdict::InSync);
        let changed = ours(json!({"data": {"P": "b3RoZXI="}}));
        assert_eq!(
            w.verdict(&secret, Some(&changed)),
            Verdict::Changed(vec!["data.P changed in the cluster".into()])
        );
        assert!(!format!("{:?}", w.objects).contains("c2VjcmV0"));
        assert_eq!(
            w.scopes(),
            BTreeSet::from([
                (Kind::ConfigMap, "ns".to_owned()),
                (Kind::Secret, "ns".to_owned())
            ])
        );
    }
}
