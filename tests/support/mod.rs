//! Test support shared by the integration tests (`mod support;` in each test file).
//!
//! - [`cluster`]: one real control plane (etcd + kube-apiserver + kube-controller-manager) per
//!   test binary, or an existing cluster named by `MLSYNC_TEST_KUBECONFIG`.
//! - [`pods`]: plays the kubelet's part for Deployments (there is no kubelet in the test
//!   control plane), so rollouts can succeed or fail on demand.
//! - [`git`]: the `git` CLI, `git daemon` and `sshd` on 127.0.0.1 for the git source tests.
//! - [`repo`]: a config repo targeting a fresh namespace, and running `mlsync` on it.
//! - [`http`]: a small HTTP front for `git http-backend` (token-auth tests).
//! - [`prometheus`]: a real Prometheus scraping a fake model server's two tracks (canary
//!   analysis tests).
//!
//! Not every test binary uses every helper.
#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod example;
pub mod git;
pub mod http;
pub mod pods;
pub mod prometheus;
pub mod repo;

pub use cluster::cluster;
pub use git::*;
