//! `mlsync rollout status|promote|abort|pause|resume SERVICE`: show a canary rollout, or record
//! an operator's intent for it (see docs/rollouts.md).
//!
//! The CLI acts on nothing itself: the rollout's state is an annotation on the stable Deployment
//! (written by the daemon), and `promote|abort|pause|resume` only write an
//! [`Intent`] into an annotation of the canary Deployment (server-side apply, field manager
//! [`FIELD_MANAGER`]); the leading daemon acts on it once and remembers its id in the state.

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
use crate::reconcile::rollout::decide::Event;
use crate::reconcile::rollout::stage::{self, RolloutReport};
use crate::reconcile::rollout::state::{
    self, Action, INTENT_ANNOTATION, Intent, Phase, STATE_ANNOTATION, State,
};
use crate::reconcile::rollout::{TEMPLATE_ANNOTATION, canary_name};

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

/// The canary's pods: `spec.replicas` and the ready pods of its current template (as the
/// daemon counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pods {
    replicas: i64,
    ready: i64,
}

fn pods(canary: &Value) -> Pods {
    let int = |p: &str| canary.pointer(p).and_then(Value::as_i64);
    let current =
        int("/status/observedGeneration").unwrap_or(0) >= int("/metadata/generation").unwrap_or(0);
    let ready = if current {
        int("/status/readyReplicas")
            .unwrap_or(0)
            .min(int("/status/updatedReplicas").unwrap_or(0))
    } else {
        0
    };
    Pods {
        replicas: int("/spec/replicas").unwrap_or(0),
        ready,
    }
}

/// What `status` shows.
struct Shown<'a> {
    name: String,
    state: &'a State,
    canary: Option<(Pods, Option<&'a str>)>,
    canary_name: String,
    pending: Option<Intent>,
}

impl<'a> Shown<'a> {
    fn new(live: &'a Live, state: &'a State) -> Self {
        Shown {
            name: live.name(),
            state,
            canary: live
                .canary
                .as_ref()
                .map(|c| (pods(c), state::annotation(c, TEMPLATE_ANNOTATION))),
            canary_name: canary_name(&live.service),
            pending: live
                .canary
                .as_ref()
                .and_then(Intent::of)
                .filter(|i| state.awaits(i)),
        }
    }
}

/// `status`: 0 when shown (also when there is no rollout), 2 on errors.
async fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let (_, live) = read(&args.target).await?;
    if live.stable.is_none() {
        bail!(
            "failed to show the rollout of {}: Deployment {} not found in {}",
            live.name(),
            live.service,
            live.namespace
        );
    }
    let state = read_state(&live)?;
    let out = match (&state, args.output) {
        (None, RolloutFormat::Text) => format!("no canary rollout of {}\n", live.name()),
        (None, RolloutFormat::Json) => "null\n".to_owned(),
        (Some(st), RolloutFormat::Text) => render_text(&Shown::new(&live, st), Timestamp::now()),
        (Some(st), RolloutFormat::Json) => {
            let doc = render_json(&live, &Shown::new(&live, st));
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `T (5m 3s ago)`.
fn when(t: Timestamp, now: Timestamp) -> String {
    let ago = Duration::try_from(now.duration_since(t))
        .map(|d| {
            format!(
                " ({} ago)",
                humantime::format_duration(Duration::from_secs(d.as_secs()))
            )
        })
        .unwrap_or_default();
    format!("{t:.0}{ago}")
}

fn render_text(s: &Shown<'_>, now: Timestamp) -> String {
    let st = s.state;
    let mut out = String::new();
    let _ = writeln!(out, "Service:        {}", s.name);
    let git = st
        .git
        .as_deref()
        .map(|g| format!(" (git {g})"))
        .unwrap_or_default();
    let _ = writeln!(out, "Revision:       {}{git}", st.revision);
    let _ = writeln!(out, "Phase:          {}", st.phase.as_str());
    let _ = writeln!(out, "Step:           {}/{}", st.step + 1, st.steps);
    let _ = writeln!(out, "Started:        {}", when(st.started, now));
    let _ = writeln!(out, "Step started:   {}", when(st.step_started, now));
    let _ = writeln!(out, "Failed checks:  {}", st.failed);
    let _ = writeln!(out, "No data:        {} checks in a row", st.inconclusive);
    match st.last_check {
        Some(t) => {
            let _ = writeln!(out, "Last check:     {}", when(t, now));
        }
        None => out.push_str("Last check:     none yet\n"),
    }
    let values: Vec<String> = st
        .results
        .iter()
        .map(|r| r.value.map_or_else(|| "-".to_owned(), |v| v.to_string()))
        .collect();
    let width = |cells: &mut dyn Iterator<Item = usize>| cells.max().unwrap_or(0);
    let names = width(&mut st.results.iter().map(|r| r.name.chars().count()));
    let value_width = width(&mut values.iter().map(|v| v.chars().count()));
    for (r, value) in st.results.iter().zip(&values) {
        let bound = r
            .bound
            .as_deref()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<names$}   {value:<value_width$}   {}{bound}",
            r.name,
            r.verdict.as_str()
        );
    }
    if let Some(c) = &st.cause {
        let _ = writeln!(out, "Cause:          {}", c.describe());
    }
    match &s.canary {
        Some((p, revision)) => {
            let other = match revision {
                Some(r) if *r == st.revision => String::new(),
                Some(r) => format!(" (runs revision {}, not the rollout's)", short(r)),
                None => format!(" (no {TEMPLATE_ANNOTATION} annotation)"),
            };
            let _ = writeln!(
                out,
                "Canary pods:    {}/{} ready{other}",
                p.ready, p.replicas
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Canary pods:    none (Deployment {} not found)",
                s.canary_name
            );
        }
    }
    if let Some(i) = &s.pending {
        let _ = writeln!(
            out,
            "Pending intent: {} (id {}), not acted on yet",
            i.action.as_str(),
            i.id
        );
    }
    out
}

/// The state, with the service, `canary` (`{replicas, ready}` or null) and `pendingIntent`.
fn render_json(live: &Live, s: &Shown<'_>) -> Value {
    let mut doc = Map::new();
    doc.insert("namespace".into(), json!(live.namespace));
    doc.insert("service".into(), json!(live.service));
    if let Ok(Value::Object(fields)) = serde_json::to_value(s.state) {
        doc.extend(fields);
    }
    doc.insert(
        "canary".into(),
        s.canary.map_or(
            Value::Null,
            |(p, _)| json!({"replicas": p.replicas, "ready": p.ready}),
        ),
    );
    doc.insert(
        "pendingIntent".into(),
        s.pending
            .as_ref()
            .and_then(|i| serde_json::to_value(i).ok())
            .unwrap_or(Value::Null),
    );
    Value::Object(doc)
}

/// The line `plan` and `diff` print for a canary-strategy service's rollout:
/// `rollout ml/iris: canary rollout started; canary step 1/3 at 10% (1 canary pods)`. `None`
/// when the decision has neither an event nor a rollout to tell about.
pub fn plan_line(report: &RolloutReport) -> Option<String> {
    let text = match &report.decision.event {
        // Notes that do not say where the rollout goes next get the summary too.
        Some(e @ (Event::Started { .. } | Event::StepPassed { .. } | Event::Resumed)) => {
            let note = stage::note(e, report);
            match report.summary() {
                Some(s) => format!("{note}; {s}"),
                None => note,
            }
        }
        Some(e) => stage::note(e, report),
        None => report.summary()?,
    };
    Some(format!("rollout {}: {text}", report.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::keys::ServiceKey;
    use crate::reconcile::rollout::decide::{Decision, Shape};
    use crate::reconcile::rollout::state::{Cause, MetricResult, Verdict};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn state(phase: Phase) -> State {
        State {
            revision: "0123456789abcdef0123456789abcdef".into(),
            git: Some("abc1234".into()),
            phase,
            step: 1,
            steps: 3,
            started: t("2026-11-27T21:00:00Z"),
            step_started: t("2026-11-27T21:05:00.5Z"),
            failed: 1,
            inconclusive: 0,
            last_check: Some(t("2026-11-27T21:06:00Z")),
            results: vec![
                MetricResult {
                    name: "error-rate".into(),
                    value: Some(0.002),
                    verdict: Verdict::Pass,
                    bound: None,
                },
                MetricResult {
                    name: "p95-latency-seconds".into(),
                    value: Some(0.41),
                    verdict: Verdict::Fail,
                    bound: Some("> 0.3".into()),
                },
                MetricResult {
                    name: "rps".into(),
                    value: None,
                    verdict: Verdict::Inconclusive,
                    bound: None,
                },
            ],
            cause: None,
            intent_seen: Some("seen".into()),
        }
    }

    fn deployment(annotations: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "x", "generation": 2, "annotations": annotations},
            "spec": {"replicas": 2},
            "status": status,
        })
    }

    fn live(stable: Option<&State>, canary: Option<Value>) -> Live {
        Live {
            namespace: "ml".into(),
            service: "iris".into(),
            stable: Some(deployment(
                stable.map_or(json!({}), |s| json!({STATE_ANNOTATION: s.to_annotation()})),
                json!({}),
            )),
            canary,
        }
    }

    fn canary(revision: &str, intent: Option<&Intent>) -> Value {
        let mut a = json!({TEMPLATE_ANNOTATION: revision});
        if let Some(i) = intent {
            a[INTENT_ANNOTATION] = json!(i.to_annotation());
        }
        deployment(
            a,
            json!({"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1}),
        )
    }

    #[test]
    fn the_text_status_shows_every_field() {
        let st = state(Phase::Progressing);
        let pending = Intent {
            action: Action::Pause,
            id: "17-ab".into(),
            revision: st.revision.clone(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&pending))));
        let shown = Shown::new(&l, &st);
        let text = render_text(&shown, t("2026-11-27T21:06:30Z"));
        assert_eq!(
            text,
            "\
Service:        ml/iris
Revision:       0123456789abcdef0123456789abcdef (git abc1234)
Phase:          progressing
Step:           2/3
Started:        2026-11-27T21:00:00Z (6m 30s ago)
Step started:   2026-11-27T21:05:00Z (1m 29s ago)
Failed checks:  1
No data:        0 checks in a row
Last check:     2026-11-27T21:06:00Z (30s ago)
  error-rate            0.002   pass
  p95-latency-seconds   0.41    fail (> 0.3)
  rps                   -       inconclusive
Canary pods:    1/2 ready
Pending intent: pause (id 17-ab), not acted on yet
"
        );
    }

    #[test]
    fn an_aborted_rollout_shows_its_cause_and_no_canary() {
        let mut st = state(Phase::Aborted);
        st.cause = Some(Cause::OperatorAbort);
        st.last_check = None;
        st.results.clear();
        let l = live(Some(&st), None);
        let text = render_text(&Shown::new(&l, &st), t("2026-11-27T21:06:30Z"));
        assert!(text.contains("\nLast check:     none yet\n"), "{text}");
        assert!(
            text.contains("\nCause:          aborted by an operator (mlsync rollout abort)\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\nCanary pods:    none (Deployment iris-canary not found)\n"),
            "{text}"
        );
    }

    #[test]
    fn the_json_status_is_the_state_with_canary_and_pending_intent() {
        let st = state(Phase::Paused);
        let seen = Intent {
            action: Action::Pause,
            id: "seen".into(),
            revision: st.revision.clone(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&seen))));
        let doc = render_json(&l, &Shown::new(&l, &st));
        assert_eq!(doc["namespace"], "ml");
        assert_eq!(doc["service"], "iris");
        assert_eq!(doc["phase"], "paused");
        assert_eq!(doc["step"], 1);
        assert_eq!(doc["intentSeen"], "seen");
        assert_eq!(doc["results"][1]["bound"], "> 0.3");
        assert_eq!(doc["canary"], json!({"replicas": 2, "ready": 1}));
        // Acted on already: not pending.
        assert_eq!(doc["pendingIntent"], Value::Null);
        let l = live(Some(&st), None);
        assert_eq!(render_json(&l, &Shown::new(&l, &st))["canary"], Value::Null);
    }

    #[test]
    fn an_intent_for_another_revision_is_not_pending() {
        let st = state(Phase::Progressing);
        let old = Intent {
            action: Action::Abort,
            id: "new-id".into(),
            revision: "older".into(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&old))));
        assert_eq!(Shown::new(&l, &st).pending, None);
    }

    #[test]
    fn pods_count_only_a_current_template() {
        let mut c = canary("r", None);
        assert_eq!(
            pods(&c),
            Pods {
                replicas: 2,
                ready: 1
            }
        );
        c["status"]["observedGeneration"] = json!(1);
        assert_eq!(pods(&c).ready, 0);
    }

    #[test]
    fn intents_need_a_rollout_under_way() {
        let st = state(Phase::Progressing);
        let rev = st.revision.clone();
        let ok = live(Some(&st), Some(canary(&rev, None)));
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Promote),
            Ok(rev.clone())
        );
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Pause),
            Ok(rev.clone())
        );
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Resume),
            Err(
                "the rollout of iris in ml is progressing at step 2/3: there is nothing to resume"
                    .into()
            )
        );
        let paused = state(Phase::Paused);
        assert_eq!(
            intent_target(&ok, Some(&paused), Action::Pause),
            Err("the rollout of iris in ml is already paused at step 2/3 (mlsync rollout resume goes on)".into())
        );
        assert_eq!(
            intent_target(&ok, Some(&paused), Action::Resume),
            Ok(rev.clone())
        );
        let inconclusive = state(Phase::Inconclusive);
        assert_eq!(
            intent_target(&ok, Some(&inconclusive), Action::Resume),
            Ok(rev.clone())
        );

        let under_way = |why: &str| {
            Err(format!(
                "no canary rollout of iris in ml is under way ({why})"
            ))
        };
        assert_eq!(
            intent_target(&live(None, None), None, Action::Abort),
            under_way("Deployment iris has no mlsync.dev/rollout annotation")
        );
        let mut gone = live(None, None);
        gone.stable = None;
        assert_eq!(
            intent_target(&gone, None, Action::Abort),
            under_way("Deployment iris not found")
        );
        assert_eq!(
            intent_target(&live(Some(&st), None), Some(&st), Action::Promote),
            under_way("Deployment iris-canary not found")
        );
        assert_eq!(
            intent_target(
                &live(Some(&st), Some(canary("fedcba9876543210", None))),
                Some(&st),
                Action::Promote
            ),
            under_way(
                "Deployment iris-canary runs revision fedcba987654…, the rollout is of revision 0123456789ab…"
            )
        );
        let mut aborted = state(Phase::Aborted);
        aborted.cause = Some(Cause::CanaryUnavailable);
        assert_eq!(
            intent_target(&ok, Some(&aborted), Action::Resume),
            under_way(
                "its rollout of revision 0123456789ab… was aborted: the canary's pods did not become ready within its progress deadline"
            )
        );
    }

    #[test]
    fn intent_ids_differ() {
        let (a, b) = (intent_id(), intent_id());
        assert_ne!(a, b);
        assert!(!a.is_empty());
    }

    fn report(event: Option<Event>, state: Option<State>, shape: Shape) -> RolloutReport {
        RolloutReport {
            key: ServiceKey::new("ml", "iris"),
            decision: Decision {
                shape,
                state,
                changed: true,
                event,
                wake: None,
            },
            stable_exists: true,
            checked: Vec::new(),
        }
    }

    #[test]
    fn plan_lines_say_what_will_happen() {
        let canary = Shape::Canary {
            replicas: 1,
            weight: 10,
        };
        let mut first = state(Phase::Progressing);
        first.step = 0;
        first.results.clear();
        assert_eq!(
            plan_line(&report(
                Some(Event::Started { superseded: false }),
                Some(first.clone()),
                canary
            ))
            .as_deref(),
            Some("rollout ml/iris: canary rollout started; canary step 1/3 at 10% (1 canary pods)")
        );
        assert_eq!(
            plan_line(&report(None, Some(first), canary)).as_deref(),
            Some("rollout ml/iris: canary step 1/3 at 10% (1 canary pods)")
        );
        assert_eq!(
            plan_line(&report(
                Some(Event::Promoted { by_operator: true }),
                None,
                Shape::Stable
            ))
            .as_deref(),
            Some("rollout ml/iris: canary promoted by an operator: the new version is stable")
        );
        assert_eq!(plan_line(&report(None, None, Shape::Stable)), None);
    }
}

#[cfg(test)]
mod args_tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: RolloutCmd,
    }

    #[test]
    fn rollout_commands_parse() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["rollout", "status", "iris", "-n", "ml", "-o", "json"]).unwrap();
        let RolloutCmd::Status(s) = cli.cmd else {
            panic!("not status")
        };
        assert_eq!(s.target.service, "iris");
        assert_eq!(s.target.namespace.as_deref(), Some("ml"));
        assert_eq!(s.output, RolloutFormat::Json);
        let cli = Cli::try_parse_from(["rollout", "promote", "iris", "--context", "c"]).unwrap();
        let RolloutCmd::Promote(t) = cli.cmd else {
            panic!("not promote")
        };
        assert_eq!(t.namespace, None);
        assert_eq!(t.kube.context.as_deref(), Some("c"));
        assert!(Cli::try_parse_from(["rollout", "promote"]).is_err());
        assert!(Cli::try_parse_from(["rollout", "pause", "iris", "-o", "json"]).is_err());
        assert!(Cli::try_parse_from(["rollout", "status", "iris", "-o", "yaml"]).is_err());
    }
}
