//! Paths from a config repo stay inside it (issue 10, defects 2 and 3): `paths:` entries with
//! `..`, a `spec.secrets.file` that is a symbolic link out of the repo, directory links below
//! `paths`. Run the way a user (or an attacker with commit rights) would hit them: `mlsync
//! validate` and `mlsync render --show-secrets` on a repo next to files it must not reach.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const SPEC: &str = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: NAME
spec:
  model: {name: m, version: v1}
  image: example/m:1
";

/// `<tmp>/a/repo` (the config repo, `services/iris.yaml`) and `<tmp>/outside`, which holds a
/// spec and the example's encrypted secrets (demo key): things the repo must not reach.
struct Layout {
    tmp: tempfile::TempDir,
}

impl Layout {
    fn new(repo_config: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let l = Layout { tmp };
        std::fs::create_dir_all(l.repo().join("services")).unwrap();
        std::fs::create_dir_all(l.repo().join("secrets")).unwrap();
        std::fs::create_dir_all(l.outside()).unwrap();
        std::fs::write(l.repo().join("mlsync.yaml"), repo_config).unwrap();
        std::fs::write(
            l.repo().join("services/iris.yaml"),
            SPEC.replace("NAME", "iris"),
        )
        .unwrap();
        std::fs::write(
            l.outside().join("host.yaml"),
            SPEC.replace("NAME", "from-the-host"),
        )
        .unwrap();
        std::fs::copy(
            root().join("example-repo/secrets/iris-classifier.enc.yaml"),
            l.outside().join("s.enc.yaml"),
        )
        .unwrap();
        l
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("a/repo")
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// Gives `services/iris.yaml` a secrets file.
    fn use_secrets(&self, file: &str) {
        let spec = SPEC.replace("NAME", "iris") + &format!("  secrets: {{file: {file}}}\n");
        std::fs::write(self.repo().join("services/iris.yaml"), spec).unwrap();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `mlsync <cmd> --repo DIR <args>` with the demo key; returns (exit code, stdout, stderr).
fn mlsync(cmd: &str, repo: &Path, args: &[&str]) -> (i32, String, String) {
    let key = std::fs::read_to_string(root().join("example-repo/demo-age-key.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg(cmd)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("SOPS_AGE_KEY", key)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("MLSYNC_LOG", "warn")
        // The layout is no git work tree: name the ownership id so no warning about it joins stderr.
        .env("MLSYNC_SOURCE_ID", "confine-test")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn paths_entry_with_dotdot_is_refused_and_nothing_outside_is_loaded() {
    let l = Layout::new("sourceId: t\npaths: [services, ../../outside]\n");
    let (code, out, _) = mlsync("validate", &l.repo(), &[]);
    assert_eq!(
        out,
        "mlsync.yaml:2:19: paths[1]: must stay inside the repo ('..' leads out of it)\n\
         1 valid service(s), 0 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);

    let (code, out, err) = mlsync("render", &l.repo(), &[]);
    assert!(!out.contains("from-the-host"), "{out}");
    assert!(out.contains("name: iris"), "{out}");
    assert!(err.contains("paths[1]: must stay inside the repo"), "{err}");
    assert_eq!(code, 1);
}

#[test]
fn paths_entry_through_a_link_out_of_the_repo_is_refused() {
    let l = Layout::new("paths: [services, more]\n");
    symlink(l.outside(), l.repo().join("more")).unwrap();
    let (code, out, _) = mlsync("validate", &l.repo(), &[]);
    assert_eq!(
        out,
        "mlsync.yaml:1:19: paths[1]: must stay inside the repo (the symbolic link more points outside it)\n\
         1 valid service(s), 0 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn links_inside_the_repo_keep_working() {
    let l = Layout::new("paths: [specs]\n");
    symlink("services", l.repo().join("specs")).unwrap();
    std::fs::copy(
        l.outside().join("s.enc.yaml"),
        l.repo().join("secrets/real.enc.yaml"),
    )
    .unwrap();
    symlink("real.enc.yaml", l.repo().join("secrets/link.enc.yaml")).unwrap();
    l.use_secrets("secrets/link.enc.yaml");
    let (code, out, _) = mlsync("validate", &l.repo(), &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "1 valid service(s), 0 invalid, 0 error(s)\n")
    );
    let (code, out, err) = mlsync("render", &l.repo(), &["--show-secrets"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DB_USER: YWRtaW4=\n"), "{out}");
}

#[test]
fn secrets_file_linked_out_of_the_repo_is_refused_and_never_decrypted() {
    let l = Layout::new("paths: [services]\n");
    l.use_secrets("secrets/link.enc.yaml");
    let link = l.repo().join("secrets/link.enc.yaml");
    let refused = "services/iris.yaml:8:13: spec.secrets.file: must stay inside the repo \
                   (the symbolic link secrets/link.enc.yaml points outside it)";
    // The same answer whether the target is a decryptable file, a host file or nothing at all:
    // the error tells nobody which host files exist.
    let targets = [
        l.outside().join("s.enc.yaml"),
        PathBuf::from("/etc/passwd"),
        PathBuf::from("/nonexistent/s.enc.yaml"),
        PathBuf::from("../../../outside/s.enc.yaml"),
    ];
    for target in targets {
        let _ = std::fs::remove_file(&link);
        symlink(&target, &link).unwrap();
        let (code, out, _) = mlsync("validate", &l.repo(), &[]);
        assert_eq!(
            out,
            format!("{refused}\n0 valid service(s), 1 invalid, 1 error(s)\n"),
            "{target:?}"
        );
        assert_eq!(code, 1);

        let (code, out, err) = mlsync("render", &l.repo(), &["--show-secrets"]);
        assert_eq!(out, "", "{target:?}");
        assert_eq!(err, format!("{refused}\n"), "{target:?}");
        assert_eq!(code, 1);
    }
}

#[test]
fn secrets_file_with_dotdot_or_absolute_path_is_refused() {
    let l = Layout::new("paths: [services]\n");
    l.use_secrets("../../outside/s.enc.yaml");
    let (_, out, _) = mlsync("validate", &l.repo(), &[]);
    assert!(out.starts_with(
        "services/iris.yaml:8:13: spec.secrets.file: must stay inside the repo ('..' leads out of it)\n"
    ), "{out}");
    let abs = l.outside().join("s.enc.yaml");
    l.use_secrets(abs.to_str().unwrap());
    let (_, out, _) = mlsync("validate", &l.repo(), &[]);
    assert!(out.starts_with(
        "services/iris.yaml:8:13: spec.secrets.file: must be a path relative to the repo root, not an absolute path\n"
    ), "{out}");
}

#[test]
fn directory_links_below_paths_are_not_followed() {
    let l = Layout::new("paths: [services]\n");
    symlink(l.outside(), l.repo().join("services/host")).unwrap();
    symlink("../services", l.repo().join("services/loop")).unwrap();
    let (code, out, _) = mlsync("validate", &l.repo(), &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "1 valid service(s), 0 invalid, 0 error(s)\n")
    );
    let (_, out, _) = mlsync("render", &l.repo(), &[]);
    assert!(!out.contains("from-the-host"), "{out}");
}
