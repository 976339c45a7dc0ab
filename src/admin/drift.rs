//! The `drift` part of `/status`: objects changed in the cluster behind mlsync's back, as the
//! drift watch saw them (pure data).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How an object left what git says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// A field mlsync sets has another value.
    Changed,
    /// The object was deleted.
    Deleted,
}

impl DriftKind {
    /// Every kind, for pre-creating metric series.
    pub const ALL: [DriftKind; 2] = [Self::Changed, Self::Deleted];

    /// The lowercase name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Deleted => "deleted",
        }
    }
}

/// One object that differs from git now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftedObject {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Changed or deleted.
    pub drift: DriftKind,
    /// The fields that differ (dotted paths; Secret values never shown).
    pub changes: Vec<String>,
    /// When the watch saw it differ.
    pub since: Timestamp,
    /// Set while mlsync does not heal it because someone keeps changing it (a `DriftFight`):
    /// when healing resumes.
    pub fight_until: Option<Timestamp>,
}

/// Drift as the daemon's watch sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftStatus {
    /// Whether drift is healed (`--self-heal`, the default) or only reported.
    pub self_heal: bool,
    /// Drifts seen since the daemon started.
    pub detected: u64,
    /// Objects that differ from git now, sorted by kind, namespace and name.
    pub objects: Vec<DriftedObject>,
}

impl DriftStatus {
    /// Records that `object` differs now (replacing what was known of it).
    pub fn drifted(&mut self, object: DriftedObject) {
        self.detected += 1;
        self.objects.retain(|o| !same(o, &object));
        let at = self.objects.partition_point(|o| key(o) < key(&object));
        self.objects.insert(at, object);
    }

    /// Records that the object is equal to git again (healed, or fixed by hand).
    pub fn in_sync(&mut self, kind: &str, namespace: &str, name: &str) {
        self.objects
            .retain(|o| !(o.kind == kind && o.namespace == namespace && o.name == name));
    }
}

fn key(o: &DriftedObject) -> (&str, &str, &str) {
    (&o.kind, &o.namespace, &o.name)
}

fn same(a: &DriftedObject, b: &DriftedObject) -> bool {
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> DriftedObject {
        DriftedObject {
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
            drift: DriftKind::Changed,
            changes: vec!["data.K changed in the cluster".into()],
            since: Timestamp::UNIX_EPOCH,
            fight_until: None,
        }
    }

    #[test]
    fn objects_stay_sorted_and_leave_when_in_sync() {
        let mut s = DriftStatus::default();
        s.drifted(obj("b"));
        s.drifted(obj("a"));
        s.drifted(obj("b"));
        assert_eq!(s.detected, 3);
        let names: Vec<&str> = s.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        s.in_sync("ConfigMap", "ns", "a");
        assert_eq!(s.objects.len(), 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["objects"][0]["fightUntil"], serde_json::Value::Null);
        assert_eq!(json["objects"][0]["drift"], "changed");
    }
}
