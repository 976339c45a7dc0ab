//! Reading the cluster (I/O): mlsync's own objects by label (across all namespaces when RBAC
//! allows), same-named objects by name, which namespaces exist, and the inventory of namespaces
//! a source has used.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::ReconcileError;
use super::keys::ObjectRef as ObjectKey;
use crate::cluster;
use crate::render::{
    HpaVersion, INVENTORY_NAME_PREFIX, Kind, MANAGED_BY, MANAGED_BY_LABEL, SOURCE_LABEL,
};

/// Label on the inventory ConfigMap (never a prune candidate).
pub const INVENTORY_LABEL: &str = "mlsync.dev/inventory";
/// Concurrent read requests.
const READ_CONCURRENCY: usize = 8;

/// Name of the inventory ConfigMap of a source.
pub fn inventory_name(source_id: &str) -> String {
    format!(
        "{INVENTORY_NAME_PREFIX}{}",
        source_id.to_ascii_lowercase().replace(['_', '.'], "-")
    )
}

fn read_err(what: String) -> impl FnOnce(kube::Error) -> ReconcileError {
    move |cause| ReconcileError::Read {
        what,
        cause: Box::new(cause),
    }
}

/// Where [`fetch`] looked for a source's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope {
    /// Every namespace: one cluster-wide LIST per kind, so objects in namespaces that neither
    /// git nor the inventory name (a run killed mid-apply) are found too.
    AllNamespaces,
    /// The namespaces of git and the inventory only: RBAC does not allow cluster-wide LISTs
    /// (namespaced RBAC as in `deploy/`, which also keeps mlsync from writing anywhere else).
    KnownNamespaces,
}

/// Set once a cluster-wide LIST was refused, so the fallback is logged once per process.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Lists mlsync's objects of `source_id`: per kind across all namespaces, or, where RBAC
/// forbids that (remembered in `all_forbidden` so it is not asked again), in `namespaces`.
/// Then fetches by name each desired object that the lists did not return (to find foreign
/// objects with our names).
pub async fn fetch(
    client: &Client,
    hpa: HpaVersion,
    source_id: &str,
    namespaces: &BTreeSet<String>,
    desired: &[ObjectKey],
    all_forbidden: &AtomicBool,
) -> Result<(BTreeMap<ObjectKey, Value>, ListScope), ReconcileError> {
    let selector =
        format!("{MANAGED_BY_LABEL}={MANAGED_BY},{SOURCE_LABEL}={source_id},!{INVENTORY_LABEL}");
    let params = ListParams::default().labels(&selector);
    let mut live: BTreeMap<ObjectKey, Value> = BTreeMap::new();
    let mut per_namespace: Vec<Kind> = Vec::new();
    for kind in Kind::ALL {
        if all_forbidden.load(Ordering::Relaxed) {
            per_namespace.push(kind);
            continue;
        }
        match cluster::api_all(client, kind, hpa).list(&params).await {
            Ok(list) => {
                for item in list.items {
                    let ns = item.metadata.namespace.clone().unwrap_or_default();
                    let name = item.metadata.name.clone().unwrap_or_default();
                    let mut value = serde_json::to_value(&item).map_err(ReconcileError::Decode)?;
                    set_type_meta(&mut value, kind, hpa);
                    live.insert(ObjectKey::new(kind, &ns, &name), value);
                }
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                all_forbidden.store(true, Ordering::Relaxed);
                if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        kind = %kind,
                        "RBAC does not allow listing across all namespaces: pruning looks for objects of this source only in the namespaces of git and the inventory"
                    );
                }
                per_namespace.push(kind);
            }
            Err(e) => {
                return Err(read_err(format!("list {kind}s in all namespaces"))(e));
            }
        }
    }
    let scope = if per_namespace.is_empty() {
        ListScope::AllNamespaces
    } else {
        ListScope::KnownNamespaces
    };
    let lists: Vec<(Kind, String)> = namespaces
        .iter()
        .flat_map(|ns| per_namespace.iter().map(move |k| (*k, ns.clone())))
        .collect();
    let listed: Vec<Vec<(ObjectKey, Value)>> = stream::iter(lists)
        .map(|(kind, ns)| {
            let params = params.clone();
            async move {
                let api = cluster::api(client, kind, hpa, &ns);
                let list = api
                    .list(&params)
                    .await
                    .map_err(read_err(format!("list {kind}s in namespace {ns}")))?;
                let mut out = Vec::new();
                for item in list.items {
                    let name = item.metadata.name.clone().unwrap_or_default();
                    let mut value = serde_json::to_value(&item).map_err(ReconcileError::Decode)?;
                    set_type_meta(&mut value, kind, hpa);
                    out.push((ObjectKey::new(kind, &ns, &name), value));
                }
                Ok::<_, ReconcileError>(out)
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    live.extend(listed.into_iter().flatten());

    let missing: Vec<ObjectKey> = desired
        .iter()
        .filter(|k| !live.contains_key(*k))
        .cloned()
        .collect();
    let found: Vec<Option<(ObjectKey, Value)>> = stream::iter(missing)
        .map(|key| async move {
            let api = cluster::api(client, key.kind, hpa, &key.namespace);
            let got = api
                .get_opt(&key.name)
                .await
                .map_err(read_err(format!("get {key}")))?;
            match got {
                Some(obj) => {
                    let mut value = serde_json::to_value(&obj).map_err(ReconcileError::Decode)?;
                    set_type_meta(&mut value, key.kind, hpa);
                    Ok::<_, ReconcileError>(Some((key, value)))
                }
                None => Ok(None),
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    live.extend(found.into_iter().flatten());
    Ok((live, scope))
}

/// List items come without apiVersion/kind; put them back so objects compare like rendered ones.
fn set_type_meta(value: &mut Value, kind: Kind, hpa: HpaVersion) {
    if let Some(m) = value.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            cluster::api_resource(kind, hpa).api_version.into(),
        );
        m.insert("kind".into(), kind.as_str().into());
    }
}

/// Which of `namespaces` exist.
pub async fn existing_namespaces(
    client: &Client,
    namespaces: &BTreeSet<String>,
) -> Result<BTreeSet<String>, ReconcileError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut out = BTreeSet::new();
    for ns in namespaces {
        if api
            .get_opt(ns)
            .await
            .map_err(read_err(format!("get namespace {ns}")))?
            .is_some()
        {
            out.insert(ns.clone());
        }
    }
    Ok(out)
}

/// The namespaces recorded in the source's inventory (empty when there is none yet).
pub async fn inventory(
    client: &Client,
    home: &str,
    source_id: &str,
) -> Result<BTreeSet<String>, ReconcileError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), home);
    let name = inventory_name(source_id);
    let cm = api
        .get_opt(&name)
        .await
        .map_err(read_err(format!("get ConfigMap {home}/{name}")))?;
    Ok(cm
        .and_then(|c| c.data)
        .and_then(|d| d.get("namespaces").cloned())
        .map(|s| {
            s.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}
