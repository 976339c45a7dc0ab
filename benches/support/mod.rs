//! What the daemon benchmarks share: a client, percentiles, a process's CPU and memory from
//! /proc, and a control plane of their own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A client for `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// The `p` percentile (0.0–1.0) of `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// User + system CPU clock ticks (10 ms each) of process `pid`.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the ")".
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A `kB` field (`VmRSS:`, `VmHWM:`) of /proc/PID/status.
pub fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The control plane `MLSYNC_TEST_KUBECONFIG` names (`false`), or one started in `dir` with
/// tests/cluster/start.sh (`true`: stop it with tests/cluster/stop.sh).
pub fn start_cluster(dir: &Path) -> (PathBuf, bool) {
    if let Some(k) = std::env::var_os("MLSYNC_TEST_KUBECONFIG") {
        return (PathBuf::from(k), false);
    }
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster");
    let out = Command::new(scripts.join("start.sh"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        true,
    )
}
