#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl of the current release from the
# k8s.io/kubernetes Go module into OUT, through our wrapper module k8s-current/ (its go.mod pins
# k8s.io/kubernetes and every k8s.io/* staging module it replaces with local paths; its go.sum pins
# the content). Module downloads are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/go/mod; the
# Go build cache lives in WORK and goes with it. Called by build.sh (caching, locking).
#
# Usage: build-module.sh WORK OUT
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
work="${1:?usage: build-module.sh WORK OUT}"
out="${2:?usage: build-module.sh WORK OUT}"
[[ "$K8S_VERSION" == "$K8S_CURRENT_VERSION" ]] || die "build-module.sh builds $K8S_CURRENT_VERSION, not $K8S_VERSION"

# --- the Go toolchain: the first `go` that is at least the go.mod's `go` version ----------------
need="$(awk '$1 == "go" { print $2; exit }' "$K8S_MODULE_DIR/go.mod")"
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }
gobin=""
found=()
for candidate in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go; do
  [[ -n "$candidate" && -x "$candidate" ]] || continue
  have="$(GOTOOLCHAIN=local "$candidate" env GOVERSION 2>/dev/null || true)"
  have="${have#go}"
  found+=("$candidate=${have:-?}")
  if [[ -n "$have" ]] && version_ge "$have" "$need"; then
    gobin="$candidate"
    break
  fi
done
[[ -n "$gobin" ]] || die "building Kubernetes $K8S_VERSION needs Go >= $need (found: ${found[*]:-no go on PATH});
  install it from https://go.dev/dl/ or use MLSYNC_TEST_K8S_VERSION=${K8S_OLDEST_VERSION#v}"

# --- environment: pinned modules only, no toolchain switch, no cgo --------------------------------
export GOMODCACHE="$K8S_CACHE_ROOT/go/mod"
export GOPATH="$work/gopath" GOCACHE="$work/gocache" GOTMPDIR="$work/tmp"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
unset GOROOT GOBIN
mkdir -p "$GOMODCACHE" "$GOTMPDIR"
cd "$K8S_MODULE_DIR"

# 1. Download (a no-op when the module cache has everything). -mod=readonly + go.sum: a module
#    whose content differs from the pin, or a go.mod that needs updating, fails instead of drifting.
t0=$(date +%s)
log "downloading modules of k8s.io/kubernetes $K8S_VERSION ($("$gobin" version), proxy $("$gobin" env GOPROXY)) into $GOMODCACHE"
if ! "$gobin" mod download -x >"$work/download.log" 2>&1; then
  die "go mod download failed (module proxy unreachable or a module missing):
$(grep -v '^# get \|^#' "$work/download.log" | tail -n 15 | sed 's/^/    /')"
fi
t1=$(date +%s)

# 2. Build the three commands in one invocation (shared compilation).
minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
pkgs=()
for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
log "building ${K8S_BINARIES[*]} $K8S_VERSION (this takes minutes on first build)"
if ! "$gobin" build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" >"$work/build.log" 2>&1; then
  die "go build of Kubernetes $K8S_VERSION failed:
$(tail -n 25 "$work/build.log" | sed 's/^/    /')"
fi
log "modules: $((t1 - t0)) s, compile: $(($(date +%s) - t1)) s"
