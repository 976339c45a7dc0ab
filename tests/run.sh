#!/usr/bin/env bash
# Runs mlsync's whole test suite on a fresh Debian bookworm machine: installs what the tests use
# as real peers (age, git daemon, sshd, etcd, the Go toolchain that builds kube-apiserver and
# kube-controller-manager from Debian's kubernetes source package), builds and caches the control
# plane (first time ~7-9 minutes on 2 cores, then seconds), then runs `cargo test`.
#
# As root it installs missing packages with apt-get; otherwise it lists them and stops.
# Extra arguments go to `cargo test` (e.g. `tests/run.sh --test validate_cli`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the tests run as real components (the control plane's own come from ci-setup.sh).
packages=(age git gnupg openssh-server openssh-client libssl-dev pkg-config procps systemd)
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

tests/cluster/ci-setup.sh
exec cargo test "$@"
