#!/usr/bin/env bash
# Kills the kube-apiserver of the control plane start.sh runs in DIR with SIGKILL (as a crash or
# an OOM kill does), waits WAIT seconds (default 2), then starts it again with the same command
# line: same port, certificates and etcd, so every object survives, while every client's
# connections and watches break. Returns once /readyz answers. For tests of what survives an
# API server restart (the daemon's drift watch).
#
# With --stop it only kills it (the control plane is down: etcd and the controller manager run
# on), with --start it only starts it again: for tests of what happens while it is down.
#
# Usage: tests/cluster/restart-apiserver.sh DIR [WAIT|--stop|--start]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

dir="${1:-}"
[[ -n "$dir" && -f "$dir/pids" && -f "$dir/kube-apiserver.cmd" ]] ||
  die "usage: restart-apiserver.sh DIR [WAIT] (DIR: a control plane started by start.sh)"
mode="${2:-2}"
if [[ "$mode" != --start ]]; then
  pid="$(awk '$1 == "kube-apiserver" { print $2 }' "$dir/pids")"
  [[ "$pid" =~ ^[0-9]+$ ]] || die "no kube-apiserver pid in $dir/pids"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$mode" == --stop ]]; then
    log "kube-apiserver in $dir stopped"
    exit 0
  fi
  sleep "$mode"
fi
cmd="$(cat "$dir/kube-apiserver.cmd")"
setsid bash -c "exec $cmd" </dev/null >>"$dir/kube-apiserver.log" 2>&1 &
new=$!
sed -i "s/^kube-apiserver .*/kube-apiserver $new/" "$dir/pids"
for ((i = 0; i < 600; i++)); do
  if apiserver_ready "$dir"; then
    log "kube-apiserver in $dir restarted (pid $new)"
    exit 0
  fi
  kill -0 "$new" 2>/dev/null || die "kube-apiserver did not start again; see $dir/kube-apiserver.log"
  sleep 0.2
done
die "kube-apiserver in $dir not ready 120 s after the restart"
