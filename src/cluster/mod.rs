//! Cluster access (I/O edge): connecting like kubectl, discovery, and typed handles for the five
//! kinds mlsync manages.

use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::render::{HpaVersion, Kind};

/// Errors from reaching the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or used.
    #[error("failed to load kubeconfig {path}: {cause}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why (part of the message, not a `source()`).
        cause: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor in-cluster configuration was found.
    #[error(
        "failed to find cluster credentials: no kubeconfig ({kubeconfig}) and not running in a pod ({in_cluster})"
    )]
    NoConfig {
        /// Why the kubeconfig failed.
        kubeconfig: String,
        /// Why in-cluster config failed.
        in_cluster: String,
    },
    /// The client could not be built.
    #[error("failed to create a Kubernetes client: {0}")]
    Client(kube::Error),
    /// Discovery failed.
    #[error("failed to discover the API groups the cluster serves: {0}")]
    Discovery(kube::Error),
    /// A kind mlsync needs is not served.
    #[error("the cluster does not serve {0}")]
    NotServed(String),
}

/// How to reach the cluster, like kubectl.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then
    /// $CREDENTIALS_DIRECTORY/kubeconfig, then the pod's service account).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    pub context: Option<String>,
}

/// Builds a client from `args`, falling back as [`KubeOptions::kubeconfig`] documents.
pub async fn connect(args: &KubeOptions) -> Result<Client, ClusterError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|d| PathBuf::from(d).join("kubeconfig"))
        .filter(|p| p.is_file());
    let explicit = args.kubeconfig.clone();
    let mut config = if let Some(path) = explicit {
        from_file(path, &options).await?
    } else {
        match Config::from_kubeconfig(&options).await {
            Ok(c) => c,
            Err(kube_err) => match credential {
                Some(path) => from_file(path, &options).await?,
                None => Config::incluster().map_err(|e| ClusterError::NoConfig {
                    kubeconfig: kube_err.to_string(),
                    in_cluster: e.to_string(),
                })?,
            },
        }
    };
    // Name ourselves in audit logs and API server metrics.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("mlsync/", env!("CARGO_PKG_VERSION"))),
    ));
    Client::try_from(config).map_err(ClusterError::Client)
}

async fn from_file(path: PathBuf, options: &KubeConfigOptions) -> Result<Config, ClusterError> {
    let shown = path.display().to_string();
    let kc = Kubeconfig::read_from(&path).map_err(|cause| ClusterError::Kubeconfig {
        path: shown.clone(),
        cause,
    })?;
    Config::from_custom_kubeconfig(kc, options)
        .await
        .map_err(|cause| ClusterError::Kubeconfig { path: shown, cause })
}

/// What the cluster serves that matters to mlsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discovery {
    /// The HorizontalPodAutoscaler version to use.
    pub hpa: HpaVersion,
}

/// Asks the API server which versions it serves: `autoscaling/v2` when available, else
/// `autoscaling/v2beta2` (Kubernetes < 1.23); `apps/v1` must be served.
pub async fn discover(client: &Client) -> Result<Discovery, ClusterError> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(ClusterError::Discovery)?;
    let serves = |group: &str, version: &str| {
        groups
            .groups
            .iter()
            .any(|g| g.name == group && g.versions.iter().any(|v| v.version == version))
    };
    if !serves("apps", "v1") {
        return Err(ClusterError::NotServed("apps/v1 (Deployments)".into()));
    }
    let hpa = if serves("autoscaling", "v2") {
        HpaVersion::V2
    } else if serves("autoscaling", "v2beta2") {
        HpaVersion::V2beta2
    } else {
        return Err(ClusterError::NotServed(
            "autoscaling/v2 or autoscaling/v2beta2 (HorizontalPodAutoscalers)".into(),
        ));
    };
    Ok(Discovery { hpa })
}

/// The API resource of a kind (the HPA's version comes from discovery).
pub fn api_resource(kind: Kind, hpa: HpaVersion) -> ApiResource {
    let (group, version, plural) = match kind {
        Kind::ConfigMap => ("", "v1", "configmaps"),
        Kind::Secret => ("", "v1", "secrets"),
        Kind::Service => ("", "v1", "services"),
        Kind::Deployment => ("apps", "v1", "deployments"),
        Kind::HorizontalPodAutoscaler => match hpa {
            HpaVersion::V2 => ("autoscaling", "v2", "horizontalpodautoscalers"),
            HpaVersion::V2beta2 => ("autoscaling", "v2beta2", "horizontalpodautoscalers"),
        },
    };
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version,
        kind: kind.as_str().to_owned(),
        plural: plural.to_owned(),
    }
}

/// A namespaced dynamic API handle for `kind`.
pub fn api(client: &Client, kind: Kind, hpa: HpaVersion, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource(kind, hpa))
}

/// A dynamic API handle for `kind` across all namespaces (for cluster-wide LISTs).
pub fn api_all(client: &Client, kind: Kind, hpa: HpaVersion) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &api_resource(kind, hpa))
}
