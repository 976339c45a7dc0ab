//! One real Kubernetes control plane per test process (the cluster-facing tests are one binary,
//! `tests/it`; a few other binaries start their own).
//!
//! On first use [`cluster`] runs `tests/cluster/build.sh` (a no-op once the binaries are cached)
//! and `tests/cluster/start.sh` on free 127.0.0.1 ports. Teardown needs no destructors (the test
//! harness never runs them): `start.sh --watch-pid` leaves a watchdog that stops the control
//! plane and deletes its directory once this process is gone, whatever way it ends, and an
//! `atexit` hook stops it synchronously on a normal exit (also when tests failed).
//!
//! `MLSYNC_TEST_K8S_VERSION` picks the Kubernetes release (`1.37.2`, the default, or `1.20.2`);
//! [`TestCluster::kubectl`] is the `kubectl` of the same release (within the version skew).
//! `MLSYNC_TEST_KUBECONFIG=/path` points the tests at an existing cluster instead;
//! `MLSYNC_TEST_KEEP_CLUSTER=1` keeps the control plane directory (logs, audit log) for debugging.
//! If the control plane cannot start, every test using it fails with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Environment variable naming the kubeconfig of an existing cluster to test against.
pub const KUBECONFIG_ENV: &str = "MLSYNC_TEST_KUBECONFIG";
/// Environment variable that keeps the control plane directory after the tests.
pub const KEEP_ENV: &str = "MLSYNC_TEST_KEEP_CLUSTER";
/// Environment variable picking the Kubernetes release `start.sh` runs (`1.37.2` or `1.20.2`).
pub const VERSION_ENV: &str = "MLSYNC_TEST_K8S_VERSION";
/// Environment variable naming the kubectl to use with an existing cluster
/// ([`KUBECONFIG_ENV`]); without it, `bin/kubectl` next to a kubeconfig written by `start.sh`,
/// else `kubectl` on `PATH`.
pub const KUBECTL_ENV: &str = "MLSYNC_TEST_KUBECTL";
/// Label put on every namespace created by [`TestCluster::namespace`].
pub const NAMESPACE_LABEL: &str = "mlsync.test/namespace";

/// The cluster the tests in this binary talk to.
#[derive(Debug)]
pub struct TestCluster {
    kubeconfig: PathBuf,
    /// Control plane directory when this process started the control plane itself.
    dir: Option<PathBuf>,
}

/// Held by the tests that install `deploy/` or use its fixed namespaces (`mlsync-system`,
/// `ml-demo`) and cluster-scoped objects (ClusterRole `mlsync-target`): every test of a process
/// shares one control plane, so these run one at a time while the rest of the suite, each test in
/// namespaces of its own, runs alongside. `.lock().await` in async tests, `.blocking_lock()` in
/// plain ones; never poisoned by a failed test.
pub static DEPLOY_NAMESPACES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static CLUSTER: OnceLock<Result<TestCluster, String>> = OnceLock::new();
static STARTED_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The cluster for this test binary, started on first use; panics (failing the test) with the
/// reason when it cannot be started.
pub fn cluster() -> &'static TestCluster {
    match CLUSTER.get_or_init(TestCluster::start_or_connect) {
        Ok(cluster) => cluster,
        Err(reason) => panic!("the test Kubernetes control plane is unavailable: {reason}"),
    }
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster")
}

/// Runs a script, returning its stdout, or its stderr as the error.
fn run_script(script: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let path = scripts_dir().join(script);
    let output = Command::new(&path)
        .args(args)
        .output()
        .map_err(|e| format!("failed to run {}: {e}", path.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{} failed ({}):\n{}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Stops the control plane when the test binary exits normally.
extern "C" fn stop_at_exit() {
    if let Some(dir) = STARTED_DIR.get() {
        let _ = Command::new(scripts_dir().join("stop.sh"))
            .arg(dir)
            .output();
        if std::env::var_os(KEEP_ENV).is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A short string unique within this machine for a while (no `rand` dependency needed).
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:08x}", (mixed ^ (mixed >> 29)) & 0xffff_ffff)
}

/// Builds the binaries if needed (with `MLSYNC_K8S_BIN_DIR`, start.sh takes prebuilt ones from
/// there) and starts a control plane in a new temporary directory, watched by a watchdog that
/// stops it (and removes the directory when `remove_on_exit`) once this process is gone.
/// Returns the directory and the admin kubeconfig. On failure start.sh has stopped what it
/// started and kept the directory (logs) for diagnosis.
fn start_control_plane(remove_on_exit: bool) -> Result<(PathBuf, PathBuf), String> {
    if std::env::var_os("MLSYNC_K8S_BIN_DIR").is_none() {
        run_script("build.sh", &[])?;
    }
    let dir = std::env::temp_dir().join(format!("mlsync-cp-{}", unique_suffix()));
    let pid = std::process::id().to_string();
    let mut args: Vec<&std::ffi::OsStr> =
        vec![dir.as_os_str(), "--watch-pid".as_ref(), pid.as_ref()];
    if remove_on_exit {
        args.push("--remove-on-exit".as_ref());
    }
    let kubeconfig = PathBuf::from(run_script("start.sh", &args)?);
    Ok((dir, kubeconfig))
}

/// A control plane of this test's own, for a test that breaks it (restarts its API server):
/// started like the shared one, stopped and removed when dropped (and by the `start.sh`
/// watchdog if the process dies first).
pub struct PrivateCluster(TestCluster);

impl PrivateCluster {
    /// Starts one (panics, failing the test, when it cannot start).
    pub fn start() -> Self {
        let (dir, kubeconfig) = start_control_plane(true).unwrap_or_else(|e| panic!("{e}"));
        Self(TestCluster {
            kubeconfig,
            dir: Some(dir),
        })
    }

    /// Kills its kube-apiserver (SIGKILL) and starts it again on the same port and etcd
    /// (`tests/cluster/restart-apiserver.sh`); returns once it is ready.
    pub fn restart_apiserver(&self) {
        let dir = self
            .0
            .dir
            .as_deref()
            .expect("a private control plane has a directory");
        run_script("restart-apiserver.sh", &[dir.as_os_str()]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Kills its kube-apiserver (SIGKILL) and leaves it down: clients get connection refused.
    pub fn stop_apiserver(&self) {
        self.apiserver("--stop");
    }

    /// Starts its kube-apiserver again after [`PrivateCluster::stop_apiserver`] (same port,
    /// certificates and etcd); returns once it is ready.
    pub fn start_apiserver(&self) {
        self.apiserver("--start");
    }

    fn apiserver(&self, mode: &str) {
        let dir = self
            .0
            .dir
            .as_deref()
            .expect("a private control plane has a directory");
        run_script("restart-apiserver.sh", &[dir.as_os_str(), mode.as_ref()])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl std::ops::Deref for PrivateCluster {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.0
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.0.dir {
            let _ = Command::new(scripts_dir().join("stop.sh"))
                .arg(dir)
                .output();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl TestCluster {
    fn start_or_connect() -> Result<TestCluster, String> {
        if let Some(path) = std::env::var_os(KUBECONFIG_ENV) {
            let kubeconfig = PathBuf::from(path);
            if !kubeconfig.is_file() {
                return Err(format!(
                    "{KUBECONFIG_ENV}={} is not a file",
                    kubeconfig.display()
                ));
            }
            return Ok(TestCluster {
                kubeconfig,
                dir: None,
            });
        }
        let (dir, kubeconfig) = start_control_plane(std::env::var_os(KEEP_ENV).is_none())?;
        let _ = STARTED_DIR.set(dir.clone());
        // SAFETY: registers a plain function without captured state; libc runs it at exit.
        unsafe { atexit(stop_at_exit) };
        Ok(TestCluster {
            kubeconfig,
            dir: Some(dir),
        })
    }

    /// The kubectl of the server's release (`start.sh` links it as `bin/kubectl` in the control
    /// plane directory), or the one [`KUBECTL_ENV`] names.
    pub fn kubectl_path(&self) -> PathBuf {
        if let Some(path) = std::env::var_os(KUBECTL_ENV) {
            return PathBuf::from(path);
        }
        let dir = match &self.dir {
            Some(dir) => Some(dir.clone()),
            None => self.kubeconfig.parent().map(Path::to_path_buf),
        };
        dir.map(|d| d.join("bin/kubectl"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("kubectl"))
    }

    /// A `kubectl` command (see [`TestCluster::kubectl_path`]) with `KUBECONFIG` set to the
    /// admin kubeconfig; an explicit `--kubeconfig` argument still wins.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.kubectl_path());
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// The release this process asked `start.sh` for (`v1.37.2`): [`VERSION_ENV`], else the
    /// current one pinned in `tests/cluster/k8s-current/go.mod`. `None` for an existing cluster
    /// or prebuilt binaries (`MLSYNC_K8S_BIN_DIR`), whose release the tests do not choose.
    pub fn requested_version(&self) -> Option<String> {
        if self.dir.is_none() || std::env::var_os("MLSYNC_K8S_BIN_DIR").is_some() {
            return None;
        }
        if let Some(v) = std::env::var_os(VERSION_ENV) {
            let v = v.to_string_lossy();
            return Some(if v.starts_with('v') {
                v.into_owned()
            } else {
                format!("v{v}")
            });
        }
        let go_mod = scripts_dir().join("k8s-current/go.mod");
        let text = std::fs::read_to_string(&go_mod).expect("read k8s-current/go.mod");
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() >= 2 && w[0] == "k8s.io/kubernetes" && w[1].starts_with('v'))
            .map(|w| w[1].to_owned())
    }

    /// The server's minor version (`20` for v1.20.2), for the few assertions that differ
    /// between the supported releases.
    pub async fn server_minor(&self) -> u32 {
        let info = self
            .client()
            .await
            .apiserver_version()
            .await
            .expect("GET /version");
        info.minor
            .trim_end_matches('+')
            .parse()
            .unwrap_or_else(|e| panic!("server minor version {:?}: {e}", info.minor))
    }

    /// Path of a kubeconfig with cluster-admin rights.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The apiserver audit log (Metadata level, one JSON event per line) of a control plane
    /// made by `start.sh`: the one this process started, or one started by hand whose
    /// kubeconfig `MLSYNC_TEST_KUBECONFIG` names (the log sits next to it). `None` otherwise.
    pub fn audit_log_path(&self) -> Option<PathBuf> {
        match &self.dir {
            Some(dir) => Some(dir.join("audit.log")),
            None => self
                .kubeconfig
                .parent()
                .map(|dir| dir.join("audit.log"))
                .filter(|log| log.is_file()),
        }
    }

    /// A new client (one per test: each `#[tokio::test]` has its own runtime).
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read test kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("load test kubeconfig");
        Client::try_from(config).expect("build kube client")
    }

    /// Creates a fresh namespace `<prefix>-<random>` and waits until its `default`
    /// ServiceAccount exists (so pods can be created in it). Returns its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let client = self.client().await;
        let name = format!("{prefix}-{}", unique_suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { NAMESPACE_LABEL: "true" } }
        }))
        .expect("namespace object");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("failed to create namespace {name}: {e}"));
        let accounts: Api<ServiceAccount> = Api::namespaced(client, &name);
        // Bounded only so a broken controller-manager fails the test instead of hanging it.
        for _ in 0..600 {
            if accounts
                .get_opt("default")
                .await
                .expect("get default ServiceAccount")
                .is_some()
            {
                return name;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "namespace {name} got no default ServiceAccount: is kube-controller-manager running?"
        );
    }
}
