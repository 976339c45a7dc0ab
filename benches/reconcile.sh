#!/usr/bin/env bash
# Benchmark (not a test): mlsync against two peers that apply the same objects —
#   flux     Flux's apply engine, github.com/fluxcd/pkg/ssa's ResourceManager set up like
#            kustomize-controller (benches/peers/flux-ssa; drift check by dry-run apply, inventory
#            pruning)
#   kubectl  `kubectl apply --server-side --force-conflicts --prune --applyset=...` (ApplySet
#            pruning; the label-selector `--prune -l` refuses --server-side), kubectl of the
#            control plane's release
# for N generated services (5 objects each: ConfigMap, Secret, Deployment, Service, HPA; in 10
# namespaces, which each tool creates too). Each tool gets its own fresh control plane
# (tests/cluster/start.sh, the current release: same binaries, same settings, nothing left by the
# other tools) and its own namespaces, and goes through five steps:
#   cold    first apply into the empty cluster
#   no-op   the same again
#   change  one service changed in git (its image)
#   drift   one Deployment changed in the cluster (`kubectl set image`), then a reconcile
#   prune   10% of the services removed from git
# Each step: wall time, persisted writes, dry-run writes, reads (from the apiserver audit log, by
# user agent), peak RSS and CPU time (user + system) of the tool's process (/usr/bin/time). After
# each step the script checks that the tool did the work (object counts, images) and lets the
# controllers settle before the next one.
# mlsync loads, validates, decrypts (SOPS) and renders the repo itself; the peers read the YAML
# `mlsync render` made of the same repo (ahead of time, not measured).
#
# Usage: cargo build --release && benches/reconcile.sh [N=200]
#   MLSYNC_BENCH_TOOLS="mlsync flux kubectl"  which tools to run (default: all three)
#   MLSYNC_BENCH_OUT=DIR   keep logs, the per-step request breakdown (details.jsonl) and table.md
#   MLSYNC_BENCH_MLSYNC_ARGS="--events=false"  extra arguments for `mlsync apply`
#   MLSYNC=path/to/mlsync  measures another build (default: target/release/mlsync)
#   MLSYNC_BENCH_PAUSE_CONTROLLERS=1  diagnostic: stop kube-controller-manager (SIGSTOP) while a
#     tool runs, so that its time excludes the controllers' reaction to its writes (ReplicaSets,
#     Pods, HPA syncs) competing for the same CPUs; it catches up before the next step
# Prints a markdown table on stdout (progress on stderr).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
n="${1:-200}"
((n >= 10)) || { echo "N must be at least 10" >&2; exit 2; }
read -r -a tools <<<"${MLSYNC_BENCH_TOOLS:-mlsync flux kubectl}"
bin="${MLSYNC:-$root/target/release/mlsync}"
[ -x "$bin" ] || { echo "build first: cargo build --release (or point MLSYNC at a binary)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 2; }
read -r -a mlsync_extra <<<"${MLSYNC_BENCH_MLSYNC_ARGS:-}"
say() { printf '[bench] %s\n' "$*" >&2; }
load0="$(cut -d' ' -f1 /proc/loadavg)"

work="$(mktemp -d)"
out="${MLSYNC_BENCH_OUT:-$work/out}"
mkdir -p "$out/logs"
: >"$out/details.jsonl"
cp_dir=""
cleanup() {
  [[ -z "$cp_dir" ]] || tests/cluster/stop.sh "$cp_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# MLSYNC_K8S_BIN_DIR (see tests/cluster/start.sh) takes the control plane binaries from elsewhere.
[[ -n "${MLSYNC_K8S_BIN_DIR:-}" ]] || tests/cluster/build.sh >/dev/null
flux_bin="$(benches/peers/build.sh flux-ssa)"

# --- the git states: base, one service changed, 10% of the services removed ----------------------
prune_from=$((n - n / 10))
make_repo() { # dir
  local repo="$1" i
  mkdir -p "$repo/services" "$repo/secrets"
  printf 'sourceId: bench\ncreateNamespaces: true\npaths: [services]\n' >"$repo/mlsync.yaml"
  cp "$work/db.enc.yaml" "$repo/secrets/db.enc.yaml"
  for ((i = 0; i < n; i++)); do
    cat >"$repo/services/model-$i.yaml" <<SPEC
apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: model-$i
  namespace: team-$((i % 10))
spec:
  model: {name: model-$i, version: v1}
  image: registry.example.com/models/model-$i:v1
  config: {MODEL_NAME: model-$i}
  secrets: {file: secrets/db.enc.yaml}
  resources: {requests: {cpu: 100m}, limits: {cpu: 500m}}
  service: {type: ClusterIP}
  autoscaling: {minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 60}
SPEC
  done
}
recipient="$(sed -n 's/^# public key: //p' example-repo/demo-age-key.txt)"
printf 'DB_USER: bench\nDB_PASS: bench-password\n' >"$work/db.yaml"
"$bin" secrets encrypt --age "$recipient" --in-place "$work/db.yaml" 2>/dev/null
mv "$work/db.yaml" "$work/db.enc.yaml"
SOPS_AGE_KEY="$(cat example-repo/demo-age-key.txt)"
export SOPS_AGE_KEY
make_repo "$work/repo-base"
cp -r "$work/repo-base" "$work/repo-change"
sed -i 's/model-0:v1/model-0:v2/' "$work/repo-change/services/model-0.yaml"
cp -r "$work/repo-change" "$work/repo-prune"
for ((i = prune_from; i < n; i++)); do rm "$work/repo-prune/services/model-$i.yaml"; done

# The peers' manifests: the same objects in namespaces <prefix>team-*, Namespace objects first.
render() { # state prefix source-id
  local i
  for ((i = 0; i < 10; i++)); do
    printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %steam-%d\n' "$2" "$i"
  done
  "$bin" render --repo "$work/repo-$1" --show-secrets --source-id "$3" 2>/dev/null |
    sed "s/^\(\s*\)namespace: team-/\1namespace: $2team-/"
}
for state in base change prune; do
  render "$state" f bench-flux >"$work/flux-$state.yaml"
  render "$state" k bench-kubectl >"$work/kubectl-$state.yaml"
done

# --- measuring -------------------------------------------------------------------------------------
results="$work/results.tsv"
: >"$results"
measure() { # tool step ua command...
  local tool="$1" step="$2" ua="$3" l0 l1 t0 t1 rc=0 counts rss user sys
  shift 3
  [[ -z "${MLSYNC_BENCH_PAUSE_CONTROLLERS:-}" ]] || kill -STOP "$kcm_pid"
  l0=$(wc -l <"$audit")
  t0=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$work/rss" "$@" >"$out/logs/$tool-$step.log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  l1=$(wc -l <"$audit")
  [[ -z "${MLSYNC_BENCH_PAUSE_CONTROLLERS:-}" ]] || kill -CONT "$kcm_pid"
  if ((rc != 0)) && ! [[ "$tool" == mlsync && "$rc" == 1 ]]; then
    say "$tool $step failed (exit $rc):"
    tail -n 20 "$out/logs/$tool-$step.log" >&2
    exit 2
  fi
  counts="$(python3 benches/audit_window.py "$audit" "$l0" "$l1" "$ua")"
  read -r rss user sys < <(tail -n 1 "$work/rss")
  python3 - "$counts" "$n" "$tool" "$step" "$t0" "$t1" "$rss" "$user" "$sys" "$out/details.jsonl" >>"$results" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
n, tool, step = int(sys.argv[2]), sys.argv[3], sys.argv[4]
wall = (int(sys.argv[6]) - int(sys.argv[5])) / 1e9
rss, cpu = int(sys.argv[7]), float(sys.argv[8]) + float(sys.argv[9])
with open(sys.argv[10], "a", encoding="utf-8") as f:
    f.write(json.dumps({"n": n, "tool": tool, "step": step, "wall_s": round(wall, 3), "cpu_s": round(cpu, 2),
                        "peak_rss_kib": rss, "audit": c}) + "\n")
print(f"{step}\t{tool}\t{wall:.2f}\t{c['writes']}\t{c['dry_run']}\t{c['reads']}\t{rss / 1024:.1f}\t{cpu:.2f}")
PY
  say "$(tail -n 1 "$results" | tr '\t' ' ')"
}

# Waits until every Deployment has a ReplicaSet (the controllers caught up with the last step),
# then a little longer (HPA controller's first sync of new HPAs happens within 15 s).
settle() { # seconds-after
  local i want have
  for ((i = 0; i < 300; i++)); do
    want=$("$kubectl" get deployments -A --no-headers 2>/dev/null | wc -l)
    have=$("$kubectl" get replicasets -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.ownerReferences[0].name}{"\n"}{end}' 2>/dev/null | sort -u | wc -l)
    ((have >= want)) && break
    sleep 1
  done
  sleep "$1"
}

check() { # prefix step
  local p="$1" step="$2" deploys want img0 img1
  deploys=$("$kubectl" get deployments -A --no-headers | awk -v p="${p}team-" 'index($1, p) == 1' | wc -l)
  want=$n
  [[ "$step" == prune ]] && want=$prune_from
  ((deploys == want)) || { say "after $step: $deploys Deployments in ${p}team-*, want $want"; exit 2; }
  img0="$("$kubectl" get deployment model-0 -n "${p}team-0" -o jsonpath='{.spec.template.spec.containers[0].image}')"
  img1="$("$kubectl" get deployment model-1 -n "${p}team-1" -o jsonpath='{.spec.template.spec.containers[0].image}')"
  case "$step" in
    cold | no-op) [[ "$img0" == *model-0:v1 ]] || { say "after $step: model-0 has image $img0"; exit 2; } ;;
    *) [[ "$img0" == *model-0:v2 ]] || { say "after $step: model-0 has image $img0, want v2"; exit 2; } ;;
  esac
  [[ "$img1" == *model-1:v1 ]] || { say "after $step: model-1 has image $img1, want v1"; exit 2; }
}

# The command line of TOOL reconciling git state STATE (base, change, prune).
command_for() { # tool state
  case "$1" in
    mlsync) cmd=("$bin" apply --repo "$work/repo-$2" --log warn "${mlsync_extra[@]}") ;;
    flux) cmd=("$flux_bin" -f "$work/flux-$2.yaml" -inventory "$work/flux-inventory.json") ;;
    kubectl)
      cmd=(env KUBECTL_APPLYSET=true "$kubectl" apply --server-side --force-conflicts --field-manager=bench
        --prune --applyset=applysets.bench.mlsync.dev/kubectl-bench -f "$work/kubectl-$2.yaml")
      ;;
  esac
}
# Runs the five steps for one tool.
steps() { # tool prefix ua
  local tool="$1" p="$2" ua="$3" cmd
  command_for "$tool" base
  measure "$tool" cold "$ua" "${cmd[@]}" && check "$p" cold && settle 20
  measure "$tool" no-op "$ua" "${cmd[@]}" && check "$p" no-op && settle 2
  command_for "$tool" change
  measure "$tool" change "$ua" "${cmd[@]}" && check "$p" change && settle 2
  "$kubectl" set image deployment/model-1 -n "${p}team-1" model=registry.example.com/models/model-1:drifted >/dev/null
  settle 2
  measure "$tool" drift "$ua" "${cmd[@]}" && check "$p" drift && settle 2
  command_for "$tool" prune
  measure "$tool" prune "$ua" "${cmd[@]}" && check "$p" prune
}

start_cp() {
  cp_dir="$work/cp-$1"
  tests/cluster/start.sh "$cp_dir" --watch-pid $$ >/dev/null
  export KUBECONFIG="$cp_dir/kubeconfig" MLSYNC_KUBECONFIG="$cp_dir/kubeconfig"
  audit="$cp_dir/audit.log"
  kubectl="$cp_dir/bin/kubectl"
  server_version="$(cat "$cp_dir/version")"
  kcm_pid="$(awk '$1 == "kube-controller-manager" { print $2 }' "$cp_dir/pids")"
}
stop_cp() {
  cp -f "$cp_dir"/*.log "$out/logs/" 2>/dev/null || true
  mv "$out/logs/audit.log" "$out/logs/audit-$1.log" 2>/dev/null || true
  tests/cluster/stop.sh "$cp_dir" >/dev/null 2>&1 || true
  rm -rf "$cp_dir"
  cp_dir=""
}

for tool in "${tools[@]}"; do
  say "$tool: $n services, fresh control plane"
  start_cp "$tool"
  case "$tool" in
    mlsync) steps mlsync "" mlsync/ ;;
    flux) steps flux f flux-ssa-bench ;;
    kubectl)
      # An ApplySet parent that holds objects of several namespaces must be cluster-scoped: a
      # custom resource whose CRD is labelled as a parent type, created with its id beforehand.
      id="applyset-$(printf 'kubectl-bench..ApplySet.bench.mlsync.dev' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')-v1"
      "$kubectl" apply -f - >/dev/null <<CRD
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applysets.bench.mlsync.dev
  labels: {applyset.kubernetes.io/is-parent-type: "true"}
spec:
  group: bench.mlsync.dev
  scope: Cluster
  names: {plural: applysets, singular: applyset, kind: ApplySet, listKind: ApplySetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
CRD
      "$kubectl" wait --for condition=Established crd/applysets.bench.mlsync.dev >/dev/null
      "$kubectl" apply -f - >/dev/null <<PARENT
apiVersion: bench.mlsync.dev/v1
kind: ApplySet
metadata:
  name: kubectl-bench
  labels: {applyset.kubernetes.io/id: $id}
  annotations:
    applyset.kubernetes.io/tooling: kubectl/$server_version
    applyset.kubernetes.io/contains-group-kinds: ""
PARENT
      steps kubectl k kubectl/
      ;;
    *) say "unknown tool $tool (mlsync, flux, kubectl)"; exit 2 ;;
  esac
  stop_cp "$tool"
done

# --- the table -------------------------------------------------------------------------------------
{
  echo "$n services ($((n * 5)) objects, 10 namespaces), Kubernetes $server_version, $(nproc) cores (load average at start: $load0); one fresh control plane per tool${MLSYNC_BENCH_PAUSE_CONTROLLERS:+; controller-manager paused while a tool runs}"
  echo
  echo "| step | tool | wall (s) | writes | dry-run writes | reads | peak RSS (MiB) | CPU (s) |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for step in cold no-op change drift prune; do
    awk -F'\t' -v s="$step" '$1 == s { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$results"
  done
} | tee "$out/table.md"
