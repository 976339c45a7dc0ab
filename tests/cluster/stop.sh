#!/usr/bin/env bash
# Stops the control plane started by start.sh in DIR (SIGTERM, then SIGKILL after 10 s).
# Idempotent: succeeds when nothing is running. Leaves DIR (logs, audit log) in place.
#
# Usage: tests/cluster/stop.sh DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

dir="${1:-}"
[[ -n "$dir" ]] || die "usage: stop.sh DIR"
pids_file="$dir/pids"
[[ -f "$pids_file" ]] || exit 0

# Reverse start order: watchdog, controller-manager, apiserver, etcd.
mapfile -t entries < <(tac "$pids_file")
pids=()
for entry in "${entries[@]}"; do
  name="${entry%% *}"
  pid="${entry##* }"
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  if [[ "$name" == watchdog && -n "${MLSYNC_STOP_FROM_WATCHDOG:-}" ]]; then continue; fi
  # Skip pids that were recycled by an unrelated process.
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || continue
  [[ "$cmdline" == *"$name"* ]] || continue
  if kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); fi
done
for ((i = 0; i < 100; i++)); do
  left=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
  ((${#left[@]} == 0)) && break
  sleep 0.1
done
for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
rm -f "$pids_file"
