//! The drift watch as the daemon holds it: hand it each plan, ask it whether all is quiet.

use std::sync::Arc;

use kube::Client;
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

use super::wanted::Wanted;
use super::watch::{self, Quiet};
use crate::admin::AdminState;
use crate::daemon::leader::LeaderStatus;
use crate::reconcile::Planned;
use crate::render::HpaVersion;

/// The daemon's drift watch; see the [module documentation](super). Dropping it stops it.
pub struct DriftWatch {
    wanted: tokio_watch::Sender<Option<Arc<Wanted>>>,
    quiet: tokio_watch::Receiver<Quiet>,
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
        let (task, quiet) = watch::start(client, hpa, self_heal, events, state, leader, rx);
        Self {
            wanted: tx,
            quiet,
            digest_key: rand::random::<[u8; 32]>().to_vec(),
            task,
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
