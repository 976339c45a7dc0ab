//! Benchmark (not a test): the daemon at scale. `cargo bench --bench daemon_scale` starts a
//! control plane of its own (tests/cluster/start.sh; its audit log counts the daemon's requests),
//! generates a repo of N services (`MLSYNC_BENCH_SERVICES`, default 1000) in 10 namespaces, 5
//! objects each (ConfigMap, SOPS Secret decrypted with the example's age key, Deployment, Service,
//! HPA), and runs `mlsync run` on it in path mode with `--interval 1h`. It prints one table:
//! - start-up: the daemon started → `/readyz` 200 (the first, whole reconcile of an empty cluster);
//! - drift heal: 20 edits, each of another service's ConfigMap by another field manager (as
//!   `kubectl edit` does), timed from the edit's response to git's value being back;
//! - file watch: 20 one-service spec changes, timed from the file written to the ConfigMap
//!   showing the new value (includes the default 200 ms debounce);
//! - no-op: a spec file rewritten unchanged (a file-watch trigger at an unchanged revision):
//!   the daemon's requests in the audit log, its CPU time and its peak RSS over the next 3 s
//!   (the peak is reset through /proc/PID/clear_refs first);
//! - one-service change: the daemon's peak RSS while it applies one;
//! - idle: RSS and CPU over 60 s without changes.
//!
//! The API is polled every 20 ms, so latencies include up to 20 ms of polling granularity.
//! Between steps it waits until a file-watch trigger is skipped (the drift watch vouches that
//! the cluster is as the last reconcile left it), so each step starts from a settled daemon.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, requests_since};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use support::{client, cpu_ticks, percentile, start_cluster, status_kb};

const SAMPLES: usize = 20;
const NAMESPACES: usize = 10;

fn spec(i: usize, version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: model-{i}\n  namespace: team-{ns}\nspec:\n  model: {{name: model-{i}, version: v1}}\n  image: registry.example.com/models/model-{i}:v1\n  config: {{MODEL_NAME: model-{i}, MODEL_VERSION: {version}}}\n  secrets: {{file: secrets/db.enc.yaml}}\n  resources: {{requests: {{cpu: 100m}}, limits: {{cpu: 500m}}}}\n  service: {{type: ClusterIP}}\n  autoscaling: {{minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 60}}\n",
        ns = i % NAMESPACES
    )
}

fn spec_path(repo: &Path, i: usize) -> PathBuf {
    repo.join(format!("services/model-{i}.yaml"))
}

/// The repo: `mlsync.yaml` creating namespaces, N specs and one encrypted secrets file.
fn make_repo(repo: &Path, n: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::create_dir_all(repo.join("secrets")).unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        "sourceId: bench\ncreateNamespaces: true\npaths: [services]\n",
    )
    .unwrap();
    let key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    let plain = repo.join("secrets/db.yaml");
    std::fs::write(&plain, "DB_USER: bench\nDB_PASS: bench-password\n").unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["secrets", "encrypt", "--age", &recipient, "--in-place"])
        .arg(&plain)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mlsync secrets encrypt");
    std::fs::rename(&plain, repo.join("secrets/db.enc.yaml")).unwrap();
    for i in 0..n {
        std::fs::write(spec_path(repo, i), spec(i, "v0")).unwrap();
    }
}

async fn value(client: &Client, i: usize) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &format!("team-{}", i % NAMESPACES));
    api.get_opt(&format!("model-{i}-config"))
        .await
        .ok()
        .flatten()
        .and_then(|c| c.data)
        .and_then(|d| d.get("MODEL_VERSION").cloned())
}

async fn wait_value(client: &Client, i: usize, want: &str) {
    for _ in 0..6000 {
        if value(client, i).await.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("model-{i}-config never got MODEL_VERSION {want}");
}

/// Rewrites spec `i` unchanged until a reconcile is skipped: the daemon is settled.
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

fn audit_lines(audit: &Path) -> usize {
    std::fs::read_to_string(audit).unwrap().lines().count()
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
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

async fn run(kubeconfig: &Path, audit: &Path, dir: &Path, n: usize) {
    let repo = dir.join("repo");
    make_repo(&repo, n);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let client = client(kubeconfig).await;
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let env = [("SOPS_AGE_KEY", key.as_str()), ("MLSYNC_LOG", "info")];
    let t0 = Instant::now();
    let mut d = Daemon::start(dir, kubeconfig, &args, &env);
    d.wait_ready().await;
    let startup = t0.elapsed();
    let startup_peak = status_kb(d.pid(), "VmHWM:");
    wait_value(&client, n - 1, "v0").await;
    // Let the controllers create what they create for 5,000 objects before measuring.
    tokio::time::sleep(Duration::from_secs(20)).await;
    settle(&mut d, &repo).await;

    let by_hand = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let mut heal = Vec::new();
    for s in 0..SAMPLES {
        let i = s * (n / SAMPLES);
        let api: Api<ConfigMap> =
            Api::namespaced(client.clone(), &format!("team-{}", i % NAMESPACES));
        let edit = serde_json::json!({"data": {"MODEL_VERSION": "edited"}});
        api.patch(&format!("model-{i}-config"), &by_hand, &Patch::Merge(&edit))
            .await
            .unwrap();
        let t0 = Instant::now();
        wait_value(&client, i, "v0").await;
        heal.push(t0.elapsed());
    }
    settle(&mut d, &repo).await;

    let mut watch = Vec::new();
    let mut change_peak = 0;
    for s in 0..SAMPLES {
        let i = s * (n / SAMPLES) + 1;
        reset_peak(d.pid());
        let t0 = Instant::now();
        std::fs::write(spec_path(&repo, i), spec(i, "v1")).unwrap();
        wait_value(&client, i, "v1").await;
        watch.push(t0.elapsed());
        change_peak = change_peak.max(status_kb(d.pid(), "VmHWM:"));
    }
    settle(&mut d, &repo).await;

    let from = audit_lines(audit);
    reset_peak(d.pid());
    let c0 = cpu_ticks(d.pid());
    let path = spec_path(&repo, 2);
    std::fs::write(&path, std::fs::read(&path).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let noop_cpu = (cpu_ticks(d.pid()) - c0) * 10;
    let noop_peak = status_kb(d.pid(), "VmHWM:");
    let noop_requests = requests_since(audit, from).len();

    let c0 = cpu_ticks(d.pid());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let idle_cpu = (cpu_ticks(d.pid()) - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    let idle_rss = status_kb(d.pid(), "VmRSS:");

    println!(
        "{n} services ({} objects, {NAMESPACES} namespaces), `mlsync run` in path mode, --interval 1h\n",
        n * 5
    );
    println!("| measure | value |\n| --- | --- |");
    println!(
        "| start-up: first (whole) reconcile, daemon start → ready | {} (peak RSS {}) |",
        ms(startup),
        mib(startup_peak)
    );
    println!(
        "| drift heal, edit → restored, p50 / p95 ({SAMPLES} edits) | {} |",
        p50_p95(heal)
    );
    println!(
        "| one-service change via the file watch → applied, p50 / p95 ({SAMPLES}) | {} |",
        p50_p95(watch)
    );
    println!(
        "| peak RSS while applying a one-service change | {} |",
        mib(change_peak)
    );
    println!(
        "| no-op trigger (unchanged revision): requests to the API server | {noop_requests} |"
    );
    println!("| no-op trigger: daemon CPU time | {noop_cpu} ms |");
    println!("| no-op trigger: peak RSS | {} |", mib(noop_peak));
    println!("| idle 60 s: RSS | {} |", mib(idle_rss));
    println!("| idle 60 s: CPU | {idle_cpu:.2}% of one core |");
}

fn main() {
    let n: usize = match std::env::var("MLSYNC_BENCH_SERVICES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("MLSYNC_BENCH_SERVICES must be a number, not {v:?}")),
        Err(_) => 1000,
    };
    assert!(
        n >= 2 * SAMPLES,
        "MLSYNC_BENCH_SERVICES must be at least {}",
        2 * SAMPLES
    );
    let tmp = tempfile::tempdir().unwrap();
    let cp = tmp.path().join("cp");
    // The audit log of a control plane of its own counts the daemon's requests.
    // SAFETY: set before any thread starts.
    unsafe { std::env::remove_var("MLSYNC_TEST_KUBECONFIG") };
    let (kubeconfig, _) = start_cluster(&cp);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&kubeconfig, &cp.join("audit.log"), tmp.path(), n));
    let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/stop.sh"))
        .arg(&cp)
        .status();
}
