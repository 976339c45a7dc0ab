//! `mlsync run` started the way `systemd/mlsync.service` starts it: credentials in
//! `$CREDENTIALS_DIRECTORY` (age identity and kubeconfig, mode 0600), state in
//! `$STATE_DIRECTORY`, `NOTIFY_SOCKET` and `WATCHDOG_USEC` set, no KUBECONFIG or
//! SOPS_AGE_KEY* in the environment. The test plays the service manager: it binds the notify
//! socket, waits for READY=1 and WATCHDOG=1, sends SIGTERM and expects STOPPING=1 and exit 0.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::cluster;

/// Upper bound for any one message, only so a broken daemon fails the test instead of hanging it.
const GIVE_UP: Duration = Duration::from_secs(180);

fn write_private(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A free loopback port for the admin server.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on the admin server, or `None` if it does not answer.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(GIVE_UP)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Receives notify datagrams until one has a line equal to `wanted`; returns all lines seen.
fn wait_for(socket: &UnixDatagram, wanted: &str, seen: &mut Vec<String>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {wanted} from mlsync ({e}); got so far: {seen:?}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = text.lines().any(|l| l == wanted);
        seen.extend(text.lines().map(str::to_owned));
        if found {
            return;
        }
    }
}

#[test]
fn run_speaks_sd_notify_and_stops_cleanly_on_sigterm() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    let admin_kubeconfig = std::fs::read(cluster().kubeconfig_path()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();

    let credentials = tmp.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o500)).ok();
    let age_key = std::fs::read(root.join("example-repo/demo-age-key.txt")).unwrap();
    write_private(&credentials.join("age-key"), &age_key);
    write_private(&credentials.join("kubeconfig"), &admin_kubeconfig);

    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let repo = tmp.path().join("repo");
    support::example::example_repo_git(&repo);

    let notify_path = tmp.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(GIVE_UP)).unwrap();

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg("run")
        .arg("--repo")
        .arg(&repo)
        .arg("--branch")
        .arg("main")
        .arg("--interval")
        .arg("1h")
        .arg("--admin-addr")
        .arg(format!("127.0.0.1:{port}"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // What systemd gives a DynamicUser= service: HOME=/ (not writable there).
        .env("HOME", "/")
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env("STATE_DIRECTORY", &state)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "2000000")
        .env("MLSYNC_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    let mut seen = Vec::new();
    wait_for(&notify, "READY=1", &mut seen);
    wait_for(&notify, "WATCHDOG=1", &mut seen);
    // Ready for traffic once the first reconcile succeeded (what a load balancer would see).
    // Bounded only so a daemon that never gets ready fails the test instead of hanging it.
    let ready = (0..1800).any(|_| {
        let ok = http_status(port, "/readyz") == Some(200);
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(ready, "/readyz never answered 200; notify: {seen:?}");

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for(&notify, "STOPPING=1", &mut seen);
    let status = child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(
        status.success(),
        "mlsync run exited with {status} after SIGTERM; notify: {seen:?}\n{log}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("STATUS=")),
        "no STATUS= line: {seen:?}"
    );

    // The reconcile ran with the credentials (kubeconfig, and the age key that decrypts the
    // Secret): the example service exists in ml-demo.
    let names = cluster()
        .kubectl()
        .args(["-n", "ml-demo", "get", "deployments,secrets", "-o", "name"])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    assert!(
        names
            .lines()
            .any(|l| l == "deployment.apps/iris-classifier"),
        "iris-classifier not applied; notify: {seen:?}\n{log}"
    );
    // The clone lives under $STATE_DIRECTORY; no secret material leaked into the log.
    assert!(
        std::fs::read_dir(&state).unwrap().next().is_some(),
        "nothing written to STATE_DIRECTORY\n{log}"
    );
    assert!(
        !log.contains("AGE-SECRET-KEY"),
        "the age identity was logged"
    );
}
