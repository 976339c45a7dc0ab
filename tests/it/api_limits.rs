//! The limits `mlsync validate` checks (src/spec/limits.rs) are the API server's own: a spec at
//! each limit validates and applies to a real kube-apiserver, and the objects mlsync rendered
//! for it, pushed one step past the limit, are refused by that API server (dry-run creates).

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::Api;
use kube::api::PostParams;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::cluster;

/// The longest Service name (a DNS-1035 label).
const NAME_63: &str = "m23456789-123456789-123456789-123456789-123456789-123456789-123";
/// Bytes of ConfigMap or Secret values (keys do not count) the API server takes at most.
const MAX_DATA: usize = 1024 * 1024;

fn mlsync(repo: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg(cmd)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("MLSYNC_KUBECONFIG", cluster().kubeconfig_path())
        .env_remove("KUBECONFIG")
        .env("MLSYNC_LOG", "warn")
        .output()
        .unwrap()
}

/// A spec at every limit at once: the longest name, the longest config key, config data of
/// exactly 1 MiB, and a node-selector key with the longest prefix.
fn spec_at_the_limits() -> String {
    let key = "K".repeat(253);
    let fill = MAX_DATA - "v".len();
    let prefix = format!("{}.io", "p".repeat(250));
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: {NAME_63}\n\
         spec:\n  model: {{name: m, version: v1}}\n  image: example/m:1\n\
         \x20 config:\n    {key}: v\n    FILL: {}\n\
         \x20 nodeSelector:\n    {prefix}/gpu: \"true\"\n",
        "v".repeat(fill)
    )
}

/// Creates `obj` with `dryRun=All`; returns the HTTP status of the refusal, or 0 if accepted.
async fn dry_run<K>(api: &Api<K>, obj: Value) -> u16
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(obj).unwrap();
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api.create(&params, &obj).await {
        Ok(_) => 0,
        Err(kube::Error::Api(status)) => status.code,
        Err(e) => panic!("dry-run create failed without an API status: {e}"),
    }
}

/// The rendered object of `kind`, renamed (so it does not collide with the applied one) and
/// without what the server would not accept in a create.
fn object(rendered: &[Value], kind: &str, rename: &str) -> Value {
    let mut o = rendered
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
        .clone();
    o["metadata"]["name"] = rename.into();
    o
}

#[tokio::test]
async fn at_the_limits_mlsync_applies_and_one_step_past_them_the_api_server_refuses() {
    let ns = cluster().namespace("limits").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services")).unwrap();
    std::fs::write(
        dir.path().join("mlsync.yaml"),
        format!("defaultNamespace: {ns}\nsourceId: limits\npaths: [services]\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("services/m.yaml"), spec_at_the_limits()).unwrap();

    let out = mlsync(dir.path(), "validate", &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 valid service(s), 0 invalid, 0 error(s)\n"
    );
    let out = mlsync(dir.path(), "apply", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() != Some(2) && !stdout.contains("failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = cluster().client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = config_maps.get(&format!("{NAME_63}-config")).await.unwrap();
    assert!(cm.data.unwrap().contains_key(&"K".repeat(253)));
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.get(NAME_63).await.unwrap();

    let out = mlsync(dir.path(), "render", &["-o", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rendered = list["items"].as_array().unwrap().clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    const INVALID: u16 = 422;

    // ConfigMap key: 253 applied above, 254 refused.
    let mut cm = object(&rendered, "ConfigMap", "key-254");
    cm["data"][&"K".repeat(254)] = "v".into();
    assert_eq!(dry_run(&config_maps, cm).await, INVALID);
    // ConfigMap data: 1 MiB of values applied above, one byte more refused.
    let mut cm = object(&rendered, "ConfigMap", "data-1mib-plus-1");
    cm["data"]["X"] = "v".into();
    assert_eq!(dry_run(&config_maps, cm).await, INVALID);
    // Secret data: the same limit.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"},
        "stringData": {"A": "v".repeat(MAX_DATA)}});
    assert_eq!(dry_run(&secrets, secret.clone()).await, 0);
    let mut secret = secret;
    secret["stringData"]["B"] = "v".into();
    assert_eq!(dry_run(&secrets, secret).await, INVALID);
    // Service name: 63 applied above, 64 refused (and a DNS-1123 name starting with a digit).
    let svc = object(&rendered, "Service", &format!("{NAME_63}4"));
    assert_eq!(dry_run(&services, svc).await, INVALID);
    // A Service name starting with a digit: refused up to the releases before relaxed Service
    // name validation (RelaxedServiceNameValidation, on by default in the current release), which
    // accepts any DNS-1123 label. `validate` keeps the strict rule so that a valid spec applies on
    // every supported release.
    let svc = object(&rendered, "Service", "0abc");
    let minor = cluster().server_minor().await;
    let want = if minor >= 37 { 0 } else { INVALID };
    assert_eq!(dry_run(&services, svc).await, want, "server 1.{minor}");
    // Label key prefix: 253 applied above, 254 refused.
    let mut d = object(&rendered, "Deployment", "prefix-254");
    let prefix = format!("{}.io", "p".repeat(251));
    d["spec"]["template"]["spec"]["nodeSelector"] = json!({format!("{prefix}/gpu"): "true"});
    assert_eq!(dry_run(&deployments, d).await, INVALID);
    // Annotations: 256 KiB in total per object, counting keys.
    let budget = 256 * 1024;
    let mut cm = object(&rendered, "ConfigMap", "annotations");
    cm["data"] = json!({});
    let own: usize = cm["metadata"]["annotations"].as_object().map_or(0, |a| {
        a.iter()
            .map(|(k, v)| k.len() + v.as_str().unwrap_or("").len())
            .sum()
    });
    cm["metadata"]["annotations"]["a"] = "v".repeat(budget - own - 1).into();
    assert_eq!(dry_run(&config_maps, cm.clone()).await, 0);
    cm["metadata"]["annotations"]["a"] = "v".repeat(budget - own).into();
    assert_eq!(dry_run(&config_maps, cm).await, INVALID);
    // Tolerations and probes mlsync refuses in validate.
    let mut d = object(&rendered, "Deployment", "exists-with-value");
    d["spec"]["template"]["spec"]["tolerations"] =
        json!([{"key": "gpu", "operator": "Exists", "value": "yes"}]);
    assert_eq!(dry_run(&deployments, d).await, INVALID);
    let mut d = object(&rendered, "Deployment", "seconds-without-noexecute");
    d["spec"]["template"]["spec"]["tolerations"] =
        json!([{"key": "gpu", "effect": "NoSchedule", "tolerationSeconds": 60}]);
    assert_eq!(dry_run(&deployments, d).await, INVALID);
    let mut d = object(&rendered, "Deployment", "liveness-success-2");
    d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
        json!({"httpGet": {"path": "/", "port": 5000}, "successThreshold": 2});
    assert_eq!(dry_run(&deployments, d).await, INVALID);

    // And validate refuses the specs that would render those.
    let over = spec_at_the_limits().replace(&"K".repeat(253), &"K".repeat(254));
    std::fs::write(dir.path().join("services/m.yaml"), over).unwrap();
    let out = mlsync(dir.path(), "validate", &[]);
    assert_eq!(out.status.code(), Some(1));
    let over = spec_at_the_limits().replace(NAME_63, &format!("{NAME_63}4"));
    std::fs::write(dir.path().join("services/m.yaml"), over).unwrap();
    let out = mlsync(dir.path(), "validate", &[]);
    assert_eq!(out.status.code(), Some(1));
}
