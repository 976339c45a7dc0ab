//! The `mlsync run` binary as a child process, and plain HTTP/1.1 to its admin server.
#![allow(dead_code)]

pub mod api_proxy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How often and how long the bounded polling loops try (bounded only so a broken daemon fails
/// the test instead of hanging it; nothing asserts on elapsed time).
pub const POLL: Duration = Duration::from_millis(100);
/// Number of polls before giving up.
pub const POLLS: u32 = 1200;

/// A running `mlsync run`.
pub struct Daemon {
    child: Child,
    /// `127.0.0.1:<port>` of the admin server.
    pub addr: String,
    log: PathBuf,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Daemon {
    /// Starts `mlsync run <args>` with its own admin port, logging (info) into `dir/daemon.log`.
    pub fn start(dir: &Path, kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = dir.join(format!("daemon-{}.log", addr.replace([':', '.'], "-")));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlsync"));
        cmd.arg("run")
            .args(args)
            .arg("--admin-addr")
            .arg(&addr)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .env("MLSYNC_LOG", "info,mlsync=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        let child = cmd.spawn().expect("start mlsync run");
        Self { child, addr, log }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics with the log: `what` did not happen.
    pub fn give_up(&self, what: &str) -> ! {
        panic!("{what} did not happen; daemon log:\n{}", self.log())
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// GET `path`: (status code, body). Waits for the server to accept connections first.
    pub async fn get(&mut self, path: &str) -> (u16, String) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        self.request(req.into_bytes()).await
    }

    /// POST `body` to `path` with extra headers.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.request(bytes).await
    }

    async fn request(&mut self, req: Vec<u8>) -> (u16, String) {
        for _ in 0..POLLS {
            if let Ok(mut s) = TcpStream::connect(&self.addr).await {
                s.write_all(&req).await.unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                let text = String::from_utf8_lossy(&buf).into_owned();
                let code = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
                return (code, body.to_owned());
            }
            if !self.is_running() {
                self.give_up("the admin server starting (the daemon exited)");
            }
            tokio::time::sleep(POLL).await;
        }
        self.give_up("the admin server accepting connections")
    }

    /// The value of the first metric sample whose line starts with `series`, or 0.
    pub async fn metric(&mut self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        metric(&text, series)
    }

    /// The `/status` document.
    pub async fn status(&mut self) -> serde_json::Value {
        let (code, body) = self.get("/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad /status {e}: {body}"))
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&mut self) {
        for _ in 0..POLLS {
            if self.get("/readyz").await.0 == 200 {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        self.give_up("/readyz turning 200")
    }

    /// Sends `signal` (e.g. "TERM") with the real `kill` command.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Waits for the process to exit (bounded) and returns its status.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        for _ in 0..POLLS {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            tokio::time::sleep(POLL).await;
        }
        self.give_up("the daemon exiting")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample line of `text` starting with `series`, or 0.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// mlsync.yaml putting services into `ns`, owned by source id `ns`.
pub fn repo_config(ns: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: RepoConfig\ndefaultNamespace: {ns}\npaths:\n  - services\nsourceId: {ns}\n"
    )
}

/// A small MLService without secrets whose ConfigMap `echo-config` has `MODEL_VERSION: version`.
pub fn echo_spec(version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: echo\nspec:\n  model:\n    name: echo\n    version: {version}\n    format: sklearn\n  image: registry.invalid/echo:1\n  port: 8080\n  config:\n    MODEL_VERSION: {version}\n"
    )
}

/// GitHub's `X-Hub-Signature-256` of `body` under `secret`.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `MODEL_VERSION` of the `echo-config` ConfigMap in `ns`, if it exists.
pub async fn model_version(client: &kube::Client, ns: &str) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), ns);
    let cm = api.get_opt("echo-config").await.expect("get ConfigMap")?;
    cm.data?.get("MODEL_VERSION").cloned()
}

/// Polls the API server until `echo-config` in `ns` has `version`.
pub async fn wait_version(daemon: &Daemon, client: &kube::Client, ns: &str, version: &str) {
    for _ in 0..POLLS {
        if model_version(client, ns).await.as_deref() == Some(version) {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    daemon.give_up(&format!(
        "ConfigMap echo-config in {ns} getting MODEL_VERSION {version}"
    ))
}

/// Requests mlsync sent to the API server after line `from` of its audit log, other than the
/// drift watch's own long-running WATCH connections.
pub fn requests_since(audit: &Path, from: usize) -> Vec<String> {
    std::fs::read_to_string(audit)
        .unwrap()
        .lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|u| u.starts_with("mlsync/"))
                && e["verb"] != "watch"
        })
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}
