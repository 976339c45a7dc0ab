//! Plain-format logs carry ANSI colour codes only on a terminal, and not with `NO_COLOR` (issue
//! 10, defect 11): files, pipes, journald and `kubectl logs` get plain text.
//!
//! The daemon logs from its first reconcile, which here fails at once (the kubeconfig names a
//! port nobody listens on), so no control plane is needed. Its stderr goes to a pipe; the
//! terminal case runs it under `script` (util-linux), which gives it a pseudo-terminal.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

const ESC: &str = "\x1b[";

/// A repo dir and a kubeconfig for a closed port, in `dir`.
fn setup(dir: &Path) -> (String, String) {
    let repo = dir.join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::write(repo.join("mlsync.yaml"), "defaultNamespace: nowhere\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"),
    )
    .unwrap();
    (
        repo.to_str().unwrap().to_owned(),
        kubeconfig.to_str().unwrap().to_owned(),
    )
}

/// The daemon's arguments: one reconcile that fails, on a free admin port.
fn run_args(repo: &str, kubeconfig: &str, dir: &Path) -> Vec<String> {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    [
        "run",
        "--repo",
        repo,
        "--kubeconfig",
        kubeconfig,
        "--interval",
        "1h",
        "--watch=false",
        "--admin-addr",
        &admin.to_string(),
        "--state-dir",
        dir.join("state").to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Reads `reader` line by line until a line contains "reconcile failed"; returns what it read.
fn read_until_failed(reader: impl Read) -> String {
    let mut text = String::new();
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        text.push_str(&line);
        text.push('\n');
        if line.contains("reconcile failed") {
            break;
        }
    }
    text
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, kubeconfig) = setup(tmp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(run_args(&repo, &kubeconfig, tmp.path()))
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env("MLSYNC_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = read_until_failed(child.stderr.take().unwrap());
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("reconcile failed"), "{log}");
    assert!(!log.contains(ESC), "ANSI codes in a pipe:\n{log:?}");
}

/// Under a pseudo-terminal: coloured, unless `NO_COLOR` is set.
fn on_a_terminal(no_color: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, kubeconfig) = setup(tmp.path());
    // `timeout` bounds the daemon in case the hang-up of the terminal did not end it.
    let mut line = vec![
        "exec timeout 60".to_owned(),
        env!("CARGO_BIN_EXE_mlsync").to_owned(),
    ];
    line.extend(run_args(&repo, &kubeconfig, tmp.path()));
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env("MLSYNC_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let mut child = cmd.spawn().unwrap();
    let log = read_until_failed(child.stdout.take().unwrap());
    // Closing the terminal hangs up the daemon; kill `script` too.
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("reconcile failed"), "{log}");
    log
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    assert!(on_a_terminal(None).contains(ESC), "a terminal gets colour");
    let plain = on_a_terminal(Some("1"));
    assert!(!plain.contains(ESC), "NO_COLOR=1:\n{plain:?}");
}
