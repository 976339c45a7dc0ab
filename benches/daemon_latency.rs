//! Benchmark (not a test): how long `mlsync run` takes from a change to the objects being
//! updated in the API server, per trigger, and what the daemon costs when idle.
//!
//! `cargo bench --bench daemon_latency` starts a control plane with `tests/cluster/start.sh`
//! (or uses the one `MLSYNC_TEST_KUBECONFIG` names), then for each trigger makes 20 changes and
//! times "change published" (git push done / file written) → the ConfigMap shows the new value
//! (the API is polled every 20 ms, so figures include up to 20 ms of polling granularity):
//! - webhook: push, then a signed GitHub push webhook (`--interval 1h`);
//! - file-watch: local directory mode, the spec file is rewritten (`--debounce 200ms`);
//! - poll: push only, `--interval 2s` (±10% jitter);
//! - drift: local directory mode with 20 services and `--interval 1h`; each ConfigMap in turn is
//!   changed by another field manager (as `kubectl edit` does), timed from the edit's response
//!   to the value being back (the daemon's drift watch, `--self-heal`). One edit per object, so
//!   no DriftFight pauses healing.
//!
//! Then it runs the daemon on the example repo (path mode, watching, default 60s interval) and
//! reads idle CPU (utime+stime over 30 s from /proc/PID/stat) and RSS (/proc/PID/status).

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[allow(dead_code)]
#[path = "../tests/support/git.rs"]
mod git;
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, echo_spec, github_signature, repo_config};
use git::{GitDaemon, Upstream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use support::{client, cpu_ticks, percentile, start_cluster, status_kb};

const CHANGES: usize = 20;
const SECRET: &str = "bench-webhook-secret";

#[derive(Clone, Copy, PartialEq)]
enum Trigger {
    Webhook,
    FileWatch,
    Poll,
    Drift,
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    let _ = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await;
}

async fn wait_version(client: &Client, ns: &str, version: &str) {
    wait_value(client, ns, "echo-config", version).await;
}

async fn wait_value(client: &Client, ns: &str, config_map: &str, version: &str) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for _ in 0..3000 {
        let cm = api.get_opt(config_map).await.ok().flatten();
        if cm
            .and_then(|c| c.data)
            .and_then(|d| d.get("MODEL_VERSION").cloned())
            .as_deref()
            == Some(version)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{config_map} in {ns} never got {version}");
}

async fn latency(kubeconfig: &Path, dir: &Path, trigger: Trigger) -> (Duration, Duration) {
    let client = client(kubeconfig).await;
    let ns = format!(
        "bench-{}",
        ["webhook", "watch", "poll", "drift"][trigger as usize]
    );
    namespace(&client, &ns).await;
    let up = Upstream::new(&dir.join(&ns));
    up.commit("mlsync.yaml", &repo_config(&ns), "config");
    up.commit("services/echo.yaml", &echo_spec("v0"), "v0");
    up.push();
    let _git = GitDaemon::start(&up.base);
    let url = _git.url();
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let work = up.work.to_str().unwrap().to_owned();
    let args: Vec<&str> = match trigger {
        Trigger::Webhook => vec![
            "--repo",
            &url,
            "--interval",
            "1h",
            "--webhook-secret-file",
            secret_file.to_str().unwrap(),
        ],
        Trigger::FileWatch | Trigger::Drift => vec!["--repo", &work, "--interval", "1h"],
        Trigger::Poll => vec!["--repo", &url, "--interval", "2s"],
    };
    if trigger == Trigger::Drift {
        for i in 0..CHANGES {
            let spec = echo_spec("v0").replacen("name: echo\n", &format!("name: echo-{i}\n"), 1);
            std::fs::write(up.work.join(format!("services/echo-{i}.yaml")), spec).unwrap();
        }
    }
    let mut d = Daemon::start(&dir.join(&ns), kubeconfig, &args, &[("MLSYNC_LOG", "info")]);
    d.wait_ready().await;
    wait_version(&client, &ns, "v0").await;
    let mut samples = Vec::new();
    if trigger == Trigger::Drift {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let by_hand = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        for i in 0..CHANGES {
            let name = format!("echo-{i}-config");
            wait_value(&client, &ns, &name, "v0").await;
            let edit = serde_json::json!({"data": {"MODEL_VERSION": "edited"}});
            api.patch(&name, &by_hand, &Patch::Merge(&edit))
                .await
                .unwrap();
            let t0 = Instant::now();
            wait_value(&client, &ns, &name, "v0").await;
            samples.push(t0.elapsed());
        }
        samples.sort();
        return (percentile(&samples, 0.5), percentile(&samples, 0.95));
    }
    for i in 1..=CHANGES {
        let v = format!("v{i}");
        let t0 = if trigger == Trigger::FileWatch {
            let t0 = Instant::now();
            std::fs::write(up.work.join("services/echo.yaml"), echo_spec(&v)).unwrap();
            t0
        } else {
            let sha = up.commit("services/echo.yaml", &echo_spec(&v), &v);
            up.push();
            let t0 = Instant::now();
            if trigger == Trigger::Webhook {
                let body = format!(r#"{{"ref":"refs/heads/main","after":"{sha}"}}"#);
                let sig = github_signature(SECRET.as_bytes(), body.as_bytes());
                let h = [
                    ("x-hub-signature-256", sig.as_str()),
                    ("x-github-event", "push"),
                ];
                assert_eq!(d.post("/webhook/github", &h, body.as_bytes()).await.0, 202);
            }
            t0
        };
        wait_version(&client, &ns, &v).await;
        samples.push(t0.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}

async fn idle(kubeconfig: &Path, dir: &Path) -> (f64, u64, u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = dir.join("example-repo");
    let status = Command::new("cp")
        .arg("-r")
        .arg(root.join("example-repo"))
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    let key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let args = ["--repo", repo.to_str().unwrap()];
    let env = [("SOPS_AGE_KEY", key.as_str()), ("MLSYNC_LOG", "info")];
    let mut d = Daemon::start(dir, kubeconfig, &args, &env);
    d.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t0, c0) = (Instant::now(), cpu_ticks(d.pid()));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let ticks = cpu_ticks(d.pid()) - c0;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = ticks as f64 / 100.0 / secs * 100.0;
    (
        cpu,
        status_kb(d.pid(), "VmRSS:"),
        status_kb(d.pid(), "VmHWM:"),
    )
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = tmp.path().join("cp");
    let (kubeconfig, started) = start_cluster(&cp);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| trigger | p50 | p95 |\n| --- | --- | --- |");
    for (name, t) in [
        ("webhook", Trigger::Webhook),
        ("file-watch", Trigger::FileWatch),
        ("poll (--interval 2s)", Trigger::Poll),
        (
            "drift (kubectl edit of an owned ConfigMap → restored)",
            Trigger::Drift,
        ),
    ] {
        let (p50, p95) = rt.block_on(latency(&kubeconfig, tmp.path(), t));
        println!(
            "| {name} | {} ms | {} ms |",
            p50.as_millis(),
            p95.as_millis()
        );
    }
    let (cpu, rss, hwm) = rt.block_on(idle(&kubeconfig, tmp.path()));
    println!(
        "\nidle (example repo, path mode, watching, 60s interval): CPU {cpu:.2}% of one core over 30 s, RSS {} MiB (peak {} MiB)",
        rss / 1024,
        hwm / 1024
    );
    if started {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/stop.sh"))
            .arg(&cp)
            .status();
    }
}
