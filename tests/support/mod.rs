//! Test support shared by the integration tests (`mod support;` in each test file).
//!
//! - [`cluster`]: one real control plane (etcd + kube-apiserver + kube-controller-manager) per
//!   test binary, or an existing cluster named by `MLSYNC_TEST_KUBECONFIG`.
//! - [`pods`]: plays the kubelet's part for Deployments (there is no kubelet in the test
//!   control plane), so rollouts can succeed or fail on demand.
//!
//! Not every test binary uses every helper.
#![allow(dead_code)]

pub mod cluster;
pub mod pods;

pub use cluster::cluster;
