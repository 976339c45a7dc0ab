# Shared helpers for the mlsync test control-plane scripts (sourced, not executed).
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts sourcing this file

# Kubernetes release built from Debian bookworm's `kubernetes` source package.
K8S_VERSION="v1.20.2"
K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
K8S_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/k8s/${K8S_VERSION}"

# Debian packages every part of the test control plane needs.
# Format: "<command or path>:<package>".
CLUSTER_BUILD_DEPS=(
  "go:golang-go"
  "etcd:etcd-server"
  "openssl:openssl"
  "dpkg-source:dpkg-dev"
  "/usr/share/gocode/src/github.com/modern-go/reflect2/reflect2.go:golang-github-modern-go-reflect2-dev"
)
CLUSTER_RUN_DEPS=(
  "etcd:etcd-server"
  "openssl:openssl"
  "curl:curl"
)

log() { printf '[mlsync-cluster] %s\n' "$*" >&2; }
die() { printf '[mlsync-cluster] error: %s\n' "$*" >&2; exit 1; }

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
