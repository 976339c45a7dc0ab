//! Notifications from a running daemon (issue 15), end to end: `mlsync run --config` with the
//! shortest daemon config that sends anything (a `notifications:` list, no targets), a generic
//! HMAC receiver and a Slack one on 127.0.0.1, a service with SOPS secrets. Receivers get the
//! revision applied (signed), the next revision, and drift corrected; a receiver answering 500
//! gets the notice again; no request carries a secret value, plain or base64.

use crate::daemon_support;
use crate::receiver::WebhookReceiver;
use crate::support;

use std::os::unix::fs::PermissionsExt as _;

use daemon_support::{Daemon, POLL, POLLS};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::cluster::cluster;
use support::repo::root;

fn spec(version: &str) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: echo\nspec:\n  model: {{name: echo, version: {version}}}\n  image: registry.invalid/echo:1\n  port: 8080\n  replicas: 0\n  config:\n    MODEL_VERSION: {version}\n  secrets:\n    file: secrets/iris-classifier.enc.yaml\n"
    )
}

fn secret_file(dir: &std::path::Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Waits until `receiver` got a notice of `kind` whose body passes `also`; returns its body.
async fn wait_notice(
    d: &Daemon,
    receiver: &WebhookReceiver,
    kind: &str,
    also: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..POLLS {
        if let Some(r) = receiver
            .requests()
            .iter()
            .map(|r| r.json())
            .find(|b| b["kind"] == kind && also(b))
        {
            return r;
        }
        tokio::time::sleep(POLL).await;
    }
    d.give_up(&format!("a {kind} notification"))
}

#[tokio::test]
async fn the_daemon_notifies_signed_deduplicated_and_without_secrets() {
    let ns = cluster().namespace("notify").await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("config");
    std::fs::create_dir_all(repo.join("services")).unwrap();
    std::fs::create_dir_all(repo.join("secrets")).unwrap();
    std::fs::copy(
        root().join("example-repo/secrets/iris-classifier.enc.yaml"),
        repo.join("secrets/iris-classifier.enc.yaml"),
    )
    .unwrap();
    std::fs::write(
        repo.join("mlsync.yaml"),
        format!("paths: [services]\nsourceId: {ns}\ndefaultNamespace: {ns}\n"),
    )
    .unwrap();
    std::fs::write(repo.join("services/echo.yaml"), spec("v1")).unwrap();
    let key = tmp.path().join("age-key.txt");
    std::fs::copy(root().join("example-repo/demo-age-key.txt"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let hook = WebhookReceiver::start().await;
    let slack = WebhookReceiver::start().await;
    // The first notice meets a receiver error and is delivered on the retry.
    hook.answer_with(&[500]);
    let hmac_key = "team-hook-shared-key-0123456789";
    let hmac_file = secret_file(tmp.path(), "hook-key", &format!("{hmac_key}\n"));
    let slack_token = "T0000/B0000/slackTokenXYZ987";
    let slack_file = secret_file(
        tmp.path(),
        "slack-url",
        &format!("{}\n", slack.url(&format!("/services/{slack_token}"))),
    );
    let config = tmp.path().join("daemon.yaml");
    std::fs::write(
        &config,
        format!(
            "notifications:\n  - name: team\n    type: generic-hmac\n    address: {}\n    secretFile: {}\n  - name: chat\n    type: slack\n    addressFile: {}\n",
            hook.url("/mlsync"),
            hmac_file.display(),
            slack_file.display()
        ),
    )
    .unwrap();
    let args = [
        "--repo",
        repo.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--interval",
        "1h",
    ];
    let key_env = key.to_str().unwrap();
    let mut d = Daemon::start(
        tmp.path(),
        cluster().kubeconfig_path(),
        &args,
        &[("SOPS_AGE_KEY_FILE", key_env)],
    );
    let first = wait_notice(&d, &hook, "revisionApplied", |_| true).await;
    assert_eq!(first["severity"], "info", "{first}");
    assert_eq!(first["target"], serde_json::Value::Null, "{first}");
    assert_eq!(
        first["metadata"]["changed"],
        serde_json::json!([format!("{ns}/echo")])
    );
    let v1 = first["revision"].as_str().unwrap_or_default().to_owned();
    assert!(v1.starts_with("local-"), "{first}");

    // Signed with the shared key, over the raw body.
    hook.wait_for(2).await;
    let requests = hook.requests();
    assert!(
        requests.len() >= 2,
        "the 500 and its retry: {}",
        requests.len()
    );
    for r in &requests {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(hmac_key.as_bytes()).unwrap();
        mac.update(&r.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(r.header("x-signature"), Some(want.as_str()));
    }
    let slack_first = slack.requests();
    assert!(!slack_first.is_empty());
    assert_eq!(slack_first[0].path, format!("/services/{slack_token}"));
    assert!(
        slack_first[0].json()["text"]
            .as_str()
            .unwrap_or_default()
            .contains("applied")
    );

    // A new revision is told; the same one is not told twice.
    std::fs::write(repo.join("services/echo.yaml"), spec("v2")).unwrap();
    let second = wait_notice(&d, &hook, "revisionApplied", |b| {
        b["revision"] != v1.as_str()
    })
    .await;
    let v2 = second["revision"].as_str().unwrap_or_default().to_owned();

    // Drift corrected.
    let cms: Api<ConfigMap> = Api::namespaced(cluster().client().await, &ns);
    let patch = serde_json::json!({"data": {"MODEL_VERSION": "hand-edited"}});
    cms.patch(
        "echo-config",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let drift = wait_notice(&d, &hook, "driftCorrected", |_| true).await;
    assert_eq!(
        drift["metadata"]["object"],
        format!("ConfigMap {ns}/echo-config"),
        "{drift}"
    );
    let applied: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["kind"] == "revisionApplied")
        .map(|b| b["revision"].as_str().unwrap_or_default().to_owned())
        .collect();
    // v1 twice (the 500 and its retry), v2 once.
    assert_eq!(applied, [v1.clone(), v1, v2], "{applied:?}");

    let (_, metrics) = d.get("/metrics").await;
    let sent = daemon_support::metric(
        &metrics,
        "mlsync_notifications_total{receiver=\"team\",result=\"sent\"}",
    );
    assert!(sent >= 3.0, "{metrics}");

    // Nothing secret in any request: not the secrets' values, not the HMAC key, not the
    // Slack token (outside the Slack request's own path), plain or base64.
    let mut secrets = crate::events::plaintexts_of(&["iris-classifier.enc.yaml"]);
    for s in [hmac_key, slack_token] {
        secrets.push(s.to_owned());
        secrets.push(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            s,
        ));
    }
    for r in hook.requests().iter().chain(slack.requests().iter()) {
        let headers: Vec<&str> = r.headers.iter().map(|(_, v)| v.as_str()).collect();
        let text = format!("{} {}", String::from_utf8_lossy(&r.body), headers.join(" "));
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret in a notification: {text}"
            );
        }
    }
    // The log names the admin server ("admin=127.0.0.1:…"), so the example's DB_USER
    // ("admin") is no secret there; every other value is.
    let log = d.log();
    for s in secrets.iter().filter(|s| *s != "admin") {
        assert!(
            !log.contains(s.as_str()),
            "a secret in the daemon log: {s:?}"
        );
    }
}
