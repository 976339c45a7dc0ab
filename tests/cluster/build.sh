#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl of the Kubernetes release that
# MLSYNC_TEST_K8S_VERSION names (default: the current one, pinned in k8s-current/go.mod) and caches
# them under ${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/k8s/<version>/. Prints that directory on stdout.
# Does nothing when the binaries are already cached.
#   current (v1.37.2): build-module.sh, from the Go module proxy with the machine's Go (>= 1.26)
#   oldest  (v1.20.2): build-debian.sh, from Debian's source package with bookworm's Go 1.19
#
# Usage: [MLSYNC_TEST_K8S_VERSION=1.20.2] tests/cluster/build.sh [--install-deps]
#   --install-deps  apt-get install the missing Debian packages (CI); without it the script only
#                   says what is missing and fails, it never changes the machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

install=0
for arg in "$@"; do
  case "$arg" in
    --install-deps) install=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: build.sh [--install-deps])" ;;
  esac
done

is_cached() {
  [[ -f "$K8S_CACHE_DIR/.complete" ]] || return 1
  local b
  for b in "${K8S_BINARIES[@]}"; do [[ -x "$K8S_CACHE_DIR/$b" ]] || return 1; done
}

if is_cached; then
  printf '%s\n' "$K8S_CACHE_DIR"
  exit 0
fi

ensure_deps "$install" "${CLUSTER_BUILD_DEPS[@]}" "${CLUSTER_RUN_DEPS[@]}"
command -v flock >/dev/null 2>&1 || die "missing command flock (Debian package util-linux)"

mkdir -p "$K8S_CACHE_DIR"
# Serialise concurrent builds (several test binaries may start at once).
exec 9>"$K8S_CACHE_DIR.lock"
if ! flock -n 9; then
  log "another build of Kubernetes $K8S_VERSION is running; waiting for it"
  flock 9
fi
if is_cached; then
  printf '%s\n' "$K8S_CACHE_DIR"
  exit 0
fi

# Everything but the module download cache (source, GOPATH, Go build cache) lives in one work dir
# that is removed afterwards, so a build leaves only the binaries behind.
work="$(mktemp -d "$K8S_CACHE_DIR/../build-${K8S_VERSION}.XXXXXX")"
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_time=$(date +%s)

mkdir -p "$work/out"
"$here/build-$K8S_FLAVOUR.sh" "$work" "$work/out"

for b in "${K8S_BINARIES[@]}"; do
  [[ -x "$work/out/$b" ]] || die "the build produced no $b"
  install -m 0755 "$work/out/$b" "$K8S_CACHE_DIR/$b.tmp"
  mv -f "$K8S_CACHE_DIR/$b.tmp" "$K8S_CACHE_DIR/$b"
done
"$K8S_CACHE_DIR/kube-apiserver" --version >"$K8S_CACHE_DIR/VERSION"
touch "$K8S_CACHE_DIR/.complete"
log "built $(cat "$K8S_CACHE_DIR/VERSION") ($(du -sh "$K8S_CACHE_DIR" | cut -f1)) in $(($(date +%s) - start_time)) s"
printf '%s\n' "$K8S_CACHE_DIR"
