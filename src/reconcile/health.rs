//! Rollout health after apply: Deployment progressing / available / failed, HPA conditions,
//! load balancer pending or assigned.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::ListParams;
use serde_json::Value;

use super::keys::ObjectRef;
use super::report::{HealthState, Outcome, Report};
use super::seen::HEALTH_KINDS;
use super::{focus, live};
use crate::render::{HpaVersion, Kind, MANAGED_BY, MANAGED_BY_LABEL};

/// A Deployment's rollout state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still rolling out (the text says how far).
    Progressing(String),
    /// All replicas updated and available.
    Available,
    /// The rollout failed (e.g. `ProgressDeadlineExceeded`).
    Failed(String),
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// Reads a live Deployment's rollout state (pure).
pub fn rollout(dep: &Value) -> Rollout {
    if let Some(c) = condition(dep, "Progressing")
        && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        let msg = c
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("progress deadline exceeded");
        return Rollout::Failed(format!("ProgressDeadlineExceeded: {msg}"));
    }
    if int(dep, "/status/observedGeneration") < int(dep, "/metadata/generation") {
        return Rollout::Progressing("waiting for the Deployment controller".into());
    }
    let want = dep
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(dep, "/status/updatedReplicas");
    let available = int(dep, "/status/availableReplicas");
    let total = int(dep, "/status/replicas");
    if updated >= want && available >= want && total <= want {
        Rollout::Available
    } else {
        Rollout::Progressing(format!(
            "{updated}/{want} updated, {available}/{want} available"
        ))
    }
}

/// HPA conditions whose `False` means the autoscaler cannot do its job. Others are false when
/// all is well: `ScalingLimited` (within min/max) and, since Kubernetes 1.37 (`HPAScaleToZero`
/// beta), `ScaledToZero` (`NotScaledToZero` on every HPA that did not scale its workload to 0).
const HPA_CONDITIONS_FALSE_IS_A_PROBLEM: [&str; 2] = ["AbleToScale", "ScalingActive"];

/// A one-line summary of the HPA conditions that say it cannot scale (pure).
pub fn hpa_problems(hpa: &Value) -> Option<String> {
    let problems: Vec<String> = hpa
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("False"))
        .filter(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| HPA_CONDITIONS_FALSE_IS_A_PROBLEM.contains(&t))
        })
        .map(|c| {
            format!(
                "{} {}",
                c.get("type").and_then(Value::as_str).unwrap_or("?"),
                c.get("reason").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    (!problems.is_empty()).then(|| format!("HPA: {}", problems.join(", ")))
}

/// For a LoadBalancer Service: "load balancer pending" or "load balancer 1.2.3.4" (pure).
pub fn load_balancer(svc: &Value) -> Option<String> {
    if svc.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
        return None;
    }
    let ingress = svc
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array);
    Some(match ingress.and_then(|i| i.first()) {
        Some(i) => format!(
            "load balancer {}",
            i.get("ip")
                .or_else(|| i.get("hostname"))
                .and_then(Value::as_str)
                .unwrap_or("assigned")
        ),
        None => "load balancer pending".into(),
    })
}

/// One list of objects by name, or why it could not be read.
type Listed = Result<Vec<(String, Value)>, String>;

/// How many health lists are in flight at once.
const READ_CONCURRENCY: usize = 8;

/// Lists `kind` in `ns` (objects mlsync manages for services `names`), by name; or why it could
/// not. One request per kind and namespace instead of one per object.
async fn list(
    client: &Client,
    kind: Kind,
    hpa: HpaVersion,
    ns: &str,
    names: &BTreeSet<String>,
) -> Listed {
    let selector = focus::selector(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"), names);
    let params = ListParams::default().labels(&selector);
    let items = live::list_slim(client, kind, hpa, Some(ns), &params)
        .await
        .map_err(|e| format!("failed to list {kind}s in namespace {ns}: {e}"))?;
    Ok(items
        .into_iter()
        .map(|o| (o.name(), o.into_value(kind, hpa)))
        .collect())
}

/// The services whose objects must be read again, by namespace: on the first pass those whose
/// Deployment, HPA or Service this run changed (or whose Deployment's state is not known),
/// later those still rolling out.
fn stale_services(
    report: &Report,
    pending: Option<&BTreeSet<(String, String)>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in report
        .services
        .iter()
        .filter(|s| s.error.is_none())
        .filter(|s| match pending {
            Some(p) => p.contains(&(s.namespace.clone(), s.name.clone())),
            None => {
                !report
                    .seen
                    .has_state(&ObjectRef::new(Kind::Deployment, &s.namespace, &s.name))
                    || s.objects.iter().any(|o| {
                        HEALTH_KINDS.contains(&o.kind) && !matches!(o.outcome, Outcome::Unchanged)
                    })
            }
        })
    {
        out.entry(s.namespace.clone())
            .or_default()
            .insert(s.name.clone());
    }
    out
}

/// Fills in each applied service's health; with `wait`, polls until every rollout is available
/// or failed, or the time is up (then the unfinished ones count as unhealthy).
///
/// What the run left unchanged is judged from the state its plan read ([`Report::seen`]);
/// namespaces where it changed a Deployment, HPA or Service are listed again (3 lists per
/// namespace, several at once), and so are, while waiting, those with rollouts in progress.
pub async fn check(client: &Client, hpa: HpaVersion, report: &mut Report, wait: Option<Duration>) {
    let deadline = wait.map(|w| Instant::now() + w);
    let mut pending_services: Option<BTreeSet<(String, String)>> = None;
    loop {
        let stale = stale_services(report, pending_services.as_ref());
        let lists: Vec<(Kind, &String)> = stale
            .keys()
            .flat_map(|ns| HEALTH_KINDS.iter().map(move |k| (*k, ns)))
            .collect();
        let read: Vec<(Kind, String, Listed)> = stream::iter(lists)
            .map(|(kind, ns)| {
                let names = &stale[ns];
                async move {
                    let got = list(client, kind, hpa, ns, names).await;
                    (kind, ns.clone(), got)
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut failed: BTreeMap<(Kind, String), String> = BTreeMap::new();
        for (kind, ns, got) in read {
            match got {
                Ok(objects) => report.seen.observe(kind, &ns, &stale[&ns], objects),
                Err(e) => {
                    failed.insert((kind, ns), e);
                }
            }
        }
        let seen = &report.seen;
        let get = |kind: Kind, ns: &str, name: &str| {
            if failed.contains_key(&(kind, ns.to_owned())) {
                return None;
            }
            seen.state(&ObjectRef::new(kind, ns, name))
        };
        let mut pending = BTreeSet::new();
        for s in report.services.iter_mut().filter(|s| s.error.is_none()) {
            let Some(dep) = get(Kind::Deployment, &s.namespace, &s.name) else {
                // Nothing is claimed about a rollout that could not be read.
                let why = match failed.get(&(Kind::Deployment, s.namespace.clone())) {
                    Some(e) => e.clone(),
                    None => format!("Deployment {}/{} not found", s.namespace, s.name),
                };
                s.health_state = HealthState::Unknown;
                s.health = Some(format!("unknown ({why})"));
                pending.insert((s.namespace.clone(), s.name.clone()));
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    s.unhealthy = true;
                    s.health = Some(format!(
                        "unknown ({why}; timed out waiting for the rollout)"
                    ));
                }
                continue;
            };
            let state = rollout(dep);
            s.health_state = match &state {
                Rollout::Available => HealthState::Available,
                Rollout::Progressing(_) => HealthState::Progressing,
                Rollout::Failed(_) => HealthState::Failed,
            };
            let mut parts = vec![match &state {
                Rollout::Available => "available".to_owned(),
                Rollout::Progressing(p) => format!("progressing ({p})"),
                Rollout::Failed(f) => format!("failed ({f})"),
            }];
            if let Some(h) =
                get(Kind::HorizontalPodAutoscaler, &s.namespace, &s.name).and_then(hpa_problems)
            {
                parts.push(h);
            }
            if let Some(lb) = get(Kind::Service, &s.namespace, &s.name).and_then(load_balancer) {
                parts.push(lb);
            }
            s.health = Some(parts.join("; "));
            s.unhealthy = matches!(state, Rollout::Failed(_));
            if let Rollout::Progressing(_) = state {
                pending.insert((s.namespace.clone(), s.name.clone()));
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    s.unhealthy = true;
                    s.health = Some(format!(
                        "{} (timed out waiting for the rollout)",
                        s.health.clone().unwrap_or_default()
                    ));
                }
            }
        }
        match deadline {
            Some(d) if !pending.is_empty() && Instant::now() < d => {
                pending_services = Some(pending);
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_states() {
        let dep = |status: Value| json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status});
        assert_eq!(
            rollout(&dep(json!({"observedGeneration": 1}))),
            Rollout::Progressing("waiting for the Deployment controller".into())
        );
        assert_eq!(
            rollout(&dep(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})
            )),
            Rollout::Available
        );
        assert_eq!(
            rollout(&dep(
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 1})
            )),
            Rollout::Progressing("2/2 updated, 1/2 available".into())
        );
        let failed = dep(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"x\" has timed out progressing."}]}));
        assert!(
            matches!(rollout(&failed), Rollout::Failed(m) if m.starts_with("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn load_balancer_and_hpa() {
        assert_eq!(
            load_balancer(&json!({"spec": {"type": "LoadBalancer"}})),
            Some("load balancer pending".into())
        );
        assert_eq!(
            load_balancer(
                &json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}})
            ),
            Some("load balancer 10.0.0.5".into())
        );
        assert_eq!(load_balancer(&json!({"spec": {"type": "ClusterIP"}})), None);
        let hpa = json!({"status": {"conditions": [{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"}]}});
        assert_eq!(
            hpa_problems(&hpa),
            Some("HPA: ScalingActive FailedGetResourceMetric".into())
        );
        // A healthy HPA as Kubernetes 1.37 reports it: nothing to say.
        let healthy = json!({"status": {"conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
            {"type": "ScaledToZero", "status": "False", "reason": "NotScaledToZero"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]}});
        assert_eq!(hpa_problems(&healthy), None);
    }
}
