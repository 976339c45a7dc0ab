//! Resolution against real repositories made with the `git` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repo `<tmp>/srv/ml-config.git` with one commit holding `deploy/prod/mlsync.yaml`.
fn bare(tmp: &Path) -> PathBuf {
    let bare = tmp.join("srv/ml-config.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let seed = tmp.join("seed");
    std::fs::create_dir_all(seed.join("deploy/prod")).unwrap();
    std::fs::write(seed.join("deploy/prod/mlsync.yaml"), "paths: [.]\n").unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-qm", "seed"]);
    git(&seed, &["push", "-q", bare.to_str().unwrap(), "main"]);
    bare
}

fn clone(from: &str, to: &Path) {
    git(
        to.parent().unwrap(),
        &["clone", "-q", from, to.to_str().unwrap()],
    );
}

fn remote_id(d: DefaultId) -> String {
    assert_eq!(d.origin, Origin::RemoteUrl, "{d:?}");
    d.id
}

#[test]
fn clones_and_the_remote_url_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare(tmp.path());
    let (a, b) = (tmp.path().join("alice-cfg"), tmp.path().join("bob"));
    clone(bare.to_str().unwrap(), &a);
    clone(&format!("file://{}", bare.display()), &b);

    let id = remote_id(DefaultId::for_dir(&a));
    assert!(id.starts_with("ml-config-"), "{id}");
    assert_eq!(remote_id(DefaultId::for_dir(&b)), id);
    let url = format!("file://{}", bare.display());
    assert_eq!(remote_id(DefaultId::for_remote(&url, None).unwrap()), id);
    let path = bare.to_str().unwrap();
    assert_eq!(remote_id(DefaultId::for_remote(path, None).unwrap()), id);
    // A work tree followed in git mode is the source its remote names.
    assert_eq!(
        remote_id(DefaultId::for_remote(a.to_str().unwrap(), None).unwrap()),
        id
    );

    // The config in a subdirectory: the directory in path mode, `--path` in git mode.
    let sub = remote_id(DefaultId::for_dir(&a.join("deploy/prod")));
    assert!(sub.starts_with("prod-") && sub != id, "{sub}");
    assert_eq!(remote_id(DefaultId::for_dir(&b.join("deploy/prod"))), sub);
    let prod = Path::new("deploy/prod");
    assert_eq!(
        remote_id(DefaultId::for_remote(&url, Some(prod)).unwrap()),
        sub
    );
    let d = DefaultId::for_dir(&b.join("deploy/./prod/"));
    let canonical = std::fs::canonicalize(&bare).unwrap();
    assert_eq!(d.basis, format!("{}//deploy/prod", canonical.display()));
}

#[test]
fn network_remotes_of_clones_agree_with_the_url_the_daemon_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(
        &work,
        &[
            "remote",
            "add",
            "origin",
            "git@git.example.org:platform/models.git",
        ],
    );
    let id = remote_id(DefaultId::for_dir(&work));
    let url = "https://bot:secret-token@git.example.org/platform/models";
    let d = DefaultId::for_remote(url, None).unwrap();
    assert_eq!(d.basis, "git.example.org/platform/models");
    assert_eq!(remote_id(d), id);
}

#[test]
fn the_upstream_remote_wins_then_origin_then_the_only_one() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["remote", "add", "fork", "https://h/alice/cfg"]);
    let only = DefaultId::for_dir(&work);
    assert_eq!(only.basis, "h/alice/cfg");

    git(&work, &["remote", "add", "mirror", "https://h/mirror/cfg"]);
    let several = DefaultId::for_dir(&work);
    assert_eq!(several.origin, Origin::DirectoryName);
    assert_eq!(several.id, "w");
    let why = several.fallback.unwrap();
    assert!(
        why.contains("several remotes") && why.contains("fork, mirror"),
        "{why}"
    );

    git(&work, &["remote", "add", "origin", "https://h/org/cfg"]);
    assert_eq!(DefaultId::for_dir(&work).basis, "h/org/cfg");

    git(&work, &["config", "branch.main.remote", "fork"]);
    git(&work, &["config", "branch.main.merge", "refs/heads/main"]);
    assert_eq!(DefaultId::for_dir(&work).basis, "h/alice/cfg");
}

#[test]
fn without_a_work_tree_or_remote_the_directory_name_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("My Config");
    std::fs::create_dir_all(&plain).unwrap();
    let d = DefaultId::for_dir(&plain);
    assert_eq!(
        (d.origin, d.id.as_str()),
        (Origin::DirectoryName, "My-Config")
    );
    assert!(d.fallback.unwrap().contains("not inside a git work tree"));

    git(&plain, &["init", "-q"]);
    let d = DefaultId::for_dir(&plain);
    assert_eq!(d.origin, Origin::DirectoryName);
    assert!(d.fallback.unwrap().contains("has no remote"));
}

#[test]
fn flag_then_mlsync_yaml_then_default() {
    let default = DefaultId {
        id: "cfg-0123456789".into(),
        origin: Origin::RemoteUrl,
        basis: "h/o/cfg".into(),
        fallback: None,
    };
    let policy = |flag: Option<&str>| SourceIdPolicy {
        flag: flag.map(str::to_owned),
        default: Ok(default.clone()),
    };
    let got = |p: &SourceIdPolicy, c: Option<&str>| {
        let s = p.resolve(c).unwrap();
        (s.id, s.origin)
    };
    assert_eq!(
        got(&policy(Some("flag")), Some("yaml")),
        ("flag".into(), Origin::Flag)
    );
    assert_eq!(
        got(&policy(None), Some("yaml")),
        ("yaml".into(), Origin::RepoConfig)
    );
    assert_eq!(
        got(&policy(None), None),
        ("cfg-0123456789".into(), Origin::RemoteUrl)
    );
    let e = policy(None).resolve(Some("bad/id")).unwrap_err();
    assert!(matches!(
        e,
        SourceIdError::Invalid {
            origin: Origin::RepoConfig,
            ..
        }
    ));
    assert!(e.to_string().contains("from mlsync.yaml"), "{e}");
    assert!(policy(Some("")).resolve(None).is_err());

    let unusable = SourceIdPolicy {
        flag: None,
        default: DefaultId::for_remote("https://bot:s3cret@h", None),
    };
    let e = unusable.resolve(None).unwrap_err();
    assert!(matches!(e, SourceIdError::Remote { .. }));
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert_eq!(got(&unusable, Some("yaml")).0, "yaml");
}
