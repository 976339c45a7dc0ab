//! The RBAC in `deploy/` is enough for `mlsync apply` of the example repo and nothing more:
//! with a TokenRequest token of the `mlsync-system/mlsync` ServiceAccount, mlsync applies the
//! example services, while reading Secrets elsewhere or creating objects outside the granted
//! kinds and namespaces is forbidden (HTTP 403).
//!
//! These tests share the fixed names of `deploy/` with each other and, holding
//! `support::cluster::DEPLOY_NAMESPACES`, with the other suites of `tests/it` that use them
//! (`kubectl apply` of the same manifests is idempotent).

use crate::deploy_support;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use deploy_support::{deploy_dir, kubectl_ok, service_account_kubeconfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use support::cluster;

/// The identity the API server reports for the agent's token.
const AGENT_USER: &str = "system:serviceaccount:mlsync-system:mlsync";

/// Installs `deploy/` for real (once per binary) and returns a kubeconfig holding only a
/// token of the agent's ServiceAccount.
fn agent_kubeconfig() -> &'static Path {
    static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();
    KUBECONFIG.get_or_init(|| {
        let admin = cluster().kubeconfig_path();
        kubectl_ok(admin, &["apply", "-k", deploy_dir().to_str().unwrap()]);
        let dir = tempfile::tempdir().unwrap().keep();
        service_account_kubeconfig(admin, "mlsync-system", "mlsync", &dir)
    })
}

async fn agent_client() -> Client {
    let kubeconfig = Kubeconfig::read_from(agent_kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Asserts that `result` is a 403 for the agent's ServiceAccount.
fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{what}: {status:?}");
            assert!(
                status.message.contains(AGENT_USER),
                "{what}: refused for someone else: {}",
                status.message
            );
        }
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name }, "data": { "k": "v" }
    }))
    .unwrap()
}

#[tokio::test]
async fn agent_token_works_where_granted() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.lock().await;
    // Guards the 403 tests: the token is valid and the grants in ml-demo are in effect.
    let client = agent_client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ml-demo");
    deployments.list(&ListParams::default()).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "ml-demo");
    config_maps.list(&ListParams::default()).await.unwrap();
    // The target namespace itself is readable (mlsync checks it exists), other ones are not.
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.get("ml-demo").await.unwrap();
    assert_forbidden("get namespace default", namespaces.get("default").await);
}

#[tokio::test]
async fn agent_cannot_read_secrets_in_other_namespaces() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.lock().await;
    let client = agent_client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    assert_forbidden(
        "list secrets in kube-system",
        secrets.list(&ListParams::default()).await,
    );
    let all: Api<Secret> = Api::all(client);
    assert_forbidden(
        "list secrets in all namespaces",
        all.list(&ListParams::default()).await,
    );
}

#[tokio::test]
async fn agent_cannot_create_outside_its_grants() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.lock().await;
    let client = agent_client().await;
    let default_cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_forbidden(
        "create a ConfigMap in default",
        default_cms
            .create(&PostParams::default(), &config_map("rbac-probe"))
            .await,
    );
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "rbac-probe" },
        "rules": [{ "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"] }]
    }))
    .unwrap();
    let roles: Api<Role> = Api::namespaced(client.clone(), "ml-demo");
    assert_forbidden(
        "create a Role in ml-demo",
        roles.create(&PostParams::default(), &role).await,
    );
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "rbac-probe" } }))
            .unwrap();
    assert_forbidden(
        "create a Namespace",
        Api::<Namespace>::all(client)
            .create(&PostParams::default(), &namespace)
            .await,
    );
}

#[tokio::test]
async fn agent_watches_only_where_granted_and_cannot_update() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.lock().await;
    // The drift watch (`mlsync run --self-heal`) watches the rendered kinds in the target
    // namespaces; nowhere else. Update (PUT) is not granted: mlsync writes by server-side apply.
    let client = agent_client().await;
    let params = kube::api::WatchParams::default().timeout(1);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ml-demo");
    assert!(
        deployments.watch(&params, "0").await.is_ok(),
        "the agent may watch Deployments in a target namespace"
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "ml-demo");
    assert!(secrets.watch(&params, "0").await.is_ok());
    let elsewhere: Api<Deployment> = Api::namespaced(client.clone(), "default");
    assert_forbidden(
        "watch deployments in default",
        elsewhere.watch(&params, "0").await.map(|_| ()),
    );
    let all: Api<Secret> = Api::all(client.clone());
    assert_forbidden(
        "watch secrets in all namespaces",
        all.watch(&params, "0").await.map(|_| ()),
    );
    let cms: Api<ConfigMap> = Api::namespaced(client, "ml-demo");
    assert_forbidden(
        "replace a ConfigMap in ml-demo",
        cms.replace(
            "rbac-probe",
            &PostParams::default(),
            &config_map("rbac-probe"),
        )
        .await,
    );
}

/// Runs `mlsync <args> --repo <repo> --kubeconfig <agent>` with the demo age key; returns
/// (exit code, stdout + stderr).
fn mlsync_as_agent(args: &[&str], repo: &Path) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let age_key = std::fs::read_to_string(root.join("example-repo/demo-age-key.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(args)
        .arg("--repo")
        .arg(repo)
        .arg("--kubeconfig")
        .arg(agent_kubeconfig())
        .env("SOPS_AGE_KEY", age_key)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("KUBECONFIG")
        .env_remove("MLSYNC_KUBECONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The example-repo objects in ml-demo, as `kind/name`, read with admin rights.
fn example_objects() -> Vec<String> {
    kubectl_ok(
        cluster().kubeconfig_path(),
        &[
            "-n",
            "ml-demo",
            "get",
            "deployments,services,configmaps,secrets,hpa",
            "-l",
            "mlsync.dev/source=example-repo",
            "-o",
            "name",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn agent_applies_and_prunes_the_example_repo() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    support::example::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
        &repo,
    );

    // First apply: everything is created (exit 0: success, changed or not).
    let (code, out) = mlsync_as_agent(&["apply"], &repo);
    assert_eq!(code, 0, "apply as the agent failed:\n{out}");
    assert!(!out.to_lowercase().contains("forbidden"), "{out}");
    assert!(!out.contains("inventory not written"), "{out}");
    // Namespaced RBAC allows no cluster-wide LIST: said once, then the inventory and git's
    // namespaces are used.
    assert_eq!(
        out.matches("RBAC does not allow listing across all namespaces")
            .count(),
        1,
        "{out}"
    );
    let objects = example_objects();
    for object in [
        "deployment.apps/iris-classifier",
        "service/iris-classifier",
        "secret/iris-classifier-secrets",
        "horizontalpodautoscaler.autoscaling/iris-classifier",
        "deployment.apps/image-classifier",
    ] {
        assert!(
            objects.iter().any(|l| l == object),
            "{object} missing: {objects:?}"
        );
    }

    // Reading back is allowed too: plan, diff and a second apply see nothing to do.
    for command in ["plan", "diff", "apply"] {
        let (code, out) = mlsync_as_agent(&[command], &repo);
        assert_eq!(code, 0, "mlsync {command} as the agent:\n{out}");
    }

    // Pruning (list + delete) works with the same rights.
    std::fs::remove_file(repo.join("services/image-classifier.yaml")).unwrap();
    let (code, out) = mlsync_as_agent(&["apply", "--allow-mass-prune"], &repo);
    assert_eq!(code, 0, "prune as the agent:\n{out}");
    let objects = example_objects();
    assert!(
        !objects.iter().any(|o| o.ends_with("/image-classifier")),
        "image-classifier not pruned: {objects:?}\n{out}"
    );
    assert!(
        objects
            .iter()
            .any(|o| o == "deployment.apps/iris-classifier")
    );
}

#[test]
fn apply_without_the_target_binding_is_forbidden() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.blocking_lock();
    // Guards the test above: the RoleBinding from deploy/targets.yaml is what lets the agent
    // apply. A ServiceAccount with only the home Role gets a 403 naming what it lacks.
    let admin = cluster().kubeconfig_path();
    agent_kubeconfig(); // deploy/ installed
    let name = "mlsync-unbound";
    let exists = deploy_support::kubectl(admin, &["-n", "mlsync-system", "get", "sa", name]);
    if !exists.status.success() {
        kubectl_ok(admin, &["-n", "mlsync-system", "create", "sa", name]);
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(admin, "mlsync-system", name, dir.path());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["plan", "--repo"])
        .arg(&repo)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env(
            "SOPS_AGE_KEY",
            std::fs::read_to_string(repo.join("demo-age-key.txt")).unwrap(),
        )
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("KUBECONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("forbidden"), "{text}");
}

#[tokio::test]
async fn agent_can_hold_a_lease_in_its_home_namespace() {
    let _deploy = crate::support::cluster::DEPLOY_NAMESPACES.lock().await;
    // What the leader elector does (docs/leader-election.md): get, create, replace with the
    // resourceVersion just read. Only in mlsync-system.
    use k8s_openapi::api::coordination::v1::Lease;
    let client = agent_client().await;
    let name = format!("mlsync-rbac-probe-{}", std::process::id());
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": { "holderIdentity": "probe", "leaseDurationSeconds": 15 }
    }))
    .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "mlsync-system");
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut current = leases.get(&name).await.unwrap();
    if let Some(spec) = current.spec.as_mut() {
        spec.holder_identity = Some("probe-2".to_owned());
    }
    let replaced = leases
        .replace(&name, &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("probe-2")
    );
    let elsewhere: Api<Lease> = Api::namespaced(client, "ml-demo");
    assert_forbidden(
        "create a Lease in ml-demo",
        elsewhere.create(&PostParams::default(), &lease).await,
    );
}
