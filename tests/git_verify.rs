//! `--allowed-signers`: SSH commit signatures made by the real `git commit -S` with throwaway
//! `ssh-keygen` keys, verified through the public git source API, with `git verify-commit` run
//! on every case as the oracle. Then the daemon itself, without a cluster: an unsigned commit
//! on top of a signed one is refused, shown in `/status` and counted.

mod daemon_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mlsync::source::{
    GitAuth, GitRef, GitSource, GitSourceConfig, SourceError, Verified, VerifyError,
};
use support::{Upstream, git};

/// Runs `git` in `dir` with extra environment and optional stdin: (success, stdout, stderr).
fn git_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    stdin: Option<&[u8]>,
) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run git (install the `git` package): {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// A throwaway SSH key made by `ssh-keygen`.
struct Key {
    private: PathBuf,
    /// `keytype base64 comment`.
    public: String,
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    fingerprint: String,
}

impl Key {
    fn new(dir: &Path, name: &str, kind: &[&str]) -> Self {
        let private = dir.join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", name, "-f"])
            .arg(&private)
            .args(kind)
            .status()
            .expect("run ssh-keygen (install openssh-client)")
            .success();
        assert!(ok, "ssh-keygen {kind:?} failed");
        let public_file = dir.join(format!("{name}.pub"));
        let public = std::fs::read_to_string(&public_file)
            .unwrap()
            .trim()
            .to_string();
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(&public_file)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let fingerprint = listing.split_whitespace().nth(1).unwrap().to_string();
        Self {
            private,
            public,
            fingerprint,
        }
    }

    fn ed25519(dir: &Path, name: &str) -> Self {
        Self::new(dir, name, &["-t", "ed25519"])
    }
}

/// An upstream whose work tree signs with SSH keys, and the allowed-signers file.
struct Signed {
    up: Upstream,
    signers: PathBuf,
    dir: PathBuf,
}

impl Signed {
    fn new(dir: &Path) -> Self {
        let up = Upstream::new(dir);
        git(&up.work, &["config", "gpg.format", "ssh"]);
        let signers = dir.join("allowed_signers");
        std::fs::write(&signers, "").unwrap();
        let s = signers.to_str().unwrap();
        git(&up.work, &["config", "gpg.ssh.allowedSignersFile", s]);
        Self {
            up,
            signers,
            dir: dir.to_path_buf(),
        }
    }

    /// Writes `line` per entry into the allowed-signers file.
    fn allow(&self, lines: &[String]) {
        std::fs::write(&self.signers, lines.join("\n") + "\n").unwrap();
    }

    /// Commits a change to app.yaml, signed by `key` (unsigned without one), and pushes it.
    fn commit(&self, key: Option<&Key>, message: &str) -> String {
        std::fs::write(self.up.work.join("app.yaml"), format!("v: {message}\n")).unwrap();
        git(&self.up.work, &["add", "-A"]);
        match key {
            Some(k) => {
                let signing = format!("user.signingkey={}", k.private.display());
                git(
                    &self.up.work,
                    &["-c", &signing, "commit", "-q", "-S", "-m", message],
                );
            }
            None => {
                git(&self.up.work, &["commit", "-q", "-m", message]);
            }
        }
        self.up.push();
        git(&self.up.work, &["rev-parse", "HEAD"])
    }

    /// `git verify-commit`: (accepted, what it printed).
    fn git_verifies(&self, commit: &str) -> (bool, String) {
        let (ok, _, err) = git_with(&self.up.work, &["verify-commit", commit], &[], None);
        (ok, err)
    }

    fn source(&self, target: GitRef) -> GitSource {
        let mut s = GitSource::new(GitSourceConfig {
            repo: self.up.bare.to_str().unwrap().to_string(),
            target,
            subdir: None,
            state_dir: self.dir.join("state"),
            auth: GitAuth::default(),
        })
        .unwrap();
        s.verify_commits(&self.signers).unwrap();
        s
    }

    fn checkouts(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("state/source/checkouts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn main_branch() -> GitRef {
    GitRef::branch("main").unwrap()
}

/// The refused commit and its reason.
fn refused(result: Result<mlsync::source::SyncOutcome, SourceError>) -> (String, VerifyError) {
    match result {
        Err(SourceError::Unverified { revision, error }) => (revision, *error),
        other => panic!("expected a refused commit, got {other:?}"),
    }
}

#[test]
fn a_good_ed25519_signature_is_applied_and_git_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let head = s.commit(Some(&alice), "signed");

    let (ok, said) = s.git_verifies(&head);
    assert!(ok, "git verify-commit refused: {said}");
    assert!(
        said.contains("Good \"git\" signature for alice@example.com"),
        "{said}"
    );

    let out = s.source(main_branch()).sync().unwrap();
    assert_eq!(out.revision.commit, head);
    assert_eq!(
        out.verified,
        Some(Verified {
            principal: "alice@example.com".into(),
            fingerprint: alice.fingerprint.clone(),
        })
    );
    assert!(said.contains(&alice.fingerprint), "{said}");
}

#[test]
fn rsa_and_ecdsa_keys_verify_like_git() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let keys = [
        Key::new(tmp.path(), "rsa", &["-t", "rsa", "-b", "3072"]),
        Key::new(tmp.path(), "p256", &["-t", "ecdsa", "-b", "256"]),
        Key::new(tmp.path(), "p384", &["-t", "ecdsa", "-b", "384"]),
        Key::new(tmp.path(), "p521", &["-t", "ecdsa", "-b", "521"]),
    ];
    let lines: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}@example.com {}",
                k.public.rsplit(' ').next().unwrap(),
                k.public
            )
        })
        .collect();
    s.allow(&lines);
    let mut source = s.source(main_branch());
    for key in &keys {
        let head = s.commit(Some(key), &key.public);
        let (ok, said) = s.git_verifies(&head);
        assert!(ok, "git verify-commit refused {}: {said}", key.public);
        let out = source
            .sync()
            .unwrap_or_else(|e| panic!("{}: {e}", key.public));
        assert_eq!(out.revision.commit, head);
        assert_eq!(
            out.verified.map(|v| v.fingerprint),
            Some(key.fingerprint.clone())
        );
    }
}

#[test]
fn an_unsigned_commit_on_top_is_not_applied_and_the_last_good_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let good = s.commit(Some(&alice), "signed");
    let mut source = s.source(main_branch());
    source.sync().unwrap();

    let bad = s.commit(None, "unsigned");
    assert!(
        !s.git_verifies(&bad).0,
        "git verify-commit accepted an unsigned commit"
    );
    let err = source.sync().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to verify the signature of commit {bad}: it is not signed")
    );
    assert_eq!(err.unverified(), Some((bad.as_str(), "unsigned")));
    let (revision, error) = refused(Err(err));
    assert_eq!(
        (revision.as_str(), error.reason()),
        (bad.as_str(), "unsigned")
    );
    assert_eq!(
        source.last_good().map(|r| r.commit.as_str()),
        Some(good.as_str())
    );
    assert_eq!(
        s.checkouts(),
        std::slice::from_ref(&good),
        "nothing of the unsigned commit is checked out"
    );

    // A signed commit on top is applied again (a fast-forward, not a history rewrite).
    let next = s.commit(Some(&alice), "signed again");
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, next);
    assert_eq!(out.rewrite, None);
}

#[test]
fn keys_that_the_file_does_not_allow_for_git_now_are_refused_like_git_does() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    let mallory = Key::ed25519(tmp.path(), "mallory");
    let mut source = s.source(main_branch());
    let cases = [
        // (allowed-signers line for alice, signing key, reason)
        (
            format!("alice@example.com {}", alice.public),
            &mallory,
            "unknownKey",
        ),
        (
            format!("alice@example.com namespaces=\"file\" {}", alice.public),
            &alice,
            "notAllowedForGit",
        ),
        (
            format!(
                "alice@example.com valid-before=\"20200101Z\" {}",
                alice.public
            ),
            &alice,
            "expired",
        ),
        (
            format!(
                "alice@example.com valid-after=\"29990101Z\" {}",
                alice.public
            ),
            &alice,
            "notYetValid",
        ),
    ];
    for (line, key, reason) in cases {
        s.allow(std::slice::from_ref(&line));
        let head = s.commit(Some(key), reason);
        let (git_ok, said) = s.git_verifies(&head);
        assert!(!git_ok, "git verify-commit accepted it ({line}): {said}");
        let (revision, error) = refused(source.sync());
        assert_eq!(
            (revision.as_str(), error.reason()),
            (head.as_str(), reason),
            "{line}: {error}"
        );
        if reason == "unknownKey" {
            assert_eq!(
                error.to_string(),
                format!(
                    "it is signed by key {}, which allowed-signers file {} does not list",
                    mallory.fingerprint,
                    s.signers.display()
                )
            );
        }
    }
    // The same file with the restriction lifted: the last commit is applied.
    s.allow(&[format!(
        "alice@example.com namespaces=\"git\" {}",
        alice.public
    )]);
    assert!(s.git_verifies("HEAD").0);
    assert!(source.sync().unwrap().verified.is_some());
}

#[test]
fn a_tampered_commit_is_a_bad_signature_for_both() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let signed = s.commit(Some(&alice), "deploy v1");
    // The same gpgsig header, another message.
    let raw = git(&s.up.work, &["cat-file", "commit", &signed]);
    assert!(raw.contains("-----BEGIN SSH SIGNATURE-----"), "{raw}");
    let forged = raw.replace("deploy v1", "deploy v2") + "\n";
    let (ok, tampered, err) = git_with(
        &s.up.work,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        &[],
        Some(forged.as_bytes()),
    );
    assert!(ok, "{err}");
    git(&s.up.work, &["update-ref", "refs/heads/main", &tampered]);
    s.up.push();

    let (git_ok, said) = s.git_verifies(&tampered);
    assert!(
        !git_ok,
        "git verify-commit accepted a tampered commit: {said}"
    );
    let (revision, error) = refused(s.source(main_branch()).sync());
    assert_eq!(
        (revision.as_str(), error.reason()),
        (tampered.as_str(), "badSignature")
    );
    assert_eq!(
        error.to_string(),
        format!(
            "its signature by key {} does not match the commit (changed after it was signed, or forged)",
            alice.fingerprint
        )
    );
}

#[test]
fn an_openpgp_signature_has_its_own_reason() {
    if !Command::new("which")
        .arg("gpg")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        println!("note: gpg is not installed; the OpenPGP case is skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let home = tmp.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .env("GNUPGHOME", &home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    gpg(&[
        "--quick-generate-key",
        "Test <test@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let listing = gpg(&["--list-secret-keys", "--with-colons"]);
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .to_string();
    std::fs::write(s.up.work.join("app.yaml"), "v: pgp\n").unwrap();
    git(&s.up.work, &["add", "-A"]);
    let key = format!("user.signingkey={fpr}");
    let (ok, _, err) = git_with(
        &s.up.work,
        &[
            "-c",
            "gpg.format=openpgp",
            "-c",
            &key,
            "commit",
            "-q",
            "-S",
            "-m",
            "pgp",
        ],
        &[("GNUPGHOME", &home)],
        None,
    );
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", &home)
        .status();
    assert!(ok, "git commit -S with gpg failed: {err}");
    s.up.push();
    let (_, error) = refused(s.source(main_branch()).sync());
    assert_eq!(error.reason(), "openPgp");
}

#[test]
fn a_pinned_tag_is_verified_by_the_commit_it_points_at() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let good = s.commit(Some(&alice), "signed");
    git(&s.up.work, &["tag", "-a", "-m", "release", "v1"]);
    s.up.push();
    let mut source = s.source(GitRef::from_ref_arg("v1").unwrap());
    assert_eq!(source.sync().unwrap().revision.commit, good);

    let bad = s.commit(None, "unsigned");
    git(&s.up.work, &["tag", "-f", "-a", "-m", "release", "v1"]);
    s.up.push();
    let (revision, error) = refused(source.sync());
    assert_eq!(
        (revision.as_str(), error.reason()),
        (bad.as_str(), "unsigned")
    );
}

#[test]
fn the_file_is_read_again_at_each_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    let bob = Key::ed25519(tmp.path(), "bob");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let head = s.commit(Some(&alice), "signed");
    let mut source = s.source(main_branch());
    source.sync().unwrap();

    // Alice's key rotated out: the same commit is refused from the next sync on.
    s.allow(&[format!("bob@example.com {}", bob.public)]);
    let (revision, error) = refused(source.sync());
    assert_eq!(
        (revision.as_str(), error.reason()),
        (head.as_str(), "unknownKey")
    );
    assert_eq!(
        source.last_good().map(|r| r.commit.as_str()),
        Some(head.as_str())
    );

    // A broken file refuses every commit, naming file and line.
    std::fs::write(
        &s.signers,
        format!(
            "# keys\nalice@example.com cert-authority {}\n",
            alice.public
        ),
    )
    .unwrap();
    let (_, error) = refused(source.sync());
    assert_eq!(error.reason(), "allowedSignersFile");
    assert_eq!(
        error.to_string(),
        format!(
            "failed to read allowed-signers file {}:2: cert-authority is not supported: mlsync \
             verifies signatures by plain keys only, not by certificates; list the signers' keys instead",
            s.signers.display()
        )
    );
    std::fs::remove_file(&s.signers).unwrap();
    let (_, error) = refused(source.sync());
    assert_eq!(error.reason(), "allowedSignersFile");
}

#[test]
fn bad_allowed_signers_lines_stop_the_start_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    let cases = [
        (
            format!("a@example.com foo=\"x\" {}", alice.public),
            "unknown option \"foo\"",
        ),
        (
            format!("a@example.com valid-before=20200101 {}", alice.public),
            "the value of option valid-before must be in double quotes (valid-before=\"…\")",
        ),
        (
            format!("a@example.com valid-after=\"2020-01-01\" {}", alice.public),
            "invalid valid-after time \"2020-01-01\" (use YYYYMMDD or YYYYMMDDHHMM[SS], Z for UTC)",
        ),
        (
            "a@example.com".to_string(),
            "missing key after the principals",
        ),
        (
            "a@example.com ssh-ed25519 AAAA".to_string(),
            "invalid ssh-ed25519 key: ",
        ),
    ];
    for (line, problem) in cases {
        std::fs::write(
            &s.signers,
            format!("ok@example.com {}\n\n{line}\n", alice.public),
        )
        .unwrap();
        let mut source = GitSource::new(GitSourceConfig {
            repo: s.up.bare.to_str().unwrap().to_string(),
            target: main_branch(),
            subdir: None,
            state_dir: tmp.path().join("state"),
            auth: GitAuth::default(),
        })
        .unwrap();
        let err = source.verify_commits(&s.signers).unwrap_err();
        assert!(matches!(err, SourceError::AllowedSigners { .. }), "{err:?}");
        let want = format!(
            "failed to read allowed-signers file {}:3: {problem}",
            s.signers.display()
        );
        assert!(err.to_string().starts_with(&want), "{err}\nwant: {want}");
    }
}

/// `mlsync run` that must not start: (exit code, stderr).
fn run_refused(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg("run")
        .args(args)
        .arg("--admin-addr")
        .arg(format!("127.0.0.1:{}", daemon_support::free_port()))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("MLSYNC_ALLOWED_SIGNERS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_daemon_refuses_the_flag_in_path_mode_and_a_bad_file_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let dir = tmp.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let signers = s.signers.to_str().unwrap();
    let (code, err) = run_refused(
        tmp.path(),
        &[
            "--repo",
            dir.to_str().unwrap(),
            "--allowed-signers",
            signers,
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "failed to start: --allowed-signers verifies the signatures of git commits, but {} is \
             read as a local directory (path mode), which has no commits to verify; follow the \
             repository's commits with --source git, or drop --allowed-signers",
            dir.display()
        )),
        "{err}"
    );

    std::fs::write(
        &s.signers,
        format!("alice@example.com namespaces=git {}\n", alice.public),
    )
    .unwrap();
    let (code, err) = run_refused(
        tmp.path(),
        &[
            "--repo",
            s.up.bare.to_str().unwrap(),
            "--allowed-signers",
            signers,
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "failed to read allowed-signers file {signers}:1: the value of option namespaces \
             must be in double quotes (namespaces=\"…\")"
        )),
        "{err}"
    );
}

/// The daemon against a git repo and no cluster (the kubeconfig names a port nobody listens
/// on, so every reconcile fails at the connection, after the fetch): a signed commit is
/// fetched, verified and checked out; an unsigned commit on top is refused, shown in `/status`
/// with its cause and reason, counted, logged, and never checked out; a signed commit after it
/// clears the status.
#[tokio::test]
async fn the_daemon_reports_an_unverified_commit_and_keeps_the_last_good_checkout() {
    use daemon_support::{Daemon, POLL, POLLS};
    let tmp = tempfile::tempdir().unwrap();
    let s = Signed::new(tmp.path());
    let alice = Key::ed25519(tmp.path(), "alice");
    s.allow(&[format!("alice@example.com {}", alice.public)]);
    let good = s.commit(Some(&alice), "signed");
    let kubeconfig = tmp.path().join("kubeconfig");
    let port = daemon_support::free_port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: https://127.0.0.1:{port}\ncontexts:\n- name: none\n  context:\n    cluster: none\n    user: u\ncurrent-context: none\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let signers = s.signers.to_str().unwrap();
    let args = [
        "--repo",
        s.up.bare.to_str().unwrap(),
        "--allowed-signers",
        signers,
        "--interval",
        "1s",
        "--backoff-max",
        "1s",
    ];
    let mut d = Daemon::start(tmp.path(), &kubeconfig, &args, &[]);
    let verified = "mlsync_commit_verifications_total{result=\"verified\"}";
    let unsigned = "mlsync_commit_verifications_total{result=\"unsigned\"}";
    let checkouts = tmp.path().join("state/source/checkouts");
    let mut seen = false;
    for _ in 0..POLLS {
        if d.metric(verified).await >= 1.0 && checkouts.join(&good).is_dir() {
            seen = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    if !seen {
        d.give_up("the signed commit verified and checked out");
    }

    let bad = s.commit(None, "unsigned");
    let mut status = serde_json::Value::Null;
    for _ in 0..POLLS {
        status = d.status().await;
        if status["unverifiedCommit"]["revision"] == bad.as_str() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let u = &status["unverifiedCommit"];
    if u["revision"] != bad.as_str() {
        d.give_up(&format!(
            "unverifiedCommit {bad} in /status (last: {status})"
        ));
    }
    assert_eq!(u["cause"], "commitUnverified", "{status}");
    assert_eq!(u["reason"], "unsigned", "{status}");
    let error = format!("failed to verify the signature of commit {bad}: it is not signed");
    assert_eq!(u["error"], error.as_str(), "{status}");
    assert_eq!(status["lastReconcile"]["outcome"], "failure", "{status}");
    assert_eq!(status["lastReconcile"]["error"], error.as_str(), "{status}");
    assert!(d.metric(unsigned).await >= 1.0);
    assert!(checkouts.join(&good).is_dir());
    assert!(
        !checkouts.join(&bad).exists(),
        "the unsigned commit was checked out"
    );
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("commit not applied")
            && l.contains(&bad)
            && l.contains("reason=\"unsigned\"")
            && l.contains("WARN")),
        "{log}"
    );

    let next = s.commit(Some(&alice), "signed again");
    for _ in 0..POLLS {
        let status = d.status().await;
        if status.get("unverifiedCommit").is_none() && checkouts.join(&next).is_dir() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up("the next signed commit clearing unverifiedCommit");
}

/// docs/daemon.md#signed-commits: its example allowed-signers file is one that mlsync and
/// ssh-keygen (`-Y match-principals`) read, and its table lists every reason.
#[test]
fn the_docs_example_file_parses_and_the_reasons_table_is_complete() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/daemon.md")).unwrap();
    let section = doc
        .split("\n## Signed commits\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/daemon.md has a section Signed commits");
    let example: String = section
        .split("```text\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("an example allowed-signers file")
        .lines()
        .map(|l| l.trim_start().to_string() + "\n")
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("allowed_signers");
    std::fs::write(&file, &example).unwrap();
    let parsed = mlsync::source::AllowedSigners::load(&file).unwrap();
    let principals: Vec<&str> = parsed
        .entries()
        .iter()
        .map(|e| e.principals.as_str())
        .collect();
    assert_eq!(principals, ["alice@example.com", "ci@example.com"]);
    let ci = &parsed.entries()[1];
    assert_eq!(ci.namespaces.as_deref(), Some("git"));
    assert_eq!(
        ci.valid_after,
        Some("2026-01-01T00:00:00Z".parse().unwrap())
    );
    // ssh-keygen reads the same file (it stops at a line it cannot parse).
    let found = Command::new("ssh-keygen")
        .args(["-Y", "match-principals", "-f"])
        .arg(&file)
        .args(["-I", "alice@example.com"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    for reason in VerifyError::REASONS {
        assert!(
            section.contains(&format!("| `{reason}` |")),
            "docs/daemon.md#signed-commits does not list reason {reason}"
        );
    }
}
