//! `mlsync rollout status|promote|abort|pause|resume` against a real API server, with the
//! rollout's Deployments made by hand (no daemon): the state annotation on the stable
//! Deployment is read and shown, an operator's intent lands as JSON in an annotation of the
//! canary Deployment (server-side apply, field manager `mlsync-rollout-cli`), and requests that
//! make no sense are refused with exit code 2 before anything is written.

use crate::support;

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::cluster;

const STATE: &str = "mlsync.dev/rollout";
const INTENT: &str = "mlsync.dev/rollout-intent";
const TEMPLATE: &str = "mlsync.dev/template";
const REVISION: &str = "0123456789abcdef0123456789abcdef";

/// `mlsync rollout ARGS` against the test cluster: exit code, stdout, stderr.
fn rollout_with(kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg("rollout")
        .args(args)
        .env("MLSYNC_KUBECONFIG", kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("MLSYNC_NAMESPACE")
        .env_remove("MLSYNC_OUTPUT")
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn rollout(args: &[&str]) -> (i32, String, String) {
    rollout_with(cluster().kubeconfig_path(), args)
}

/// A Deployment `name` (no kubelet: its pods never become ready) with `annotations`.
async fn create(client: &Client, ns: &str, name: &str, annotations: Value) {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": annotations },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "model", "image": "registry.invalid/model:1" }] }
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .unwrap_or_else(|e| panic!("failed to create Deployment {ns}/{name}: {e}"));
}

/// A rollout of [`REVISION`] at step 2 of 3 in `phase`, as the daemon keeps it.
fn state(phase: &str) -> String {
    json!({
        "revision": REVISION,
        "git": "abc1234",
        "phase": phase,
        "step": 1,
        "steps": 3,
        "started": "2026-11-27T21:00:00Z",
        "stepStarted": "2026-11-27T21:05:00Z",
        "failed": 0,
        "inconclusive": 1,
        "lastCheck": "2026-11-27T21:06:00Z",
        "results": [{ "name": "error-rate", "value": 0.002, "verdict": "pass" }],
        "intentSeen": "earlier"
    })
    .to_string()
}

/// A namespace with service `iris`: its stable Deployment keeps a rollout in `phase`, and its
/// canary Deployment runs the rollout's revision.
async fn rollout_in(phase: &str) -> (Client, String) {
    let client = cluster().client().await;
    let ns = cluster().namespace("rcli").await;
    create(&client, &ns, "iris", json!({ STATE: state(phase) })).await;
    create(&client, &ns, "iris-canary", json!({ TEMPLATE: REVISION })).await;
    (client, ns)
}

/// The intent annotation of the canary Deployment, parsed.
async fn intent(client: &Client, ns: &str) -> Option<Value> {
    let canary = Api::<Deployment>::namespaced(client.clone(), ns)
        .get("iris-canary")
        .await
        .unwrap();
    canary
        .annotations()
        .get(INTENT)
        .map(|text| serde_json::from_str(text).unwrap())
}

#[tokio::test]
async fn status_shows_the_phase_step_and_checks() {
    let (_, ns) = rollout_in("progressing").await;
    let (code, out, err) = rollout(&["status", "iris", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("Service:        {ns}/iris\n")),
        "{out}"
    );
    for line in [
        "Phase:          progressing",
        "Step:           2/3",
        "No data:        1 checks in a row",
        "  error-rate   0.002   pass",
        "Canary pods:    0/1 ready",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    assert!(!out.contains("Pending intent"), "{out}");

    let (code, out, err) = rollout(&["status", "iris", "-n", &ns, "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["phase"], "progressing");
    assert_eq!(doc["step"], 1);
    assert_eq!(doc["revision"], REVISION);
    assert_eq!(doc["canary"], json!({ "replicas": 1, "ready": 0 }));
    assert_eq!(doc["pendingIntent"], Value::Null);
}

#[tokio::test]
async fn promote_records_the_intent_on_the_canary() {
    let (client, ns) = rollout_in("progressing").await;
    let (code, out, err) = rollout(&["promote", "iris", "--namespace", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "recorded promote for {ns}/iris (revision 0123456789ab…): the leading mlsync daemon acts on it within seconds\n"
        )
    );
    let first = intent(&client, &ns).await.expect("an intent annotation");
    assert_eq!(first["action"], "promote", "{first}");
    assert_eq!(first["revision"], REVISION, "{first}");
    let id = first["id"].as_str().unwrap();
    assert!(!id.is_empty());
    // Written by the CLI's own field manager, so the daemon's applies leave it alone.
    let canary = Api::<Deployment>::namespaced(client.clone(), &ns)
        .get("iris-canary")
        .await
        .unwrap();
    assert!(
        canary
            .managed_fields()
            .iter()
            .any(|m| m.manager.as_deref() == Some("mlsync-rollout-cli")),
        "{:?}",
        canary.managed_fields()
    );

    // Not acted on yet: status shows it as pending.
    let (code, out, _) = rollout(&["status", "iris", "-n", &ns]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "\nPending intent: promote (id {id}), not acted on yet\n"
        )),
        "{out}"
    );

    // A second request gets a new id, replacing the pending one.
    let (code, _, err) = rollout(&["abort", "iris", "-n", &ns]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("replaces the promote asked for earlier"),
        "{err}"
    );
    let second = intent(&client, &ns).await.unwrap();
    assert_eq!(second["action"], "abort");
    assert_ne!(second["id"], first["id"]);
}

#[tokio::test]
async fn resume_while_progressing_and_pause_while_paused_are_refused() {
    let (client, ns) = rollout_in("progressing").await;
    let (code, out, err) = rollout(&["resume", "iris", "-n", &ns]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err,
        format!(
            "error: failed to record resume for {ns}/iris: the rollout of iris in {ns} is progressing at step 2/3: there is nothing to resume\n"
        )
    );
    assert!(out.is_empty(), "{out}");
    assert_eq!(intent(&client, &ns).await, None);

    let (client, ns) = rollout_in("paused").await;
    let (code, _, err) = rollout(&["pause", "iris", "-n", &ns]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is already paused at step 2/3"), "{err}");
    assert_eq!(intent(&client, &ns).await, None);
    let (code, out, err) = rollout(&["resume", "iris", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(intent(&client, &ns).await.unwrap()["action"], "resume");
}

#[tokio::test]
async fn without_a_rollout_status_says_so_and_intents_are_refused() {
    let client = cluster().client().await;
    let ns = cluster().namespace("rcli").await;
    create(&client, &ns, "plain", json!({})).await;
    let (code, out, err) = rollout(&["status", "plain", "-n", &ns]);
    assert_eq!(
        (code, out.as_str()),
        (0, format!("no canary rollout of {ns}/plain\n").as_str()),
        "{err}"
    );
    let (code, out, _) = rollout(&["status", "plain", "-n", &ns, "-o", "json"]);
    assert_eq!((code, out.as_str()), (0, "null\n"));

    let (code, _, err) = rollout(&["promote", "plain", "-n", &ns]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: failed to record promote for {ns}/plain: no canary rollout of plain in {ns} is under way (Deployment plain has no mlsync.dev/rollout annotation)\n"
        )
    );
    // The state is there but the canary is gone.
    create(&client, &ns, "solo", json!({ STATE: state("progressing") })).await;
    let (code, _, err) = rollout(&["pause", "solo", "-n", &ns]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "no canary rollout of solo in {ns} is under way (Deployment solo-canary not found)"
        )),
        "{err}"
    );
    // No Deployment at all: an error, not "no rollout" (a typo should not look fine).
    let (code, _, err) = rollout(&["status", "nosuch", "-n", &ns]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: failed to show the rollout of {ns}/nosuch: Deployment nosuch not found in {ns}\n"
        )
    );
}

#[tokio::test]
async fn the_namespace_defaults_to_the_kubeconfig_context_s() {
    let (_, ns) = rollout_in("paused").await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(cluster().kubeconfig_path(), &kubeconfig).unwrap();
    let set = cluster()
        .kubectl()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["config", "set-context", "--current", "--namespace", &ns])
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    let (code, out, err) = rollout_with(&kubeconfig, &["status", "iris"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Phase:          paused\n"), "{out}");
}

#[tokio::test]
async fn plan_and_diff_say_what_the_rollout_will_do() {
    let repo = support::repo::ConfigRepo::new("rcli-plan").await;
    let ns = repo.ns.clone();
    let canary = "  replicas: 2\n  rollout:\n    strategy: canary\n    steps:\n      - {weight: 50, pause: 10m}\n      - {weight: 80}\n";
    let spec = support::example::spec("iris", canary);
    repo.write("iris.yaml", &spec);
    repo.apply_ok(&["--events=false"]);
    // No rollout for the first version: plan says nothing about one.
    let (code, out, err) = repo.mlsync("plan", &[]);
    assert!(code == 0 || code == 1, "{out}{err}");
    assert!(!out.lines().any(|l| l.starts_with("  rollout ")), "{out}");

    repo.write(
        "iris.yaml",
        &spec.replace("example/iris:1", "example/iris:2"),
    );
    let (code, out, err) = repo.mlsync("plan", &[]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = format!(
        "  rollout {ns}/iris: canary rollout started; canary step 1/2 at 50% (2 canary pods)"
    );
    assert!(
        out.lines().any(|l| l.starts_with(&expected)),
        "no {expected:?} in:\n{out}"
    );
    let (code, out, err) = repo.mlsync("diff", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with(expected.trim_start()),
        "diff does not start with {expected:?}:\n{out}"
    );
}

/// The Role docs/rollouts.md tells operators to create, exactly as written there (with the
/// namespace filled in), is enough for `mlsync rollout status` and `promote`.
#[tokio::test]
async fn the_operator_role_of_the_docs_is_enough() {
    use crate::deploy_support::{kubectl_ok, service_account_kubeconfig};
    let (client, ns) = rollout_in("progressing").await;
    let admin = cluster().kubeconfig_path();
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rollouts.md"))
            .unwrap();
    let line = docs
        .lines()
        .find(|l| l.starts_with("kubectl -n NS create role mlsync-rollout-operator"))
        .expect("the operator's Role in docs/rollouts.md");
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(|a| if a == "NS" { ns.clone() } else { a.to_owned() })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kubectl_ok(admin, &args);
    kubectl_ok(admin, &["-n", &ns, "create", "serviceaccount", "operator"]);
    kubectl_ok(
        admin,
        &[
            "-n",
            &ns,
            "create",
            "rolebinding",
            "operator",
            "--role=mlsync-rollout-operator",
            &format!("--serviceaccount={ns}:operator"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(admin, &ns, "operator", dir.path());
    let (code, out, err) = rollout_with(&kubeconfig, &["status", "iris", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Phase:          progressing"), "{out}");
    let (code, out, err) = rollout_with(&kubeconfig, &["promote", "iris", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(intent(&client, &ns).await.unwrap()["action"], "promote");
    // Only in its own namespace.
    let (code, _, err) = rollout_with(&kubeconfig, &["status", "iris", "-n", "default"]);
    assert_eq!(code, 2, "{err}");
}
