//! Signals and the shutdown timeout of `mlsync run`, with a reconcile that cannot finish.
//!
//! The "API server" here is a plain TCP listener on 127.0.0.1 that accepts connections and never
//! answers (a stand-in for a hung API server, which the real control plane cannot be made to
//! be): the daemon's first reconcile then hangs in cluster discovery, so a signal arrives while
//! a reconcile is in flight, deterministically. No control plane is started by this binary.

mod daemon_support;

use std::net::TcpListener;
use std::path::Path;

use daemon_support::{Daemon, POLL, POLLS, echo_spec, repo_config};

/// Starts a listener that accepts and holds connections; returns a kubeconfig pointing at it.
fn stalled_api_server(dir: &Path) -> std::path::PathBuf {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let kubeconfig = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stalled\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: stalled\n  context:\n    cluster: stalled\n    user: u\ncurrent-context: stalled\nusers:\n- name: u\n  user:\n    token: test-token\n"
    );
    std::fs::write(&kubeconfig, text).unwrap();
    kubeconfig
}

/// A daemon whose first reconcile hangs; returns once that reconcile has started.
async fn hung_daemon(dir: &Path, extra: &[&str]) -> Daemon {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config("hung")).unwrap();
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v1")).unwrap();
    let kubeconfig = stalled_api_server(dir);
    let mut args = vec!["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    args.extend_from_slice(extra);
    let mut d = Daemon::start(dir, &kubeconfig, &args, &[]);
    assert_eq!(d.get("/readyz").await.0, 503);
    wait_log(&d, "reconcile started").await;
    d
}

async fn wait_log(d: &Daemon, text: &str) {
    for _ in 0..POLLS {
        if d.log().contains(text) {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(&format!("log line {text:?}"))
}

#[tokio::test]
async fn second_signal_exits_at_once_with_130() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = hung_daemon(tmp.path(), &["--shutdown-timeout", "10m"]).await;
    d.signal("TERM");
    wait_log(&d, "waiting for the reconcile in flight").await;
    assert!(d.is_running());
    d.signal("INT");
    let status = d.wait_exit().await;
    assert_eq!(status.code(), Some(130), "{}", d.log());
}

#[tokio::test]
async fn shutdown_timeout_abandons_a_hung_reconcile_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = hung_daemon(tmp.path(), &["--shutdown-timeout", "1s"]).await;
    d.signal("TERM");
    let status = d.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("did not finish in time"), "{}", d.log());
}
