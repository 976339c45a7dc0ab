#!/usr/bin/env bash
# Builds the benchmark peers (Go programs of ours, pinned by their committed go.mod + go.sum,
# modules from the Go module proxy) and caches each binary under
# ${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/peers/, keyed by a hash of its sources and the Go
# version: a second build of the same sources only prints the path. Prints the binary's path.
#   flux-ssa  Flux's apply engine (github.com/fluxcd/pkg/ssa), see flux-ssa/main.go
#
# Usage: benches/peers/build.sh [flux-ssa]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer="${1:-flux-ssa}"
src="$here/$peer"
die() { printf '[mlsync-peers] error: %s\n' "$*" >&2; exit 1; }
log() { printf '[mlsync-peers] %s\n' "$*" >&2; }
[[ -f "$src/go.mod" && -f "$src/go.sum" ]] || die "no peer $peer (expected $src/go.mod and go.sum)"

# The machine's Go must be at least the go.mod's `go` line; never switch toolchains by download.
need="$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")"
gobin="$(command -v go 2>/dev/null || true)"
[[ -n "$gobin" ]] || { [[ -x /usr/local/go/bin/go ]] && gobin=/usr/local/go/bin/go; }
[[ -n "$gobin" ]] || die "building $peer needs Go >= $need; no go on PATH"
have="$(GOTOOLCHAIN=local "$gobin" env GOVERSION)"
have="${have#go}"
[[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" == "$need" ]] ||
  die "building $peer needs Go >= $need; $gobin is $have"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/mlsync"
cache="$cache_root/peers"
mkdir -p "$cache"
key="$( (cd "$src" && cat go.mod go.sum ./*.go; printf '%s\n' "$have") | sha256sum | cut -c1-16)"
out="$cache/$peer-$key"
if [[ -x "$out" ]]; then
  printf '%s\n' "$out"
  exit 0
fi

command -v flock >/dev/null 2>&1 || die "missing command flock (Debian package util-linux)"
exec 9>"$cache/$peer.lock"
flock 9
if [[ -x "$out" ]]; then
  printf '%s\n' "$out"
  exit 0
fi

# Pinned modules only (-mod=readonly: a go.sum mismatch fails instead of updating), shared module
# download cache with tests/cluster, no cgo.
export GOMODCACHE="$cache_root/go/mod"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
unset GOROOT GOBIN
start=$(date +%s)
cd "$src"
log "building $peer with $("$gobin" version) (modules from $("$gobin" env GOPROXY))"
if ! dl="$("$gobin" mod download 2>&1)"; then
  die "go mod download failed for $peer (module proxy unreachable or a module missing):
$(printf '%s\n' "$dl" | tail -n 15 | sed 's/^/    /')"
fi
if ! built="$("$gobin" build -trimpath -ldflags "-s -w" -o "$out.tmp" . 2>&1)"; then
  rm -f "$out.tmp"
  die "go build of $peer failed:
$(printf '%s\n' "$built" | tail -n 25 | sed 's/^/    /')"
fi
mv -f "$out.tmp" "$out"
# Keep only this build of the peer.
find "$cache" -maxdepth 1 -name "$peer-*" ! -name "$peer-$key" ! -name '*.lock' -delete
log "built $out in $(($(date +%s) - start)) s"
printf '%s\n' "$out"
