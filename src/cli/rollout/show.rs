//! `mlsync rollout status`: the rollout as text or JSON.

use super::*;

/// The canary's pods: `spec.replicas` and the ready pods of its current template (as the
/// daemon counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pods {
    pub(super) replicas: i64,
    pub(super) ready: i64,
}

pub(super) fn pods(canary: &Value) -> Pods {
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
pub(super) struct Shown<'a> {
    pub(super) name: String,
    pub(super) state: &'a State,
    pub(super) canary: Option<(Pods, Option<&'a str>)>,
    pub(super) canary_name: String,
    pub(super) pending: Option<Intent>,
}

impl<'a> Shown<'a> {
    pub(super) fn new(live: &'a Live, state: &'a State) -> Self {
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
pub(super) async fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
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
pub(super) fn when(t: Timestamp, now: Timestamp) -> String {
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

pub(super) fn render_text(s: &Shown<'_>, now: Timestamp) -> String {
    let st = s.state;
    let mut out = String::new();
    let _ = writeln!(out, "Service:        {}", s.name);
    let _ = writeln!(out, "Revision:       {}", st.revision);
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
pub(super) fn render_json(live: &Live, s: &Shown<'_>) -> Value {
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
