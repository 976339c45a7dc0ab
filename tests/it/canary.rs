//! Canary rollouts by the daemon, end to end: the real control plane (the test plays the
//! kubelet: it marks the canary's pods ready), a real Prometheus scraping a fake model server
//! whose error rate the test sets per track, and `mlsync run` in path mode with the shortest
//! setup (no mlsync.yaml).
//!
//! - A config-only change goes through the canary: the canary's pods read the new ConfigMap,
//!   the stable ones keep reading the old one; the daemon killed with SIGKILL after step 1
//!   continues at step 2 when it starts again; promotion moves the stable Deployment to the new
//!   ConfigMap and deletes the canary and the old ConfigMap.
//! - A bad version (error rate above its bound) is aborted at step 1: the stable version is
//!   untouched, the service is degraded with the cause, a Warning Event says why, and the
//!   revision stays quarantined across a restart until git changes the service again; a new
//!   commit during a rollout supersedes it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

use crate::daemon_support::{Daemon, POLL, POLLS};
use crate::support;
use mlsync::reconcile::rollout::prometheus::{Prometheus, Sample};
use support::cluster::cluster;
use support::pods::make_deployment_ready;
use support::prometheus::{MetricsTarget, PrometheusServer, Traffic};

const SERVICE: &str = "iris";

const HEALTHY: Traffic = Traffic {
    rps: 20.0,
    error_ratio: 0.0,
    latency: 0.02,
};

/// Two steps at 50% of 2 s each.
const TWO_STEPS: &str = "      - {weight: 50, pause: 2s}\n      - {weight: 50, pause: 2s}\n";

/// The service with `replicas: 2`, canary `steps` and an error-rate check against
/// `prometheus` every second; 2 checks in a row without data stop the rollout.
fn spec(ns: &str, version: &str, threshold: &str, prometheus: &str, steps: &str) -> String {
    format!(
        r#"apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: {SERVICE}
  namespace: {ns}
spec:
  model: {{name: iris, version: {version}}}
  image: registry.invalid/iris:1
  replicas: 2
  config: {{THRESHOLD: "{threshold}"}}
  secrets: {{file: secrets/iris.enc.yaml}}
  rollout:
    strategy: canary
    steps:
{steps}    analysis:
      interval: 1s
      inconclusiveLimit: 2
      prometheus: {{address: "{prometheus}"}}
      metrics:
        - name: error-rate
          query: sum(rate(http_requests_total{{service="{{{{service}}}}",namespace="{{{{namespace}}}}",track="{{{{track}}}}",code=~"5.."}}[10s])) / sum(rate(http_requests_total{{service="{{{{service}}}}",namespace="{{{{namespace}}}}",track="{{{{track}}}}"}}[10s]))
          max: 0.05
"#
    )
}

/// Polls `check` until it is true; gives up with the daemon's log.
macro_rules! wait_until {
    ($d:expr, $what:expr, $check:expr) => {
        wait_until!($d, $what, $check, "")
    };
    ($d:expr, $what:expr, $check:expr, $state:expr) => {{
        let mut done = false;
        for _ in 0..POLLS {
            if $check {
                done = true;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        if !done {
            $d.give_up(&format!("{} (state {:?})", $what, $state));
        }
    }};
}

struct Setup {
    ns: String,
    steps: &'static str,
    tmp: tempfile::TempDir,
    target: MetricsTarget,
    prometheus: PrometheusServer,
    deployments: Api<Deployment>,
    configmaps: Api<ConfigMap>,
}

impl Setup {
    async fn new(prefix: &str) -> Self {
        let ns = cluster().namespace(prefix).await;
        let tmp = tempfile::tempdir().unwrap();
        // The directory's name is the source id (no mlsync.yaml): one per test, as tests share
        // the control plane.
        std::fs::create_dir_all(tmp.path().join(&ns).join("secrets")).unwrap();
        std::fs::copy(
            support::repo::root().join("example-repo/secrets/iris-classifier.enc.yaml"),
            tmp.path().join(&ns).join("secrets/iris.enc.yaml"),
        )
        .unwrap();
        let target = MetricsTarget::start(SERVICE, &ns);
        target.set("stable", HEALTHY);
        target.set("canary", HEALTHY);
        let prometheus = PrometheusServer::start(&[target.addr()]);
        // Rates need two scrapes: until then every check would be "no data".
        let api = Prometheus::new(&prometheus.address()).unwrap();
        let query =
            format!("sum(rate(http_requests_total{{namespace=\"{ns}\",track=\"canary\"}}[10s]))");
        for _ in 0..POLLS {
            if matches!(api.query(&query).await, Ok(Sample::Value(v)) if v > 0.0) {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let client = cluster().client().await;
        Self {
            steps: TWO_STEPS,
            deployments: Api::namespaced(client.clone(), &ns),
            configmaps: Api::namespaced(client, &ns),
            ns,
            tmp,
            target,
            prometheus,
        }
    }

    fn commit(&self, version: &str, threshold: &str) {
        let text = spec(
            &self.ns,
            version,
            threshold,
            &self.prometheus.address(),
            self.steps,
        );
        std::fs::write(self.tmp.path().join(&self.ns).join("iris.yaml"), text).unwrap();
    }

    fn daemon(&self) -> Daemon {
        let repo = self.tmp.path().join(&self.ns);
        let args = ["--repo", repo.to_str().unwrap(), "--interval", "1h"];
        let key = support::repo::demo_key();
        Daemon::start(
            self.tmp.path(),
            cluster().kubeconfig_path(),
            &args,
            &[("SOPS_AGE_KEY", key.as_str())],
        )
    }

    async fn deployment(&self, name: &str) -> Option<Value> {
        let d = self.deployments.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(d).unwrap())
    }

    /// The rollout state kept on the stable Deployment.
    async fn state(&self) -> Option<Value> {
        let d = self.deployment(SERVICE).await?;
        let text = d["metadata"]["annotations"]["mlsync.dev/rollout"].as_str()?;
        Some(serde_json::from_str(text).unwrap())
    }

    /// The ConfigMap a Deployment's pods read, and its THRESHOLD.
    async fn reads(&self, deployment: &str) -> (String, String) {
        let d = self.deployment(deployment).await.unwrap();
        let name =
            d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
        let cm = self.configmaps.get(&name).await.unwrap();
        let threshold = cm.data.unwrap()["THRESHOLD"].clone();
        (name, threshold)
    }

    /// Plays the kubelet for the canary until all its pods of the current template are ready
    /// (a template change scales its ReplicaSets up and down in turns).
    async fn canary_ready(&self, d: &Daemon) {
        self.pods_ready(d, "iris-canary").await;
    }

    /// Plays the kubelet for Deployment `name` until all its pods of the current template are
    /// ready.
    async fn pods_ready(&self, d: &Daemon, name: &str) {
        let done = |c: &Value| {
            let want = &c["spec"]["replicas"];
            c["status"]["observedGeneration"] == c["metadata"]["generation"]
                && &c["status"]["updatedReplicas"] == want
                && &c["status"]["readyReplicas"] == want
                && c["status"]["replicas"] == *want
        };
        let client = cluster().client().await;
        wait_until!(d, &format!("the pods of {name} ready"), {
            match self.deployment(name).await {
                Some(c) if done(&c) => true,
                Some(_) => {
                    make_deployment_ready(&client, &self.ns, name).await;
                    false
                }
                None => false,
            }
        });
    }

    async fn events(&self, reason: &str) -> Vec<Value> {
        let out = cluster()
            .kubectl()
            .args(["get", "events", "-n", &self.ns, "--field-selector"])
            .arg("reportingComponent=mlsync")
            .args(["-o", "json"])
            .output()
            .unwrap();
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == reason)
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn a_config_change_is_canaried_survives_a_kill_and_is_promoted() {
    let s = Setup::new("canary-ok").await;
    s.commit("v1", "0.5");
    let mut d = s.daemon();
    d.wait_ready().await;
    let (stable_cm, _) = s.reads(SERVICE).await;
    assert!(stable_cm.starts_with("iris-config-"), "{stable_cm}");
    assert!(
        s.deployment("iris-canary").await.is_none(),
        "a first deploy has no canary"
    );

    // Only config changes: the canary runs it, the stable pods keep the old values.
    s.commit("v1", "0.7");
    wait_until!(
        d,
        "the canary Deployment",
        s.deployment("iris-canary").await.is_some()
    );
    let (canary_cm, canary_threshold) = s.reads("iris-canary").await;
    let (still, stable_threshold) = s.reads(SERVICE).await;
    assert_eq!(
        (still.as_str(), stable_threshold.as_str()),
        (stable_cm.as_str(), "0.5")
    );
    assert_ne!(canary_cm, stable_cm);
    assert_eq!(canary_threshold, "0.7");
    let canary = s.deployment("iris-canary").await.unwrap();
    assert_eq!(canary["spec"]["replicas"], 2, "50% beside 2 stable pods");
    assert_eq!(
        canary["spec"]["template"]["metadata"]["labels"]["mlsync.dev/track"],
        "canary"
    );
    let state = s.state().await.unwrap();
    assert_eq!(
        (state["phase"].as_str(), state["step"].as_u64()),
        (Some("progressing"), Some(0))
    );

    // Step 1 passes once the canary's pods are ready and the error rate is checked.
    s.canary_ready(&d).await;
    wait_until!(
        d,
        "step 1 passed",
        s.state().await.is_some_and(|st| st["step"] == 1)
    );
    assert_eq!(s.events("RolloutStepPassed").await.len(), 1);

    // Killed mid-rollout: the next daemon continues at step 2, it does not start over.
    d.signal("KILL");
    d.wait_exit().await;
    let mut d = s.daemon();
    wait_until!(
        d,
        "promotion after the restart",
        s.deployment("iris-canary").await.is_none() && s.reads(SERVICE).await.1 == "0.7"
    );
    assert_eq!(s.events("RolloutStarted").await.len(), 1, "{}", d.log());
    assert_eq!(s.events("RolloutPromoted").await.len(), 1, "{}", d.log());
    let log = d.log();
    assert!(
        !log.contains("step 1/2"),
        "the restarted daemon went back to step 1:\n{log}"
    );
    assert!(
        s.state().await.is_none(),
        "the state is forgotten after promotion"
    );
    assert_eq!(s.reads(SERVICE).await.0, canary_cm);
    // The stable Deployment rolls to the new version; its old pods may still read the old
    // ConfigMap, which stays until they are replaced.
    let status = d.status().await;
    assert_eq!(status["services"][0]["state"], "progressing", "{status}");
    assert!(s.configmaps.get_opt(&stable_cm).await.unwrap().is_some());
    s.pods_ready(&d, SERVICE).await;
    wait_until!(
        d,
        "the old ConfigMap deleted",
        s.configmaps.get_opt(&stable_cm).await.unwrap().is_none()
    );
    wait_until!(
        d,
        "the service synced",
        d.status().await["services"][0]["state"] == "synced"
    );
    let status = d.status().await;
    // The Secret rolled with the version too; no value of it shows anywhere.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster().client().await, &s.ns);
    let names: Vec<String> = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|x| x.metadata.name)
        .filter(|n| n.starts_with("iris-secrets-"))
        .collect();
    assert_eq!(
        names.len(),
        1,
        "the old version's Secret is deleted: {names:?}"
    );
    let events = cluster()
        .kubectl()
        .args(["get", "events", "-n", &s.ns, "-o", "json"])
        .output()
        .unwrap();
    let shown = format!(
        "{}\n{}\n{status}\n{}\n{}",
        // The example's DB_USER is `admin`, also the name of a log field.
        d.log().replace(" admin=", " "),
        String::from_utf8_lossy(&events.stdout),
        s.deployment(SERVICE).await.unwrap()["metadata"],
        rollout(&s, "status"),
    );
    for secret in crate::events::plaintexts_of(&["iris-classifier.enc.yaml"]) {
        let at = shown
            .find(&secret)
            .map(|i| &shown[i.saturating_sub(60)..(i + secret.len() + 20).min(shown.len())]);
        assert!(at.is_none(), "a secret value shows: {secret:?} in {at:?}");
    }
    assert!(s.prometheus.port() > 0 && s.target.scrapes() > 0);
}

#[tokio::test]
async fn a_bad_version_is_aborted_quarantined_and_a_new_commit_supersedes_a_rollout() {
    let s = Setup::new("canary-bad").await;
    s.commit("v1", "0.5");
    let mut d = s.daemon();
    d.wait_ready().await;
    let stable_before = s.deployment(SERVICE).await.unwrap()["spec"]["template"].clone();

    // v2 answers half its requests with 500.
    s.target.set(
        "canary",
        Traffic {
            error_ratio: 0.5,
            ..HEALTHY
        },
    );
    s.commit("v2", "0.5");
    wait_until!(
        d,
        "the canary Deployment",
        s.deployment("iris-canary").await.is_some()
    );
    s.canary_ready(&d).await;
    wait_until!(
        d,
        "the abort",
        s.state().await.is_some_and(|st| st["phase"] == "aborted")
    );
    wait_until!(
        d,
        "the canary deleted",
        s.deployment("iris-canary").await.is_none()
    );
    let state = s.state().await.unwrap();
    assert_eq!(state["step"], 0, "aborted at step 1: {state}");
    assert_eq!(state["cause"]["reason"], "metricFailed", "{state}");
    assert_eq!(
        s.deployment(SERVICE).await.unwrap()["spec"]["template"],
        stable_before,
        "the stable version is untouched"
    );
    let aborted = s.events("RolloutAborted").await;
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0]["type"], "Warning");
    let note = aborted[0]["note"]
        .as_str()
        .or(aborted[0]["message"].as_str())
        .unwrap();
    // The 10 s window still holds some of the canary's healthy requests from before.
    assert!(
        note.contains("aborted at step 1/2: error-rate 0."),
        "{note}"
    );
    assert!(
        note.contains(" > 0.05; the stable version keeps serving"),
        "{note}"
    );
    wait_until!(d, "the status to say degraded", {
        let st = d.status().await;
        st["services"][0]["state"] == "degraded"
    });
    let st = d.status().await;
    let service = &st["services"][0];
    assert_eq!(service["lastCause"], "rolloutAborted", "{st}");
    assert!(
        service["lastError"]
            .as_str()
            .unwrap()
            .contains("canary aborted at step 1/2: error-rate 0."),
        "{st}"
    );

    assert_eq!(d.metric("mlsync_rollouts{phase=\"aborted\"}").await, 1.0);
    assert_eq!(
        d.metric("mlsync_rollouts{phase=\"progressing\"}").await,
        0.0
    );
    assert!(
        d.metric("mlsync_rollout_checks_total{verdict=\"fail\"}")
            .await
            >= 1.0
    );
    assert_eq!(
        d.metric("mlsync_rollout_events_total{reason=\"RolloutAborted\"}")
            .await,
        1.0
    );

    // Quarantined: a new daemon (a whole reconcile) does not try v2 again.
    d.signal("TERM");
    d.wait_exit().await;
    let mut d = s.daemon();
    d.wait_ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(s.deployment("iris-canary").await.is_none(), "{}", d.log());
    assert_eq!(s.events("RolloutStarted").await.len(), 1, "{}", d.log());

    // Git changes the service: v3 rolls out; v4 committed during it supersedes it. (The
    // fake server's canary series is one across versions: let its errors leave the window.)
    s.target.set("canary", HEALTHY);
    let api = Prometheus::new(&s.prometheus.address()).unwrap();
    let errors = format!(
        "sum(rate(http_requests_total{{namespace=\"{}\",track=\"canary\",code=\"500\"}}[10s]))",
        s.ns
    );
    wait_until!(
        d,
        "the canary's errors to leave the window",
        matches!(api.query(&errors).await, Ok(Sample::Value(v)) if v == 0.0)
    );
    s.commit("v3", "0.5");
    wait_until!(
        d,
        "the rollout of v3",
        s.state()
            .await
            .is_some_and(|st| st["phase"] == "progressing")
    );
    let v3 = s.state().await.unwrap()["revision"].clone();
    s.commit("v4", "0.5");
    wait_until!(
        d,
        "the rollout of v4",
        s.state().await.is_some_and(|st| st["revision"] != v3)
    );
    assert_eq!(s.events("RolloutSuperseded").await.len(), 1, "{}", d.log());
    let canary = s.deployment("iris-canary").await.unwrap();
    let env = canary["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("v4"), "{env}");
    s.canary_ready(&d).await;
    wait_until!(
        d,
        "v4 promoted",
        s.deployment("iris-canary").await.is_none()
            && s.deployment(SERVICE).await.unwrap()["spec"]["template"]
                .to_string()
                .contains("v4"),
        (
            s.state().await,
            s.deployment("iris-canary")
                .await
                .map(|c| c["status"].clone())
        )
    );

    // v5's containers restart (a crash loop, say): a built-in check aborts it, metrics aside.
    s.commit("v5", "0.5");
    s.canary_ready(&d).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(cluster().client().await, &s.ns);
    let canary_pods = pods
        .list(&kube::api::ListParams::default().labels("mlsync.dev/track=canary"))
        .await
        .unwrap();
    let pod = &canary_pods.items[0];
    let name = pod.metadata.name.clone().unwrap();
    let container = &pod.spec.as_ref().unwrap().containers[0].name;
    let crashed = serde_json::json!({"status": {"containerStatuses": [
        {"name": container, "restartCount": 3}
    ]}});
    pods.patch_status(
        &name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Strategic(crashed),
    )
    .await
    .unwrap();
    wait_until!(
        d,
        "the abort of v5 for restarts",
        s.state()
            .await
            .is_some_and(|st| st["cause"]["reason"] == "canaryRestarted"),
        s.state().await
    );
    assert!(
        s.deployment(SERVICE).await.unwrap()["spec"]["template"]
            .to_string()
            .contains("v4"),
        "v4 keeps serving"
    );
}

/// `mlsync rollout ACTION iris -n NS`, as an operator runs it.
fn rollout(s: &Setup, action: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["rollout", action, SERVICE, "-n", &s.ns, "--kubeconfig"])
        .arg(cluster().kubeconfig_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mlsync rollout {action}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn no_data_holds_a_rollout_and_operators_pause_resume_promote_and_abort() {
    let mut s = Setup::new("canary-ops").await;
    s.steps = "      - {weight: 50, pause: 1s}\n      - {pause: {}}\n";
    s.commit("v1", "0.5");
    let mut d = s.daemon();
    d.wait_ready().await;

    // No canary traffic: its error rate is 0/0, no data. Two such checks stop the rollout.
    s.target.stop_traffic("canary");
    let api = Prometheus::new(&s.prometheus.address()).unwrap();
    let requests = format!(
        "sum(rate(http_requests_total{{namespace=\"{}\",track=\"canary\"}}[10s]))",
        s.ns
    );
    wait_until!(
        d,
        "the canary's requests to leave the window",
        matches!(api.query(&requests).await, Ok(Sample::Value(v)) if v == 0.0)
    );
    s.commit("v2", "0.5");
    s.canary_ready(&d).await;
    wait_until!(
        d,
        "the rollout to stop for lack of data",
        s.state()
            .await
            .is_some_and(|st| st["phase"] == "inconclusive"),
        s.state().await
    );
    let held = s.events("RolloutInconclusive").await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["type"], "Warning");
    assert!(
        s.deployment("iris-canary").await.is_some(),
        "the canary stays"
    );
    let status = rollout(&s, "status");
    assert!(status.contains("inconclusive"), "{status}");
    // An operator decides: promote.
    let said = rollout(&s, "promote");
    assert!(said.contains("recorded promote"), "{said}");
    wait_until!(
        d,
        "the promotion asked for",
        s.deployment("iris-canary").await.is_none()
            && s.deployment(SERVICE).await.unwrap()["spec"]["template"]
                .to_string()
                .contains("v2")
    );

    // With traffic, v3 passes step 1 and waits at the `pause: {}` gate; resume promotes it.
    s.target.set("canary", HEALTHY);
    s.commit("v3", "0.5");
    s.canary_ready(&d).await;
    wait_until!(
        d,
        "the gate",
        s.state().await.is_some_and(|st| st["phase"] == "paused"),
        s.state().await
    );
    rollout(&s, "resume");
    wait_until!(
        d,
        "the promotion after resume",
        s.deployment("iris-canary").await.is_none()
            && s.deployment(SERVICE).await.unwrap()["spec"]["template"]
                .to_string()
                .contains("v3")
    );

    // v4: paused by an operator at step 1, then aborted.
    s.commit("v4", "0.5");
    wait_until!(
        d,
        "the canary of v4",
        s.deployment("iris-canary").await.is_some()
    );
    wait_until!(
        d,
        "the state of v4's rollout",
        s.state()
            .await
            .is_some_and(|st| st["phase"] == "progressing")
    );
    rollout(&s, "pause");
    wait_until!(
        d,
        "the pause asked for",
        s.state().await.is_some_and(|st| st["phase"] == "paused"),
        s.state().await
    );
    rollout(&s, "abort");
    wait_until!(
        d,
        "the abort asked for",
        s.state().await.is_some_and(|st| st["phase"] == "aborted")
            && s.deployment("iris-canary").await.is_none()
    );
    assert_eq!(s.state().await.unwrap()["cause"]["reason"], "operatorAbort");
    assert!(
        s.deployment(SERVICE).await.unwrap()["spec"]["template"]
            .to_string()
            .contains("v3"),
        "v3 keeps serving"
    );
}

/// Without a daemon: each `mlsync apply` (a cron job, say) moves a rollout by one decision,
/// from the state kept in the cluster. No analysis: steps pass on readiness and time.
#[tokio::test]
async fn each_one_shot_apply_moves_a_rollout_one_decision() {
    let repo = support::repo::ConfigRepo::new("canary-apply").await;
    let spec = |version: &str| {
        format!(
            "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata: {{name: {SERVICE}}}\nspec:\n  model: {{name: iris, version: {version}}}\n  image: registry.invalid/iris:1\n  replicas: 1\n  rollout:\n    strategy: canary\n    steps: [{{weight: 50, pause: 1s}}]\n"
        )
    };
    let deployments: Api<Deployment> = repo.api().await;
    let template = |d: &Deployment| serde_json::to_string(&d.spec.template).unwrap();
    repo.write("iris.yaml", &spec("v1"));
    repo.apply_ok(&[]);
    assert!(deployments.get_opt("iris-canary").await.unwrap().is_none());

    repo.write("iris.yaml", &spec("v2"));
    let out = repo.apply_ok(&[]);
    assert!(out.contains("rollout"), "{out}");
    let canary = deployments.get("iris-canary").await.unwrap();
    assert!(template(&canary).contains("v2"));
    assert!(template(&deployments.get(SERVICE).await.unwrap()).contains("v1"));

    // The canary's pods become ready; the step's second passes; the next apply promotes.
    let client = cluster().client().await;
    for _ in 0..POLLS {
        let c = deployments.get("iris-canary").await.unwrap();
        if c.status.as_ref().and_then(|s| s.ready_replicas) == Some(1) {
            break;
        }
        make_deployment_ready(&client, &repo.ns, "iris-canary").await;
        tokio::time::sleep(POLL).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    repo.apply_ok(&[]);
    assert!(deployments.get_opt("iris-canary").await.unwrap().is_none());
    assert!(template(&deployments.get(SERVICE).await.unwrap()).contains("v2"));

    // v3's canary starts; then the service drops the canary strategy: v3 is applied plainly,
    // the canary goes, and so does the rollout state.
    repo.write("iris.yaml", &spec("v3"));
    repo.apply_ok(&[]);
    assert!(deployments.get_opt("iris-canary").await.unwrap().is_some());
    let plain = spec("v3");
    let plain = &plain[..plain.find("  rollout:").unwrap()];
    repo.write("iris.yaml", plain);
    repo.apply_ok(&[]);
    assert!(deployments.get_opt("iris-canary").await.unwrap().is_none());
    let stable = deployments.get(SERVICE).await.unwrap();
    assert!(template(&stable).contains("v3"));
    assert!(
        !stable
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("mlsync.dev/rollout"),
        "the rollout state is forgotten"
    );
}
