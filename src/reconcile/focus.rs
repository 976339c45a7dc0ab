//! A reconcile of some services only (pure): the daemon knows from git and from its drift watch
//! which services need attention, and the others are exactly as its last reconcile left them.
//!
//! A focused plan renders, reads and compares only the services it names: it lists their
//! objects by their `mlsync.dev/service` label in their namespaces, and nothing else. Services
//! that left git are named too, so their objects are listed and pruned. The prune guards still
//! see the whole source: [`Focus::managed_elsewhere`] counts the objects of the services left
//! out, which the guards count as managed. The inventory never shrinks in a focused run (it
//! cannot see every namespace); the next whole reconcile shrinks it.

use std::collections::{BTreeMap, BTreeSet};

use super::keys::ServiceKey;

/// The services one reconcile looks at, and what it knows about the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// The services to render, read, compare and apply (or prune, when they left git).
    pub services: BTreeSet<ServiceKey>,
    /// How many live objects of this source belong to services outside the focus (all in sync
    /// with git): the prune guards count them as managed.
    pub managed_elsewhere: usize,
}

impl Focus {
    /// Whether service `namespace/name` is in the focus.
    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.services.contains(&ServiceKey::new(namespace, name))
    }

    /// The focused services' names, by namespace: what to list where.
    pub fn by_namespace(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for k in &self.services {
            out.entry(k.namespace.clone())
                .or_default()
                .insert(k.name.clone());
        }
        out
    }
}

/// The label selector of the objects of services `names` of a source (see
/// [`super::live::selector`]).
pub fn selector(source_selector: &str, names: &BTreeSet<String>) -> String {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    format!(
        "{source_selector},{} in ({})",
        crate::render::SERVICE_LABEL,
        names.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_services_by_namespace_and_selects_them_by_label() {
        let focus = Focus {
            services: [
                ServiceKey::new("a", "x"),
                ServiceKey::new("b", "y"),
                ServiceKey::new("a", "z"),
            ]
            .into(),
            managed_elsewhere: 10,
        };
        let by_ns = focus.by_namespace();
        assert_eq!(by_ns.len(), 2);
        assert_eq!(
            selector("mlsync.dev/source=s", &by_ns["a"]),
            "mlsync.dev/source=s,mlsync.dev/service in (x,z)"
        );
        assert!(focus.contains("b", "y"));
        assert!(!focus.contains("b", "x"));
    }
}
