//! What differs between the Kubernetes releases mlsync supports (the oldest, v1.20.2, and the
//! current one; `tests/run.sh` runs this file against both, `MLSYNC_TEST_K8S_VERSION` picks one)
//! and how mlsync copes with each difference: every test asserts what this release's server does
//! and that `mlsync apply` / `plan` behave the same on top of it (no drift, no false alarm).

use crate::support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service, ServiceAccount};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use mlsync::render::{HpaVersion, Kind};
use serde_json::{Value, json};
use support::cluster;
use support::example::spec;

use support::repo::{ConfigRepo as Repo, root};

impl Repo {
    /// Applies (exit 1: changes) and checks that a plan right after finds nothing to do on this
    /// release (exit 0): the server's own additions are not drift.
    fn apply_then_plan_is_clean(&self) -> String {
        let (code, out, err) = self.mlsync("apply", &[]);
        assert_eq!(code, 0, "first apply: {out}{err}");
        let (code, plan, err) = self.mlsync("plan", &[]);
        assert_eq!(code, 0, "plan after apply found changes:\n{plan}{err}");
        out
    }
}

/// The live HPA `name` in the autoscaling version mlsync uses on this server.
async fn live_hpa(ns: &str, name: &str) -> Value {
    let client = cluster().client().await;
    let hpa = mlsync::cluster::discover(&client).await.unwrap().hpa;
    let api: Api<DynamicObject> =
        mlsync::cluster::api(&client, Kind::HorizontalPodAutoscaler, hpa, ns);
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

/// Polls `check` every 200 ms; bounded only so a broken controller fails instead of hanging.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gave up waiting for {what}");
}

const CPU_AND_MEMORY: &str = "  autoscaling:\n    minReplicas: 1\n    maxReplicas: 3\n    targetCPUUtilizationPercentage: 70\n    targetMemoryUtilizationPercentage: 80\n";

/// With memory requests (a memory utilization target needs them).
fn spec_with_memory(name: &str, extra: &str) -> String {
    spec(name, extra).replace(
        "    requests:\n      cpu: 100m\n",
        "    requests:\n      cpu: 100m\n      memory: 64Mi\n",
    )
}

/// 1.20 serves autoscaling/v2beta2 (not v2) and prefers v1; the current release serves v2 (not
/// v2beta2, removed in 1.26) and prefers it. mlsync applies in the version served; the peer
/// kubectl reads HPAs in the preferred one.
#[tokio::test]
async fn hpa_versions_served_and_preferred_follow_the_release() {
    let minor = cluster().server_minor().await;
    let client = cluster().client().await;
    let groups = client.list_api_groups().await.unwrap();
    let autoscaling = groups
        .groups
        .iter()
        .find(|g| g.name == "autoscaling")
        .expect("autoscaling group");
    let mut served: Vec<&str> = autoscaling
        .versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    served.sort_unstable();
    let preferred = autoscaling
        .preferred_version
        .as_ref()
        .map(|v| v.version.as_str());
    let picked = mlsync::cluster::discover(&client).await.unwrap().hpa;
    match minor {
        ..=20 => {
            assert_eq!(served, ["v1", "v2beta1", "v2beta2"]);
            assert_eq!(preferred, Some("v1"));
            assert_eq!(picked, HpaVersion::V2beta2);
        }
        37.. => {
            assert_eq!(served, ["v1", "v2"]);
            assert_eq!(preferred, Some("v2"));
            assert_eq!(picked, HpaVersion::V2);
        }
        _ => {} // releases in between are not tested here
    }

    let repo = Repo::new("v-hpa").await;
    repo.write("a.yaml", &spec_with_memory("alpha", CPU_AND_MEMORY));
    repo.apply_then_plan_is_clean();
    let hpa = live_hpa(&repo.ns, "alpha").await;
    let want = match picked {
        HpaVersion::V2 => "autoscaling/v2",
        HpaVersion::V2beta2 => "autoscaling/v2beta2",
    };
    assert_eq!(hpa["apiVersion"], want);
    let out = cluster()
        .kubectl()
        .args([
            "-n",
            &repo.ns,
            "get",
            "hpa",
            "alpha",
            "-o",
            "jsonpath={.apiVersion}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kubectl_sees = String::from_utf8(out.stdout).unwrap();
    assert_eq!(kubectl_sees, format!("autoscaling/{}", preferred.unwrap()));
}

/// 1.20 stores HPAs as autoscaling/v1 (CPU in a field, other metrics in an annotation), so a
/// CPU + memory HPA comes back memory first; the current release stores v2 and keeps the order.
/// mlsync compares metrics as a set: neither order is drift.
#[tokio::test]
async fn hpa_metric_order_after_the_round_trip_is_not_drift() {
    let minor = cluster().server_minor().await;
    let repo = Repo::new("v-metrics").await;
    repo.write("a.yaml", &spec_with_memory("alpha", CPU_AND_MEMORY));
    repo.apply_then_plan_is_clean();
    let hpa = live_hpa(&repo.ns, "alpha").await;
    let order: Vec<&str> = hpa["spec"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["resource"]["name"].as_str().unwrap())
        .collect();
    match minor {
        ..=20 => assert_eq!(order, ["memory", "cpu"]),
        37.. => assert_eq!(order, ["cpu", "memory"]), // as rendered
        _ => {}
    }
    // A second apply changes nothing either.
    let (code, out, err) = repo.mlsync("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Server-side apply of a Service port without `protocol` fails on 1.20 (a list-map key without
/// a default; fixed in 1.21), so mlsync renders `protocol` on every port. The current release
/// also defaults `ipFamilies`, `ipFamilyPolicy`, `internalTrafficPolicy` and
/// `allocateLoadBalancerNodePorts`, which mlsync does not set: not drift.
#[tokio::test]
async fn service_fields_the_release_adds_are_not_drift_and_ports_carry_a_protocol() {
    let minor = cluster().server_minor().await;
    let repo = Repo::new("v-svc").await;
    let services: Api<Service> = Api::namespaced(cluster().client().await, &repo.ns);
    let raw = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "raw"},
        "spec": {"selector": {"app": "raw"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let result = services
        .patch(
            "raw",
            &PatchParams::apply("version-test"),
            &Patch::Apply(raw),
        )
        .await;
    match minor {
        ..=20 => {
            let err = result.expect_err("1.20 refuses a port without protocol");
            assert!(
                err.to_string().contains(r#"omits key field "protocol""#),
                "{err}"
            );
        }
        37.. => {
            result.expect("the current release defaults the protocol key");
        }
        _ => {}
    }

    repo.write(
        "a.yaml",
        &format!("{}  service:\n    type: LoadBalancer\n", spec("alpha", "")),
    );
    let (code, rendered, err) = repo.mlsync("render", &["-o", "json"]);
    assert_eq!(code, 0, "{rendered}{err}");
    let rendered: Value = serde_json::from_str(&rendered).unwrap();
    let objects = rendered["items"]
        .as_array()
        .expect("render -o json prints a List");
    let ports: Vec<&Value> = objects
        .iter()
        .filter_map(|o| match o["kind"].as_str() {
            Some("Service") => o["spec"]["ports"].as_array(),
            Some("Deployment") => {
                o["spec"]["template"]["spec"]["containers"][0]["ports"].as_array()
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(ports.len() >= 2, "{objects:?}");
    assert!(ports.iter().all(|p| p["protocol"] == "TCP"), "{ports:?}");

    repo.apply_then_plan_is_clean();
    let live = services.get("alpha").await.unwrap().spec.unwrap();
    let added = (
        live.ip_families.clone(),
        live.ip_family_policy.clone(),
        live.internal_traffic_policy.clone(),
        live.allocate_load_balancer_node_ports,
    );
    match minor {
        ..=20 => assert_eq!(added, (None, None, None, None)),
        37.. => assert_eq!(
            added,
            (
                Some(vec!["IPv4".to_owned()]),
                Some("SingleStack".to_owned()),
                Some("Cluster".to_owned()),
                Some(true)
            )
        ),
        _ => {}
    }
}

/// Since 1.22 managedFields name the subresource a write went through: the Deployment
/// controller's status writes are `Update` + `subresource: status` on the current release and a
/// plain `Update` on 1.20. mlsync reads only its own `Apply` entry (who owns `spec.replicas`), so
/// it decides the same on both. The current release's Deployment status also has
/// `terminatingReplicas`, which mlsync's health does not read.
#[tokio::test]
async fn status_writes_name_their_subresource_since_1_22_and_replicas_ownership_reads_alike() {
    let minor = cluster().server_minor().await;
    let repo = Repo::new("v-fields").await;
    repo.write("a.yaml", &spec("alpha", "  replicas: 3\n"));
    repo.apply_then_plan_is_clean();
    let deployments: Api<Deployment> = Api::namespaced(cluster().client().await, &repo.ns);
    let controller = eventually(
        "the Deployment controller's status: 3 updated",
        async || {
            let d = deployments.get("alpha").await.ok()?;
            if d.status.as_ref()?.updated_replicas != Some(3) {
                return None;
            }
            d.metadata
                .managed_fields?
                .into_iter()
                .find(|m| m.manager.as_deref() == Some("kube-controller-manager"))
        },
    )
    .await;
    assert_eq!(controller.operation.as_deref(), Some("Update"));
    match minor {
        ..=20 => assert_eq!(controller.subresource, None),
        37.. => assert_eq!(controller.subresource.as_deref(), Some("status")),
        _ => {}
    }
    let live = serde_json::to_value(deployments.get("alpha").await.unwrap()).unwrap();
    assert!(mlsync::reconcile::compare::mlsync_owns_replicas(
        &live, "mlsync"
    ));
    // The current release also counts terminating pods in the status; mlsync's rollout health
    // reads only updated/available replicas, so the line reads alike.
    match minor {
        ..=20 => assert_eq!(live["status"].get("terminatingReplicas"), None),
        37.. => assert_eq!(live["status"]["terminatingReplicas"], 0),
        _ => {}
    }
    let (code, out, err) = repo.mlsync("apply", &["-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["services"][0]["health"],
        "progressing (3/3 updated, 0/3 available)"
    );

    // Handing replicas to an HPA releases them in both releases.
    repo.write("a.yaml", &spec("alpha", CPU_ONLY));
    let (code, out, err) = repo.mlsync("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let live = serde_json::to_value(deployments.get("alpha").await.unwrap()).unwrap();
    assert!(!mlsync::reconcile::compare::mlsync_owns_replicas(
        &live, "mlsync"
    ));
    let (code, plan, err) = repo.mlsync("plan", &[]);
    assert_eq!(code, 0, "{plan}{err}");
}

const CPU_ONLY: &str = "  autoscaling:\n    minReplicas: 2\n    maxReplicas: 5\n    targetCPUUtilizationPercentage: 50\n";

/// 1.20's controller-manager gives every ServiceAccount a token Secret (`default-token-…`); the
/// current release makes none (1.24+) and labels every Namespace with
/// `kubernetes.io/metadata.name` (1.21+). mlsync leaves both alone: a namespace it created is
/// not drift, and pruning deletes its own Secret next to the token Secret, not the token.
#[tokio::test]
async fn token_secrets_and_namespace_labels_of_the_release_are_left_alone() {
    let minor = cluster().server_minor().await;
    let repo = Repo::with_config("v-ns", "createNamespaces: true\n").await;
    let target = format!("{}-made", repo.ns);
    std::fs::create_dir_all(repo.dir.path().join("secrets")).unwrap();
    std::fs::copy(
        root().join("example-repo/secrets/iris-classifier.enc.yaml"),
        repo.dir.path().join("secrets/iris.enc.yaml"),
    )
    .unwrap();
    for name in ["alpha", "beta"] {
        let text = spec(name, "  secrets:\n    file: secrets/iris.enc.yaml\n").replace(
            &format!("metadata:\n  name: {name}\n"),
            &format!("metadata:\n  name: {name}\n  namespace: {target}\n"),
        );
        repo.write(&format!("{name}.yaml"), &text);
    }
    repo.apply_then_plan_is_clean();
    let client = cluster().client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let labels = namespaces
        .get(&target)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    let name_label = labels
        .get("kubernetes.io/metadata.name")
        .map(String::as_str);
    match minor {
        ..=20 => assert_eq!(name_label, None),
        37.. => assert_eq!(name_label, Some(target.as_str())),
        _ => {}
    }

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &target);
    let tokens: Vec<String> = eventually("the default ServiceAccount", async || {
        let sa = accounts.get_opt("default").await.ok()??;
        let names: Vec<String> = sa
            .secrets
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.name)
            .collect();
        // 1.20's token controller fills in the Secret shortly after the account appears.
        (minor > 20 || !names.is_empty()).then_some(names)
    })
    .await;
    match minor {
        ..=20 => assert!(tokens[0].starts_with("default-token-"), "{tokens:?}"),
        37.. => assert_eq!(tokens, Vec::<String>::new()),
        _ => {}
    }

    repo.remove("beta.yaml");
    let (code, out, err) = repo.mlsync("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Secret {target}/beta-secrets pruned")),
        "{out}"
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &target);
    for token in &tokens {
        assert!(
            secrets.get_opt(token).await.unwrap().is_some(),
            "{token} pruned"
        );
    }
    assert!(secrets.get_opt("alpha-secrets").await.unwrap().is_some());
    let (code, plan, err) = repo.mlsync("plan", &[]);
    assert_eq!(code, 0, "{plan}{err}");
    // Not a labelled test namespace: remove it here (matters on a long-lived cluster).
    namespaces
        .delete(&target, &Default::default())
        .await
        .unwrap();
}

/// The current release's HPA controller adds `ScaledToZero=False` (`NotScaledToZero`) to every
/// HPA (HPAScaleToZero, beta in 1.37). mlsync's health line reports only the conditions that say
/// the HPA cannot scale, so that one is no false alarm. (There is no metrics server here:
/// `ScalingActive=False` / `FailedGetResourceMetric` is a real problem on both releases.)
#[tokio::test]
async fn hpa_conditions_of_the_release_are_no_false_alarm() {
    let minor = cluster().server_minor().await;
    let repo = Repo::new("v-cond").await;
    repo.write("a.yaml", &spec("alpha", CPU_ONLY));
    repo.apply_then_plan_is_clean();
    let conditions = eventually("the HPA controller's conditions", async || {
        let hpa = live_hpa(&repo.ns, "alpha").await;
        let conditions = hpa["status"]["conditions"].as_array()?.clone();
        conditions
            .iter()
            .any(|c| c["type"] == "ScalingActive")
            .then_some(conditions)
    })
    .await;
    let scaled_to_zero = conditions.iter().find(|c| c["type"] == "ScaledToZero");
    match minor {
        ..=20 => assert_eq!(scaled_to_zero, None),
        37.. => {
            let c = scaled_to_zero.expect("ScaledToZero condition");
            assert_eq!(
                (&c["status"], &c["reason"]),
                (&json!("False"), &json!("NotScaledToZero"))
            );
        }
        _ => {}
    }
    let (code, out, err) = repo.mlsync("apply", &["-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let health = report["services"][0]["health"].as_str().unwrap();
    assert!(
        health.contains("HPA: ScalingActive FailedGetResourceMetric"),
        "{health}"
    );
    assert!(!health.contains("ScaledToZero"), "{health}");
}
