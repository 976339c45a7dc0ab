//! Benchmark (not a test): canary rollouts at scale (issue #14). `cargo bench --bench
//! rollout_scale` starts a control plane of its own (tests/cluster/start.sh; its audit log counts
//! the daemon's requests), one real Prometheus (tests/support/prometheus.rs) scraping one fake
//! model server whose two tracks serve healthy traffic (20 requests/s, no errors), and then, for
//! N = 1 and N = 50 services (`MLSYNC_BENCH_SERVICES=1,50`, a comma-separated list), a round of
//! its own: a repo of N canary-strategy services (`replicas: 1`, a ConfigMap, one step at 50%
//! with `pause: 1h`, an error-rate check every 5 s) in min(N, 10) namespaces, applied by
//! `mlsync run` in path mode with `--interval 1h` and `sourceId: bench-N` (each round's daemon
//! owns only its own services; it is stopped at the end of its round). It prints one table:
//! - start-up: the daemon started → `/readyz` 200 (its first, whole reconcile creates everything);
//! - commit → canary: every service's `config` changed at once (the N spec files written), timed
//!   to (a) each canary Deployment existing (the daemon's part: file watch with its 200 ms
//!   debounce, reconcile, apply), then its pod created (the Deployment and ReplicaSet
//!   controllers), its pod marked ready (the bench's own kubelet) and (b) the canary Deployment
//!   reporting all its pods updated and ready (the controllers again), p50 / p95 / max over the
//!   services; only (a) is mlsync's;
//! - analysis: once every service has had a check, a 30 s window of checks every 5 s: the
//!   checks made (`mlsync_rollout_checks_total`, one per metric and check) and the mean time
//!   between two checks of a service (from the `lastCheck` of the rollout state on each stable
//!   Deployment), the reconciles that made them, and the daemon's API requests per check, in all
//!   and by verb (`patch state` is the write of the rollout state, field manager
//!   `mlsync-rollout`); the requests by verb and resource go to stderr;
//! - idle: every spec's step turned into a manual gate (`pause: {}`, same template, so the
//!   rollouts go on: the step, already passed, leaves each of them paused), then RSS and CPU of
//!   the daemon over 60 s, and its requests (paused rollouts are looked at again every 60 s).
//!
//! The metric query uses only the `track` label (one fake server serves every service):
//! `sum(rate(http_requests_total{track="{{track}}",code=~"5.."}[30s])) /
//! sum(rate(http_requests_total{track="{{track}}"}[30s]))`, max 0.05.
//!
//! The bench's own kubelet: the control plane has no kubelet, so a task of the bench watches the
//! pods labelled `mlsync.dev/track` and writes a kubelet-like Running/Ready status to each pod
//! that is not ready (tests/support/pods.rs `set_pod_status`), as soon as the watch shows it.
//! Times come from a watch of the Deployments (when each event arrived), not from polling.
//! Progress goes to stderr; the daemon's warnings, if any, are printed under the table. The whole
//! run takes about 4 minutes.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[allow(dead_code)]
#[path = "../tests/support/pods.rs"]
mod pods;
#[allow(dead_code)]
#[path = "../tests/support/prometheus.rs"]
mod prometheus;
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, requests_since};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt as _};
use mlsync::reconcile::rollout::TRACK_LABEL;
use mlsync::reconcile::rollout::prometheus::{Prometheus, Sample};
use mlsync::reconcile::rollout::state::{Phase, STATE_ANNOTATION, State};
use prometheus::{MetricsTarget, PrometheusServer, Traffic};
use support::{client, cpu_ticks, percentile, start_cluster, status_kb};

/// The analysis window.
const WINDOW: Duration = Duration::from_secs(30);
/// The idle window.
const IDLE: Duration = Duration::from_secs(60);
/// Most namespaces a round spreads its services over.
const NAMESPACES: usize = 10;
/// How long any one wait may take before the bench gives up (with the daemon's log).
const LIMIT: Duration = Duration::from_secs(300);
/// How often the bench looks at what its watches recorded (the times are the watch's).
const POLL: Duration = Duration::from_millis(100);

const HEALTHY: Traffic = Traffic {
    rps: 20.0,
    error_ratio: 0.0,
    latency: 0.02,
};

/// The error-rate query: `track` only, so one fake model server serves every service.
const QUERY: &str = r#"sum(rate(http_requests_total{track="{{track}}",code=~"5.."}[30s])) / sum(rate(http_requests_total{track="{{track}}"}[30s]))"#;

fn namespace(n: usize, i: usize) -> String {
    format!("rollout-{n}-{}", i % n.min(NAMESPACES))
}

/// Service `i` of the round of `n`: `version` in its config, its one step paused for `pause`.
fn spec(n: usize, i: usize, version: &str, pause: &str, prometheus: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: model-{i}\n  namespace: {ns}\nspec:\n  model: {{name: model-{i}, version: v1}}\n  image: registry.example.com/models/model-{i}:v1\n  replicas: 1\n  config: {{MODEL_NAME: model-{i}, MODEL_VERSION: {version}}}\n  rollout:\n    strategy: canary\n    steps:\n      - {{weight: 50, pause: {pause}}}\n    analysis:\n      interval: 5s\n      prometheus: {{address: \"{prometheus}\"}}\n      metrics:\n        - name: error-rate\n          query: '{QUERY}'\n          max: 0.05\n",
        ns = namespace(n, i)
    )
}

fn spec_path(repo: &Path, i: usize) -> PathBuf {
    repo.join(format!("services/model-{i}.yaml"))
}

/// Writes every spec of the round.
fn commit(repo: &Path, n: usize, version: &str, pause: &str, prometheus: &str) {
    for i in 0..n {
        std::fs::write(spec_path(repo, i), spec(n, i, version, pause, prometheus)).unwrap();
    }
}

/// The Deployments as the bench's watch last saw them, and when it first saw each exist and
/// have all its pods ready (keyed `namespace/name`).
#[derive(Default)]
struct Seen {
    latest: BTreeMap<String, Deployment>,
    created: BTreeMap<String, Instant>,
    ready: BTreeMap<String, Instant>,
    /// When the watch first showed a pod of the Deployment, and when the bench's kubelet had
    /// written its first pod's Ready status.
    pod_created: BTreeMap<String, Instant>,
    pod_marked: BTreeMap<String, Instant>,
}

type Shared = Arc<Mutex<Seen>>;

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Every pod of the Deployment's current spec is updated and ready.
fn all_ready(d: &Deployment) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    d.status.as_ref().is_some_and(|s| {
        s.observed_generation == d.metadata.generation
            && s.replicas == Some(want)
            && s.updated_replicas == Some(want)
            && s.ready_replicas == Some(want)
    })
}

/// Records every Deployment event into `seen`.
async fn watch_deployments(client: Client, seen: Shared) {
    let stream = watcher::watcher(Api::<Deployment>::all(client), watcher::Config::default())
        .default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let now = Instant::now();
        match event {
            Ok(Event::Apply(d) | Event::InitApply(d)) => {
                let k = key(&d.namespace().unwrap_or_default(), &d.name_any());
                let mut s = seen.lock().unwrap();
                s.created.entry(k.clone()).or_insert(now);
                if all_ready(&d) {
                    s.ready.entry(k.clone()).or_insert(now);
                }
                s.latest.insert(k, d);
            }
            Ok(Event::Delete(d)) => {
                let k = key(&d.namespace().unwrap_or_default(), &d.name_any());
                let mut s = seen.lock().unwrap();
                s.latest.remove(&k);
                s.created.remove(&k);
                s.ready.remove(&k);
            }
            _ => {}
        }
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `namespace/deployment` of a pod of a Deployment (`<deployment>-<template hash>-<suffix>`).
fn owner_key(pod: &Pod) -> String {
    let name = pod.name_any();
    let deployment = name.rsplitn(3, '-').nth(2).unwrap_or_default().to_owned();
    key(&pod.namespace().unwrap_or_default(), &deployment)
}

/// The bench's own kubelet: marks every pod of an mlsync Deployment Running and Ready once.
async fn kubelet(client: Client, seen: Shared) {
    let api = Api::<Pod>::all(client.clone());
    let stream =
        watcher::watcher(api, watcher::Config::default().labels(TRACK_LABEL)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut done = HashSet::new();
    while let Some(event) = stream.next().await {
        let Ok(Event::Apply(pod) | Event::InitApply(pod)) = event else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() || pod_ready(&pod) {
            continue;
        }
        if !done.insert(pod.metadata.uid.clone().unwrap_or_default()) {
            continue;
        }
        let owner = owner_key(&pod);
        seen.lock()
            .unwrap()
            .pod_created
            .entry(owner.clone())
            .or_insert_with(Instant::now);
        let (client, seen) = (client.clone(), seen.clone());
        tokio::spawn(async move {
            let ns = pod.namespace().unwrap_or_default();
            pods::set_pod_status(&client, &ns, &pod, true).await;
            seen.lock()
                .unwrap()
                .pod_marked
                .entry(owner)
                .or_insert_with(Instant::now);
        });
    }
}

/// Polls `ok` until it holds; gives up with the daemon's log after [`LIMIT`].
async fn wait(d: &Daemon, what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        if t0.elapsed() > LIMIT {
            d.give_up(what);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Rewrites spec 0 unchanged until a reconcile is skipped: the daemon is settled.
async fn settle(d: &mut Daemon, repo: &Path) {
    let series = "mlsync_reconciles_skipped_total";
    for _ in 0..120 {
        let before = d.metric(series).await;
        let path = spec_path(repo, 0);
        std::fs::write(&path, std::fs::read(&path).unwrap()).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        if d.metric(series).await > before {
            return;
        }
    }
    d.give_up("a file-watch trigger skipped (the daemon settled)")
}

/// The sum of every sample of `series` (all its label sets).
async fn metric_sum(d: &mut Daemon, series: &str) -> f64 {
    let (_, text) = d.get("/metrics").await;
    text.lines()
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The rollout state kept on the stable Deployment `key`, as last seen.
fn state(seen: &Seen, key: &str) -> Option<State> {
    let text = seen.latest.get(key)?.annotations().get(STATE_ANNOTATION)?;
    serde_json::from_str(text).ok()
}

fn audit_lines(audit: &Path) -> usize {
    std::fs::read_to_string(audit).unwrap().lines().count()
}

/// A request of [`requests_since`] as `verb` (`patch state` for the rollout state's writes).
fn verb(request: &str) -> String {
    let mut parts = request.split_whitespace();
    let verb = parts.next().unwrap_or("").trim_matches('"');
    let uri = parts.next().unwrap_or("");
    if verb == "patch" && uri.contains("fieldManager=mlsync-rollout") {
        "patch state".to_owned()
    } else {
        verb.to_owned()
    }
}

/// `verb resource` of a request, for the details printed to stderr.
fn verb_resource(request: &str) -> String {
    let uri = request
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .trim_matches('"');
    let path = uri.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..).unwrap_or(&[]),
        Some(&"apis") => segs.get(3..).unwrap_or(&[]),
        _ => &segs[..],
    };
    let resource = match rest {
        ["namespaces", _, r, ..] => *r,
        [r, ..] => *r,
        [] => "?",
    };
    format!("{} {resource}", verb(request))
}

fn count_by(requests: &[String], f: fn(&str) -> String) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in requests {
        *out.entry(f(r)).or_default() += 1;
    }
    out
}

/// What one round measured.
struct Figures {
    n: usize,
    startup: Duration,
    created: Vec<Duration>,
    pod_created: Vec<Duration>,
    pod_marked: Vec<Duration>,
    ready: Vec<Duration>,
    window: Duration,
    checks: f64,
    /// Mean time between two checks of a service in the window.
    check_interval: Duration,
    check_reconciles: f64,
    check_requests: Vec<String>,
    progressing_after: usize,
    idle_rss_kb: u64,
    idle_cpu: f64,
    idle_requests: usize,
    idle_reconciles: f64,
    idle_checks: f64,
    warnings: Vec<String>,
}

async fn round(
    kubeconfig: &Path,
    audit: &Path,
    dir: &Path,
    n: usize,
    prometheus: &str,
    seen: &Shared,
) -> Figures {
    let dir = dir.join(format!("round-{n}"));
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        format!("sourceId: bench-{n}\ncreateNamespaces: true\npaths: [services]\n"),
    )
    .unwrap();
    commit(&repo, n, "v0", "1h", prometheus);
    let stable: Vec<String> = (0..n)
        .map(|i| key(&namespace(n, i), &format!("model-{i}")))
        .collect();
    let canary: Vec<String> = stable.iter().map(|k| format!("{k}-canary")).collect();

    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let begin = Instant::now();
    let phase = |what: &str| {
        eprintln!(
            "rollout_scale: {n}: {what} ({:.1} s)",
            begin.elapsed().as_secs_f64()
        )
    };
    let t0 = Instant::now();
    let mut d = Daemon::start(&dir, kubeconfig, &args, &[("MLSYNC_LOG", "info")]);
    d.wait_ready().await;
    let startup = t0.elapsed();
    wait(&d, "every stable Deployment ready", || {
        let s = seen.lock().unwrap();
        stable.iter().all(|k| s.ready.contains_key(k))
    })
    .await;
    phase("stable Deployments ready");
    settle(&mut d, &repo).await;
    phase("settled");

    // Commit → canary: every service's config at once.
    commit(&repo, n, "v1", "1h", prometheus);
    let t0 = Instant::now();
    wait(&d, "every canary Deployment with its pods ready", || {
        let s = seen.lock().unwrap();
        canary.iter().all(|k| s.ready.contains_key(k))
    })
    .await;
    phase("canaries ready");
    let (mut created, mut pod_created, mut pod_marked, mut ready) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    {
        let s = seen.lock().unwrap();
        for k in &canary {
            created.push(s.created[k].saturating_duration_since(t0));
            pod_created.push(s.pod_created[k].saturating_duration_since(t0));
            pod_marked.push(s.pod_marked[k].saturating_duration_since(t0));
            ready.push(s.ready[k].saturating_duration_since(t0));
        }
    }

    // Analysis: every service checked at least once, then a window of checks.
    wait(&d, "a first check of every canary", || {
        let s = seen.lock().unwrap();
        stable
            .iter()
            .all(|k| state(&s, k).is_some_and(|st| st.last_check.is_some()))
    })
    .await;
    phase("every canary checked");
    let checks_series = "mlsync_rollout_checks_total";
    let reconciles_series = "mlsync_reconciles_total";
    let last_checks = |seen: &Shared| -> Vec<jiff::Timestamp> {
        let s = seen.lock().unwrap();
        stable
            .iter()
            .map(|k| state(&s, k).and_then(|st| st.last_check).unwrap())
            .collect()
    };
    let first = last_checks(seen);
    let from = audit_lines(audit);
    let c0 = metric_sum(&mut d, checks_series).await;
    let r0 = metric_sum(&mut d, reconciles_series).await;
    let w0 = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let checks = metric_sum(&mut d, checks_series).await - c0;
    let check_reconciles = metric_sum(&mut d, reconciles_series).await - r0;
    let window = w0.elapsed();
    let check_requests = requests_since(audit, from);
    let spans: f64 = first
        .iter()
        .zip(last_checks(seen))
        .map(|(a, b)| b.duration_since(*a).as_secs_f64())
        .sum();
    let check_interval = Duration::from_secs_f64(spans / checks.max(1.0));
    phase("analysis window done");
    let progressing_after = {
        let s = seen.lock().unwrap();
        stable
            .iter()
            .filter(|k| {
                state(&s, k).is_some_and(|st| st.phase == Phase::Progressing && st.step == 0)
            })
            .count()
    };

    // Idle: the step becomes a manual gate; the rollouts, past it, wait paused.
    commit(&repo, n, "v1", "{}", prometheus);
    wait(&d, "every rollout paused", || {
        let s = seen.lock().unwrap();
        stable
            .iter()
            .all(|k| state(&s, k).is_some_and(|st| st.phase == Phase::Paused))
    })
    .await;
    phase("every rollout paused");
    settle(&mut d, &repo).await;
    phase("settled");
    let from = audit_lines(audit);
    let c0 = metric_sum(&mut d, checks_series).await;
    let r0 = metric_sum(&mut d, reconciles_series).await;
    let ticks = cpu_ticks(d.pid());
    let w0 = Instant::now();
    tokio::time::sleep(IDLE).await;
    let idle_cpu = (cpu_ticks(d.pid()) - ticks) as f64 / 100.0 / w0.elapsed().as_secs_f64() * 100.0;
    let idle_rss_kb = status_kb(d.pid(), "VmRSS:");
    let idle_requests = requests_since(audit, from).len();
    let idle_checks = metric_sum(&mut d, checks_series).await - c0;
    let idle_reconciles = metric_sum(&mut d, reconciles_series).await - r0;
    phase("idle window done");

    let warnings = d
        .log()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_owned)
        .collect();
    Figures {
        n,
        startup,
        created,
        pod_created,
        pod_marked,
        ready,
        window,
        checks,
        check_interval,
        check_reconciles,
        check_requests,
        progressing_after,
        idle_rss_kb,
        idle_cpu,
        idle_requests,
        idle_reconciles,
        idle_checks,
        warnings,
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn spread(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "{} / {} / {}",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.95)),
        ms(*samples.last().unwrap())
    )
}

fn per_check(f: &Figures) -> String {
    let by_verb = count_by(&f.check_requests, verb);
    let verbs: Vec<String> = by_verb
        .iter()
        .map(|(v, c)| format!("{v} {:.2}", *c as f64 / f.checks))
        .collect();
    verbs.join(", ")
}

fn print_table(figures: &[Figures], heading: &str) {
    println!("{heading}\n");
    let cols: Vec<String> = figures
        .iter()
        .map(|f| format!("{} service{}", f.n, if f.n == 1 { "" } else { "s" }))
        .collect();
    println!("| measure | {} |", cols.join(" | "));
    println!("| --- |{}", " ---: |".repeat(figures.len()));
    let row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = figures.iter().map(cell).collect();
        println!("| {name} | {} |", cells.join(" | "));
    };
    row(
        "start-up: daemon start → ready (first, whole reconcile)",
        &|f| ms(f.startup),
    );
    row(
        "commit → canary Deployment created (the daemon), p50 / p95 / max",
        &|f| spread(f.created.clone()),
    );
    row(
        "commit → its pod created (+ the Deployment and ReplicaSet controllers)",
        &|f| spread(f.pod_created.clone()),
    );
    row(
        "commit → its pod marked ready (+ the bench's kubelet)",
        &|f| spread(f.pod_marked.clone()),
    );
    row(
        "commit → canary Deployment reports its pod ready (+ the controllers)",
        &|f| spread(f.ready.clone()),
    );
    row("analysis: checks in the window (interval: 5 s)", &|f| {
        format!(
            "{} in {:.0} s, one per {:.2} s per service",
            f.checks,
            f.window.as_secs_f64(),
            f.check_interval.as_secs_f64()
        )
    });
    row("analysis: reconciles in the window", &|f| {
        format!("{}", f.check_reconciles)
    });
    row("analysis: API requests per check", &|f| {
        format!(
            "{:.2} ({} requests)",
            f.check_requests.len() as f64 / f.checks,
            f.check_requests.len()
        )
    });
    row("analysis: API requests per check, by verb", &per_check);
    row("idle 60 s, every rollout paused: RSS", &|f| {
        format!("{:.1} MiB", f.idle_rss_kb as f64 / 1024.0)
    });
    row("idle 60 s: CPU", &|f| {
        format!("{:.2}% of one core", f.idle_cpu)
    });
    row("idle 60 s: API requests (reconciles, checks)", &|f| {
        format!(
            "{} ({}, {})",
            f.idle_requests, f.idle_reconciles, f.idle_checks
        )
    });
}

async fn run(kubeconfig: &Path, audit: &Path, dir: &Path, rounds: &[usize], heading: &str) {
    let client = client(kubeconfig).await;
    let target = MetricsTarget::start("bench", "bench");
    target.set("stable", HEALTHY);
    target.set("canary", HEALTHY);
    let server = PrometheusServer::start(&[target.addr()]);
    // Rates need two scrapes: until then every check would be "no data".
    let api = Prometheus::new(&server.address()).unwrap();
    let query = r#"sum(rate(http_requests_total{track="canary"}[30s]))"#;
    let t0 = Instant::now();
    while !matches!(api.query(query).await, Ok(Sample::Value(v)) if v > 0.0) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no data in Prometheus; its log:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(POLL).await;
    }
    let seen = Shared::default();
    tokio::spawn(watch_deployments(client.clone(), seen.clone()));
    tokio::spawn(kubelet(client.clone(), seen.clone()));

    let mut figures = Vec::new();
    for &n in rounds {
        eprintln!("rollout_scale: round of {n} service(s)");
        figures.push(round(kubeconfig, audit, dir, n, &server.address(), &seen).await);
    }
    print_table(&figures, heading);
    for f in &figures {
        println!(
            "\n{} service(s): {} of {} rollouts still progressing at step 1 after the analysis window; daemon log: {} warning/error line(s)",
            f.n,
            f.progressing_after,
            f.n,
            f.warnings.len()
        );
        for w in f.warnings.iter().take(10) {
            println!("    {w}");
        }
        let details: Vec<String> = count_by(&f.check_requests, verb_resource)
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!(
            "{} service(s), analysis window requests: {}",
            f.n,
            details.join(", ")
        );
    }
}

fn main() {
    let rounds: Vec<usize> = match std::env::var("MLSYNC_BENCH_SERVICES") {
        Ok(v) => v
            .split(',')
            .map(|s| {
                s.trim().parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                    panic!("MLSYNC_BENCH_SERVICES must be numbers like 1,50, not {v:?}")
                })
            })
            .collect(),
        Err(_) => vec![1, 50],
    };
    let tmp = tempfile::tempdir().unwrap();
    let cp = tmp.path().join("cp");
    // The audit log of a control plane of its own counts the daemon's requests.
    // SAFETY: set before any thread starts.
    unsafe { std::env::remove_var("MLSYNC_TEST_KUBECONFIG") };
    let (kubeconfig, _) = start_cluster(&cp);
    let version = std::fs::read_to_string(cp.join("version")).unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let heading = format!(
        "Canary rollouts, `mlsync run` in path mode, --interval 1h; Kubernetes {}, {cores} cores (load average at start: {})",
        version.trim(),
        load.split_whitespace().next().unwrap_or("?")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(
        &kubeconfig,
        &cp.join("audit.log"),
        tmp.path(),
        &rounds,
        &heading,
    ));
    let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/stop.sh"))
        .arg(&cp)
        .status();
}
