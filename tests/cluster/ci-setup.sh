#!/usr/bin/env bash
# Prepares a FRESH Debian bookworm machine (CI) for the cluster tests: apt-get installs the
# missing Debian packages (etcd-server, openssl, curl, util-linux; for v1.20.2 also golang-1.19-go,
# dpkg-dev, golang-github-modern-go-reflect2-dev), then builds and caches kube-apiserver,
# kube-controller-manager and kubectl of every version tests/run.sh tests: the current one (Go
# module proxy, needs Go >= 1.26 on PATH) and v1.20.2 (a no-op when cached). Run it before
# `cargo test`. Needs root or sudo.
#
# Usage: tests/cluster/ci-setup.sh [VERSION...]   (default: the current version and 1.20.2)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

versions=("$@")
((${#versions[@]} > 0)) || versions=("$K8S_CURRENT_VERSION" "$K8S_OLDEST_VERSION")
ensure_deps 1 "${CLUSTER_RUN_DEPS[@]}" "flock:util-linux"
for v in "${versions[@]}"; do
  MLSYNC_TEST_K8S_VERSION="$v" "$here/build.sh" --install-deps >/dev/null
  log "Kubernetes $v: $(MLSYNC_TEST_K8S_VERSION="$v" "$here/build.sh")"
done
