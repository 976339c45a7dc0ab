//! Process-level behaviour of `mlsync run` without a control plane: signals, the shutdown
//! timeout and systemd notifications.
//!
//! The "API server" here is a plain TCP listener on 127.0.0.1 that accepts connections and never
//! answers (a stand-in for a hung API server, which the real control plane cannot be made to
//! be): the daemon's first reconcile then hangs in cluster discovery, so a signal arrives while
//! a reconcile is in flight, deterministically. For the notifications the kubeconfig names a
//! port nobody listens on, so reconciles fail fast and report it.

mod daemon_support;

use std::net::TcpListener;
use std::path::Path;

use daemon_support::{Daemon, POLL, POLLS, echo_spec, free_port, repo_config};

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
    kubeconfig(dir, port)
}

/// A kubeconfig for `https://127.0.0.1:<port>`.
fn kubeconfig(dir: &Path, port: u16) -> std::path::PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stalled\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: stalled\n  context:\n    cluster: stalled\n    user: u\ncurrent-context: stalled\nusers:\n- name: u\n  user:\n    token: test-token\n"
    );
    std::fs::write(&kubeconfig, text).unwrap();
    kubeconfig
}

fn local_repo(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), repo_config("nowhere")).unwrap();
    std::fs::write(repo.join("services/echo.yaml"), echo_spec("v1")).unwrap();
    repo
}

/// A daemon whose first reconcile hangs; returns once that reconcile has started.
async fn hung_daemon(dir: &Path, extra: &[&str]) -> Daemon {
    let repo = local_repo(dir);
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

/// Reads datagrams from `sock` until one starts with `prefix`; returns it.
async fn notification(sock: &tokio::net::UnixDatagram, d: &Daemon, prefix: &str) -> String {
    let mut buf = vec![0u8; 4096];
    for _ in 0..1000 {
        // Bounded so a daemon that never sends fails the test instead of hanging it.
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), sock.recv(&mut buf));
        let Ok(Ok(n)) = read.await else { break };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.starts_with(prefix) {
            return msg;
        }
    }
    d.give_up(&format!("sd_notify {prefix}"))
}

#[tokio::test]
async fn systemd_gets_ready_status_watchdog_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = local_repo(tmp.path());
    let kubeconfig = kubeconfig(tmp.path(), free_port());
    let sock_path = tmp.path().join("notify.sock");
    let sock = tokio::net::UnixDatagram::bind(&sock_path).unwrap();
    let env = [
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
    ];
    let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
    let mut d = Daemon::start(tmp.path(), &kubeconfig, &args, &env);
    notification(&sock, &d, "READY=1").await;
    // The API server is unreachable: the reconcile fails, and says so in the status line.
    let status = notification(&sock, &d, "STATUS=").await;
    assert!(status.starts_with("STATUS=failure at local-"), "{status}");
    notification(&sock, &d, "WATCHDOG=1").await;
    d.signal("TERM");
    notification(&sock, &d, "STOPPING=1").await;
    assert_eq!(d.wait_exit().await.code(), Some(0), "{}", d.log());
}
