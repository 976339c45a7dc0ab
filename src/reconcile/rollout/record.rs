//! Writing a rollout's state to the stable Deployment (server-side apply of one annotation,
//! with its own field manager, so applying the Deployment never removes it and an apply
//! without it removes it).

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::state::{FIELD_MANAGER, STATE_ANNOTATION, State};

/// Keeps `state` on Deployment `namespace`/`name` (`None` removes it).
pub async fn write_state(
    client: &Client,
    namespace: &str,
    name: &str,
    state: Option<&State>,
) -> Result<(), kube::Error> {
    let mut metadata = json!({"name": name, "namespace": namespace});
    if let Some(s) = state {
        metadata["annotations"] = json!({ STATE_ANNOTATION: s.to_annotation() });
    }
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata});
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}
