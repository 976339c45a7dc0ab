//! What users read when something is wrong (issue 10, defect 11): every cause said once, in
//! our words, and every problem of a config repo as one more `file:line:column` line instead of
//! an error that stops the run.

use std::path::Path;
use std::process::Command;

const SPEC: &str = "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: NAME
spec:
  model: {name: m, version: v1}
  image: example/m:1
";

/// A repo with the given files (path, bytes).
fn repo(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// Runs `mlsync validate --repo DIR`; returns (exit code, stdout).
fn validate(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo"])
        .arg(dir)
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn a_file_that_is_not_utf8_is_one_problem_among_others() {
    let good = SPEC.replace("NAME", "good");
    let bad = SPEC.replace("NAME", "bad").replace("image:", "image: [");
    let latin1 = b"apiVersion: mlsync.dev/v1alpha1\nkind: MLService\n# caf\xe9\n";
    let dir = repo(&[
        ("a.yaml", good.as_bytes()),
        ("b.yaml", latin1),
        ("c.yaml", bad.as_bytes()),
    ]);
    let (code, out) = validate(dir.path());
    assert_eq!(
        out,
        "b.yaml:3:6: not UTF-8 text (invalid byte 0xe9)\n\
         c.yaml:7:10: invalid YAML: unclosed bracket '['\n\
         1 valid service(s), 0 invalid, 2 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_repo_config_that_is_not_utf8_is_reported_at_its_byte() {
    let good = SPEC.replace("NAME", "good");
    let dir = repo(&[
        ("mlsync.yaml", b"sourceId: caf\xc3\n"),
        ("a.yaml", good.as_bytes()),
    ]);
    let (code, out) = validate(dir.path());
    assert_eq!(
        out,
        "mlsync.yaml:1:14: not UTF-8 text (invalid byte 0xc3)\n\
         1 valid service(s), 0 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_missing_paths_entry_is_reported_at_that_entry() {
    let good = SPEC.replace("NAME", "good");
    let dir = repo(&[
        (
            "mlsync.yaml",
            b"sourceId: t\npaths:\n  - services\n  - modles\n",
        ),
        ("services/a.yaml", good.as_bytes()),
    ]);
    let (code, out) = validate(dir.path());
    assert_eq!(
        out,
        "mlsync.yaml:4:5: paths[1]: path not found in the repo: modles\n\
         1 valid service(s), 0 invalid, 1 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_duplicate_key_is_told_in_our_words_with_both_lines() {
    let dup = SPEC.replace("NAME", "dup") + "  image: example/m:2\n";
    let dir = repo(&[
        ("a.yaml", dup.as_bytes()),
        ("mlsync.yaml", b"sourceId: a\nsourceId: b\n"),
    ]);
    let (code, out) = validate(dir.path());
    assert_eq!(
        out,
        "mlsync.yaml:2:1: invalid YAML: duplicate key \"sourceId\" (first at line 1)\n\
         a.yaml:8:3: invalid YAML: duplicate key \"image\" (first at line 7)\n\
         0 valid service(s), 0 invalid, 2 error(s)\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn an_address_in_use_is_said_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = repo(&[("a.yaml", SPEC.replace("NAME", "a").as_bytes())]);
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["run", "--admin-addr", &addr, "--repo"])
        .arg(dir.path())
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: failed to listen on {addr}: Address already in use (os error 98)\n")
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreadable_repo_is_said_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["validate", "--repo", "/nonexistent/mlsync-repo"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: failed to read config repo /nonexistent/mlsync-repo: No such file or directory (os error 2)\n"
    );
    assert_eq!(out.status.code(), Some(2));
}
