//! Benchmark (not a test): one daemon, three clusters. `cargo bench --bench targets_scale`
//! starts three control planes of its own (tests/cluster/start.sh), makes a git repo of N
//! services (`MLSYNC_BENCH_SERVICES`, default 200; ConfigMap, SOPS Secret, Deployment, Service,
//! HPA each) with three environments, and runs `mlsync run --config` with one target per
//! cluster and environment, in git mode (a bare repo by `file://`), `--interval 1h`, GitHub
//! webhooks on. It prints one table:
//! - start-up: daemon started → `/readyz` 200 (every target reconciled once: 3 × N × 5 objects);
//! - commit → applied on all three: 10 commits, each changing one service, pushed, then one
//!   signed webhook; timed from the webhook's answer to the new value in all three clusters
//!   (and the slowest target of each commit), p50 / p95;
//! - idle: RSS and CPU over 60 s without changes.
//!
//! The clusters are polled every 20 ms, so latencies include up to 20 ms of polling granularity.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, github_signature};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use support::{client, cpu_ticks, percentile, start_cluster, status_kb};

const SAMPLES: usize = 10;
const TARGETS: [&str; 3] = ["dev", "staging", "prod"];
const SECRET: &str = "bench-webhook-secret";

fn spec(i: usize, version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: model-{i}\nspec:\n  model: {{name: model-{i}, version: v1}}\n  image: registry.example.com/models/model-{i}:v1\n  config: {{MODEL_NAME: model-{i}, MODEL_VERSION: {version}}}\n  secrets: {{file: secrets/db.enc.yaml}}\n  resources: {{requests: {{cpu: 100m}}, limits: {{cpu: 500m}}}}\n  service: {{type: ClusterIP}}\n  autoscaling: {{minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 60}}\n"
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A work tree with N specs, three environments and one encrypted secrets file, pushed to a
/// bare repo; returns (work tree, bare repo).
fn make_repo(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = dir.join("work");
    let bare = dir.join("origin.git");
    std::fs::create_dir_all(work.join("services")).unwrap();
    std::fs::create_dir_all(work.join("secrets")).unwrap();
    let envs: String = TARGETS
        .iter()
        .map(|t| format!("  {t}: {{namespace: models-{t}}}\n"))
        .collect();
    std::fs::write(
        work.join("mlsync.yaml"),
        format!(
            "sourceId: bench\ncreateNamespaces: true\npaths: [services]\nenvironments:\n{envs}"
        ),
    )
    .unwrap();
    std::fs::copy(
        root.join("example-repo/secrets/iris-classifier.enc.yaml"),
        work.join("secrets/db.enc.yaml"),
    )
    .unwrap();
    for i in 0..n {
        std::fs::write(work.join(format!("services/model-{i}.yaml")), spec(i, "v0")).unwrap();
    }
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "services"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    (work, bare)
}

async fn value(client: &Client, ns: &str, i: usize) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = api.get_opt(&format!("model-{i}-config")).await.ok()??;
    cm.data?.get("MODEL_VERSION").cloned()
}

/// Polls the three clusters until service `i` has `want` in each; returns when each got it.
async fn wait_all(clients: &[Client], i: usize, want: &str, t0: Instant) -> Vec<Duration> {
    let mut done: Vec<Option<Duration>> = vec![None; clients.len()];
    for _ in 0..30_000 {
        for (k, c) in clients.iter().enumerate() {
            if done[k].is_none()
                && value(c, &format!("models-{}", TARGETS[k]), i)
                    .await
                    .as_deref()
                    == Some(want)
            {
                done[k] = Some(t0.elapsed());
            }
        }
        if done.iter().all(Option::is_some) {
            return done.into_iter().flatten().collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("model-{i} did not get {want} in every cluster")
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn p50_p95(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "{} / {}",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.95))
    )
}

async fn run(kubeconfigs: &[PathBuf], dir: &Path, n: usize) {
    let (work, bare) = make_repo(dir, n);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let mut clients = Vec::new();
    for k in kubeconfigs {
        clients.push(client(k).await);
    }
    let targets: String = TARGETS
        .iter()
        .zip(kubeconfigs)
        .map(|(t, k)| {
            format!(
                "  - name: {t}\n    kubeconfig: {}\n    environment: {t}\n",
                k.display()
            )
        })
        .collect();
    let config = dir.join("daemon.yaml");
    std::fs::write(&config, format!("targets:\n{targets}")).unwrap();
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, SECRET).unwrap();
    let url = format!("file://{}", bare.display());
    let args = [
        "--repo",
        url.as_str(),
        "--branch",
        "main",
        "--config",
        config.to_str().unwrap(),
        "--interval",
        "1h",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ];
    let env = [("SOPS_AGE_KEY", key.as_str()), ("MLSYNC_LOG", "info")];
    let t0 = Instant::now();
    let mut d = Daemon::start(dir, &kubeconfigs[0], &args, &env);
    d.wait_ready().await;
    let startup = t0.elapsed();
    let startup_peak = status_kb(d.pid(), "VmHWM:");
    wait_all(&clients, n - 1, "v0", Instant::now()).await;
    // Let the controllers create what they create for the objects before measuring.
    tokio::time::sleep(Duration::from_secs(20)).await;

    let mut all = Vec::new();
    let mut each = Vec::new();
    for s in 0..SAMPLES {
        let i = s * (n / SAMPLES);
        let version = format!("v{}", s + 1);
        std::fs::write(
            work.join(format!("services/model-{i}.yaml")),
            spec(i, &version),
        )
        .unwrap();
        git(
            &work,
            &["commit", "-q", "-am", &format!("model-{i} {version}")],
        );
        git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signature = github_signature(SECRET.as_bytes(), body);
        let headers = [
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", signature.as_str()),
            ("Content-Type", "application/json"),
        ];
        let (code, answer) = d.post("/webhook/github", &headers, body).await;
        assert_eq!(code, 202, "{answer}");
        let t0 = Instant::now();
        let times = wait_all(&clients, i, &version, t0).await;
        all.push(times.iter().copied().max().unwrap_or_default());
        each.extend(times);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let c0 = cpu_ticks(d.pid());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let idle_cpu = (cpu_ticks(d.pid()) - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    let idle_rss = status_kb(d.pid(), "VmRSS:");

    println!(
        "{} targets × {n} services ({} objects per cluster), `mlsync run --config` in git mode (file://), --interval 1h, GitHub webhook\n",
        TARGETS.len(),
        n * 5
    );
    println!("| measure | value |\n| --- | --- |");
    println!(
        "| start-up: daemon start → ready (every target reconciled once) | {} (peak RSS {:.1} MiB) |",
        ms(startup),
        startup_peak as f64 / 1024.0
    );
    println!(
        "| commit → applied on all three targets via webhook, p50 / p95 ({SAMPLES} commits) | {} |",
        p50_p95(all)
    );
    println!(
        "| commit → applied, per target and commit, p50 / p95 ({} samples) | {} |",
        SAMPLES * TARGETS.len(),
        p50_p95(each)
    );
    println!("| idle 60 s: RSS | {:.1} MiB |", idle_rss as f64 / 1024.0);
    println!("| idle 60 s: CPU | {idle_cpu:.2}% of one core |");
}

fn main() {
    let n: usize = match std::env::var("MLSYNC_BENCH_SERVICES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("MLSYNC_BENCH_SERVICES must be a number, not {v:?}")),
        Err(_) => 200,
    };
    assert!(
        n >= SAMPLES,
        "MLSYNC_BENCH_SERVICES must be at least {SAMPLES}"
    );
    let tmp = tempfile::tempdir().unwrap();
    // SAFETY: set before any thread starts.
    unsafe { std::env::remove_var("MLSYNC_TEST_KUBECONFIG") };
    let planes: Vec<PathBuf> = TARGETS
        .iter()
        .map(|t| tmp.path().join(format!("cp-{t}")))
        .collect();
    let kubeconfigs: Vec<PathBuf> = planes.iter().map(|p| start_cluster(p).0).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&kubeconfigs, tmp.path(), n));
    for p in &planes {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/stop.sh"))
            .arg(p)
            .status();
    }
}
