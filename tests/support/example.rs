//! The example repo as tests use it: copied, and committed as a git repository to follow.

use std::path::Path;
use std::process::Command;

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Copies `example-repo/` to `dest` without its demo identity (tests pass the key as a
/// credential, not next to the specs) and commits it on `main`, so the daemon can follow it
/// like a remote.
pub fn example_repo_git(dest: &Path) {
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
        dest,
    );
    std::fs::remove_file(dest.join("demo-age-key.txt")).unwrap();
    let commit = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "example",
    ];
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &commit] {
        let status = Command::new("git")
            .args(args)
            .current_dir(dest)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
}

/// A minimal valid MLService named `name` (config, CPU requests and limits), with `extra`
/// appended to its `spec:` (e.g. `"  replicas: 2\n"`).
pub fn spec(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: {name}
spec:
  model:
    name: {name}
    version: v1
  image: example/{name}:1
  config:
    MODEL_NAME: {name}
  resources:
    requests:
      cpu: 100m
    limits:
      cpu: 500m
{extra}"
    )
}
