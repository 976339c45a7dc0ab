//! The drift watch as the daemon holds it: hand it each plan, ask it whether all is quiet.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::Client;
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

use super::attention::Attention;
use super::wanted::Wanted;
use super::watch::{self, Asked};
use crate::admin::AdminState;
use crate::daemon::leader::LeaderStatus;
use crate::reconcile::Planned;
use crate::reconcile::keys::ServiceKey;
use crate::render::HpaVersion;

/// The daemon's drift watch; see the [module documentation](super). Dropping it stops it.
pub struct DriftWatch {
    wanted: tokio_watch::Sender<Option<Asked>>,
    attention: tokio_watch::Receiver<Attention>,
    digest_key: Vec<u8>,
    task: JoinHandle<()>,
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
        state.set_self_heal(self_heal);
        let (task, attention) = watch::start(client, hpa, self_heal, events, state, leader, rx);
        Self {
            wanted: tx,
            attention,
            digest_key: rand::random::<[u8; 32]>().to_vec(),
            task,
        }
    }

    /// What the cluster should hold from now on: the objects `planned` applies. Called right
    /// after planning, so that the watch events of the apply itself compare with the new plan.
    /// A [focused](crate::reconcile::focus) plan replaces what is wanted of its services only.
    pub fn want(&self, planned: &Planned) {
        let previous = self.wanted.borrow().as_ref().map(|(w, _)| Arc::clone(w));
        let wanted = Wanted::of(planned, &self.digest_key, previous.as_deref());
        let focus = planned.focus.as_ref().map(|f| f.services.clone());
        self.wanted.send_replace(Some((Arc::new(wanted), focus)));
    }

    /// The services that need a look, when the watch can vouch for every other one: they are
    /// exactly as the plans that last covered them left them (every scope listed and watching,
    /// nothing about their objects happened since). `None` when it cannot vouch: then every
    /// service needs one.
    pub fn attention(&self) -> Option<BTreeSet<ServiceKey>> {
        let asked = self.wanted.borrow().as_ref().map(|(w, _)| w.generation());
        self.attention.borrow().vouched(asked).cloned()
    }

    /// How many objects of each service are wanted (what the last plans counted).
    pub fn counts(&self) -> std::collections::BTreeMap<ServiceKey, usize> {
        self.wanted
            .borrow()
            .as_ref()
            .map(|(w, _)| w.counts())
            .unwrap_or_default()
    }

    /// True when the cluster is known to be exactly as the last [`DriftWatch::want`] left it.
    /// A poll that finds git unchanged then has nothing to do and need not ask the API server
    /// anything.
    pub fn quiet(&self) -> bool {
        self.attention().is_some_and(|a| a.is_empty())
    }
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
