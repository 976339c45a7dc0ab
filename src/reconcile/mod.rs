//! Reconcile: make the cluster match the repo.
//!
//! [`plan`], [`compare`], [`immutable`], [`writes`] and parts of [`health`] are pure: the plan
//! decides what happens to each object, and [`writes`] turns it into every write request, in
//! order. [`live`] reads the cluster; [`execute`] walks the writes with server-side apply (field
//! manager `mlsync`), fenced by leadership, behind the guards of [`plan::PrunePolicy`]. Failures
//! are the types of [`cause`] (never text to be parsed); identities are [`keys`].
//! [`live`] reads into the [`slim`] form of live objects, cut down further where they compare
//! unchanged ([`trim`]); what a run has read ([`seen`])
//! spares the health check and the events reading it again. A [`focus`] limits a plan to some
//! services (the daemon's incremental reconciles). [`Reconciler`] ties them together.

pub mod cause;
pub mod compare;
pub mod diff;
pub mod events;
pub mod execute;
pub mod focus;
pub mod health;
pub mod immutable;
pub mod inventory;
pub mod json;
pub mod keys;
pub mod live;
pub mod plan;
pub mod report;
pub mod rollout;
pub mod seen;
pub mod slim;
pub mod trim;
pub mod writes;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kube::Client;
use serde_json::Value;
use tracing::{info, instrument, warn};

use crate::cluster::{self, ClusterError};
use crate::render::{self, HpaVersion, RenderOptions};
use crate::repo::Repo;
use crate::secrets::SecretSource;
use crate::source_id::SourceId;
use cause::{RunError, ServiceCause};
use focus::Focus;
use inventory::Inventory;
use keys::{ObjectRef, ServiceKey};
use live::ListScope;
use plan::{DesiredService, Plan, PrunePolicy, Rules};
use report::Report;
use writes::Writes;

/// Errors that stop a reconcile before it writes anything.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Connecting or discovery failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A read request failed.
    #[error("failed to {what}: {cause}")]
    Read {
        /// What was read.
        what: String,
        /// Why (part of the message, not a `source()`).
        cause: Box<kube::Error>,
    },
    /// A live object could not be decoded.
    #[error("failed to decode a live object: {0}")]
    Decode(serde_json::Error),
    /// The repo config is invalid: nothing is applied.
    #[error("failed to reconcile {0}: mlsync.yaml is invalid (run mlsync validate)")]
    InvalidConfig(String),
}

/// Objects to apply instead of rendering a service.
pub type Overrides = BTreeMap<ServiceKey, Vec<render::Object>>;

/// Settings of a reconciler, resolved from flags by the caller (`mlsync apply`, `mlsync run`).
/// The ownership id is not among them: callers resolve it per repo load (see
/// [`crate::source_id::SourceIdPolicy`]) and pass it to [`Reconciler::plan`].
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// Prune settings.
    pub prune: PrunePolicy,
    /// Take over same-named objects that mlsync does not manage.
    pub adopt: bool,
    /// Write settings.
    pub write: execute::WriteOptions,
    /// Record Kubernetes Events for what `apply` and the daemon did.
    pub events: bool,
}

/// A plan together with the live state it was made from. Its `Debug` names the live objects
/// without their contents (Secrets among them).
#[derive(Clone)]
pub struct Planned {
    /// What to do.
    pub plan: Plan,
    /// The live objects read.
    pub live: BTreeMap<ObjectRef, Value>,
    /// Namespaces to create first.
    pub create_namespaces: BTreeSet<String>,
    /// Every write the apply will make, in order.
    pub writes: Writes,
    /// The ownership id used, and where it came from.
    pub source_id: SourceId,
    /// Where the source's objects were looked for (all namespaces, or those of git and the
    /// inventory when RBAC allows no more).
    pub scope: ListScope,
    /// Set when only some services were planned (see [`focus`]).
    pub focus: Option<Focus>,
    /// The inventory as this run found it, and the namespaces of git.
    inventory: Inventory,
    /// What the rollout stage decided for each canary-strategy service.
    pub rollouts: Vec<rollout::stage::RolloutReport>,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("plan", &self.plan)
            .field("live", &self.live.keys().collect::<Vec<_>>())
            .field("create_namespaces", &self.create_namespaces)
            .field("writes", &self.writes)
            .field("source_id", &self.source_id)
            .field("scope", &self.scope)
            .field("focus", &self.focus)
            .field("inventory", &self.inventory)
            .field("rollouts", &self.rollouts)
            .finish()
    }
}

impl Planned {
    /// The objects planned for service `namespace/name` (empty when it is not applied).
    pub fn desired_objects(&self, namespace: &str, name: &str) -> Vec<render::Object> {
        self.plan
            .services
            .iter()
            .filter(|s| s.namespace == namespace && s.name == name && s.error.is_none())
            .flat_map(|s| s.objects.iter().filter_map(|o| o.desired.clone()))
            .collect()
    }

    /// The source's home namespace (where its inventory ConfigMap lives) and its source id.
    pub fn source(&self) -> (&str, &str) {
        (&self.inventory.home, &self.inventory.source_id)
    }
}

/// Makes the cluster match a loaded repo.
pub struct Reconciler {
    client: Client,
    hpa: HpaVersion,
    secrets: Arc<dyn SecretSource>,
    opts: ReconcileOptions,
    /// Set once RBAC refused a cluster-wide LIST: later plans list per namespace at once.
    all_namespaces_forbidden: AtomicBool,
}

impl Reconciler {
    /// A reconciler for `client`; asks the cluster which HPA version it serves.
    pub async fn new(
        client: Client,
        secrets: Arc<dyn SecretSource>,
        opts: ReconcileOptions,
    ) -> Result<Self, ReconcileError> {
        let discovery = cluster::discover(&client).await?;
        Ok(Self {
            client,
            hpa: discovery.hpa,
            secrets,
            opts,
            all_namespaces_forbidden: AtomicBool::new(false),
        })
    }

    /// The HPA API version in use.
    pub fn hpa_version(&self) -> HpaVersion {
        self.hpa
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings of this reconciler.
    pub fn options(&self) -> &ReconcileOptions {
        &self.opts
    }

    /// Renders every valid service (decrypting its secrets) with the ownership id `source_id`
    /// and compares with the cluster. Reads only.
    pub async fn plan(&self, repo: &Repo, source_id: &SourceId) -> Result<Planned, ReconcileError> {
        self.plan_with(repo, source_id, &Overrides::new(), None)
            .await
    }

    /// Like [`Reconciler::plan`], but services named in `overrides` (namespace, name) use the
    /// given objects instead of rendering git's spec (the daemon's rollback to a last good
    /// revision), and with a `focus` only the services it names are planned (the daemon's
    /// incremental reconcile, see [`focus`]).
    #[instrument(skip_all, fields(repo = %repo.root.display()))]
    pub async fn plan_with(
        &self,
        repo: &Repo,
        source_id: &SourceId,
        overrides: &Overrides,
        focus: Option<&Focus>,
    ) -> Result<Planned, ReconcileError> {
        if !repo.config_valid {
            return Err(ReconcileError::InvalidConfig(
                repo.root.display().to_string(),
            ));
        }
        let resolved = source_id.clone();
        let source_id = resolved.id.clone();
        let ropts = RenderOptions {
            source_id: source_id.clone(),
            hpa: self.hpa,
        };
        let home = repo.default_namespace().to_owned();

        let in_focus = |ns: &str, name: &str| focus.is_none_or(|f| f.contains(ns, name));
        let mut namespaces: BTreeSet<String> =
            repo.services.iter().map(|s| s.namespace.clone()).collect();
        // A focused run looks only where its services are: the others' namespaces exist.
        let asked: BTreeSet<String> = match focus {
            Some(f) => f
                .services
                .iter()
                .map(|k| k.namespace.clone())
                .filter(|ns| namespaces.contains(ns))
                .collect(),
            None => namespaces.clone(),
        };
        let existing = live::existing_namespaces(&self.client, &asked).await?;
        let missing: BTreeSet<String> = asked.difference(&existing).cloned().collect();
        let create = if repo.config.create_namespaces {
            missing.clone()
        } else {
            BTreeSet::new()
        };

        let mut desired = Vec::new();
        for svc in &repo.services {
            let name = svc.spec.metadata.name.clone();
            if !in_focus(&svc.namespace, &name) {
                continue;
            }
            let objects = if missing.contains(&svc.namespace) && !create.contains(&svc.namespace) {
                Err(ServiceCause::NamespaceMissing {
                    namespace: svc.namespace.clone(),
                })
            } else if let Some(objects) = overrides.get(&ServiceKey::new(&svc.namespace, &name)) {
                Ok(objects.clone())
            } else {
                render::render_service(repo, svc, self.secrets.as_ref(), &ropts).map_err(
                    |e| match e {
                        render::RenderError::SecretsPath { .. }
                        | render::RenderError::Secrets(_)
                        | render::RenderError::MissingSecrets { .. } => {
                            ServiceCause::SecretsUndecryptable(e.to_string())
                        }
                        _ => ServiceCause::RenderFailed(e.to_string()),
                    },
                )
            };
            if let Err(e) = &objects {
                warn!(service = %name, namespace = %svc.namespace, error = %e, "service not applied");
            }
            desired.push(DesiredService::new(svc.namespace.clone(), name, objects));
        }
        let protected: BTreeSet<ServiceKey> = repo
            .invalid
            .iter()
            .map(|i| ServiceKey::new(&i.namespace, &i.name))
            .collect();
        let recorded = live::inventory(&self.client, &home, &source_id).await?;
        let mut inventory_now = namespaces.clone();
        if focus.is_some() {
            // It cannot see every namespace, so it never shrinks the inventory.
            inventory_now.extend(recorded.iter().cloned());
        }
        namespaces.extend(recorded.iter().cloned());
        namespaces.extend(protected.iter().map(|k| k.namespace.clone()));
        namespaces.retain(|ns| !missing.contains(ns) || create.contains(ns));

        let by_namespace = focus.map(Focus::by_namespace);
        let bodies: BTreeMap<ObjectRef, &Value> = desired
            .iter()
            .filter_map(|d| d.objects.as_ref().ok())
            .flatten()
            .map(|o| (ObjectRef::of(o), &o.body))
            .collect();
        let live::Fetched {
            objects: live,
            unchanged,
            scope,
        } = live::fetch(
            &self.client,
            self.hpa,
            &source_id,
            live::Where {
                namespaces: &namespaces,
                absent: &missing,
                services: by_namespace.as_ref(),
            },
            &bodies,
            &self.all_namespaces_forbidden,
        )
        .await?;
        drop(bodies);
        let rollouts = self.stage_rollouts(repo, &mut desired, &live).await;
        let plan = plan::plan(
            desired,
            &live,
            &source_id,
            Rules {
                adopt: self.opts.adopt,
                recreate: self.opts.write.recreate,
                prune: self.opts.prune,
                managed_elsewhere: focus.map_or(0, |f| f.managed_elsewhere),
            },
            repo.prune_blocker(),
            &protected,
            &unchanged,
        );
        let inventory = Inventory {
            home,
            source_id,
            recorded,
            desired: inventory_now,
        };
        let writes = writes::writes(&plan, &live, &create, &inventory);
        Ok(Planned {
            plan,
            live,
            create_namespaces: create,
            writes,
            source_id: resolved,
            scope,
            focus: focus.cloned(),
            inventory,
            rollouts,
        })
    }

    /// Runs the [rollout stage](rollout::stage) for every canary-strategy service that
    /// rendered: its objects are shaped for the decision.
    async fn stage_rollouts(
        &self,
        repo: &Repo,
        desired: &mut [DesiredService],
        live: &BTreeMap<ObjectRef, Value>,
    ) -> Vec<rollout::stage::RolloutReport> {
        let now = jiff::Timestamp::now();
        let mut reports = Vec::new();
        for d in desired.iter_mut() {
            let key = ServiceKey::new(&d.namespace, &d.name);
            let Some(spec) = repo
                .services
                .iter()
                .find(|s| s.namespace == d.namespace && s.spec.metadata.name == d.name)
                .and_then(|s| s.spec.spec.rollout.as_ref())
                .filter(|r| r.is_canary())
            else {
                // No longer a canary service: a rollout state left on it is forgotten.
                let stable = live.get(&ObjectRef::new(
                    render::Kind::Deployment,
                    &d.namespace,
                    &d.name,
                ));
                if d.objects.is_ok() && stable.and_then(rollout::state::State::of).is_some() {
                    reports.push(rollout::stage::RolloutReport::forget(key));
                }
                continue;
            };
            let Ok(objects) = &mut d.objects else {
                continue;
            };
            let rendered = std::mem::take(objects);
            let (shaped, report) =
                rollout::stage::stage(&self.client, spec, &key, rendered, live, now).await;
            *objects = shaped.objects;
            d.keep = shaped.keep;
            d.retire = shaped.retire;
            reports.push(report);
        }
        reports
    }

    /// Applies a plan by walking its writes ([`Planned::writes`]): namespaces, then the
    /// inventory (write-ahead: it names every namespace written to before the first write
    /// there), then each service's objects in order, then prunes, then the inventory again
    /// (shrunk to the namespaces that still hold objects). Every write checks leadership first.
    /// Writes nothing when the plan has no changes. The live objects move into the report's
    /// [`seen::Seen`] (`planned.live` is empty afterwards).
    #[instrument(skip_all)]
    pub async fn apply(&self, planned: &mut Planned) -> Report {
        let w = &planned.writes;
        let mut errors = Vec::new();
        for ns in &w.namespaces {
            if !self.opts.write.may_write() {
                errors.push(RunError::NamespaceNotLeading {
                    namespace: ns.clone(),
                });
                continue;
            }
            match execute::create_namespace(&self.client, ns).await {
                Ok(()) => info!(namespace = %ns, "created namespace"),
                Err(e) => errors.push(e),
            }
        }
        let inv = &planned.inventory;
        let mut recorded = inv.recorded.clone();
        let mut blocked = None;
        if let Some(ahead) = &w.inventory_ahead
            && self.opts.write.may_write()
        {
            match inventory::write(&self.client, &inv.home, &inv.source_id, ahead).await {
                Ok(()) => recorded = ahead.clone(),
                Err(e) => blocked = Some(e),
            }
        }
        let (plan, writes) = match &blocked {
            // Without cluster-wide LISTs, a namespace the inventory does not name gets no
            // objects: if the run were cut short, nothing would find them to prune.
            Some(e) if planned.scope == ListScope::KnownNamespaces => {
                warn!(error = %e, "inventory not written: services in namespaces it does not name are not applied");
                let plan = inventory::block_unrecorded(&planned.plan, &recorded, e);
                let writes = writes::writes(&plan, &planned.live, &BTreeSet::new(), inv);
                (Cow::Owned(plan), Cow::Owned(writes))
            }
            Some(e) => {
                warn!(error = %e, "inventory not written; the cluster-wide LIST still finds every object of this source");
                (Cow::Borrowed(&planned.plan), Cow::Borrowed(w))
            }
            None => (Cow::Borrowed(&planned.plan), Cow::Borrowed(w)),
        };
        // Write-ahead: a rollout's next state is kept before its canary moves, so a crash in
        // between repeats the step instead of skipping it.
        for r in planned.rollouts.iter().filter(|r| r.decision.changed) {
            if let Some(state) = r.state()
                && r.stable_exists
            {
                self.record_rollout(r, Some(state), &mut errors).await;
            }
        }
        let mut report = execute::execute(
            &self.client,
            self.hpa,
            &plan,
            &writes,
            &planned.live,
            &self.opts.write,
        )
        .await;
        // A promotion (or a return to the stable version) forgets the state once applied.
        for r in planned.rollouts.iter().filter(|r| r.decision.changed) {
            let applied = report.services.iter().any(|s| {
                s.namespace == r.key.namespace && s.name == r.key.name && s.error.is_none()
            });
            if r.state().is_none() && r.stable_exists && applied {
                self.record_rollout(r, None, &mut errors).await;
            }
        }
        report.rollouts = planned.rollouts.clone();
        report.errors.extend(errors);
        report.kept_services = kept_services(&report.prune_held, &planned.live);
        // What to record depends on what was deleted: a failed prune keeps its namespace.
        let current = inv.after(&report, &planned.live);
        if current == recorded {
            // Nothing to record (a no-op run writes nothing).
        } else if !self.opts.write.may_write() {
            warn!("inventory not written: {}", execute::NOT_LEADING);
        } else if let Err(e) =
            inventory::write(&self.client, &inv.home, &inv.source_id, &current).await
        {
            // Written ahead already (or nothing was applied): the larger record stays, so
            // nothing is lost; the next run shrinks it.
            warn!(error = %e, "inventory not written");
        }
        for o in report.objects() {
            tracing::debug!(kind = %o.kind, namespace = %o.namespace, name = %o.name, outcome = o.outcome.as_str(), "object");
        }
        report.seen = seen::Seen::after_run(&report, std::mem::take(&mut planned.live));
        report
    }

    /// Keeps (or with `None` forgets) a rollout's state on its stable Deployment.
    async fn record_rollout(
        &self,
        r: &rollout::stage::RolloutReport,
        state: Option<&rollout::state::State>,
        errors: &mut Vec<RunError>,
    ) {
        if !self.opts.write.may_write() {
            return;
        }
        if let Err(e) =
            rollout::record::write_state(&self.client, &r.key.namespace, &r.key.name, state).await
        {
            errors.push(RunError::RolloutState {
                service: r.key.clone(),
                api: cause::ApiFailure::from_kube(&e),
            });
        }
    }

    /// Fills in rollout health (see [`health::check`]); reads again only what the run changed.
    pub async fn check_health(&self, report: &mut Report, wait: Option<std::time::Duration>) {
        health::check(&self.client, self.hpa, report, wait).await;
    }
}

/// The services (namespace, `mlsync.dev/service` label) of objects kept although they left git.
fn kept_services(
    held: &[report::ObjectOutcome],
    live: &BTreeMap<ObjectRef, Value>,
) -> Vec<ServiceKey> {
    let kept: BTreeSet<ServiceKey> = held
        .iter()
        .filter_map(|o| {
            let labels = live.get(&o.key())?.pointer("/metadata/labels")?;
            let service = labels.get(render::SERVICE_LABEL)?.as_str()?;
            Some(ServiceKey::new(&o.namespace, service))
        })
        .collect();
    kept.into_iter().collect()
}
