#!/usr/bin/env bash
# Starts a throw-away Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager)
# on free 127.0.0.1 ports, with all state in DIR:
#   DIR/kubeconfig   admin kubeconfig (static token in group system:masters, CA data inline)
#   DIR/audit.log    apiserver audit log (Metadata level, one JSON event per request)
#   DIR/pids         "<name> <pid>" per process, read by stop.sh
#   DIR/bin/kubectl  link to the kubectl of the same release (within skew of the server)
#   DIR/version      the server's version (e.g. v1.37.2)
#   DIR/*.log        component logs
# No kubelet or scheduler: pods stay Pending (tests play the kubelet through pods/status).
# Idempotent: if DIR already holds a running, ready control plane, it only prints DIR/kubeconfig.
#
# MLSYNC_TEST_K8S_VERSION picks the release (see build.sh); MLSYNC_K8S_BIN_DIR=/dir takes the
# binaries from /dir instead of the cache.
#
# Usage: tests/cluster/start.sh DIR [--watch-pid PID] [--remove-on-exit]
#   --watch-pid PID   also start a watchdog that stops everything once process PID is gone
#   --remove-on-exit  the watchdog also deletes DIR after stopping (only with --watch-pid)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

dir=""
watch_pid=""
remove_on_exit=0
while (($#)); do
  case "$1" in
    --watch-pid) watch_pid="${2:?--watch-pid needs a pid}"; shift 2 ;;
    --remove-on-exit) remove_on_exit=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) [[ -z "$dir" ]] || die "only one DIR allowed"; dir="$1"; shift ;;
  esac
done
[[ -n "$dir" ]] || die "usage: start.sh DIR [--watch-pid PID] [--remove-on-exit]"
[[ -z "$watch_pid" || -d "/proc/$watch_pid" ]] || die "--watch-pid $watch_pid: no such process"

bin_dir="${MLSYNC_K8S_BIN_DIR:-$K8S_CACHE_DIR}"
for b in "${K8S_BINARIES[@]}"; do
  [[ -x "$bin_dir/$b" ]] ||
    die "missing $bin_dir/$b: build it first with tests/cluster/build.sh (see docs/test-cluster.md)"
done
ensure_deps 0 "${CLUSTER_RUN_DEPS[@]}"
# Flags differ between releases: decide by what the binary says it is ("Kubernetes v1.37.2").
server_version="$("$bin_dir/kube-apiserver" --version 2>/dev/null | awk '{ print $2 }')"
[[ "$server_version" =~ ^v1\.([0-9]+)\. ]] ||
  die "$bin_dir/kube-apiserver --version printed no Kubernetes version: '$server_version'"
server_minor="${BASH_REMATCH[1]}"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
readyz_ok() { apiserver_ready "$dir"; }
if [[ -f "$dir/pids" ]]; then
  if [[ -f "$dir/kubeconfig" ]] && readyz_ok; then
    log "control plane in $dir is already running"
    printf '%s\n' "$dir/kubeconfig"
    exit 0
  fi
  "$here/stop.sh" "$dir" >/dev/null 2>&1 || true
fi
rm -f "$dir/pids" "$dir/kubeconfig" "$dir/server"
mkdir -p "$dir/bin"
ln -sfn "$bin_dir/kubectl" "$dir/bin/kubectl"
printf '%s\n' "$server_version" >"$dir/version"

# --- certificates, keys and tokens ---------------------------------------------------------------
ossl() { openssl "$@" >>"$dir/openssl.log" 2>&1 || die "openssl $1 failed: $(tail -n 5 "$dir/openssl.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mlsync-test-ca" \
  -keyout "$dir/ca.key" -out "$dir/ca.crt"
ossl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$dir/apiserver.key" -out "$dir/apiserver.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
  >"$dir/apiserver.ext"
ossl x509 -req -in "$dir/apiserver.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
  -extfile "$dir/apiserver.ext" -out "$dir/apiserver.crt"
ossl genrsa -out "$dir/sa.key" 2048
ossl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub"
chmod 600 "$dir"/*.key
token="$(openssl rand -hex 24)"
printf '%s' "$token" >"$dir/admin-token"
printf '%s,admin,admin-uid,"system:masters"\n' "$token" >"$dir/tokens.csv"
chmod 600 "$dir/admin-token" "$dir/tokens.csv"
cat >"$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
POLICY

# --- free ports ----------------------------------------------------------------------------------
# Ports listened on by anyone (IPv4 and IPv6), from /proc/net/tcp*.
listening_ports() {
  local hex
  awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    while read -r hex; do printf '%d\n' "0x$hex"; done
  return 0 # /proc/net/tcp6 is missing when IPv6 is disabled
}
# Sets variable $1 to a port below the kernel's ephemeral range that nobody listens on and that
# this script has not handed out yet (runs in the current shell so `taken` persists).
declare -A taken=()
etcd_port=""
api_port=""
free_port() {
  local used p
  used=" $(listening_ports | tr '\n' ' ') "
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ "$used" == *" $p "* || -n "${taken[$p]:-}" ]] && continue
    taken[$p]=1
    printf -v "$1" '%s' "$p"
    return
  done
}

# --- processes -----------------------------------------------------------------------------------
# Starts "$@" in its own session, logging to $dir/$name.log, and records its pid.
spawn() {
  local name="$1"
  shift
  setsid "$@" </dev/null >"$dir/$name.log" 2>&1 &
  printf '%s %s\n' "$name" "$!" >>"$dir/pids"
  # The command line, so that restart-apiserver.sh can start it again as it was.
  printf '%q ' "$@" >"$dir/$name.cmd"
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$dir/pids"; }
alive() { kill -0 "$(pid_of "$1")" 2>/dev/null; }
fail_with_log() {
  local name="$1" why="$2" tail
  # Take the tail before stopping, so it shows the failure and not the shutdown.
  tail="$(tail -n 25 "$dir/$name.log" 2>/dev/null | cut -c1-400 | sed 's/^/    /')"
  "$here/stop.sh" "$dir" >/dev/null 2>&1 || true
  die "$why; last lines of $dir/$name.log:
$tail"
}
port_clash() { grep -qi 'address already in use' "$dir/$1.log" 2>/dev/null; }

start_etcd() {
  local peer_port
  free_port etcd_port
  free_port peer_port
  rm -rf "$dir/etcd-data"
  spawn etcd etcd --name mlsync-test --data-dir "$dir/etcd-data" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "mlsync-test=http://127.0.0.1:$peer_port" --listen-metrics-urls "" \
    --log-level warn
  local i
  for ((i = 0; i < 150; i++)); do
    curl -fsS --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && return 0
    alive etcd || return 1
    sleep 0.2
  done
  return 1
}

start_apiserver() {
  free_port api_port
  printf 'https://127.0.0.1:%s' "$api_port" >"$dir/server"
  spawn kube-apiserver "$bin_dir/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$dir/apiserver-certs" \
    --tls-cert-file "$dir/apiserver.crt" --tls-private-key-file "$dir/apiserver.key" \
    --client-ca-file "$dir/ca.crt" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/sa.pub" \
    --service-account-signing-key-file "$dir/sa.key" \
    --service-cluster-ip-range 10.0.0.0/16 \
    --endpoint-reconciler-type none \
    --audit-policy-file "$dir/audit-policy.yaml" \
    --audit-log-path "$dir/audit.log" --audit-log-format json \
    --profiling=false
  local i
  for ((i = 0; i < 600; i++)); do
    readyz_ok && return 0
    alive kube-apiserver || return 1
    sleep 0.2
  done
  return 1
}

write_kubeconfig() {
  local file="$1" ca
  ca="$(base64 -w0 "$dir/ca.crt")"
  umask 077
  cat >"$file.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: mlsync-test
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority-data: $ca
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: mlsync-test
    context:
      cluster: mlsync-test
      user: admin
      namespace: default
current-context: mlsync-test
KUBECONFIG
  mv "$file.tmp" "$file"
}

start_time=$(date +%s%N)
for attempt in 1 2 3 4 5; do
  : >"$dir/pids"
  if start_etcd; then break; fi
  port_clash etcd && ((attempt < 5)) && { "$here/stop.sh" "$dir" >/dev/null 2>&1 || true; continue; }
  fail_with_log etcd "etcd did not become healthy"
done
for attempt in 1 2 3 4 5; do
  if start_apiserver; then break; fi
  if port_clash kube-apiserver && ((attempt < 5)); then
    kill "$(pid_of kube-apiserver)" 2>/dev/null || true
    sed -i '/^kube-apiserver /d' "$dir/pids"
    continue
  fi
  fail_with_log kube-apiserver "kube-apiserver did not become ready (/readyz) on port $api_port"
done
write_kubeconfig "$dir/controller-manager.kubeconfig"
# Serving ports 0 disable the controller-manager's own endpoints: nothing to clash with.
# (The insecure --port exists up to 1.23 and is on by default there.)
kcm_ports=(--secure-port 0)
((server_minor >= 24)) || kcm_ports+=(--port 0)
spawn kube-controller-manager "$bin_dir/kube-controller-manager" \
  --kubeconfig "$dir/controller-manager.kubeconfig" \
  --leader-elect=false \
  --service-account-private-key-file "$dir/sa.key" \
  --root-ca-file "$dir/ca.crt" \
  "${kcm_ports[@]}" \
  --profiling=false
sleep 0.5
alive kube-controller-manager || fail_with_log kube-controller-manager "kube-controller-manager exited at start"

if [[ -n "$watch_pid" ]]; then
  # Stops everything (and with --remove-on-exit deletes DIR) once $watch_pid is gone. Compares the
  # process start time too, so a recycled pid does not keep the control plane alive.
  watch_start="$(awk '{ print $22 }' "/proc/$watch_pid/stat")"
  # shellcheck disable=SC2016 # the script is expanded by the inner bash
  setsid bash -c '
    pid="$1"; start="$2"; dir="$3"; remove="$4"; stop="$5"
    while [[ "$(awk "{ print \$22 }" "/proc/$pid/stat" 2>/dev/null)" == "$start" ]]; do sleep 0.5; done
    MLSYNC_STOP_FROM_WATCHDOG=1 "$stop" "$dir"
    if [[ "$remove" == 1 ]]; then rm -rf "$dir"; fi
  ' mlsync-cluster-watchdog "$watch_pid" "$watch_start" "$dir" "$remove_on_exit" "$here/stop.sh" \
    </dev/null >>"$dir/watchdog.log" 2>&1 &
  printf 'watchdog %s\n' "$!" >>"$dir/pids"
fi

write_kubeconfig "$dir/kubeconfig"
log "control plane $server_version ready at https://127.0.0.1:$api_port after $((($(date +%s%N) - start_time) / 1000000)) ms (etcd :$etcd_port); kubeconfig: $dir/kubeconfig"
printf '%s\n' "$dir/kubeconfig"
