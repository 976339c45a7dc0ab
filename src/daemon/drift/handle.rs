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

/// How the drift watch reaches the cluster and what it does about drift.
pub struct Settings {
    /// The daemon's client.
    pub client: Client,
    /// The HPA API version in use.
    pub hpa: HpaVersion,
    /// `--self-heal`: drift fires a reconcile through `state`'s trigger.
    pub self_heal: bool,
    /// `--events`: publish `DriftFight` Events (only while `leader` leads).
    pub events: bool,
    /// Where drift is recorded (`/status`, metrics) and reconciles are triggered.
    pub state: AdminState,
    /// Whether this replica leads.
    pub leader: LeaderStatus,
}

impl DriftWatch {
    /// Starts the watch (it watches nothing until [`DriftWatch::want`]).
    pub fn spawn(settings: Settings) -> Self {
        let (tx, rx) = tokio_watch::channel(None);
        settings.state.set_self_heal(settings.self_heal);
        let (task, attention) = watch::start(settings, rx);
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
    /// `look` is what the watch said before the plan read the cluster: what happened after it
    /// still needs a look next time.
    pub fn want(&self, planned: &Planned, look: &Look) {
        let previous = self.wanted.borrow().as_ref().map(|(w, _, _)| Arc::clone(w));
        let wanted = Wanted::of(planned, &self.digest_key, previous.as_deref());
        let focus = planned.focus.as_ref().map(|f| f.services.clone());
        self.wanted
            .send_replace(Some((Arc::new(wanted), focus, look.mark)));
    }

    /// What the watch can say now, to be taken before a reconcile reads the cluster.
    pub fn look(&self) -> Look {
        let asked = self
            .wanted
            .borrow()
            .as_ref()
            .map(|(w, _, _)| w.generation());
        let a = self.attention.borrow();
        Look {
            mark: a.mark,
            services: a.vouched(asked).cloned(),
        }
    }

    /// How many objects of each service are wanted (what the last plans counted).
    pub fn counts(&self) -> std::collections::BTreeMap<ServiceKey, usize> {
        self.wanted
            .borrow()
            .as_ref()
            .map(|(w, _, _)| w.counts())
            .unwrap_or_default()
    }

    /// True when the cluster is known to be exactly as the last [`DriftWatch::want`] left it.
    /// A poll that finds git unchanged then has nothing to do and need not ask the API server
    /// anything.
    pub fn quiet(&self) -> bool {
        self.look().services.is_some_and(|s| s.is_empty())
    }
}

/// What the drift watch said at one moment.
#[derive(Debug, Clone, Default)]
pub struct Look {
    /// The last event it had counted (see [`super::attention`]).
    pub mark: u64,
    /// The services that need a look, when the watch can vouch for every other one: they are
    /// exactly as the plans that last covered them left them (every scope listed and watching,
    /// nothing about their objects happened since). `None` when it cannot vouch: then every
    /// service needs one.
    pub services: Option<BTreeSet<ServiceKey>>,
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
