//! Real components for the git source tests: the `git` CLI, `git daemon` and OpenSSH `sshd`,
//! all on 127.0.0.1. Missing tools make the test FAIL with what to install.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `git` in `dir` and returns its trimmed stdout; panics with stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("cannot run git (install the `git` package): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port` (readiness, not a timed assertion).
fn wait_listening(port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited before listening on port {port}: {status}"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!(
        "{what} did not start listening on 127.0.0.1:{port}"
    ))
}

/// An upstream repository: a bare repo (served) plus a work tree the test commits in.
pub struct Upstream {
    /// Directory holding `repo.git` (the git daemon's base path).
    pub base: PathBuf,
    /// The bare repository.
    pub bare: PathBuf,
    /// The work tree.
    pub work: PathBuf,
}

impl Upstream {
    /// Creates an empty upstream under `dir`.
    pub fn new(dir: &Path) -> Self {
        let base = dir.join("served");
        let bare = base.join("repo.git");
        let work = dir.join("work");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, &["init", "--bare", "-q", "-b", "main"]);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self { base, bare, work }
    }

    /// Writes `file` (relative path) with `content`, commits with `message`, returns the sha.
    pub fn commit(&self, file: &str, content: &str, message: &str) -> String {
        let path = self.work.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Pushes `main` (and tags).
    pub fn push(&self) {
        git(
            &self.work,
            &["push", "-q", "--force", "--tags", "origin", "main"],
        );
    }
}

/// A running `git daemon` exporting an [`Upstream`]'s base directory.
pub struct GitDaemon {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    base: PathBuf,
}

impl GitDaemon {
    /// Starts `git daemon` on a free port.
    pub fn start(base: &Path) -> Self {
        let mut daemon = Self {
            child: None,
            port: free_port(),
            base: base.to_path_buf(),
        };
        daemon.restart();
        daemon
    }

    /// The URL of `repo.git`.
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.port)
    }

    /// Stops the daemon (the port stays reserved for [`GitDaemon::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        // Run git-daemon itself: `git daemon` would leave it running as an orphan when killed.
        let exec_path = git(Path::new("/"), &["--exec-path"]);
        let mut child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", self.base.display()))
            .arg(&self.base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `git daemon` (install the `git` package): {e}"));
        if let Err(e) = wait_listening(self.port, &mut child, "git daemon") {
            panic!("{e}");
        }
        self.child = Some(child);
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sshd binary (Debian package `openssh-server`).
const SSHD: &str = "/usr/sbin/sshd";

/// A running OpenSSH server on 127.0.0.1 with a test host key and a test client key.
pub struct Sshd {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Client private key accepted by the server (test key).
    pub client_key: PathBuf,
    /// The server's public host key line (`ssh-ed25519 AAAA…`).
    pub host_public_key: String,
}

/// Generates an ed25519 key pair at `path` (and `path.pub`); returns the public key line.
pub fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "mlsync-test", "-f"])
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen (install `openssh-client`): {e}"));
    assert!(status.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sshd {
    /// Starts sshd as the current user with keys and config under `dir`.
    pub fn start(dir: &Path) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: install it with `apt-get install -y openssh-server` \
             (the SSH tests need a real sshd)"
        );
        // Debian's sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("ssh_host_ed25519_test_key");
        let host_public_key = keygen(&host_key);
        let client_key = dir.join("client_ed25519_test_key");
        let client_public = keygen(&client_key);
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, format!("{client_public}\n")).unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SSHD}: {e}"));
        if let Err(e) = wait_listening(port, &mut child, "sshd") {
            let log = std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
            panic!("{e}\nsshd log:\n{log}");
        }
        Self {
            child,
            port,
            client_key,
            host_public_key,
        }
    }

    /// A known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_public_key)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The current user name (the SSH login used against the test sshd).
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
