//! `mlsync apply` / `plan` / `diff` against a real kube-apiserver + controller-manager: create,
//! config change → new ReplicaSet, no-op = zero writes (audit log), drift correction, pruning and
//! its guards, foreign objects, replicas ↔ autoscaling, rollout health, and `kubectl diff` as a peer.

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};
use support::example::spec;
use support::{cluster, pods};

// A config repo in a temp dir, targeting a fresh namespace (shared with the other suites).
use support::repo::{ConfigRepo as Fixture, mlsync_in};

const HPA: &str = "  autoscaling:\n    minReplicas: 2\n    maxReplicas: 5\n    targetCPUUtilizationPercentage: 50\n";

/// Write requests mlsync sent for objects in `ns`, from the apiserver audit log.
fn writes_in(ns: &str) -> usize {
    let log = cluster()
        .audit_log_path()
        .expect("the test control plane keeps an audit log");
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["objectRef"]["namespace"] == ns
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mlsync/"))
                && matches!(
                    e["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete")
                )
        })
        .count()
}

#[tokio::test]
async fn create_then_a_second_apply_makes_zero_writes() {
    let f = Fixture::new("noop").await;
    f.write("a.yaml", &spec("alpha", HPA));
    f.write("b.yaml", &spec("beta", "  replicas: 2\n"));
    let (code, out, err) = f.mlsync("apply", &[]);
    assert_eq!(
        code, 0,
        "a successful apply exits 0 like kubectl apply, also when it created everything: {out}{err}"
    );
    assert!(
        out.contains(&format!("service {}/alpha: applied", f.ns)),
        "{out}"
    );
    assert!(
        out.contains(&format!("Deployment {}/beta created", f.ns)),
        "{out}"
    );
    let cms: Api<ConfigMap> = f.api().await;
    assert_eq!(
        cms.get("alpha-config").await.unwrap().data.unwrap()["MODEL_NAME"],
        "alpha"
    );
    let hpa: Api<HorizontalPodAutoscaler> = f.api().await;
    assert_eq!(hpa.get("alpha").await.unwrap().spec.max_replicas, 5);

    let before = writes_in(&f.ns);
    assert_eq!(
        before, 10,
        "the first apply wrote 7 objects, the inventory and one Applied event per service"
    );
    let (code, out, _) = f.mlsync("apply", &["--diff-exit-code"]);
    assert_eq!(code, 0, "nothing changed: {out}");
    assert!(out.contains(&format!("service {}/alpha: unchanged", f.ns)));
    assert_eq!(
        writes_in(&f.ns),
        before,
        "a no-op apply sends no PATCH/PUT/POST/DELETE (and records no event)"
    );
    let (code, out, _) = f.mlsync("plan", &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = f.mlsync("diff", &[]);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[tokio::test]
async fn config_change_rolls_the_pods() {
    let f = Fixture::new("roll").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.apply_ok(&[]);
    let deps: Api<Deployment> = f.api().await;
    let hash = |d: &Deployment| {
        d.spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["mlsync.dev/config-hash"]
            .clone()
    };
    let first = hash(&deps.get("alpha").await.unwrap());
    pods::current_replicaset(&cluster().client().await, &f.ns, "alpha").await;

    f.write(
        "a.yaml",
        &spec("alpha", "  replicas: 1\n").replace("MODEL_NAME: alpha", "MODEL_NAME: alpha-v2"),
    );
    let (code, out, _) = f.mlsync("plan", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("ConfigMap") && out.contains("update: spec in git changed"),
        "{out}"
    );
    let (code, out, err) = f.mlsync("apply", &["--diff-exit-code"]);
    assert_eq!(
        code, 1,
        "--diff-exit-code: 1 when apply changed something: {out}{err}"
    );
    let second = hash(&deps.get("alpha").await.unwrap());
    assert_ne!(first, second, "the pod template's config hash changed");
    let rs: Api<ReplicaSet> = f.api().await;
    let mut count = 0;
    for _ in 0..200 {
        count = rs.list(&ListParams::default()).await.unwrap().items.len();
        if count == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count, 2, "the Deployment controller made a new ReplicaSet");
}

fn kubectl(args: &[&str]) {
    let out = cluster().kubectl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn drift_is_reported_and_corrected() {
    let f = Fixture::new("drift").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 2\n"));
    f.apply_ok(&[]);
    kubectl(&[
        "-n",
        &f.ns,
        "set",
        "image",
        "deployment/alpha",
        "model=attacker/image:1",
    ]);
    kubectl(&["-n", &f.ns, "scale", "deployment/alpha", "--replicas=7"]);
    kubectl(&[
        "-n",
        &f.ns,
        "patch",
        "configmap/alpha-config",
        "-p",
        r#"{"data":{"MODEL_NAME":"edited"}}"#,
    ]);
    let (code, out, _) = f.mlsync("plan", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("data.MODEL_NAME changed in the cluster"),
        "{out}"
    );
    assert!(
        out.contains("spec.replicas changed in the cluster"),
        "{out}"
    );
    assert!(
        out.contains("spec.template.spec.containers[0].image changed in the cluster"),
        "{out}"
    );
    let (code, diff, _) = f.mlsync("diff", &[]);
    assert_eq!(code, 1);
    assert!(
        diff.contains("-        image: attacker/image:1")
            && diff.contains("+        image: example/alpha:1"),
        "{diff}"
    );
    f.apply_ok(&[]);
    let dep = f.api::<Deployment>().await.get("alpha").await.unwrap();
    assert_eq!(dep.spec.replicas, Some(2));
    assert_eq!(
        dep.spec.template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("example/alpha:1")
    );
    assert_eq!(
        f.api::<ConfigMap>()
            .await
            .get("alpha-config")
            .await
            .unwrap()
            .data
            .unwrap()["MODEL_NAME"],
        "alpha"
    );
    // Corrected: the next run has nothing to do.
    f.apply_ok(&[]);
}

#[tokio::test]
async fn prune_and_its_guards() {
    let f = Fixture::new("prune").await;
    for n in ["a", "b", "c", "d"] {
        f.write(
            &format!("{n}.yaml"),
            &spec(&format!("svc-{n}"), "  replicas: 1\n"),
        );
    }
    f.apply_ok(&[]);
    let deps: Api<Deployment> = f.api().await;

    // An invalid spec keeps all of its live objects.
    f.write("a.yaml", &spec("svc-a", "  replicas: 1\n  replcas: 2\n"));
    let (code, out, err) = f.mlsync("apply", &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("unknown field `replcas`"), "{err}");
    assert!(
        deps.get_opt("svc-a").await.unwrap().is_some(),
        "invalid spec: nothing of it pruned"
    );

    // A service that left git is pruned (one of four is within the guard).
    f.write("a.yaml", &spec("svc-a", "  replicas: 1\n"));
    f.remove("d.yaml");
    let out = f.apply_ok(&[]);
    assert!(
        out.contains(&format!("Deployment {}/svc-d pruned", f.ns)),
        "{out}"
    );
    assert!(deps.get_opt("svc-d").await.unwrap().is_none());
    assert!(
        f.api::<ConfigMap>()
            .await
            .get_opt("svc-d-config")
            .await
            .unwrap()
            .is_none()
    );

    // --prune=false keeps what left git.
    f.remove("c.yaml");
    let out = f.apply_ok(&["--prune=false"]);
    assert!(out.contains("left git but was kept"), "{out}");
    assert!(deps.get_opt("svc-c").await.unwrap().is_some());

    // An empty checkout would delete everything: refused unless --allow-mass-prune.
    f.remove("a.yaml");
    f.remove("b.yaml");
    let (code, out, _) = f.mlsync("apply", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("pruning refused: it would delete all"),
        "{out}"
    );
    assert_eq!(
        deps.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    f.apply_ok(&["--allow-mass-prune"]);
    assert!(
        deps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn secrets_that_fail_to_decrypt_keep_the_service_and_never_leak() {
    let f = Fixture::new("secret").await;
    f.add_example_secrets_as("iris.enc.yaml");
    f.write(
        "a.yaml",
        &spec(
            "alpha",
            "  replicas: 1\n  secrets:\n    file: secrets/iris.enc.yaml\n",
        ),
    );
    f.write("b.yaml", &spec("beta", "  replicas: 1\n"));
    f.apply_ok(&[]);
    let secret = f.api::<Secret>().await.get("alpha-secrets").await.unwrap();
    assert_eq!(secret.data.unwrap()["DB_PASS"].0, b"secure123");

    // Without the key: alpha fails and keeps its objects; beta is still reconciled.
    f.write("b.yaml", &spec("beta", "  replicas: 3\n"));
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["apply", "--repo"])
        .arg(f.dir.path())
        .env("MLSYNC_KUBECONFIG", cluster().kubeconfig_path())
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("service {}/alpha: failed", f.ns)),
        "{stdout}"
    );
    assert!(
        f.api::<Secret>()
            .await
            .get_opt("alpha-secrets")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        f.api::<Deployment>()
            .await
            .get("beta")
            .await
            .unwrap()
            .spec
            .replicas,
        Some(3)
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("secure123") && !text.contains("c2VjdXJlMTIz"),
            "plaintext leaked"
        );
    }
    // diff masks values, even with trace logging.
    let secret_path = f.dir.path().join("secrets/iris.enc.yaml");
    assert!(secret_path.is_file());
    let (_, diff, err) = f.mlsync("diff", &[]);
    for text in [&diff, &err] {
        assert!(
            !text.contains("secure123") && !text.contains("c2VjdXJlMTIz"),
            "plaintext leaked"
        );
    }
}

#[tokio::test]
async fn foreign_objects_are_left_alone_unless_adopted() {
    let f = Fixture::new("foreign").await;
    let cms: Api<ConfigMap> = f.api().await;
    let foreign: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "alpha-config"}, "data": {"OWNER": "someone-else"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &foreign).await.unwrap();
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    let (code, out, _) = f.mlsync("apply", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("exists and is not managed by mlsync"), "{out}");
    assert_eq!(
        cms.get("alpha-config").await.unwrap().data.unwrap()["OWNER"],
        "someone-else"
    );
    assert!(
        f.api::<Deployment>()
            .await
            .get_opt("alpha")
            .await
            .unwrap()
            .is_none(),
        "nothing of the service applied"
    );
    f.apply_ok(&["--adopt"]);
    let labels = cms
        .get("alpha-config")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "mlsync");
}

#[tokio::test]
async fn replicas_hand_over_to_the_hpa_and_back() {
    let f = Fixture::new("hpa").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 3\n"));
    f.apply_ok(&[]);
    let deps: Api<Deployment> = f.api().await;
    assert_eq!(deps.get("alpha").await.unwrap().spec.replicas, Some(3));

    f.write("a.yaml", &spec("alpha", HPA));
    f.apply_ok(&[]);
    let dep = deps.get("alpha").await.unwrap();
    assert_eq!(
        dep.spec.replicas,
        Some(3),
        "switching to autoscaling keeps the running replicas"
    );
    let mlsync_fields = dep
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter(|m| m.manager.as_deref() == Some("mlsync"));
    for m in mlsync_fields {
        let fields = serde_json::to_value(m.fields_v1).unwrap();
        assert!(
            fields.pointer("/f:spec/f:replicas").is_none(),
            "mlsync no longer owns spec.replicas"
        );
    }
    assert!(
        f.api::<HorizontalPodAutoscaler>()
            .await
            .get_opt("alpha")
            .await
            .unwrap()
            .is_some()
    );
    // The HPA controller may now change replicas; mlsync must not reset them.
    kubectl(&["-n", &f.ns, "scale", "deployment/alpha", "--replicas=4"]);
    // Replicas set by others are not drift under autoscaling.
    f.apply_ok(&[]);
    assert_eq!(deps.get("alpha").await.unwrap().spec.replicas, Some(4));

    // Back to fixed replicas: mlsync owns them again and the HPA goes.
    f.write("a.yaml", &spec("alpha", "  replicas: 2\n"));
    f.apply_ok(&[]);
    assert_eq!(deps.get("alpha").await.unwrap().spec.replicas, Some(2));
    assert!(
        f.api::<HorizontalPodAutoscaler>()
            .await
            .get_opt("alpha")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn rollout_health_with_wait() {
    let f = Fixture::new("health").await;
    f.write(
        "a.yaml",
        &spec("alpha", "  replicas: 1\n  progressDeadlineSeconds: 2\n"),
    );
    // Nobody makes the pods ready: the rollout fails with ProgressDeadlineExceeded.
    let (code, out, _) = f.mlsync("apply", &["--wait=60s"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("health: failed (ProgressDeadlineExceeded"),
        "{out}"
    );

    let g = Fixture::new("healthy").await;
    g.write("a.yaml", &spec("beta", "  replicas: 2\n"));
    g.apply_ok(&[]);
    pods::make_deployment_ready(&cluster().client().await, &g.ns, "beta").await;
    let out = g.apply_ok(&["--wait=60s"]);
    assert!(out.contains("health: available"), "{out}");
    let svc: Api<Service> = g.api().await;
    assert!(svc.get("beta").await.is_ok());
}

#[tokio::test]
async fn kubectl_diff_agrees_after_apply() {
    let f = Fixture::new("peer").await;
    f.add_example_secrets_as("iris.enc.yaml");
    f.write(
        "a.yaml",
        &format!(
            "{}  service:\n    type: LoadBalancer\n",
            spec("alpha", "  secrets:\n    file: secrets/iris.enc.yaml\n")
                .replace("  resources:", &format!("{HPA}  resources:"))
        ),
    );
    f.apply_ok(&[]);
    // Let the controllers settle first: the HPA raises the Deployment to minReplicas (2) and the
    // Deployment controller observes it. A write of theirs between kubectl's read and its
    // dry-run would show as a difference that is neither kubectl's nor mlsync's.
    let deps: Api<Deployment> = f.api().await;
    for _ in 0..300 {
        let d = deps.get("alpha").await.unwrap();
        let settled = d.spec.replicas == Some(2)
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation;
        if settled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The HPA version the server serves (v2beta2 on 1.20, v2 on the current release).
    let hpa = mlsync::cluster::discover(&cluster().client().await)
        .await
        .unwrap()
        .hpa;
    let hpa = match hpa {
        mlsync::render::HpaVersion::V2 => "v2",
        mlsync::render::HpaVersion::V2beta2 => "v2beta2",
    };
    let rendered = mlsync_in(
        f.dir.path(),
        "render",
        &["--show-secrets", "--hpa-version", hpa],
    );
    assert!(rendered.status.success());
    let mut child = cluster()
        .kubectl()
        .args([
            "diff",
            "--server-side",
            "--field-manager=mlsync",
            "--force-conflicts",
            "-f",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&rendered.stdout)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "kubectl diff found differences:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates Deployment `name` as an older mlsync left it: labelled as `source`'s, with another
/// selector (`app: <name>-old`) than mlsync renders today.
async fn old_selector_deployment(f: &Fixture, source: &str, name: &str) {
    let old = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": f.ns, "labels": {
            "app.kubernetes.io/managed-by": "mlsync", "mlsync.dev/source": source, "mlsync.dev/service": name}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("{name}-old")}},
            "template": {"metadata": {"labels": {"app": format!("{name}-old")}},
                "spec": {"containers": [{"name": "model", "image": format!("example/{name}:0")}]}}}});
    let deps: Api<Deployment> = f.api().await;
    deps.create(
        &PostParams::default(),
        &serde_json::from_value(old).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_immutable_field_change_is_a_clear_error_and_recreate_fixes_it() {
    let f = Fixture::new("immutable").await;
    // A Deployment of this source made by an older tool version with another selector.
    let source = format!("src-{}", f.ns);
    old_selector_deployment(&f, &source, "alpha").await;
    let deps: Api<Deployment> = f.api().await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    let (code, out, _) = f.mlsync("apply", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("field is immutable") && out.contains("spec.selector"),
        "{out}"
    );
    assert!(out.contains("re-run with --recreate"), "{out}");
    let out = f.apply_ok(&["--recreate"]);
    assert!(
        out.contains(&format!("Deployment {}/alpha recreated", f.ns)),
        "{out}"
    );
    let selector = deps
        .get("alpha")
        .await
        .unwrap()
        .spec
        .selector
        .match_labels
        .unwrap();
    assert_eq!(selector["mlsync.dev/service"], "alpha");
}

/// With leader election, every write checks that this replica still leads: one that stopped
/// leading after planning creates, changes and deletes nothing, and says why; leading again, the
/// same plan goes through.
#[tokio::test]
async fn a_replica_that_stopped_leading_writes_nothing() {
    use mlsync::reconcile::cause::{PruneRefusal, ServiceCause};
    use mlsync::reconcile::execute::{NOT_LEADING, WriteOptions};
    use mlsync::reconcile::plan::PrunePolicy;
    use mlsync::reconcile::report::Outcome;
    use mlsync::reconcile::{ReconcileOptions, Reconciler};

    let f = Fixture::new("fence").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.write("b.yaml", &spec("beta", "  replicas: 1\n"));
    f.apply_ok(&[]);
    // Git moves on: alpha's config changes, beta leaves.
    f.write(
        "a.yaml",
        &spec("alpha", "  replicas: 1\n").replace("MODEL_NAME: alpha", "MODEL_NAME: alpha-2"),
    );
    f.remove("b.yaml");

    let (leading, rx) = tokio::sync::watch::channel(false);
    let opts = ReconcileOptions {
        prune: PrunePolicy {
            enabled: true,
            allow_mass_prune: true,
            max_fraction: 1.0,
        },
        adopt: false,
        write: WriteOptions {
            recreate: false,
            leading: Some(rx),
        },
        events: false,
    };
    let secrets = std::sync::Arc::new(mlsync::secrets::SopsSource::from_identities(vec![]));
    let r = Reconciler::new(cluster().client().await, secrets, opts)
        .await
        .unwrap();
    let repo = mlsync::repo::load(f.dir.path()).unwrap();
    let source_id = mlsync::source_id::SourceIdPolicy::for_dir(None, f.dir.path())
        .resolve(repo.config.source_id.as_deref())
        .unwrap();
    let planned = r.plan(&repo, &source_id).await.unwrap();
    // `apply` hands the plan's live objects on to its report: keep a copy to apply again below.
    let report = r.apply(&mut planned.clone()).await;

    let alpha = report.services.iter().find(|s| s.name == "alpha").unwrap();
    assert_eq!(alpha.error, Some(ServiceCause::NotLeading));
    assert_eq!(alpha.error.as_ref().unwrap().to_string(), NOT_LEADING);
    assert!(
        alpha
            .objects
            .iter()
            .any(|o| o.outcome == Outcome::Skipped && o.name == "alpha-config"),
        "{:?}",
        alpha.objects
    );
    assert!(report.pruned.is_empty(), "{:?}", report.pruned);
    assert_eq!(report.prune_held.len(), 3, "{:?}", report.prune_held);
    assert_eq!(
        report.prune_refused,
        Some(PruneRefusal::NotLeading { held: 3 }),
        "{:?}",
        report.prune_held
    );
    let cms: Api<ConfigMap> = f.api().await;
    let deployments: Api<Deployment> = f.api().await;
    assert_eq!(
        cms.get("alpha-config").await.unwrap().data.unwrap()["MODEL_NAME"],
        "alpha",
        "the ConfigMap must not have changed"
    );
    assert!(deployments.get_opt("beta").await.unwrap().is_some());

    // Leading again: the same plan is written.
    leading.send(true).unwrap();
    let report = r.apply(&mut planned.clone()).await;
    assert!(!report.apply_failed(), "{}", report.to_text());
    assert_eq!(
        cms.get("alpha-config").await.unwrap().data.unwrap()["MODEL_NAME"],
        "alpha-2"
    );
    assert!(deployments.get_opt("beta").await.unwrap().is_none());
}

/// `plan -o json` and `apply -o json` give scripts the same facts as the text, with the same
/// exit codes.
#[tokio::test]
async fn plan_and_apply_print_json_for_scripts() {
    let f = Fixture::new("json").await;
    f.write("a.yaml", &spec("alpha", HPA));
    let json = |cmd: &str| {
        let (code, out, err) = f.mlsync(cmd, &["-o", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (code, v)
    };
    let (code, plan) = json("plan");
    assert_eq!(code, 1);
    let svc = &plan["services"][0];
    assert_eq!(
        (svc["name"].as_str(), svc["state"].as_str()),
        (Some("alpha"), Some("changes"))
    );
    let actions: Vec<(&str, &str)> = svc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("ConfigMap", "create"),
            ("Deployment", "create"),
            ("Service", "create"),
            ("HorizontalPodAutoscaler", "create")
        ]
    );

    let (code, applied) = json("apply");
    assert_eq!(
        code, 0,
        "a successful apply exits 0; \"changed\" tells scripts what it did"
    );
    assert_eq!(applied["changed"], true);
    assert_eq!(applied["failed"], false);
    let outcomes: Vec<&str> = applied["services"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created"; 4]);

    let (code, plan) = json("plan");
    assert_eq!(code, 0);
    assert_eq!(plan["services"][0]["state"], "unchanged");

    // Everything left git: the mass-prune guard refuses, and says so in the JSON.
    f.remove("a.yaml");
    let (code, plan) = json("plan");
    assert_eq!(code, 2);
    assert_eq!(plan["pruneHeld"].as_array().unwrap().len(), 4, "{plan:#}");
    assert!(plan["pruneRefused"].as_str().is_some(), "{plan:#}");
}

/// `spec` with `metadata.namespace: ns`.
fn in_namespace(spec: &str, ns: &str) -> String {
    let (head, rest) = spec.split_once("metadata:\n").unwrap();
    format!("{head}metadata:\n  namespace: {ns}\n{rest}")
}

/// The namespaces recorded in the inventory ConfigMap of fixture `f`'s source.
async fn inventory_of(f: &Fixture) -> Vec<String> {
    let cm = f
        .api::<ConfigMap>()
        .await
        .get(&format!("mlsync-inventory-src-{}", f.ns))
        .await
        .unwrap();
    cm.data.unwrap()["namespaces"]
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A run killed in the middle of an apply (issue 10, defect 4) leaves objects with this
/// source's labels in a namespace the inventory does not name. They are made here exactly as
/// such a run leaves them (mlsync's rendering, server-side applied by field manager mlsync, no
/// inventory entry); after the revert, `plan` must show them as prunes and `apply` delete them.
#[tokio::test]
async fn objects_in_a_namespace_the_inventory_misses_are_found_and_pruned() {
    let f = Fixture::new("orphan").await;
    let other = cluster().namespace("orphan-new").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.apply_ok(&[]);
    assert_eq!(inventory_of(&f).await, [f.ns.as_str()]);

    // The commit that the killed run was applying: beta in a new namespace.
    f.write(
        "b.yaml",
        &in_namespace(&spec("beta", "  replicas: 1\n"), &other),
    );
    let rendered = mlsync_in(
        f.dir.path(),
        "render",
        &["--service", "beta", "--hpa-version", "v2beta2"],
    );
    assert!(rendered.status.success());
    let manifests = f.dir.path().join("beta.yaml");
    std::fs::write(&manifests, &rendered.stdout).unwrap();
    kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=mlsync",
        "-f",
        manifests.to_str().unwrap(),
    ]);
    let deps: Api<Deployment> = Api::namespaced(cluster().client().await, &other);
    assert!(deps.get_opt("beta").await.unwrap().is_some());
    assert_eq!(
        inventory_of(&f).await,
        [f.ns.as_str()],
        "the killed run never recorded {other}"
    );

    // The revert: beta leaves git. Its objects are found although nothing names `other`.
    f.remove("b.yaml");
    let (code, out, err) = f.mlsync("plan", &[]);
    assert_eq!(code, 1, "{out}{err}");
    for object in [
        format!("ConfigMap {other}/beta-config prune"),
        format!("Deployment {other}/beta prune"),
        format!("Service {other}/beta prune"),
    ] {
        assert!(out.contains(&object), "{object} missing:\n{out}");
    }
    let out = f.apply_ok(&[]);
    assert!(
        out.contains(&format!("Deployment {other}/beta pruned")),
        "{out}"
    );
    assert!(deps.get_opt("beta").await.unwrap().is_none());
    let cms: Api<ConfigMap> = Api::namespaced(cluster().client().await, &other);
    assert!(cms.get_opt("beta-config").await.unwrap().is_none());
    assert_eq!(f.mlsync("plan", &[]).0, 0, "nothing left to prune");
}

/// Write-ahead inventory: in the apiserver's audit log, the inventory write that adds a new
/// namespace completes before mlsync's first write in that namespace is received, so a run
/// killed at any point after its first object there leaves the namespace recorded.
#[tokio::test]
async fn the_inventory_names_a_new_namespace_before_its_first_object() {
    let f = Fixture::new("ahead").await;
    let other = cluster().namespace("ahead-new").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.apply_ok(&[]);
    let log = cluster().audit_log_path().unwrap();
    let offset = std::fs::read_to_string(&log).unwrap().len();

    f.write(
        "b.yaml",
        &in_namespace(&spec("beta", "  replicas: 1\n"), &other),
    );
    f.apply_ok(&[]);
    let text = std::fs::read_to_string(&log).unwrap();
    let writes: Vec<Value> = text[offset..]
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mlsync/"))
                && matches!(
                    e["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete")
                )
        })
        .collect();
    let first_in_other = writes
        .iter()
        .filter(|e| e["objectRef"]["namespace"] == other.as_str())
        .map(|e| e["requestReceivedTimestamp"].as_str().unwrap().to_owned())
        .min()
        .unwrap_or_else(|| panic!("no write in {other}: {writes:#?}"));
    let inventory = format!("mlsync-inventory-src-{}", f.ns);
    let inventory_done = writes
        .iter()
        .filter(|e| {
            e["objectRef"]["name"] == inventory.as_str()
                && e["responseStatus"]["code"]
                    .as_u64()
                    .is_some_and(|c| c < 300)
        })
        .map(|e| e["stageTimestamp"].as_str().unwrap().to_owned())
        .min()
        .unwrap_or_else(|| panic!("no inventory write: {writes:#?}"));
    // RFC 3339 timestamps with microseconds in UTC compare as strings.
    assert!(
        inventory_done < first_in_other,
        "inventory written at {inventory_done}, first object in {other} at {first_in_other}"
    );
    let mut expected = vec![f.ns.clone(), other.clone()];
    expected.sort();
    assert_eq!(inventory_of(&f).await, expected);
}

/// The crash as reported: `mlsync apply` of many services in a new namespace is killed
/// (SIGKILL) as soon as the audit log shows its first write there. The inventory already names
/// the namespace, and after the revert `plan` shows the prunes and `apply` removes everything
/// the killed run left. (Should the run finish before the kill lands, the same must hold.)
#[tokio::test]
async fn an_apply_killed_after_its_first_write_in_a_new_namespace_leaves_no_orphans() {
    let f = Fixture::new("killed").await;
    let other = cluster().namespace("killed-new").await;
    f.write("a.yaml", &spec("alpha", "  replicas: 1\n"));
    f.apply_ok(&[]);
    for i in 0..20 {
        let name = format!("svc-{i}");
        f.write(
            &format!("{name}.yaml"),
            &in_namespace(&spec(&name, "  replicas: 1\n"), &other),
        );
    }
    let log = cluster().audit_log_path().unwrap();
    let mut offset = std::fs::read_to_string(&log).unwrap().len();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["apply", "--repo"])
        .arg(f.dir.path())
        .env("MLSYNC_KUBECONFIG", cluster().kubeconfig_path())
        .env_remove("KUBECONFIG")
        .env("MLSYNC_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded only so a broken run fails instead of hanging.
    for _ in 0..6000 {
        let mut file = std::fs::File::open(&log).unwrap();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset as u64)).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        // Only whole lines: a line still being written is read next time.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        offset += whole;
        let new = String::from_utf8_lossy(&bytes[..whole]).into_owned();
        let wrote_there = new
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|e| {
                e["objectRef"]["namespace"] == other.as_str()
                    && e["userAgent"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("mlsync/"))
                    && matches!(e["verb"].as_str(), Some("create" | "patch"))
            });
        if wrote_there || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(
        inventory_of(&f).await.contains(&other),
        "the inventory names {other} before its first object"
    );

    // The revert: the 20 services leave git.
    for i in 0..20 {
        f.remove(&format!("svc-{i}.yaml"));
    }
    let deps: Api<Deployment> = Api::namespaced(cluster().client().await, &other);
    let cms: Api<ConfigMap> = Api::namespaced(cluster().client().await, &other);
    let selector = ListParams::default().labels(&format!("mlsync.dev/source=src-{}", f.ns));
    let left = cms.list(&selector).await.unwrap().items.len()
        + deps.list(&selector).await.unwrap().items.len();
    assert!(left > 0, "the killed run wrote in {other}");
    eprintln!("the killed run left {left} of 40 ConfigMaps and Deployments in {other}");
    // Up to 60 of the 63 managed objects may go: more than half, so allow it explicitly.
    let (code, out, err) = f.mlsync("plan", &["--allow-mass-prune"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("{other}/svc-")), "{out}");
    assert!(out.contains("prune: no longer in git"), "{out}");
    f.apply_ok(&["--allow-mass-prune"]);
    assert!(cms.list(&selector).await.unwrap().items.is_empty());
    assert!(deps.list(&selector).await.unwrap().items.is_empty());
    assert!(
        f.api::<Deployment>()
            .await
            .get_opt("alpha")
            .await
            .unwrap()
            .is_some()
    );
}

/// A write request as the API server's audit log and the plan both name it:
/// (verb, resource, namespace, name).
type Write = (String, String, String, String);

/// The requests a step of `plan -o json`'s `writes` makes, in order.
fn requests_of(step: &Value, home: &str, source: &str) -> Vec<Write> {
    let s = |k: &str| step[k].as_str().unwrap_or_default().to_owned();
    let resource = match s("kind").as_str() {
        "ConfigMap" => "configmaps",
        "Secret" => "secrets",
        "Deployment" => "deployments",
        "Service" => "services",
        "HorizontalPodAutoscaler" => "horizontalpodautoscalers",
        _ => "",
    }
    .to_owned();
    let w = |verb: &str, resource: &str, ns: String, name: String| {
        (verb.to_owned(), resource.to_owned(), ns, name)
    };
    match s("step").as_str() {
        // The audit log names a Namespace's own name as its namespace.
        "createNamespace" => vec![w("patch", "namespaces", s("namespace"), s("namespace"))],
        "writeInventory" => vec![w(
            "patch",
            "configmaps",
            home.to_owned(),
            format!("mlsync-inventory-{source}"),
        )],
        "create" | "update" | "handOverReplicas" => {
            vec![w("patch", &resource, s("namespace"), s("name"))]
        }
        "deleteHpa" | "prune" => vec![w("delete", &resource, s("namespace"), s("name"))],
        "recreate" => vec![
            w("delete", &resource, s("namespace"), s("name")),
            w("patch", &resource, s("namespace"), s("name")),
        ],
        other => panic!("unknown step {other}: {step}"),
    }
}

/// Write requests (create/update/patch/delete) sent by mlsync in `namespaces` (tests run
/// concurrently), from the audit log after byte `offset`, in the order the API server received
/// them.
fn mlsync_writes_since(offset: usize, namespaces: &[&str]) -> Vec<Write> {
    let text = std::fs::read_to_string(cluster().audit_log_path().unwrap()).unwrap();
    let mut events: Vec<Value> = text[offset..]
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["objectRef"]["namespace"]
                    .as_str()
                    .is_some_and(|n| namespaces.contains(&n))
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mlsync/"))
                && matches!(
                    e["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete")
                )
        })
        .collect();
    events.sort_by_key(|e| e["requestReceivedTimestamp"].as_str().unwrap().to_owned());
    let s = |e: &Value, p: &str| {
        e.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    events
        .iter()
        .map(|e| {
            (
                s(e, "/verb"),
                s(e, "/objectRef/resource"),
                s(e, "/objectRef/namespace"),
                s(e, "/objectRef/name"),
            )
        })
        .collect()
}

/// `plan` lists every write `apply` makes, in order, and `apply` makes no other: checked with
/// the API server's audit log for a change that creates a namespace, hands replicas over to a
/// new HPA, re-creates a Deployment whose selector changed, and prunes a service.
#[tokio::test]
async fn apply_makes_exactly_the_writes_its_plan_lists_in_order() {
    let f = Fixture::with_config("writes", "createNamespaces: true\n").await;
    let source = format!("src-{}", f.ns);
    f.write("alpha.yaml", &spec("alpha", "  replicas: 2\n"));
    f.write("gamma.yaml", &spec("gamma", "  replicas: 1\n"));
    f.apply_ok(&["--events=false"]);
    // beta's Deployment as an older version left it: this source's, another selector.
    old_selector_deployment(&f, &source, "beta").await;
    let deps: Api<Deployment> = f.api().await;

    // The change: alpha gets an HPA, beta enters git, gamma leaves, delta goes to a new namespace.
    let new_ns = format!("{}-new", f.ns);
    f.write("alpha.yaml", &spec("alpha", HPA));
    f.write("beta.yaml", &spec("beta", "  replicas: 1\n"));
    f.remove("gamma.yaml");
    f.write(
        "delta.yaml",
        &in_namespace(&spec("delta", "  replicas: 1\n"), &new_ns),
    );
    let flags = ["--recreate", "--events=false"];
    let log = cluster().audit_log_path().unwrap();
    let before_plan = std::fs::read_to_string(&log).unwrap().len();
    let (code, out, err) = f.mlsync("plan", &["-o", "json", "--recreate"]);
    assert_eq!(code, 1, "changes: {out}{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let steps = plan["writes"].as_array().unwrap().clone();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    for step in [
        "createNamespace",
        "writeInventory",
        "handOverReplicas",
        "recreate",
        "prune",
    ] {
        assert!(names.contains(&step), "no {step} in {names:?}");
    }
    let (code, text, _) = f.mlsync("plan", &["--recreate"]);
    assert_eq!(code, 1);
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "writes, in order:")
        .skip(1)
        .collect();
    assert_eq!(listed.len(), steps.len(), "{text}");
    assert!(
        listed.contains(&format!("  {}. create namespace {new_ns}", 1).as_str()),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "recreate Deployment {}/beta (delete, then create)",
            f.ns
        )),
        "{text}"
    );
    let before_apply = std::fs::read_to_string(&log).unwrap().len();
    let ours = [f.ns.as_str(), new_ns.as_str()];
    assert_eq!(
        mlsync_writes_since(before_plan, &ours),
        [],
        "plan writes nothing"
    );

    let (code, out, err) = f.mlsync("apply", &flags);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Deployment {}/beta recreated", f.ns)),
        "{out}"
    );
    let audited = mlsync_writes_since(before_apply, &ours);

    // Each audited write is the next unmatched planned request: per service, and per phase
    // (namespaces, inventory, services, prunes, inventory), in the plan's order.
    let planned: Vec<(usize, String, Write)> = steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let group = s["service"].as_str().unwrap_or("").to_owned();
            requests_of(s, &f.ns, &source)
                .into_iter()
                .map(move |w| (i, group.clone(), w))
        })
        .collect();
    let mut used = vec![false; planned.len()];
    let mut last_step_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_phase = 0;
    for w in &audited {
        let Some(j) = (0..planned.len()).find(|&j| !used[j] && planned[j].2 == *w) else {
            panic!(
                "apply wrote {w:?}, which its plan does not list:\nplan {steps:#?}\naudited {audited:#?}"
            );
        };
        used[j] = true;
        let (i, group, _) = &planned[j];
        let phase = match steps[*i]["step"].as_str().unwrap() {
            "createNamespace" => 0,
            "writeInventory" if planned[..j].iter().all(|p| p.1.is_empty()) => 1,
            "writeInventory" => 4,
            "prune" => 3,
            _ => 2,
        };
        assert!(phase >= last_phase, "{w:?} out of order:\n{audited:#?}");
        last_phase = phase;
        if !group.is_empty() {
            let last = last_step_of.insert(group.clone(), j);
            assert!(
                last.is_none_or(|l| l < j),
                "{w:?} of {group} out of order:\n{audited:#?}"
            );
        }
    }
    let missing: Vec<&Write> = planned
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(p, _)| &p.2)
        .collect();
    assert!(missing.is_empty(), "planned but not written: {missing:?}");
    assert_eq!(
        deps.get("alpha").await.unwrap().spec.replicas,
        Some(2),
        "the HPA took over the running replica count"
    );
}

/// Reads (`get`, `list`) mlsync sent about objects in namespace `ns` after byte `offset` of the
/// audit log, as `verb resource/name`.
fn reads_in_since(ns: &str, offset: usize) -> Vec<String> {
    let log = cluster()
        .audit_log_path()
        .expect("the test control plane keeps an audit log");
    let text = std::fs::read_to_string(log).unwrap();
    text[offset..]
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["stage"] == "ResponseComplete"
                && e["objectRef"]["namespace"] == ns
                && e["objectRef"]["resource"] != "namespaces"
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mlsync/"))
                && matches!(e["verb"].as_str(), Some("get" | "list"))
        })
        .map(|e| {
            format!(
                "{} {}/{}",
                e["verb"].as_str().unwrap_or_default(),
                e["objectRef"]["resource"].as_str().unwrap_or_default(),
                e["objectRef"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Issue 11: an apply into a namespace mlsync creates reads nothing there by name (nothing can
/// exist in a namespace that did not), its events do not read again the Deployments the run
/// has just seen, and a no-op apply reads nothing of the namespace after its plan's
/// cluster-wide lists (its health comes from them).
#[tokio::test]
async fn applies_read_objects_by_lists_not_one_by_one() {
    let f = Fixture::with_config("reads", "createNamespaces: true\n").await;
    let made = format!("{}-made", f.ns);
    for name in ["alpha", "beta", "gamma"] {
        f.write(
            &format!("{name}.yaml"),
            &in_namespace(&spec(name, HPA), &made),
        );
    }
    let log = cluster().audit_log_path().unwrap();
    let offset = std::fs::read_to_string(&log).unwrap().len();
    let (code, out, err) = f.mlsync("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let reads = reads_in_since(&made, offset);
    assert!(
        reads.iter().all(|r| r.starts_with("list ")),
        "cold apply read objects of {made} one by one: {reads:#?}"
    );

    let offset = std::fs::read_to_string(&log).unwrap().len();
    let (code, out, err) = f.mlsync("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("health: progressing"), "{out}");
    let reads = reads_in_since(&made, offset);
    assert!(
        reads.is_empty(),
        "no-op apply read {made} again: {reads:#?}"
    );
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster().client().await);
    ns.delete(&made, &Default::default()).await.unwrap();
}
