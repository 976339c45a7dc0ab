//! docs/environments.md's cluster commands, run as written against the real control plane:
//! the example repo's staging and prod applied side by side into one cluster, each in its
//! namespace under its own ownership id; neither prunes the other, and `plan` then has nothing
//! to do.

use crate::support;

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use support::cluster::cluster;

/// The second ```sh block of docs/environments.md (the one that needs a cluster).
fn cluster_commands() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/environments.md"))
            .unwrap();
    let block = doc.split("```sh\n").nth(2).unwrap_or("");
    block
        .split("```")
        .next()
        .unwrap_or("")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn staging_and_prod_of_the_example_repo_live_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    support::example::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
        &tmp.path().join("example-repo"),
    );
    let key = tmp.path().join("example-repo/demo-age-key.txt");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_mlsync")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let commands = cluster_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    for line in &commands {
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env("KUBECONFIG", cluster().kubeconfig_path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("MLSYNC_ENV")
            .env_remove("MLSYNC_SOURCE_ID")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: exit {:?}\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let client = cluster().client().await;
    for (ns, env, image) in [
        ("ml-staging", "staging", "bittu/ml-model:v2"),
        ("ml-prod", "prod", "bittu/ml-model:latest"),
    ] {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let d = deployments.get("iris-classifier").await.unwrap();
        let labels = d.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["mlsync.dev/source"], format!("example-repo-{env}"));
        let pod = d.spec.template.spec.unwrap_or_default();
        assert_eq!(pod.containers[0].image.as_deref(), Some(image));
    }
}
