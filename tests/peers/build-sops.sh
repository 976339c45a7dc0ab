#!/usr/bin/env bash
# Builds the real `sops` binary the tests use as a peer and prints its path on stdout.
#
# The version is pinned by tests/peers/sops/go.mod (a wrapper module of ours whose only content
# is a `tool github.com/getsops/sops/v3/cmd/sops` line) and its committed go.sum; the modules
# come from the Go module proxy (`go env GOPROXY`). The binary is cached as
#   ${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/sops/<version>/sops
# so a second run takes milliseconds. The Go module cache is Go's default (`go env GOMODCACHE`).
# A missing `go`, an unreachable proxy or a missing module fails with Go's message naming it.
#
# Usage: tests/peers/build-sops.sh
set -euo pipefail
mod="$(cd "$(dirname "${BASH_SOURCE[0]}")/sops" && pwd)"

log() { printf '[mlsync-sops] %s\n' "$*" >&2; }
die() { printf '[mlsync-sops] error: %s\n' "$*" >&2; exit 1; }

version="$(sed -n 's|^[[:space:]]*github.com/getsops/sops/v3 \(v[^ ]*\).*|\1|p' "$mod/go.mod")"
[[ -n "$version" ]] || die "$mod/go.mod does not require github.com/getsops/sops/v3"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/sops/$version"
bin="$dir/sops"
# The stamp is the go.sum the binary was built from: a changed go.sum rebuilds.
stamp="$(sha256sum "$mod/go.sum" | cut -d' ' -f1)"

is_cached() { [[ -x "$bin" && "$(cat "$dir/.complete" 2>/dev/null)" == "$stamp" ]]; }

if is_cached; then
  printf '%s\n' "$bin"
  exit 0
fi

need_go="$(sed -n 's/^go //p' "$mod/go.mod")"
command -v go >/dev/null 2>&1 ||
  die "missing command go: building sops $version needs the Go toolchain (go $need_go or newer)"
have_go="$(go env GOVERSION 2>/dev/null || true)"
have_go="${have_go#go}"
if [[ -z "${GOTOOLCHAIN:-}" && "$(printf '%s\n%s\n' "$need_go" "${have_go:-0}" | sort -V | head -n1)" != "$need_go" ]]; then
  die "$(command -v go) is go ${have_go:-older than 1.21}, but sops $version needs go $need_go or newer: put a newer Go first on PATH (or set GOTOOLCHAIN=go$need_go to let Go fetch it)"
fi
command -v flock >/dev/null 2>&1 || die "missing command flock (Debian package util-linux)"

mkdir -p "$dir"
# Serialise concurrent builds (several test binaries may start at once).
exec 9>"$dir.lock"
if ! flock -n 9; then
  log "another build of sops $version is running; waiting for it"
  flock 9
fi
if is_cached; then
  printf '%s\n' "$bin"
  exit 0
fi

log "building sops $version with $(go version | cut -d' ' -f3) from $(go env GOPROXY) (first time ~5-10 minutes on 2 cores)"
start=$(date +%s)
tmp="$(mktemp "$dir/.sops.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# -mod=readonly: go.mod and go.sum are the pin; a module missing from them is an error, not an
# update. GOWORK=off: no go.work of the caller's applies. CGO off: a static binary.
# GOTOOLCHAIN=local unless set: a `go` older than go.mod's `go` line fails and says so, instead
# of silently downloading another toolchain (set GOTOOLCHAIN=goX.Y.Z to allow that).
if ! (cd "$mod" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
  go build -trimpath -o "$tmp" github.com/getsops/sops/v3/cmd/sops); then
  die "failed to build github.com/getsops/sops/v3/cmd/sops@$version in $mod (module proxy: $(go env GOPROXY)); Go's error above names the missing piece"
fi
chmod 0755 "$tmp"
got="$("$tmp" --version --disable-version-check 2>/dev/null | head -n1)"
[[ "$got" == "sops ${version#v}"* ]] || die "the built binary reports '$got', expected sops ${version#v}"
mv -f "$tmp" "$bin"
printf '%s\n' "$stamp" >"$dir/.complete"
log "built $bin in $(($(date +%s) - start))s"
printf '%s\n' "$bin"
