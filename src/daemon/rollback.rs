//! `--rollback-on-failure`: when a revision's rollout of a service fails, apply that service's
//! objects from its last good revision instead, and keep doing so (no flapping) until git moves
//! to another revision.
//!
//! Pure bookkeeping: the cycle feeds it each reconcile's health and gets back the overrides to
//! plan with. Canary-strategy services are left out: their rollout aborts on its own and keeps
//! the stable version serving (see [`crate::reconcile::rollout`]).

use std::collections::BTreeMap;

use crate::reconcile::keys::ServiceKey as Key;
use crate::reconcile::report::{HealthState, ServiceReport};
use crate::reconcile::{Overrides, Planned};
use crate::render::Object;

/// A service pinned to a good revision while git holds a failing one.
#[derive(Debug, Clone)]
pub struct Pin {
    /// The revision whose rollout failed.
    pub bad: String,
    /// The revision rolled back to.
    pub good: String,
    objects: Vec<Object>,
}

/// Last good objects per service, and current pins.
#[derive(Debug, Default)]
pub struct Rollbacks {
    good: BTreeMap<Key, (String, Vec<Object>)>,
    pins: BTreeMap<Key, Pin>,
}

impl Rollbacks {
    /// Overrides for a reconcile of `revision`: pins for that revision stay, pins for another
    /// revision are dropped (git moved on: try it).
    pub fn overrides(&mut self, revision: &str) -> Overrides {
        self.pins.retain(|_, p| p.bad == revision);
        self.pins
            .iter()
            .map(|(k, p)| (k.clone(), p.objects.clone()))
            .collect()
    }

    /// Records a reconcile's health. Returns the services to roll back now, with their pins.
    pub fn observe(
        &mut self,
        revision: &str,
        planned: &Planned,
        services: &[ServiceReport],
    ) -> Vec<(Key, Pin)> {
        let mut new_pins = Vec::new();
        for s in services.iter().filter(|s| s.error.is_none()) {
            let key = Key::new(&s.namespace, &s.name);
            // A canary-strategy service rolls back on its own (an abort keeps the stable version).
            if planned.rollouts.iter().any(|r| r.key == key) {
                continue;
            }
            let available = s.health_state == HealthState::Available;
            if available && !self.pins.contains_key(&key) {
                self.good.insert(
                    key,
                    (
                        revision.to_owned(),
                        planned.desired_objects(&s.namespace, &s.name),
                    ),
                );
            } else if s.unhealthy
                && !self.pins.contains_key(&key)
                && let Some((good_rev, objects)) = self.good.get(&key)
                && good_rev != revision
            {
                let pin = Pin {
                    bad: revision.to_owned(),
                    good: good_rev.clone(),
                    objects: objects.clone(),
                };
                self.pins.insert(key.clone(), pin.clone());
                new_pins.push((key, pin));
            }
        }
        new_pins
    }

    /// Whether any service is rolled back now.
    pub fn pinned(&self) -> bool {
        !self.pins.is_empty()
    }

    /// The pin of a service, if it is rolled back.
    pub fn pin(&self, namespace: &str, name: &str) -> Option<&Pin> {
        self.pins.get(&Key::new(namespace, name))
    }
}
