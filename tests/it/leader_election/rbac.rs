//! The RBAC documented in `docs/leader-election.md` is enough: replicas acting as a service
//! account bound to exactly that Role create, hold, release and take over the lease (the
//! test apiserver authorizes with RBAC; the clients impersonate the service account).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use super::{LEASE, Replica, holder, support, wait_for};

/// The YAML block of the doc that defines the Role, for namespace `ns`.
fn documented_rbac(ns: &str) -> (Role, RoleBinding) {
    let doc = include_str!("../../../docs/leader-election.md");
    let block = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("kind: Role\n"))
        .expect("docs/leader-election.md shows the Role");
    let block = block.replace("namespace: mlsync", &format!("namespace: {ns}"));
    let mut parts = block.split("\n---\n");
    let role: Role = serde_saphyr::from_str(parts.next().expect("Role")).expect("Role YAML");
    let binding: RoleBinding =
        serde_saphyr::from_str(parts.next().expect("RoleBinding")).expect("RoleBinding YAML");
    (role, binding)
}

/// A client that acts as the service account `mlsync` in `ns`.
async fn as_service_account(ns: &str) -> Client {
    let kubeconfig =
        Kubeconfig::read_from(support::cluster().kubeconfig_path()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("load kubeconfig");
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:mlsync"));
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_owned(),
    ]);
    Client::try_from(config).expect("impersonating client")
}

#[tokio::test]
async fn documented_rbac_is_enough() {
    let cluster = support::cluster();
    let ns = cluster.namespace("leader-rbac").await;
    let admin = cluster.client().await;
    let account: ServiceAccount =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "mlsync" } })).unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &account)
        .await
        .expect("create service account");

    // Without the Role the service account may not even read leases.
    let denied = Api::<Lease>::namespaced(as_service_account(&ns).await, &ns)
        .get_opt(LEASE)
        .await
        .expect_err("forbidden without the Role");
    assert!(
        matches!(&denied, kube::Error::Api(status) if status.is_forbidden()),
        "{denied}"
    );

    let (role, binding) = documented_rbac(&ns);
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create the documented Role");
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the documented RoleBinding");

    let lease = Duration::from_secs(60);
    let a = Replica::start_with(as_service_account(&ns).await, &ns, "replica-a", lease).await;
    wait_for(
        "replica-a to create and hold the lease",
        Duration::from_secs(30),
        || a.status.is_leader(),
    )
    .await;
    let b = Replica::start_with(as_service_account(&ns).await, &ns, "replica-b", lease).await;
    a.shut_down().await;
    wait_for(
        "replica-b to take over the released lease",
        Duration::from_secs(20),
        || b.status.is_leader(),
    )
    .await;
    b.shut_down().await;
    assert_eq!(holder(&ns).await, None, "released on shutdown");
}
