//! The default ownership id of a repo without `sourceId` (issue 10, defect 1), the way a user
//! hits it: the example repo without its `sourceId:` line, in a bare repository, followed by
//! `mlsync run` over many commits in git mode and in path mode, and applied from two clones.
//! Before the fix the id was the checkout directory's name — the commit id in git mode — so
//! every commit after the first was a conflict with the daemon's own objects.

use crate::daemon_support;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use daemon_support::{Daemon, POLL, POLLS};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use support::{Upstream, cluster, git};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo")
}

/// The example's iris-classifier spec with `MODEL_VERSION: <version>`.
fn iris(version: &str) -> String {
    let spec =
        std::fs::read_to_string(example_dir().join("services/iris-classifier.yaml")).unwrap();
    assert!(spec.contains("    MODEL_VERSION: v1\n"));
    spec.replace(
        "    MODEL_VERSION: v1\n",
        &format!("    MODEL_VERSION: {version}\n"),
    )
}

/// The example repo without `sourceId` and with its services in `ns`, committed and pushed to a
/// bare repository (`up.bare`); `up.work` is a clone whose `origin` is the bare repo's path.
fn example_upstream(dir: &Path, ns: &str) -> Upstream {
    let up = Upstream::new(dir);
    support::example::copy_dir(&example_dir(), &up.work);
    std::fs::remove_file(up.work.join("demo-age-key.txt")).unwrap();
    let config = std::fs::read_to_string(up.work.join("mlsync.yaml")).unwrap();
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with("sourceId:"))
        .map(|l| {
            l.replace(
                "defaultNamespace: ml-demo",
                &format!("defaultNamespace: {ns}"),
            )
        })
        .map(|l| l + "\n")
        .collect();
    assert!(
        !config.contains("sourceId:") && config.contains(ns),
        "{config}"
    );
    up.commit("mlsync.yaml", &config, "example repo without sourceId");
    up.push();
    up
}

/// The example's demo age identity in a file of mode 0600 (as `--age-key-file` requires).
fn age_key(dir: &Path) -> PathBuf {
    let key = dir.join("age-key.txt");
    std::fs::copy(example_dir().join("demo-age-key.txt"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    key
}

/// `mlsync <cmd> --repo <repo> --age-key-file <key>` against the test cluster: (code, out, err).
fn mlsync(cmd: &str, repo: &Path, key: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg(cmd)
        .arg("--repo")
        .arg(repo)
        .arg("--age-key-file")
        .arg(key)
        .arg("--kubeconfig")
        .arg(cluster().kubeconfig_path())
        .env_remove("MLSYNC_SOURCE_ID")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `git clone <from> <to>` (a new clone, as on another machine).
fn clone(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    git(
        to.parent().unwrap(),
        &["clone", "-q", from, to.to_str().unwrap()],
    );
}

/// The iris ConfigMap in `ns`: (MODEL_VERSION, mlsync.dev/source label).
async fn iris_config(ns: &str) -> (Option<String>, Option<String>) {
    let api: Api<ConfigMap> = Api::namespaced(cluster().client().await, ns);
    let Some(cm) = api.get_opt("iris-classifier-config").await.unwrap() else {
        return (None, None);
    };
    let version = cm.data.and_then(|d| d.get("MODEL_VERSION").cloned());
    let source = cm
        .metadata
        .labels
        .and_then(|l| l.get("mlsync.dev/source").cloned());
    (version, source)
}

/// Fails with the status and log when a service of the daemon reports an error (a conflict).
async fn assert_no_service_error(d: &mut Daemon) {
    let s = d.status().await;
    let errors: Vec<&serde_json::Value> = s["services"]
        .as_array()
        .map(|a| a.iter().filter(|x| !x["lastError"].is_null()).collect())
        .unwrap_or_default();
    assert!(
        errors.is_empty(),
        "services report errors: {errors:?}\nstatus: {s}\nlog:\n{}",
        d.log()
    );
}

/// Waits until the daemon has applied `version` of iris to `ns` with every service clean.
async fn wait_applied(d: &mut Daemon, ns: &str, version: &str, revision: Option<&str>) {
    for _ in 0..POLLS {
        assert_no_service_error(d).await;
        let s = d.status().await;
        let at_revision = revision.is_none_or(|r| s["revision"] == r);
        let ok = s["lastReconcile"]["outcome"] == "success";
        if at_revision && ok && iris_config(ns).await.0.as_deref() == Some(version) {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(&format!("{version} of iris-classifier applied to {ns}"))
}

/// Every service and object line of `plan`/`apply` output says `unchanged` (rollout health
/// lines aside).
fn assert_all_unchanged(out: &str) {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("  health: "))
        .collect();
    // Two services: 2 service lines, 5 and 5 objects.
    assert_eq!(lines.len(), 12, "{out}");
    for l in lines {
        assert!(l.ends_with(" unchanged"), "{l}\n{out}");
    }
}

#[tokio::test]
async fn daemon_in_git_mode_follows_ten_commits_of_a_repo_without_source_id() {
    let ns = cluster().namespace("sid-git").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = example_upstream(tmp.path(), &ns);
    let key = age_key(tmp.path());
    let url = format!("file://{}", up.bare.display());
    let args = [
        "--repo",
        &url,
        "--branch",
        "main",
        "--interval",
        "1s",
        "--age-key-file",
        key.to_str().unwrap(),
    ];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    let first = git(&up.work, &["rev-parse", "HEAD"]);
    wait_applied(&mut d, &ns, "v1", Some(&first)).await;
    let (_, id) = iris_config(&ns).await;
    let id = id.expect("the ConfigMap carries mlsync.dev/source");

    for i in 2..=11 {
        let version = format!("v{i}");
        let sha = up.commit(
            "services/iris-classifier.yaml",
            &iris(&version),
            &format!("iris {version}"),
        );
        up.push();
        wait_applied(&mut d, &ns, &version, Some(&sha)).await;
        let (_, source) = iris_config(&ns).await;
        assert_eq!(source.as_deref(), Some(id.as_str()), "after commit {i}");
    }
    assert!(!d.log().contains("conflict"), "{}", d.log());
    assert!(!first.starts_with(&id), "the id is the commit: {id}");
    assert!(id.starts_with("repo-"), "named after the repo: {id}");
    assert!(d.log().contains(&id), "the id is logged:\n{}", d.log());

    // A clone on another machine (another directory name) agrees with the daemon: nothing to do.
    let laptop = tmp.path().join("laptop/ml-config");
    clone(&url, &laptop);
    let (code, out, err) = mlsync("plan", &laptop, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert_all_unchanged(&out);
    assert!(err.contains(&id), "{err}");
}

#[tokio::test]
async fn daemon_in_path_mode_follows_commits_and_agrees_with_another_clone() {
    let ns = cluster().namespace("sid-path").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = example_upstream(tmp.path(), &ns);
    let key = age_key(tmp.path());
    let args = [
        "--repo",
        up.work.to_str().unwrap(),
        "--interval",
        "1s",
        "--age-key-file",
        key.to_str().unwrap(),
    ];
    let mut d = Daemon::start(tmp.path(), cluster().kubeconfig_path(), &args, &[]);
    wait_applied(&mut d, &ns, "v1", None).await;
    let (_, id) = iris_config(&ns).await;
    let id = id.expect("the ConfigMap carries mlsync.dev/source");
    for i in 2..=4 {
        let version = format!("v{i}");
        up.commit(
            "services/iris-classifier.yaml",
            &iris(&version),
            &format!("iris {version}"),
        );
        up.push();
        wait_applied(&mut d, &ns, &version, None).await;
        let (_, source) = iris_config(&ns).await;
        assert_eq!(source.as_deref(), Some(id.as_str()), "after commit {i}");
    }
    assert!(!d.log().contains("conflict"), "{}", d.log());

    let other = tmp.path().join("elsewhere/checkout");
    clone(up.bare.to_str().unwrap(), &other);
    let (code, out, err) = mlsync("plan", &other, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert_all_unchanged(&out);
}

#[tokio::test]
async fn apply_from_two_clones_of_one_repo_converges_without_conflicts() {
    let ns = cluster().namespace("sid-clones").await;
    let tmp = tempfile::tempdir().unwrap();
    let up = example_upstream(tmp.path(), &ns);
    let key = age_key(tmp.path());
    let alice = tmp.path().join("alice/ml-config");
    let bob = tmp.path().join("bob/checkout");
    clone(up.bare.to_str().unwrap(), &alice);
    clone(&format!("file://{}", up.bare.display()), &bob);

    let (code, out, err) = mlsync("apply", &alice, &key);
    assert_ne!(code, 2, "{out}{err}");
    assert!(
        out.contains(&format!("service {ns}/iris-classifier: applied")),
        "{out}{err}"
    );
    assert!(!out.contains("conflict"), "{out}");
    let (_, id) = iris_config(&ns).await;
    let id = id.expect("the ConfigMap carries mlsync.dev/source");
    let alice_err = err;

    let (code, out, err) = mlsync("apply", &bob, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert_all_unchanged(&out);
    // Both logged the id they used, and where it came from.
    for err in [&alice_err, &err] {
        assert!(
            err.contains("ownership source id") && err.contains(&id),
            "{err}"
        );
        assert!(err.contains("remote URL"), "{err}");
    }

    let (code, out, err) = mlsync("plan", &bob, &key);
    assert_eq!(code, 0, "{out}{err}");
    assert_all_unchanged(&out);
}
