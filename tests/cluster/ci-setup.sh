#!/usr/bin/env bash
# Prepares a FRESH Debian bookworm machine (CI) for the cluster tests: apt-get installs the
# missing Debian packages (golang-go, etcd-server, openssl, dpkg-dev, curl,
# golang-github-modern-go-reflect2-dev), then builds and caches kube-apiserver and
# kube-controller-manager (a no-op when cached). Run it before `cargo test`. Needs root or sudo.
#
# Usage: tests/cluster/ci-setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

ensure_deps 1 "${CLUSTER_BUILD_DEPS[@]}" "${CLUSTER_RUN_DEPS[@]}" "flock:util-linux"
"$here/build.sh" --install-deps
