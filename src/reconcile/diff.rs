//! `mlsync diff`: live objects against the server-side dry-run of mlsync's apply, as unified
//! diffs with server noise removed and Secret values masked.

use kube::api::{Patch, PatchParams};
use serde_json::Value;

use super::execute::FIELD_MANAGER;
use super::plan::Action;
use super::{Planned, ReconcileError, Reconciler, compare};
use crate::cluster;
use crate::render::Kind;
use crate::render::output::REDACTED;

/// Masks Secret values: `<redacted>` where unchanged, `<redacted, changed>` where the value
/// differs from `other` (so a diff shows *that* a key changed, never the value).
fn mask_secret(obj: &mut Value, other: Option<&Value>) {
    let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) else {
        return;
    };
    for (k, v) in data.iter_mut() {
        let same = other.and_then(|o| o.pointer(&format!("/data/{k}"))) == Some(v);
        *v = Value::String(if same || other.is_none() {
            REDACTED.to_owned()
        } else {
            format!("{REDACTED}, changed")
        });
    }
}

fn yaml(v: &Value) -> String {
    crate::render::yaml::to_string(v)
}

/// One unified diff per object that would change; empty when nothing would.
pub async fn diff(r: &Reconciler, planned: &Planned) -> Result<Vec<String>, ReconcileError> {
    let mut out = Vec::new();
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    for svc in planned.plan.services.iter().filter(|s| s.error.is_none()) {
        for o in &svc.objects {
            if !o.writes() {
                continue;
            }
            let Some(desired) = &o.desired else { continue };
            let live = planned.live.get(&o.key());
            let api = cluster::api(r.client(), o.kind, r.hpa_version(), &o.namespace);
            // A namespace that apply would create does not exist yet, and an object to
            // re-create cannot be updated: show the desired object.
            let result = if matches!(o.action, Action::Recreate(_)) {
                desired.body.clone()
            } else {
                match api
                    .patch(&o.name, &params, &Patch::Apply(&desired.body))
                    .await
                {
                    Ok(obj) => serde_json::to_value(obj).map_err(ReconcileError::Decode)?,
                    Err(_) if planned.create_namespaces.contains(&o.namespace) => {
                        desired.body.clone()
                    }
                    Err(source) => {
                        return Err(ReconcileError::Read {
                            what: format!("dry-run apply {} {}/{}", o.kind, o.namespace, o.name),
                            cause: Box::new(source),
                        });
                    }
                }
            };
            let mut before = live.map(compare::clean);
            let mut after = compare::clean(&result);
            if o.kind == Kind::Secret {
                let raw_live = live.cloned();
                mask_secret(&mut after, raw_live.as_ref());
                if let Some(b) = before.as_mut() {
                    mask_secret(b, None);
                }
            }
            let a = before.as_ref().map(yaml).unwrap_or_default();
            let b = yaml(&after);
            if a == b {
                continue;
            }
            let name = format!("{}/{}/{}", o.kind, o.namespace, o.name);
            let text = similar::TextDiff::from_lines(&a, &b)
                .unified_diff()
                .context_radius(3)
                .header(&format!("live/{name}"), &format!("mlsync/{name}"))
                .to_string();
            out.push(text);
        }
    }
    for p in &planned.plan.prune {
        if let Some(l) = planned.live.get(&p.key()) {
            let mut before = compare::clean(l);
            if p.kind == Kind::Secret {
                mask_secret(&mut before, None);
            }
            let name = format!("{}/{}/{}", p.kind, p.namespace, p.name);
            let a = yaml(&before);
            out.push(
                similar::TextDiff::from_lines(a.as_str(), "")
                    .unified_diff()
                    .header(&format!("live/{name}"), "/dev/null (pruned)")
                    .to_string(),
            );
        }
    }
    Ok(out)
}
