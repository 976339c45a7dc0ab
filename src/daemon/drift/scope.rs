//! One scope of the drift watch: a kube runtime watcher of one kind in one namespace, selected
//! by the source's labels, whose events are forwarded to the drift worker.

use futures::StreamExt;
use kube::Client;
use kube::api::DynamicObject;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::cluster;
use crate::reconcile::live;
use crate::render::{HpaVersion, Kind};

/// One (kind, namespace) watched.
pub type Scope = (Kind, String);

/// What a scope's watcher saw (no `Debug`: objects may be Secrets).
pub enum Seen {
    /// The watch (re)starts listing.
    Init,
    /// An object, during the listing (`listing`) or after it.
    Object {
        /// Its name.
        name: String,
        /// The object as the comparison reads it.
        live: Value,
        /// Whether it came with a listing (`Init` … `InitDone`).
        listing: bool,
    },
    /// An object was deleted.
    Deleted(String),
    /// The listing is complete.
    InitDone,
    /// The watch broke; the runtime reconnects (and re-lists when it must).
    Error,
}

/// Watches one scope and forwards what it sees; kube's runtime reconnects with backoff.
pub async fn watch_scope(
    client: Client,
    hpa: HpaVersion,
    scope: Scope,
    source_id: String,
    tx: mpsc::Sender<(Scope, Seen)>,
) {
    let (kind, namespace) = &scope;
    let api = cluster::api(&client, *kind, hpa, namespace);
    let config = watcher::Config::default().labels(&live::selector(&source_id));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut errors: u32 = 0;
    while let Some(item) = stream.next().await {
        let seen = match item {
            Ok(Event::Init) => Seen::Init,
            Ok(Event::InitApply(o)) => object(o, *kind, hpa, true),
            Ok(Event::Apply(o)) => object(o, *kind, hpa, false),
            Ok(Event::Delete(o)) => Seen::Deleted(o.metadata.name.unwrap_or_default()),
            Ok(Event::InitDone) => {
                if errors > 0 {
                    info!(kind = %kind, namespace = %namespace, "drift watch is back");
                    errors = 0;
                }
                Seen::InitDone
            }
            Err(e) => {
                // The runtime retries with backoff; say so once per outage.
                if errors == 0 {
                    warn!(kind = %kind, namespace = %namespace, error = %e, "drift watch interrupted; retrying (drift is still found at the next poll)");
                } else {
                    debug!(kind = %kind, namespace = %namespace, error = %e, "drift watch still interrupted");
                }
                errors = errors.saturating_add(1);
                Seen::Error
            }
        };
        if tx.send((scope.clone(), seen)).await.is_err() {
            return;
        }
    }
}

/// A watched object as the comparison reads it: JSON with `apiVersion` and `kind` set (list
/// items come without them).
fn object(o: DynamicObject, kind: Kind, hpa: HpaVersion, listing: bool) -> Seen {
    let name = o.metadata.name.clone().unwrap_or_default();
    let mut live = serde_json::to_value(&o).unwrap_or(Value::Null);
    if let Some(m) = live.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            cluster::api_resource(kind, hpa).api_version.into(),
        );
        m.insert("kind".into(), kind.as_str().into());
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    Seen::Object {
        name,
        live,
        listing,
    }
}
