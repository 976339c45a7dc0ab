//! One change-detection rule (issue 12): `plan`/`apply` decide what changed with a pure
//! comparison (`reconcile::compare`: applied-hash + every field mlsync sets still has its value),
//! while `diff` shows the server's dry-run of that apply. This test holds the pure rule to the
//! server's answer over a corpus of specs whose objects the API server defaults and normalizes
//! (quantities such as `0.5`/`1.0`/`1Gi`/`1024Mi`, LoadBalancer node ports, probes, tolerations, HPAs,
//! Secrets), on every supported Kubernetes version: after an apply, and after each kind of drift
//! a person causes with kubectl, `plan` and `diff` must give the same exit code (0 nothing to
//! change, 1 changes) — so the two commands a user runs never disagree.

use crate::support;

use support::cluster;
use support::repo::ConfigRepo;

/// The corpus below in a fresh repo and namespace, with the example's encrypted secrets.
async fn corpus_repo() -> ConfigRepo {
    let repo = ConfigRepo::new("rule").await;
    repo.add_example_secrets_as("db.enc.yaml");
    for (name, parts) in CORPUS {
        repo.write(&format!("{name}.yaml"), &spec(name, *parts));
    }
    repo
}

fn kubectl(repo: &ConfigRepo, args: &[&str]) {
    let out = cluster()
        .kubectl()
        .args(["-n", &repo.ns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plan` and `diff` agree: both exit `expected` (0 nothing to change, 1 changes).
fn assert_agree(repo: &ConfigRepo, expected: i32, after: &str) {
    let (plan, plan_out, plan_err) = repo.mlsync("plan", &[]);
    let (diff, diff_out, diff_err) = repo.mlsync("diff", &[]);
    assert_eq!(
        (plan, diff),
        (expected, expected),
        "after {after}: plan exited {plan}, diff exited {diff}, expected {expected} for both\n\
         --- plan\n{plan_out}{plan_err}\n--- diff\n{diff_out}{diff_err}"
    );
}

/// An MLService named `name` with `resources` (the lines under `resources:`) and `extra`
/// appended to its `spec:`.
fn spec(name: &str, (resources, extra): (&str, &str)) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: {name}\nspec:\n  \
         model:\n    name: {name}\n    version: v1\n  image: example/{name}:1\n  config:\n    \
         MODEL_NAME: {name}\n  resources:\n{resources}{extra}"
    )
}

const CPU: &str = "    requests:\n      cpu: 100m\n    limits:\n      cpu: 500m\n";

/// Specs whose objects the API server fills in or rewrites: (name, (resources, extra lines)).
const CORPUS: &[(&str, (&str, &str))] = &[
    // Nothing but the minimum: the server defaults the Deployment strategy, the pod's restart
    // and DNS policies, the Service's clusterIP, session affinity and IP families.
    ("plain", (CPU, "")),
    // Quantities written the ways people write them; the server stores them canonicalized.
    (
        "quantities",
        (
            "    requests:\n      cpu: 0.5\n      memory: 1Gi\n    limits:\n      cpu: 1.0\n      memory: 1024Mi\n",
            "  replicas: 3\n",
        ),
    ),
    // The tutorial's LoadBalancer with an HPA: node ports allocated by the server, replicas
    // owned by the HPA.
    (
        "lb-hpa",
        (
            "    requests:\n      cpu: 100m\n      memory: 256Mi\n    limits:\n      cpu: 500m\n",
            "  port: 5000\n  service:\n    type: LoadBalancer\n    port: 80\n  autoscaling:\n    minReplicas: 2\n    maxReplicas: 5\n    targetCPUUtilizationPercentage: 50\n    targetMemoryUtilizationPercentage: 70\n",
        ),
    ),
    // Probes (the server defaults scheme, thresholds), tolerations, node selector, secrets.
    (
        "full",
        (
            CPU,
            "  secrets:\n    file: secrets/db.enc.yaml\n  probes:\n    readiness:\n      path: /ready\n    liveness:\n      path: /health\n      periodSeconds: 20\n  nodeSelector:\n    gpu: \"true\"\n  tolerations:\n    - key: gpu\n      operator: Exists\n      effect: NoSchedule\n  service:\n    type: NodePort\n",
        ),
    ),
];

#[tokio::test]
async fn plan_and_diff_agree_on_server_defaulted_objects_and_on_every_drift() {
    let repo = corpus_repo().await;
    assert_agree(&repo, 1, "nothing applied yet");
    repo.apply_ok(&[]);
    assert_agree(&repo, 0, "the first apply");

    // Drift a person causes; each is seen by both, and one apply heals it for both.
    let drifts: &[(&str, &[&str])] = &[
        (
            "kubectl set image",
            &["set", "image", "deployment/plain", "model=example/plain:2"],
        ),
        (
            "kubectl scale of a Deployment without autoscaling",
            &["scale", "deployment/quantities", "--replicas=7"],
        ),
        (
            "kubectl patch of a ConfigMap value",
            &[
                "patch",
                "configmap/full-config",
                "--type=merge",
                "-p",
                r#"{"data":{"MODEL_NAME":"other"}}"#,
            ],
        ),
        (
            "kubectl label --overwrite of a label mlsync sets",
            &[
                "label",
                "--overwrite",
                "service/lb-hpa",
                "app.kubernetes.io/name=x",
            ],
        ),
        ("kubectl delete of a Service", &["delete", "service/full"]),
    ];
    for (what, args) in drifts {
        kubectl(&repo, args);
        assert_agree(&repo, 1, what);
        repo.apply_ok(&[]);
        assert_agree(&repo, 0, &format!("the apply that healed `{what}`"));
    }

    // Changes mlsync leaves alone, on both sides: replicas of an autoscaled Deployment (the
    // HPA's), a label someone else added.
    kubectl(&repo, &["scale", "deployment/lb-hpa", "--replicas=4"]);
    assert_agree(&repo, 0, "kubectl scale of an autoscaled Deployment");
    kubectl(&repo, &["label", "configmap/plain-config", "team=search"]);
    assert_agree(&repo, 0, "a label added by someone else");
}
