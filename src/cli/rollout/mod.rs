//! `mlsync rollout status|promote|abort|pause|resume SERVICE`: show a canary rollout, or record
//! an operator's intent for it (see docs/rollouts.md).
//!
//! The CLI acts on nothing itself: the rollout's state is an annotation on the stable Deployment
//! (written by the daemon), and `promote|abort|pause|resume` only write an
//! [`Intent`] into an annotation of the canary Deployment (server-side apply, field manager
//! [`FIELD_MANAGER`]); the leading daemon acts on it once and remembers its id in the state.

mod show;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::KubeArgs;
use crate::cluster;
use crate::reconcile::cause::ApiFailure;
use crate::reconcile::rollout::stage::RolloutReport;
use crate::reconcile::rollout::state::{
    self, Action, INTENT_ANNOTATION, Intent, Phase, STATE_ANNOTATION, State,
};
use crate::reconcile::rollout::{TEMPLATE_ANNOTATION, canary_name};
use show::status;

/// Field manager of the intent annotation.
pub const FIELD_MANAGER: &str = "mlsync-rollout-cli";

/// The `mlsync rollout` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCmd {
    /// Show a service's canary rollout: phase, step, last check, canary pods, pending intent.
    Status(StatusArgs),
    /// Ask the leading daemon to promote the canary now: its version becomes stable.
    Promote(TargetArgs),
    /// Ask the leading daemon to abort the rollout: the canary goes, its revision is quarantined.
    Abort(TargetArgs),
    /// Ask the leading daemon to pause the rollout at its current step.
    Pause(TargetArgs),
    /// Ask the leading daemon to go on with a paused or inconclusive rollout.
    Resume(TargetArgs),
}

/// Which service's rollout, and how to reach its cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The service: its stable Deployment SERVICE, its canary Deployment SERVICE-canary.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// Namespace of the service (default: the kubeconfig context's namespace, else `default`;
    /// in a pod, the pod's).
    #[arg(short, long, env = "MLSYNC_NAMESPACE")]
    pub namespace: Option<String>,
    /// Cluster connection.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Arguments of `mlsync rollout status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The service and cluster.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format: lines for people, or one JSON document (the state, `canary` and
    /// `pendingIntent`) for scripts.
    #[arg(short, long, value_enum, env = "MLSYNC_OUTPUT", default_value = "text")]
    pub output: RolloutFormat,
}

/// How `mlsync rollout status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RolloutFormat {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// Runs a `mlsync rollout` subcommand: 0 when shown or recorded, 2 on errors and refusals
/// (the caller prints the error).
pub async fn run(cmd: RolloutCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RolloutCmd::Status(a) => status(&a).await,
        RolloutCmd::Promote(t) => record(&t, Action::Promote).await,
        RolloutCmd::Abort(t) => record(&t, Action::Abort).await,
        RolloutCmd::Pause(t) => record(&t, Action::Pause).await,
        RolloutCmd::Resume(t) => record(&t, Action::Resume).await,
    }
}

/// The two Deployments of a service as read.
struct Live {
    namespace: String,
    service: String,
    stable: Option<Value>,
    canary: Option<Value>,
}

impl Live {
    fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.service)
    }
}

/// Connects and reads the stable and canary Deployments of the target.
async fn read(target: &TargetArgs) -> anyhow::Result<(Client, Live)> {
    let client = cluster::connect(&target.kube.options()).await?;
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let get = |name: String| {
        let api = api.clone();
        let namespace = namespace.clone();
        async move {
            match api.get_opt(&name).await {
                Ok(d) => Ok(d.map(|d| serde_json::to_value(d).unwrap_or_default())),
                Err(e) => bail!(
                    "failed to read Deployment {namespace}/{name}: {}",
                    ApiFailure::from_kube(&e)
                ),
            }
        }
    };
    let stable = get(target.service.clone()).await?;
    let canary = get(canary_name(&target.service)).await?;
    Ok((
        client,
        Live {
            namespace,
            service: target.service.clone(),
            stable,
            canary,
        },
    ))
}

/// The state annotation of the stable Deployment: `Ok(None)` without one.
fn read_state(live: &Live) -> anyhow::Result<Option<State>> {
    let Some(text) = live
        .stable
        .as_ref()
        .and_then(|s| state::annotation(s, STATE_ANNOTATION))
    else {
        return Ok(None);
    };
    match serde_json::from_str(text) {
        Ok(s) => Ok(Some(s)),
        Err(e) => bail!(
            "failed to read the rollout state of {}: annotation {STATE_ANNOTATION} of Deployment {} is not a rollout state: {e}",
            live.name(),
            live.service
        ),
    }
}

/// A revision for people: its first 12 characters.
fn short(revision: &str) -> String {
    if revision.chars().count() > 12 {
        revision.chars().take(12).chain(['…']).collect()
    } else {
        revision.to_owned()
    }
}

/// Checks that a rollout is under way that `action` can be asked of; returns the revision the
/// canary runs (what the intent is for).
fn intent_target(live: &Live, state: Option<&State>, action: Action) -> Result<String, String> {
    let (ns, svc) = (&live.namespace, &live.service);
    let canary = canary_name(svc);
    let not_under_way =
        |why: String| format!("no canary rollout of {svc} in {ns} is under way ({why})");
    if live.stable.is_none() {
        return Err(not_under_way(format!("Deployment {svc} not found")));
    }
    let Some(st) = state else {
        return Err(not_under_way(format!(
            "Deployment {svc} has no {STATE_ANNOTATION} annotation"
        )));
    };
    if st.phase == Phase::Aborted {
        let cause = st
            .cause
            .as_ref()
            .map(|c| format!(": {}", c.describe()))
            .unwrap_or_default();
        return Err(not_under_way(format!(
            "its rollout of revision {} was aborted{cause}",
            short(&st.revision)
        )));
    }
    let Some(c) = &live.canary else {
        return Err(not_under_way(format!("Deployment {canary} not found")));
    };
    match state::annotation(c, TEMPLATE_ANNOTATION) {
        Some(r) if r == st.revision => {}
        Some(r) => {
            return Err(not_under_way(format!(
                "Deployment {canary} runs revision {}, the rollout is of revision {}",
                short(r),
                short(&st.revision)
            )));
        }
        None => {
            return Err(not_under_way(format!(
                "Deployment {canary} has no {TEMPLATE_ANNOTATION} annotation"
            )));
        }
    }
    let step = format!("step {}/{}", st.step + 1, st.steps);
    match (action, st.phase) {
        (Action::Resume, Phase::Progressing) => Err(format!(
            "the rollout of {svc} in {ns} is progressing at {step}: there is nothing to resume"
        )),
        (Action::Pause, Phase::Paused) => Err(format!(
            "the rollout of {svc} in {ns} is already paused at {step} (mlsync rollout resume goes on)"
        )),
        _ => Ok(st.revision.clone()),
    }
}

/// A request id unique per request: the time in nanoseconds and a random suffix.
fn intent_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}-{:08x}", rand::random::<u32>())
}

/// `promote|abort|pause|resume`: records the intent on the canary Deployment.
async fn record(target: &TargetArgs, action: Action) -> anyhow::Result<ExitCode> {
    let verb = action.as_str();
    let (client, live) = read(target).await?;
    let name = live.name();
    let state = read_state(&live)?;
    let revision = match intent_target(&live, state.as_ref(), action) {
        Ok(r) => r,
        Err(why) => bail!("failed to record {verb} for {name}: {why}"),
    };
    let replaced = live
        .canary
        .as_ref()
        .and_then(Intent::of)
        .filter(|i| state.as_ref().is_some_and(|s| s.awaits(i)));
    let intent = Intent {
        action,
        id: intent_id(),
        revision,
    };
    let canary = canary_name(&live.service);
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary,
            "namespace": live.namespace,
            "annotations": { INTENT_ANNOTATION: intent.to_annotation() },
        },
    });
    let api: Api<Deployment> = Api::namespaced(client, &live.namespace);
    if let Err(e) = api
        .patch(
            &canary,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        bail!(
            "failed to record {verb} for {name} on Deployment {}/{canary}: {}",
            live.namespace,
            ApiFailure::from_kube(&e)
        );
    }
    if let Some(old) = replaced {
        eprintln!(
            "note: this replaces the {} asked for earlier (id {}), not acted on yet",
            old.action.as_str(),
            old.id
        );
    }
    println!(
        "recorded {verb} for {name} (revision {}): the leading mlsync daemon acts on it within seconds",
        short(&intent.revision)
    );
    Ok(ExitCode::SUCCESS)
}

/// The line `plan`, `diff` and `apply` print for a canary-strategy service's rollout (see
/// [`RolloutReport::line`]).
pub fn plan_line(report: &RolloutReport) -> Option<String> {
    report.line()
}

#[cfg(test)]
mod tests;
