#!/usr/bin/env bash
# Runs mlsync's whole test suite on a fresh Debian bookworm machine, on both supported Kubernetes
# releases: installs what the tests use as real peers (age, git daemon, sshd, etcd, Prometheus,
# bookworm's Go 1.19 for v1.20.2), builds and caches the two test control planes (kube-apiserver,
# kube-controller-manager and kubectl: the current release from the Go module proxy with the
# machine's Go >= 1.26, and v1.20.2 from Debian's kubernetes source package; first time about
# 25 minutes with sops on 2 shared cores (measured 2026-11-30), then milliseconds), then
#   1. `cargo test` (everything) against the current release (v1.37.2), and
#   2. the cluster-facing tests again against the oldest supported release, v1.20.2
#      (MLSYNC_TEST_K8S_VERSION=1.20.2): the `it` binary (tests/it/, every suite that shares the
#      test control plane) and the test files listed in `separate_cluster_suites` below.
# Each pass prints its wall time.
#
# As root it installs missing packages with apt-get; otherwise it lists them and stops.
# Extra arguments go to `cargo test` in both passes (e.g. `tests/run.sh --test it reconcile_cluster::`).
# MLSYNC_TEST_K8S_VERSION=1.20.2 (or 1.37.2) runs a single pass against that release only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the tests run as real components (the control plane's own come from ci-setup.sh);
# `time` is the /usr/bin/time that benches/reconcile.sh measures with (tests/bench_reconcile.rs).
# `prometheus` (bookworm: 2.42) is the /usr/bin/prometheus the canary analysis tests start on free
# 127.0.0.1 ports with their own config and storage (tests/support/prometheus.rs); the package's
# own service (where systemd starts it, on :9090) plays no part in them.
packages=(age git gnupg openssh-server openssh-client libssl-dev pkg-config procps prometheus systemd time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
    exit 2
  fi
fi
# The SOPS interop test computes the MAC independently with Python's cryptography module.
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
# The YAML peer test reads `render` output with PyYAML, an independent YAML 1.1 reader.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml

# The real `sops` the SOPS peer tests run (tests/sops_binary_*.rs): pinned by
# tests/peers/sops/go.mod + go.sum, built from the Go module proxy, cached under
# ~/.cache/mlsync/sops/<version>/ (first build ~5-10 minutes on 2 cores, then instant).
tests/peers/build-sops.sh >/dev/null

# The cluster-facing tests: the `it` binary (tests/it/main.rs, one module per suite, one shared
# control plane) and the few test files that start a control plane of their own.
separate_cluster_suites=(quickstart)
[ -f tests/it/main.rs ] || { echo "tests/it/main.rs is missing" >&2; exit 2; }
# Guard: a tests/*.rs that calls cluster() must be on that list (better: a module of tests/it),
# or it would silently skip v1.20.2.
stray=()
while IFS= read -r file; do
  name=$(basename "$file" .rs)
  [[ " ${separate_cluster_suites[*]} " == *" $name "* ]] || stray+=("$file")
done < <(grep -lE '(^|[^A-Za-z0-9_])cluster\(\)' tests/*.rs || true)
if [ ${#stray[@]} -gt 0 ]; then
  echo "cluster-facing tests outside tests/it/: ${stray[*]} (make them modules of tests/it/main.rs," >&2
  echo "or add them to separate_cluster_suites in tests/run.sh)" >&2
  exit 2
fi
cluster_suites=(it "${separate_cluster_suites[@]}")

# Runs `cargo test ARGS...` against Kubernetes VERSION and prints the wall time.
pass() {
  local version="$1" start status=0
  shift
  echo "== cargo test $* (Kubernetes $version)"
  start=$(date +%s)
  MLSYNC_TEST_K8S_VERSION="$version" cargo test --no-fail-fast "$@" || status=$?
  echo "== Kubernetes $version: cargo test $* took $(($(date +%s) - start)) s (exit $status)"
  return "$status"
}

if [ -n "${MLSYNC_TEST_K8S_VERSION:-}" ]; then
  tests/cluster/ci-setup.sh "$MLSYNC_TEST_K8S_VERSION"
  pass "$MLSYNC_TEST_K8S_VERSION" "$@"
  exit
fi
# shellcheck disable=SC2016 # expanded by the inner bash
read -r current oldest < <(env -u MLSYNC_TEST_K8S_VERSION bash -c \
  'source tests/cluster/lib.sh && echo "$K8S_CURRENT_VERSION $K8S_OLDEST_VERSION"')
tests/cluster/ci-setup.sh "$current" "$oldest"
status=0
pass "$current" "$@" || status=$?
if [ $# -eq 0 ]; then
  for suite in "${cluster_suites[@]}"; do set -- "$@" --test "$suite"; done
fi
pass "$oldest" "$@" || status=$?
exit "$status"
