//! `mlsync apply`, `mlsync plan` and `mlsync diff`.

use std::sync::Arc;
use std::time::Duration;

use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, RepoArgs};
use super::{KeyArgs, KubeArgs};
use crate::cluster;
use crate::reconcile::events::publish::Publisher;
use crate::reconcile::events::{Context, plan_events};
use crate::reconcile::execute::WriteOptions;
use crate::reconcile::plan::{Action, PrunePolicy};
use crate::reconcile::{Planned, ReconcileOptions, Reconciler, diff, json};
use crate::repo::Repo;
use crate::secrets::SopsSource;
use crate::source_id::{DefaultId, SourceIdError, SourceIdPolicy};

/// What every cluster command needs.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    reconcile: ReconcileArgs,
}

/// Cluster, key, ownership, prune and event flags shared by `apply`, `plan`, `diff` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// Cluster connection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// age identities for SOPS secrets.
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Ownership label value (mlsync.dev/source); default: sourceId in mlsync.yaml, else derived
    /// from the git remote URL (and subdirectory) of the repo, else the directory name. Objects
    /// of other sources are never modified or deleted.
    #[arg(long, env = "MLSYNC_SOURCE_ID")]
    pub source_id: Option<String>,
    /// Delete objects of this source that left git (`--prune=false` keeps them).
    #[arg(long, env = "MLSYNC_PRUNE", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub prune: bool,
    /// Allow a run to delete all, or more than --max-prune-fraction, of the managed objects.
    #[arg(long, env = "MLSYNC_ALLOW_MASS_PRUNE")]
    pub allow_mass_prune: bool,
    /// Largest share of managed objects one run may delete without --allow-mass-prune.
    #[arg(long, env = "MLSYNC_MAX_PRUNE_FRACTION", default_value_t = 0.5)]
    pub max_prune_fraction: f64,
    /// Take over existing objects with the same names that mlsync does not manage.
    #[arg(long, env = "MLSYNC_ADOPT")]
    pub adopt: bool,
    /// Delete and re-create objects whose immutable fields (e.g. a Deployment selector) changed.
    #[arg(long, env = "MLSYNC_RECREATE")]
    pub recreate: bool,
    /// Record Kubernetes Events (reporting controller `mlsync`) for what `apply` and `run` did:
    /// Applied, Pruned, and warnings for failures (`--events=false` records none; `plan` and
    /// `diff` never do). See docs/events.md.
    #[arg(long, env = "MLSYNC_EVENTS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub events: bool,
}

impl ReconcileArgs {
    /// How the ownership id is chosen, for a source whose default ownership id (without
    /// `--source-id` and `sourceId` in mlsync.yaml) is `default`.
    pub fn source_id_policy(&self, default: Result<DefaultId, SourceIdError>) -> SourceIdPolicy {
        SourceIdPolicy {
            flag: self.source_id.clone(),
            default,
        }
    }

    /// The reconcile options these flags describe.
    pub fn options(&self) -> ReconcileOptions {
        ReconcileOptions {
            prune: PrunePolicy {
                enabled: self.prune,
                allow_mass_prune: self.allow_mass_prune,
                max_fraction: self.max_prune_fraction,
            },
            adopt: self.adopt,
            write: WriteOptions {
                recreate: self.recreate,
                leading: None,
            },
            events: self.events,
        }
    }
}

impl ClusterArgs {
    /// The reconciler these arguments describe.
    pub async fn reconciler(&self) -> anyhow::Result<Reconciler> {
        let client = cluster::connect(&self.reconcile.kube.options()).await?;
        let secrets = Arc::new(SopsSource::from_options(&self.reconcile.keys.options())?);
        Ok(Reconciler::new(client, secrets, self.reconcile.options()).await?)
    }

    /// Connects, resolves the ownership id (logged to stderr; the default is the one of the
    /// `--repo` directory) and plans `repo`.
    async fn plan(&self, repo: &Repo) -> anyhow::Result<(Reconciler, Planned)> {
        let policy = self
            .reconcile
            .source_id_policy(Ok(DefaultId::for_dir(&self.repo.repo)));
        let source_id = policy.resolve_for(repo)?;
        let r = self.reconciler().await?;
        let planned = r.plan(repo, &source_id).await?;
        policy.log(&source_id);
        Ok((r, planned))
    }

    /// Loads the repo, printing its diagnostics to stderr.
    pub fn load_repo(&self) -> anyhow::Result<Repo> {
        let repo = self.repo.load()?;
        for d in &repo.diagnostics {
            eprintln!("{d}");
        }
        Ok(repo)
    }
}

/// Arguments of `mlsync apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Run one reconcile and exit (the default for apply; accepted for symmetry with `run`).
    #[arg(long)]
    once: bool,
    /// Wait for rollouts (optionally at most this long, e.g. 5m) and fail if one fails.
    #[arg(long, value_parser = humantime::parse_duration, num_args = 0..=1, default_missing_value = "5m")]
    wait: Option<Duration>,
    /// Output format: lines for people, or one JSON document for scripts (same exit codes).
    #[arg(short, long, value_enum, env = "MLSYNC_OUTPUT", default_value = "text")]
    output: ReportFormat,
    /// Exit codes like `kubectl diff` (as `kapp deploy --diff-exit-status`): 0 nothing changed,
    /// 1 changes were applied, 2 error. Without it apply exits 0 on success, changed or not.
    #[arg(long, env = "MLSYNC_DIFF_EXIT_CODE")]
    diff_exit_code: bool,
}

/// Arguments of `mlsync plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Output format: lines for people, or one JSON document for scripts (same exit codes).
    #[arg(short, long, value_enum, env = "MLSYNC_OUTPUT", default_value = "text")]
    output: ReportFormat,
}

/// Arguments of `mlsync diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// How `plan` and `apply` print what they found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per service and object.
    Text,
    /// One JSON document (see docs/output.md).
    Json,
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `mlsync apply`: 0 when everything asked succeeded (changed or not), 2 when a service could
/// not be applied, a prune failed or was refused, or (with `--wait`) a rollout failed or did not
/// finish. With `--diff-exit-code`, a successful run that changed something exits 1.
pub async fn apply(args: &ApplyArgs) -> anyhow::Result<u8> {
    let _ = args.once;
    let repo = args.cluster.load_repo()?;
    let (r, mut planned) = args.cluster.plan(&repo).await?;
    let mut report = r.apply(&mut planned).await;
    r.check_health(&mut report, args.wait).await;
    if args.cluster.reconcile.events {
        let (home, source) = planned.source();
        let ctx = Context {
            revision: None,
            home_namespace: home,
            source_id: source,
            invalid: &repo.invalid,
        };
        Publisher::new(r.client().clone(), r.hpa_version())
            .publish_seen(&plan_events(&report, &ctx), &report.seen)
            .await;
    }
    match args.output {
        ReportFormat::Text => print!("{}", report.to_text()),
        ReportFormat::Json => print_json(&json::report_json(&report))?,
    }
    // Rollout health decides the exit code only with --wait (without it, rollouts go on).
    let failed = if args.wait.is_some() {
        report.failed()
    } else {
        report.apply_failed()
    };
    Ok(if failed || !repo.is_valid() {
        EXIT_ERROR
    } else if args.diff_exit_code && report.changed() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// `mlsync plan`: what apply would do, per service and object, and why. Writes nothing.
pub async fn plan(args: &PlanArgs) -> anyhow::Result<u8> {
    let repo = args.cluster.load_repo()?;
    let (_, planned) = args.cluster.plan(&repo).await?;
    let p = &planned.plan;
    match args.output {
        ReportFormat::Text => print_plan_text(&planned),
        ReportFormat::Json => print_json(&json::plan_json(p, &planned.writes))?,
    }
    let failed = p.prune_refused.is_some()
        || p.services.iter().any(|s| s.error.is_some())
        || !repo.is_valid();
    Ok(if failed {
        EXIT_ERROR
    } else if p.has_changes() || !planned.writes.steps().is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// The plan as lines: per service its objects and actions, then prunes and namespaces.
fn print_plan_text(planned: &Planned) {
    let p = &planned.plan;
    for s in &p.services {
        let state = match (&s.error, s.has_changes()) {
            (Some(_), _) => "cannot apply",
            (None, true) => "changes",
            (None, false) => "unchanged",
        };
        println!("service {}/{}: {state}", s.namespace, s.name);
        for o in &s.objects {
            match &o.action {
                Action::Update(why) => println!(
                    "  {} {}/{} update: {}",
                    o.kind,
                    o.namespace,
                    o.name,
                    why.join(", ")
                ),
                Action::Recreate(why) => println!(
                    "  {} {}/{} recreate: {} (immutable)",
                    o.kind,
                    o.namespace,
                    o.name,
                    why.join(", ")
                ),
                Action::Conflict(why) => {
                    println!("  {} {}/{} conflict: {why}", o.kind, o.namespace, o.name)
                }
                a => println!("  {} {}/{} {}", o.kind, o.namespace, o.name, a.verb()),
            }
        }
        for line in planned
            .rollouts
            .iter()
            .filter(|r| r.key.namespace == s.namespace && r.key.name == s.name)
            .filter_map(super::rollout::plan_line)
        {
            println!("  {line}");
        }
        if let Some(e) = &s.error {
            println!("  error: {e}");
        }
    }
    for o in &p.prune {
        match crate::reconcile::rollout::stage::retired_by(&planned.rollouts, &o.key()) {
            Some(service) => println!(
                "{} {}/{} prune: the canary rollout of {service} no longer needs it",
                o.kind, o.namespace, o.name
            ),
            None => println!(
                "{} {}/{} prune: no longer in git",
                o.kind, o.namespace, o.name
            ),
        }
    }
    for o in &p.prune_held {
        println!("{} {}/{} left git, kept", o.kind, o.namespace, o.name);
    }
    if let Some(r) = &p.prune_refused {
        println!("error: pruning refused: {r}");
    }
    for ns in &planned.create_namespaces {
        println!("namespace {ns}: create");
    }
    let steps = planned.writes.steps();
    if !steps.is_empty() {
        println!("writes, in order:");
        for (i, s) in steps.iter().enumerate() {
            println!("  {}. {s}", i + 1);
        }
    }
}

/// `mlsync diff`: like `kubectl diff`: 0 no differences, 1 differences, 2 error.
pub async fn diff(args: &DiffArgs) -> anyhow::Result<u8> {
    let repo = args.cluster.load_repo()?;
    let (r, planned) = args.cluster.plan(&repo).await?;
    let diffs = diff::diff(&r, &planned).await?;
    // Canary rollouts first: what the rollout stage decided shapes the diffs below.
    for line in planned
        .rollouts
        .iter()
        .filter_map(super::rollout::plan_line)
    {
        println!("{line}");
    }
    for d in &diffs {
        print!("{d}");
    }
    for s in &planned.plan.services {
        if let Some(e) = &s.error {
            eprintln!("error: {}/{}: {e}", s.namespace, s.name);
        }
    }
    if let Some(r) = &planned.plan.prune_refused {
        eprintln!("error: pruning refused: {r}");
    }
    let failed = planned.plan.prune_refused.is_some()
        || planned.plan.services.iter().any(|s| s.error.is_some())
        || !repo.is_valid();
    Ok(if failed {
        EXIT_ERROR
    } else if diffs.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}
