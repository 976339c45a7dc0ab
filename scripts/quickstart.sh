#!/usr/bin/env bash
# Quick start: apply the example repo to a cluster with mlsync.
#
# Uses your cluster when kubectl can reach one (KUBECONFIG or ~/.kube/config); otherwise builds
# (first time: ~20 minutes, cached afterwards) and starts a local control plane on 127.0.0.1
# (kube-apiserver + etcd + controller-manager, no kubelet: pods stay Pending) and leaves it running.
# The example's secrets are encrypted to a public DEMO key (example-repo/demo-age-key.txt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# cargo prints each crate it compiles (and a progress bar on a terminal), so a first build shows
# where it is instead of a silent terminal.
echo "== building mlsync: cargo build --release (first time ~350 crates, several minutes; then seconds)"
build_start=$SECONDS
cargo build --release
echo "   built in $((SECONDS - build_start)) s"
mlsync=target/release/mlsync

if kubectl cluster-info >/dev/null 2>&1; then
  echo "== using the cluster of your current kubeconfig context: $(kubectl config current-context)"
else
  cp_dir="${MLSYNC_QUICKSTART_DIR:-/tmp/mlsync-quickstart}"
  echo "== no cluster reachable: starting a local control plane in $cp_dir"
  echo "   (the first time this builds kube-apiserver from source: 15-30 minutes on 2 cores; cached afterwards)"
  if [ "$(id -u)" -eq 0 ]; then tests/cluster/build.sh --install-deps; else tests/cluster/build.sh; fi
  tests/cluster/start.sh "$cp_dir"
  export KUBECONFIG="$cp_dir/kubeconfig"
  # The kubectl built with the control plane (same release, so within the version skew).
  export PATH="$cp_dir/bin:$PATH"
  echo "   stop it later with: tests/cluster/stop.sh $cp_dir"
fi

# The demo identity, passed inline (a key FILE must be mode 0600, which git does not keep).
SOPS_AGE_KEY="$(cat example-repo/demo-age-key.txt)"
export SOPS_AGE_KEY

echo "== mlsync validate"
"$mlsync" validate --repo example-repo
echo "== mlsync plan"
"$mlsync" plan --repo example-repo --log warn || true
echo "== mlsync apply"
"$mlsync" apply --repo example-repo --log warn
echo "== kubectl get (namespace ml-demo)"
kubectl get configmap,secret,deployment,service,hpa -n ml-demo -l app.kubernetes.io/managed-by=mlsync
echo "== a second apply changes nothing (--diff-exit-code: 0 unchanged, 1 changed)"
"$mlsync" apply --repo example-repo --log warn --diff-exit-code >/dev/null
echo "unchanged"
