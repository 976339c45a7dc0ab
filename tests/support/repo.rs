//! A config repo in a temp dir that targets a fresh namespace of the test cluster, and running
//! the `mlsync` binary on it: the set-up the cluster suites share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube::Api;

use super::cluster;

/// The project root (for `example-repo/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example's public demo age identity (decrypts `example-repo/secrets/`).
pub fn demo_key() -> String {
    std::fs::read_to_string(root().join("example-repo/demo-age-key.txt")).unwrap()
}

/// `mlsync CMD --repo REPO ARGS` against the test cluster, with the demo key and `warn` logs.
pub fn mlsync_in(repo: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg(cmd)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("MLSYNC_KUBECONFIG", cluster().kubeconfig_path())
        .env_remove("KUBECONFIG")
        .env("SOPS_AGE_KEY", demo_key())
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap()
}

/// A config repo (`mlsync.yaml` + `services/`) whose default namespace is a fresh namespace of
/// the test cluster, with `sourceId: src-<namespace>`.
pub struct ConfigRepo {
    /// The repo's directory.
    pub dir: tempfile::TempDir,
    /// Its default namespace.
    pub ns: String,
}

impl ConfigRepo {
    /// A repo for a fresh namespace named after `prefix`.
    pub async fn new(prefix: &str) -> Self {
        Self::with_config(prefix, "").await
    }

    /// Like [`ConfigRepo::new`], with `extra` appended to `mlsync.yaml`.
    pub async fn with_config(prefix: &str, extra: &str) -> Self {
        let ns = cluster().namespace(prefix).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("services")).unwrap();
        std::fs::write(
            dir.path().join("mlsync.yaml"),
            format!("defaultNamespace: {ns}\nsourceId: src-{ns}\npaths: [services]\n{extra}"),
        )
        .unwrap();
        ConfigRepo { dir, ns }
    }

    /// Writes `services/FILE`.
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join("services").join(file), text).unwrap();
    }

    /// Removes `services/FILE`.
    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join("services").join(file)).unwrap();
    }

    /// Copies the example's encrypted DB credentials (demo key) to `secrets/NAME`.
    pub fn add_example_secrets_as(&self, name: &str) {
        std::fs::create_dir_all(self.dir.path().join("secrets")).unwrap();
        std::fs::copy(
            root().join("example-repo/secrets/iris-classifier.enc.yaml"),
            self.dir.path().join("secrets").join(name),
        )
        .unwrap();
    }

    /// `mlsync CMD --repo <repo> ARGS`: exit code, stdout and stderr.
    pub fn mlsync(&self, cmd: &str, args: &[&str]) -> (i32, String, String) {
        let out = mlsync_in(self.dir.path(), cmd, args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `mlsync apply --repo <repo> ARGS`, asserting it exits 0 (showing its stdout and stderr
    /// if not); returns its stdout.
    pub fn apply_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.mlsync("apply", args);
        assert_eq!(code, 0, "mlsync apply {args:?} failed:\n{out}{err}");
        out
    }

    /// An API for namespaced objects of kind `K` in the repo's namespace.
    pub async fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(cluster().client().await, &self.ns)
    }
}
