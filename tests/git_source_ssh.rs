//! The git source over SSH against a real OpenSSH `sshd` on 127.0.0.1: strict known_hosts.
//! Needs `/usr/sbin/sshd` (Debian `openssh-server`) and `ssh-keygen` (`openssh-client`); the
//! tests fail, naming the package, when they are missing.

mod support;

use std::path::Path;

use mlsync::source::{GitAuth, GitRef, GitSource, GitSourceConfig, SourceError};
use support::{Sshd, Upstream, current_user, keygen};

fn main_branch() -> GitRef {
    GitRef::branch("main").unwrap()
}

fn config(repo: &str, state: &Path) -> GitSourceConfig {
    GitSourceConfig {
        repo: repo.to_string(),
        target: main_branch(),
        subdir: None,
        state_dir: state.to_path_buf(),
        auth: GitAuth::default(),
    }
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap()
}

/// Upstream served over SSH: `ssh://user@127.0.0.1:PORT/<abs path>/repo.git`.
fn ssh_setup(tmp: &Path) -> (Upstream, Sshd, String, String) {
    let up = Upstream::new(tmp);
    let head = up.commit("s.yaml", "ssh\n", "over ssh");
    up.push();
    let keys = tmp.join("keys");
    std::fs::create_dir(&keys).unwrap();
    let sshd = Sshd::start(&keys);
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        current_user(),
        sshd.port,
        up.bare.display()
    );
    (up, sshd, url, head)
}

fn ssh_config(url: &str, sshd: &Sshd, known_hosts: &Path, state: &Path) -> GitSourceConfig {
    let mut cfg = config(url, state);
    cfg.auth.ssh_key_file = Some(sshd.client_key.clone());
    cfg.auth.known_hosts = Some(known_hosts.to_path_buf());
    cfg
}

#[test]
fn ssh_with_known_host_key_clones() {
    let tmp = tempfile::tempdir().unwrap();
    let (_up, sshd, url, head) = ssh_setup(tmp.path());
    let known = tmp.path().join("known_hosts");
    let other = keygen(&tmp.path().join("unrelated_host_test_key"));
    let lines = format!("# test\nother.example {other}\n{}", sshd.known_hosts_line());
    std::fs::write(&known, lines).unwrap();
    let out = GitSource::new(ssh_config(&url, &sshd, &known, &tmp.path().join("st")))
        .unwrap()
        .sync()
        .unwrap();
    assert_eq!(out.revision.commit, head);
    assert_eq!(read(&out.revision.root, "s.yaml"), "ssh\n");
}

#[test]
fn ssh_with_hashed_known_hosts_clones() {
    let tmp = tempfile::tempdir().unwrap();
    let (_up, sshd, url, head) = ssh_setup(tmp.path());
    let known = tmp.path().join("known_hosts");
    std::fs::write(&known, sshd.known_hosts_line()).unwrap();
    // Hash the host names in place with OpenSSH itself.
    let status = std::process::Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&known)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    let out = GitSource::new(ssh_config(&url, &sshd, &known, &tmp.path().join("st")))
        .unwrap()
        .sync()
        .unwrap();
    assert_eq!(out.revision.commit, head);
}

#[test]
fn ssh_unknown_host_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_up, sshd, url, _) = ssh_setup(tmp.path());
    let known = tmp.path().join("known_hosts");
    // Same key but for the default port: a different known_hosts entry name.
    std::fs::write(&known, format!("127.0.0.1 {}\n", sshd.host_public_key)).unwrap();
    let state = tmp.path().join("st");
    let err = GitSource::new(ssh_config(&url, &sshd, &known, &state))
        .unwrap()
        .sync()
        .unwrap_err();
    let msg = err.to_string();
    let host = format!("[127.0.0.1]:{}", sshd.port);
    assert!(matches!(err, SourceError::HostKeyUnknown { .. }), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "failed to verify ssh host key of {host}: host is not in known_hosts file {}",
            known.display()
        )),
        "{msg}"
    );
    assert!(
        !state
            .join("source/checkouts")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
}

#[test]
fn ssh_changed_host_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_up, sshd, url, _) = ssh_setup(tmp.path());
    let other = keygen(&tmp.path().join("other_host_test_key"));
    let known = tmp.path().join("known_hosts");
    std::fs::write(&known, format!("[127.0.0.1]:{} {other}\n", sshd.port)).unwrap();
    let err = GitSource::new(ssh_config(&url, &sshd, &known, &tmp.path().join("st")))
        .unwrap()
        .sync()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::HostKeyChanged { .. }), "{msg}");
    assert!(msg.contains(&format!("[127.0.0.1]:{}", sshd.port)), "{msg}");
    assert!(msg.contains(&known.display().to_string()), "{msg}");
    assert!(msg.contains("CHANGED"), "{msg}");
}

#[test]
fn ssh_without_known_hosts_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let url = "ssh://git@127.0.0.1:1/repo.git";
    let err = GitSource::new(config(url, tmp.path()))
        .unwrap()
        .sync()
        .unwrap_err();
    assert!(
        err.to_string().contains("no known_hosts file configured"),
        "{err}"
    );
}
