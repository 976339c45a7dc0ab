//! Reading the cluster (I/O): mlsync's own objects by label (across all namespaces when RBAC
//! allows), same-named objects by name, which namespaces exist, and the inventory of namespaces
//! a source has used. Objects are decoded straight into their [`super::slim`] form.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, GetParams, ListParams};
use kube::core::Request;
use kube::{Client, Resource};
use serde_json::Value;

use super::ReconcileError;
use super::focus;
use super::keys::ObjectRef as ObjectKey;
use super::slim::{SlimList, SlimObject};
use super::trim::{self, Kept};
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

/// The label selector of a source's objects (its inventory ConfigMap excluded).
pub fn selector(source_id: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{SOURCE_LABEL}={source_id},!{INVENTORY_LABEL}")
}

/// Where [`fetch`] looked for a source's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListScope {
    /// Every namespace: one cluster-wide LIST per kind, so objects in namespaces that neither
    /// git nor the inventory name (a run killed mid-apply) are found too.
    #[default]
    AllNamespaces,
    /// The namespaces of git and the inventory only: RBAC does not allow cluster-wide LISTs
    /// (namespaced RBAC as in `deploy/`, which also keeps mlsync from writing anywhere else).
    KnownNamespaces,
}

/// Set once a cluster-wide LIST was refused, so the fallback is logged once per process.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Lists `kind` (in `namespace`, or in all namespaces) and decodes the items straight into
/// their slim form (see [`super::slim`]): the full objects never exist in memory at once.
pub async fn list_slim(
    client: &Client,
    kind: Kind,
    hpa: HpaVersion,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<Vec<SlimObject>, kube::Error> {
    let path = DynamicObject::url_path(&cluster::api_resource(kind, hpa), namespace);
    let req = Request::new(path)
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    Ok(client.request::<SlimList>(req).await?.items)
}

/// Reads `kind` `namespace/name` in its slim form; `None` when it does not exist.
async fn get_slim(
    client: &Client,
    kind: Kind,
    hpa: HpaVersion,
    namespace: &str,
    name: &str,
) -> Result<Option<SlimObject>, kube::Error> {
    let path = DynamicObject::url_path(&cluster::api_resource(kind, hpa), Some(namespace));
    let req = Request::new(path)
        .get(name, &GetParams::default())
        .map_err(kube::Error::BuildRequest)?;
    match client.request::<SlimObject>(req).await {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where [`fetch`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Where<'a> {
    /// The namespaces of git and the inventory (listed when RBAC forbids cluster-wide LISTs).
    pub namespaces: &'a BTreeSet<String>,
    /// Namespaces that do not exist: nothing is read there.
    pub absent: &'a BTreeSet<String>,
    /// A [focused](super::focus) run: only these services' objects (names by namespace) are
    /// listed, per namespace, and nothing across all namespaces.
    pub services: Option<&'a BTreeMap<String, BTreeSet<String>>>,
}

/// Lists mlsync's objects of `source_id`: per kind across all namespaces, or, where RBAC
/// forbids that (remembered in `all_forbidden` so it is not asked again), in
/// [`Where::namespaces`]; in a focused run only the focused services' objects, per namespace.
/// Then fetches by name each desired object that the lists did not return (to find foreign
/// objects with our names), except in namespaces that do not exist ([`Where::absent`]): nothing
/// can be there, so nothing is read there. Objects that compare unchanged with their `desired`
/// body are [cut down](super::trim) as they are decoded and named in [`Fetched::unchanged`].
pub async fn fetch(
    client: &Client,
    hpa: HpaVersion,
    source_id: &str,
    at: Where<'_>,
    desired: &BTreeMap<ObjectKey, &Value>,
    all_forbidden: &AtomicBool,
) -> Result<Fetched, ReconcileError> {
    let absent = at.absent;
    let keep = |key: &ObjectKey, value: Value| match desired.get(key) {
        Some(d) => trim::keep(d, value, source_id),
        None => Kept::Whole(value),
    };
    let params = ListParams::default().labels(&selector(source_id));
    let params = &params;
    let mut live = Fetched::default();
    let mut per_namespace: Vec<Kind> = Vec::new();
    for kind in Kind::ALL {
        if at.services.is_some() {
            continue;
        }
        if all_forbidden.load(Ordering::Relaxed) {
            per_namespace.push(kind);
            continue;
        }
        match list_slim(client, kind, hpa, None, params).await {
            Ok(items) => {
                for item in items {
                    let key = ObjectKey::new(kind, &item.namespace(), &item.name());
                    let kept = keep(&key, item.into_value(kind, hpa));
                    live.insert(key, kept);
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
    let source_selector = selector(source_id);
    let (scope, lists): (ListScope, Vec<(Kind, String, ListParams)>) = match at.services {
        Some(services) => (
            ListScope::KnownNamespaces,
            services
                .iter()
                .filter(|(ns, _)| !absent.contains(*ns))
                .flat_map(|(ns, names)| {
                    let params =
                        ListParams::default().labels(&focus::selector(&source_selector, names));
                    Kind::ALL.map(|k| (k, ns.clone(), params.clone()))
                })
                .collect(),
        ),
        None => (
            if per_namespace.is_empty() {
                ListScope::AllNamespaces
            } else {
                ListScope::KnownNamespaces
            },
            at.namespaces
                .iter()
                .filter(|ns| !absent.contains(*ns))
                .flat_map(|ns| {
                    per_namespace
                        .iter()
                        .map(move |k| (*k, ns.clone(), params.clone()))
                })
                .collect(),
        ),
    };
    let listed: Vec<Vec<(ObjectKey, Kept)>> = stream::iter(lists)
        .map(|(kind, ns, params)| {
            let keep = &keep;
            async move {
                let items = list_slim(client, kind, hpa, Some(&ns), &params)
                    .await
                    .map_err(read_err(format!("list {kind}s in namespace {ns}")))?;
                Ok::<_, ReconcileError>(
                    items
                        .into_iter()
                        .map(|item| {
                            let key = ObjectKey::new(kind, &ns, &item.name());
                            let kept = keep(&key, item.into_value(kind, hpa));
                            (key, kept)
                        })
                        .collect(),
                )
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (key, kept) in listed.into_iter().flatten() {
        live.insert(key, kept);
    }

    let missing: Vec<ObjectKey> = desired
        .keys()
        .filter(|k| !live.objects.contains_key(*k) && !absent.contains(&k.namespace))
        .cloned()
        .collect();
    let found: Vec<Option<(ObjectKey, Kept)>> = stream::iter(missing)
        .map(|key| async move {
            let keep = &keep;
            let got = get_slim(client, key.kind, hpa, &key.namespace, &key.name)
                .await
                .map_err(read_err(format!("get {key}")))?;
            Ok::<_, ReconcileError>(got.map(|o| {
                let kept = keep(&key, o.into_value(key.kind, hpa));
                (key, kept)
            }))
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (key, kept) in found.into_iter().flatten() {
        live.insert(key, kept);
    }
    live.scope = scope;
    Ok(live)
}

/// What [`fetch`] read (no `Debug`: it holds live Secrets).
#[derive(Default)]
pub struct Fetched {
    /// Every live object of the source (and every desired name taken by another owner), slim,
    /// cut down where it compares unchanged.
    pub objects: BTreeMap<ObjectKey, Value>,
    /// The objects that are ours and compare unchanged with their desired body.
    pub unchanged: BTreeSet<ObjectKey>,
    /// Where the objects were looked for.
    pub scope: ListScope,
}

impl Fetched {
    fn insert(&mut self, key: ObjectKey, kept: Kept) {
        let value = match kept {
            Kept::Unchanged(v) => {
                self.unchanged.insert(key.clone());
                v
            }
            Kept::Whole(v) => v,
        };
        self.objects.insert(key, value);
    }
}

/// Which of `namespaces` exist.
pub async fn existing_namespaces(
    client: &Client,
    namespaces: &BTreeSet<String>,
) -> Result<BTreeSet<String>, ReconcileError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let found: Vec<Option<String>> = stream::iter(namespaces)
        .map(|ns| {
            let api = api.clone();
            async move {
                let got = api
                    .get_opt(ns)
                    .await
                    .map_err(read_err(format!("get namespace {ns}")))?;
                Ok::<_, ReconcileError>(got.map(|_| ns.clone()))
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
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
