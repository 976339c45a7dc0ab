#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl v1.20.2 from Debian bookworm's
# `kubernetes` source package with bookworm's Go 1.19 (GOPATH mode) into OUT. Called by build.sh
# (which owns caching and locking); WORK is a scratch directory removed afterwards.
#
# Usage: build-debian.sh WORK OUT
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
work="${1:?usage: build-debian.sh WORK OUT}"
out="${2:?usage: build-debian.sh WORK OUT}"
[[ "$K8S_VERSION" == "$K8S_OLDEST_VERSION" ]] || die "build-debian.sh builds $K8S_OLDEST_VERSION, not $K8S_VERSION"
[[ -x "$K8S_DEB_GO" ]] || die "missing $K8S_DEB_GO (Debian package golang-1.19-go)"

# --- 1. Fetch the source package through a private apt configuration ---------------------------
# Prints "<uri> <signed-by-or-empty>" of the machine's Debian bookworm archive.
debian_archive() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && uris != "" && !done) {
          split(uris, u, " "); print u[1], (signed ~ /^\//) ? signed : ""; done = 1
        }
        types = ""; suites = ""; uris = ""; signed = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:"     { $1 = ""; types = $0 }
      tolower($1) == "suites:"    { $1 = ""; suites = $0 }
      tolower($1) == "uris:"      { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "signed-by:" { signed = $2 }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '
      $1 == "deb" {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break }; i++ } }
        if ($(i + 1) == "bookworm") {
          signed = ""
          if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
          print $i, signed
        }
      }
    ' "$f"
  done
}

read -r archive_uri archive_key < <(debian_archive | head -n1) || true
[[ -n "${archive_uri:-}" ]] ||
  die "found no 'deb ... bookworm' entry in /etc/apt/sources.list{,.d/*} to fetch the kubernetes source package from"

aptdir="$work/apt"
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$work/src"
if [[ -n "${archive_key:-}" ]]; then
  printf 'deb-src [signed-by=%s] %s bookworm main\n' "$archive_key" "$archive_uri" >"$aptdir/sources.list"
else
  printf 'deb-src %s bookworm main\n' "$archive_uri" >"$aptdir/sources.list"
fi
apt_opts=(
  -o "Dir::Etc::SourceList=$aptdir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache"
  -o "APT::Sandbox::User=root"
)
log "fetching Debian source package kubernetes=$K8S_DEB_VERSION"
apt-get -q "${apt_opts[@]}" update >"$work/apt-update.log" 2>&1 ||
  die "apt-get update for the deb-src list failed: $(tail -n 5 "$work/apt-update.log")"
(cd "$work/src" && apt-get -q "${apt_opts[@]}" source --download-only "kubernetes=$K8S_DEB_VERSION") \
  >"$work/apt-source.log" 2>&1 ||
  die "apt-get source kubernetes=$K8S_DEB_VERSION failed: $(tail -n 5 "$work/apt-source.log")"

export GOPATH="$work/gopath"
tree="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$(dirname "$tree")"
# dpkg-source applies Debian's patches (kubectl printing fixes, CVE-2021-25743).
(cd "$work/src" && dpkg-source --no-check -x ./*.dsc "$tree") >"$work/dpkg-source.log" 2>&1 ||
  die "dpkg-source -x failed: $(tail -n 5 "$work/dpkg-source.log")"

# --- 2. Prepare the GOPATH-mode build --------------------------------------------------------------
export GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS='' GOCACHE="$work/gocache"
# Bookworm's Go 1.19 and nothing else: a newer `go` earlier on PATH (or its GOROOT) must not leak in.
unset GOROOT GOTOOLCHAIN GOBIN
export PATH="${K8S_DEB_GO%/*}:$PATH"
go() { "$K8S_DEB_GO" "$@"; }
# Vendored reflect2 v1.0.1 segfaults under Go >= 1.18; use bookworm's 1.0.2.
rm -rf "$tree/vendor/github.com/modern-go/reflect2"
cp -rL /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"

cd "$tree"
log "building openapi-gen ($(go version))"
go build -o "$work/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen

# Same package selection as upstream's build/root/Makefile.generated_files (KUBE target):
# every Go package with a `+k8s:openapi-gen=` tag, minus code-generator and sample-apiserver.
mapfile -t openapi_dirs < <(
  find -L . \( -path ./staging -o -path './_*' -o -path './.*' -o -path ./vendor/k8s.io/code-generator \
    -o -path ./vendor/k8s.io/sample-apiserver \) -prune -o -type f -name '*.go' -print0 |
    xargs -0 grep -lZ --color=never '^// *+k8s:' |
    xargs -0 grep -l --color=never '+k8s:openapi-gen=' |
    xargs -n1 dirname | sed 's|^\./||' | LC_ALL=C sort -u
)
((${#openapi_dirs[@]} > 0)) || die "found no packages with +k8s:openapi-gen tags"
log "generating pkg/generated/openapi from ${#openapi_dirs[@]} packages"
inputs="$(printf 'k8s.io/kubernetes/%s,' "${openapi_dirs[@]}")"
"$work/bin/openapi-gen" --logtostderr \
  -i "${inputs%,}" \
  -p k8s.io/kubernetes/pkg/generated/openapi \
  -O zz_generated.openapi \
  -h hack/boilerplate/boilerplate.generatego.txt \
  -r "$work/openapi-violations.report" >"$work/openapi-gen.log" 2>&1 ||
  die "openapi-gen failed: $(tail -n 20 "$work/openapi-gen.log")"
[[ -f pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen wrote no pkg/generated/openapi/zz_generated.openapi.go"

# --- 3. Build the binaries -------------------------------------------------------------------------
version_vars=(
  "gitVersion=$K8S_VERSION"
  "gitMajor=1"
  "gitMinor=20"
  "gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56"
  "gitTreeState=clean"
  "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
)
ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  for v in "${version_vars[@]}"; do ldflags+=" -X $pkg.$v"; done
done
for b in "${K8S_BINARIES[@]}"; do
  log "building $b (this takes minutes on first build)"
  go build -trimpath -ldflags "$ldflags" -o "$out/$b" "./cmd/$b"
done

