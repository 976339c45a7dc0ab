# Shared helpers for the mlsync test control-plane scripts (sourced, not executed).
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts sourcing this file

# Two Kubernetes releases can serve the tests; MLSYNC_TEST_K8S_VERSION picks one (default: current).
#   current: k8s.io/kubernetes from the Go module proxy, pinned by k8s-current/go.mod + go.sum and
#            built with the machine's Go (>= the go.mod's `go` line).
#   oldest:  v1.20.2 from Debian bookworm's `kubernetes` source package, built with bookworm's Go 1.19
#            in GOPATH mode.
K8S_MODULE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/k8s-current"
K8S_CURRENT_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ { print $2; exit }' "$K8S_MODULE_DIR/go.mod")"
K8S_OLDEST_VERSION="v1.20.2"
K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
# Bookworm's Go 1.19 (package golang-1.19-go) builds v1.20.2; never the `go` first on PATH.
K8S_DEB_GO="/usr/lib/go-1.19/bin/go"
K8S_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mlsync"

K8S_VERSION="${MLSYNC_TEST_K8S_VERSION:-$K8S_CURRENT_VERSION}"
[[ "$K8S_VERSION" == v* ]] || K8S_VERSION="v$K8S_VERSION"
case "$K8S_VERSION" in
  "$K8S_CURRENT_VERSION")
    K8S_FLAVOUR=module
    K8S_CACHE_DIR="$K8S_CACHE_ROOT/k8s/$K8S_VERSION"
    ;;
  "$K8S_OLDEST_VERSION")
    K8S_FLAVOUR=debian
    # The toolchain is part of the key: binaries built by earlier scripts with another Go differ.
    K8S_CACHE_DIR="$K8S_CACHE_ROOT/k8s/$K8S_VERSION-go1.19"
    ;;
  *)
    printf '[mlsync-cluster] error: MLSYNC_TEST_K8S_VERSION=%s is not supported; use %s (default) or %s\n' \
      "${MLSYNC_TEST_K8S_VERSION:-}" "${K8S_CURRENT_VERSION#v}" "${K8S_OLDEST_VERSION#v}" >&2
    exit 1
    ;;
esac
# What build.sh installs into K8S_CACHE_DIR (kubectl: the tests' peer, same release as the server).
K8S_BINARIES=(kube-apiserver kube-controller-manager kubectl)

# Debian packages every part of the test control plane needs.
# Format: "<command or path>:<package>".
if [[ "$K8S_FLAVOUR" == debian ]]; then
  CLUSTER_BUILD_DEPS=(
    "$K8S_DEB_GO:golang-1.19-go"
    "dpkg-source:dpkg-dev"
    "/usr/share/gocode/src/github.com/modern-go/reflect2/reflect2.go:golang-github-modern-go-reflect2-dev"
  )
else
  # The Go toolchain itself (>= 1.26) is not in Debian bookworm: build-module.sh checks it.
  CLUSTER_BUILD_DEPS=()
fi
CLUSTER_RUN_DEPS=(
  "etcd:etcd-server"
  "openssl:openssl"
  "curl:curl"
)

log() { printf '[mlsync-cluster] %s\n' "$*" >&2; }
die() { printf '[mlsync-cluster] error: %s\n' "$*" >&2; exit 1; }
# True when the kube-apiserver of the control plane start.sh runs in DIR answers /readyz.
apiserver_ready() { # DIR
  local d="$1"
  [[ -f "$d/server" && -f "$d/admin-token" ]] || return 1
  curl -fsS --max-time 2 --cacert "$d/ca.crt" -H "Authorization: Bearer $(cat "$d/admin-token")" \
    "$(cat "$d/server")/readyz" >/dev/null 2>&1
}

# Prints the Debian packages of the given "<cmd-or-path>:<pkg>" list that are missing.
missing_packages() {
  local entry what pkg
  for entry in "$@"; do
    what="${entry%%:*}"
    pkg="${entry#*:}"
    if [[ "$what" == /* ]]; then
      [[ -e "$what" ]] || printf '%s\n' "$pkg"
    else
      command -v "$what" >/dev/null 2>&1 || printf '%s\n' "$pkg"
    fi
  done
}

# Installs the given Debian packages with apt-get (needs root).
install_packages() {
  local runner=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "installing packages needs root or sudo: $*"
    runner=(sudo)
  fi
  log "installing: $*"
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# Checks (and with install=1, installs) the given dependency list.
ensure_deps() {
  local install="$1"
  shift
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ "$install" == 1 ]]; then
    install_packages "${missing[@]}"
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
  else
    die "missing Debian packages: ${missing[*]}
  install them with:  apt-get install ${missing[*]}
  or rerun with --install-deps to let this script install them"
  fi
}
