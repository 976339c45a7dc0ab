#!/usr/bin/env bash
# Benchmark (not a test): idle CPU and resident memory of `mlsync run` with N generated services
# (default 200; 4 objects each, 10 namespaces), after the first reconcile, against the cluster
# in KUBECONFIG (e.g. `tests/cluster/start.sh /tmp/cp` → /tmp/cp/kubeconfig).
#
#   cargo build --release && KUBECONFIG=/tmp/cp/kubeconfig benches/idle.sh [N]
#
# Prints CPU ticks used over 30 s of idling (path mode, watching, 60 s interval), VmRSS and
# VmHWM (the cold apply's peak). MLSYNC=path/to/binary measures another build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n="${1:-200}"
bin="${MLSYNC:-target/release/mlsync}"
port="${PORT:-19479}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo bench -q --bench validate_render -- --write-repo "$work/all" >/dev/null
mkdir -p "$work/repo/services"
printf 'sourceId: idle-bench\npaths: [services]\ncreateNamespaces: true\n' >"$work/repo/mlsync.yaml"
for ((f = 0; f < n / 10; f++)); do
  cp "$work/all/services/$(printf 'file-%03d.yaml' "$f")" "$work/repo/services/"
done
"$bin" run --repo "$work/repo" --admin-addr "127.0.0.1:$port" --log warn 2>"$work/log" &
pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/log" >&2; exit 2; }
sleep 5
t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
sleep 30
t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "idle with $n services: $((t1 - t0)) CPU ticks in 30 s, RSS $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB)"
