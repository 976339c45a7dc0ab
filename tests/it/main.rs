//! The cluster-facing integration tests, as one test binary (`cargo test --test it`): one real
//! control plane (`support::cluster()`) per process and Kubernetes release, shared by every test
//! here; each test works in namespaces of its own (`cluster().namespace(prefix)`). The few tests
//! that use the fixed namespaces of `deploy/` (`mlsync-system`, `ml-demo`) and its cluster-scoped
//! objects take [`support::cluster::DEPLOY_NAMESPACES`] first.
//!
//! One module per suite; filter with the module name, e.g. `cargo test --test it reconcile_cluster::`.

#[path = "../daemon_support/mod.rs"]
mod daemon_support;
#[path = "../deploy_support/mod.rs"]
mod deploy_support;
#[path = "../support/receiver.rs"]
mod receiver;
#[path = "../support/mod.rs"]
mod support;

mod agent_daemon;
mod api_limits;
mod canary;
mod change_rule;
mod cluster_smoke;
mod daemon;
mod daemon_status;
mod deploy_manifests;
mod drift;
mod environments;
mod events;
mod incremental;
mod k8s_versions;
mod leader_election;
mod multi_target;
mod notifications;
mod rbac;
mod reconcile_cluster;
mod rollout_cli;
mod signed_commits;
mod source_id;
mod systemd_run;
