//! Smoke tests of the test control plane through the `kube` crate: server-side apply of the
//! objects mlsync renders, server-side defaulting, the controller-manager's work, and the
//! pod-readiness helper driving rollouts to success and to `ProgressDeadlineExceeded`.

use crate::support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::{cluster, pods};

const MANAGER: &str = "mlsync-test";

/// Server-side applies `object` (a full manifest) with field manager "mlsync-test".
async fn apply<K>(client: &Client, ns: &str, object: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let name = object["metadata"]["name"]
        .as_str()
        .expect("manifest name")
        .to_owned();
    Api::<K>::namespaced(client.clone(), ns)
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .unwrap_or_else(|e| panic!("failed to apply {name}: {e}"))
}

fn deployment(name: &str, replicas: i32, progress_deadline: Option<i32>) -> Value {
    let mut spec = json!({
        "replicas": replicas,
        "selector": { "matchLabels": { "app": name } },
        "template": {
            "metadata": { "labels": { "app": name } },
            "spec": { "containers": [{ "name": "model", "image": "registry.invalid/model:1" }] }
        }
    });
    if let Some(seconds) = progress_deadline {
        spec["progressDeadlineSeconds"] = json!(seconds);
    }
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name }, "spec": spec })
}

#[tokio::test]
async fn serves_the_requested_kubernetes_release() {
    let cluster = cluster();
    let version = cluster
        .client()
        .await
        .apiserver_version()
        .await
        .expect("GET /version");
    if let Some(requested) = cluster.requested_version() {
        assert_eq!(version.git_version, requested);
    }
    // The kubectl the tests use as a peer is within one minor version of the server.
    let out = cluster
        .kubectl()
        .args(["version", "--client", "-o", "json"])
        .output()
        .expect("run kubectl version");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client: Value = serde_json::from_slice(&out.stdout).expect("kubectl version JSON");
    let kubectl_minor: i64 = client["clientVersion"]["minor"]
        .as_str()
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .expect("kubectl minor version");
    let server_minor = i64::from(cluster.server_minor().await);
    assert!(
        (kubectl_minor - server_minor).abs() <= 1,
        "kubectl 1.{kubectl_minor} is outside the skew of server 1.{server_minor}"
    );
}

#[tokio::test]
async fn applies_configmap_and_secret_with_field_manager() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-cm").await;
    let cm: ConfigMap = apply(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "model-config" },
            "data": { "threads": "4" }
        }),
    )
    .await;
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("threads")
            .map(String::as_str),
        Some("4")
    );
    let managers: Vec<_> = cm.metadata.managed_fields.unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some(MANAGER)
                && m.operation.as_deref() == Some("Apply"))
    );

    let secret: Secret = apply(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": "model-token" },
            "data": { "token": "c2VjcmV0" }
        }),
    )
    .await;
    // `type` is defaulted by the server.
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert_eq!(secret.data.unwrap_or_default()["token"].0, b"secret");
}

#[tokio::test]
async fn deployment_gets_defaults_replicaset_and_becomes_available() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-deploy").await;
    let applied: Deployment = apply(&client, &ns, deployment("model", 2, None)).await;
    let spec = applied.spec;
    let strategy = spec.strategy.expect("defaulted strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(spec.revision_history_limit, Some(10));

    let rs: ReplicaSet = pods::current_replicaset(&client, &ns, "model").await;
    assert_eq!(rs.spec.replicas, Some(2));
    let before = Api::<Deployment>::namespaced(client.clone(), &ns)
        .get("model")
        .await
        .expect("get");
    assert_eq!(before.status.and_then(|s| s.available_replicas), None);

    let ready = pods::make_deployment_ready(&client, &ns, "model").await;
    assert_eq!(ready.len(), 2);
    let done = pods::wait_for_condition(&client, &ns, "model", "Available", "True", None).await;
    let status = done.status.expect("status");
    assert_eq!(status.available_replicas, Some(2));
    pods::wait_for_condition(
        &client,
        &ns,
        "model",
        "Progressing",
        "True",
        Some("NewReplicaSetAvailable"),
    )
    .await;
}

#[tokio::test]
async fn unready_rollout_exceeds_progress_deadline() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-fail").await;
    let _: Deployment = apply(&client, &ns, deployment("broken", 1, Some(2))).await;
    pods::make_deployment_unready(&client, &ns, "broken").await;
    let failed = pods::wait_for_condition(
        &client,
        &ns,
        "broken",
        "Progressing",
        "False",
        Some("ProgressDeadlineExceeded"),
    )
    .await;
    let conditions = failed.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions.iter().any(
            |c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("False")
        )
    );
}

#[tokio::test]
async fn load_balancer_service_gets_cluster_ip_and_defaults() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-svc").await;
    let svc: Service = apply(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "model" },
            "spec": {
                "type": "LoadBalancer",
                "selector": { "app": "model" },
                "ports": [{ "name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP" }]
            }
        }),
    )
    .await;
    let spec = svc.spec.expect("spec");
    let ip = spec.cluster_ip.expect("allocated clusterIP");
    assert!(
        ip.starts_with("10.0."),
        "clusterIP {ip} outside 10.0.0.0/16"
    );
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    assert!(
        spec.ports.unwrap_or_default()[0].node_port.is_some(),
        "LoadBalancer gets a nodePort"
    );
}

/// The control plane holds the 1,000 services `benches/reconcile.sh 1000` creates: its service
/// range is larger than a /24 (254 addresses, where the 255th Service failed with "range is
/// full"). Cheapest proof: a Service asking for a clusterIP beyond the range's first 1,024
/// addresses (10.0.5.7 is the 1,288th) is accepted.
#[tokio::test]
async fn service_range_holds_more_than_a_thousand_services() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-range").await;
    let svc: Service = apply(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": { "name": "far" },
            "spec": {
                "clusterIP": "10.0.5.7",
                "selector": { "app": "far" },
                "ports": [{ "port": 80, "targetPort": 8080, "protocol": "TCP" }]
            }
        }),
    )
    .await;
    assert_eq!(
        svc.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some("10.0.5.7")
    );
}

/// autoscaling/v2 is GA since 1.23; v2beta2 was removed in 1.26. mlsync's discovery picks v2 when
/// served, else v2beta2: on v1.20 that is v2beta2, on the current release v2.
#[tokio::test]
async fn serves_the_autoscaling_version_of_its_release_and_mlsync_picks_it() {
    let cluster = cluster();
    let client = cluster.client().await;
    let minor = cluster.server_minor().await;
    let v2 = client
        .list_api_group_resources("autoscaling/v2")
        .await
        .is_ok();
    let v2beta2 = client
        .list_api_group_resources("autoscaling/v2beta2")
        .await
        .is_ok();
    assert_eq!((v2, v2beta2), (minor >= 23, minor < 26), "server 1.{minor}");
    let picked = mlsync::cluster::discover(&client)
        .await
        .expect("discover")
        .hpa;
    let expected = if minor >= 23 {
        mlsync::render::HpaVersion::V2
    } else {
        mlsync::render::HpaVersion::V2beta2
    };
    assert_eq!(picked, expected);
}

#[tokio::test]
async fn applies_an_hpa_in_the_served_version_as_dynamic_object() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-hpa").await;
    let hpa_version = mlsync::cluster::discover(&client)
        .await
        .expect("discover")
        .hpa;
    let resource =
        mlsync::cluster::api_resource(mlsync::render::Kind::HorizontalPodAutoscaler, hpa_version);
    let hpa = json!({
        "apiVersion": resource.api_version, "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "model" },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "model" },
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{ "type": "Resource", "resource": {
                "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }]
        }
    });
    let applied: DynamicObject =
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource)
            .patch(
                "model",
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(hpa),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {} HPA: {e}", resource.api_version));
    assert_eq!(applied.name_any(), "model");
    assert_eq!(applied.data["spec"]["maxReplicas"], 5);
    // The same object through autoscaling/v1, converted by the server.
    let v1: HorizontalPodAutoscaler = Api::namespaced(client, &ns)
        .get("model")
        .await
        .expect("get v1 HPA");
    assert_eq!(v1.spec.target_cpu_utilization_percentage, Some(70));
}

#[tokio::test]
async fn audit_log_records_writes_of_the_field_manager() {
    let cluster = cluster();
    let Some(audit) = cluster.audit_log_path() else {
        // An external cluster (MLSYNC_TEST_KUBECONFIG) exposes no audit log.
        return;
    };
    let client = cluster.client().await;
    let ns = cluster.namespace("smoke-audit").await;
    for value in ["1", "2"] {
        let _: ConfigMap = apply(&client, &ns, json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "audited" }, "data": { "v": value }
        }))
        .await;
    }
    let log = std::fs::read_to_string(&audit).expect("read audit log");
    let patches = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["verb"] == "patch" && e["objectRef"]["namespace"] == ns.as_str())
        .filter(|e| {
            e["requestURI"]
                .as_str()
                .is_some_and(|u| u.contains("fieldManager=mlsync-test"))
        })
        .count();
    assert_eq!(
        patches,
        2,
        "audit log {} should hold both applies",
        audit.display()
    );
}
