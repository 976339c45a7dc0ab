#!/usr/bin/env bash
# Benchmark (not a test): cold apply of N generated services (5 objects each: ConfigMap, Secret,
# Deployment, Service, HPA) against a local control plane, then a no-op reconcile — for mlsync,
# and for `kubectl apply --server-side` of the same rendered manifests (into other namespaces).
# Prints wall time, write/read requests (from the apiserver audit log, by user agent) and
# mlsync's peak RSS.
#
# Usage: benches/reconcile.sh [N=200]    (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n="${1:-200}"
bin=target/release/mlsync
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
trap 'tests/cluster/stop.sh "$work/cp" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tests/cluster/build.sh >/dev/null # MLSYNC_TEST_K8S_VERSION picks the release (default: current)
tests/cluster/start.sh "$work/cp" >/dev/null
export MLSYNC_KUBECONFIG="$work/cp/kubeconfig" KUBECONFIG="$work/cp/kubeconfig"
export PATH="$work/cp/bin:$PATH" # the kubectl of the server's release
audit="$work/cp/audit.log"

repo="$work/repo"
mkdir -p "$repo/services" "$repo/secrets"
printf 'sourceId: bench\ncreateNamespaces: true\npaths: [services]\n' > "$repo/mlsync.yaml"
recipient="$(sed -n 's/^# public key: //p' example-repo/demo-age-key.txt)"
printf 'DB_USER: bench\nDB_PASS: bench-password\n' > "$repo/secrets/db.yaml"
"$bin" secrets encrypt --age "$recipient" --in-place "$repo/secrets/db.yaml" 2>/dev/null
mv "$repo/secrets/db.yaml" "$repo/secrets/db.enc.yaml"
for i in $(seq 0 $((n - 1))); do
  cat > "$repo/services/model-$i.yaml" <<SPEC
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
export SOPS_AGE_KEY="$(cat example-repo/demo-age-key.txt)"

count() { # user-agent prefix, verbs regex
  python3 - "$audit" "$1" "$2" <<'PY'
import json, re, sys
log, ua, verbs = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
n = 0
for line in open(log):
    e = json.loads(line)
    if e.get("stage") == "ResponseComplete" and (e.get("userAgent") or "").startswith(ua) and verbs.fullmatch(e["verb"]):
        n += 1
print(n)
PY
}
measure() { # label, ua, command...
  local label="$1" ua="$2"; shift 2
  local w0 r0 w1 r1 start end
  w0=$(count "$ua" 'create|update|patch|delete'); r0=$(count "$ua" 'get|list|watch')
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out" 2>&1 || true
  end=$(date +%s.%N)
  w1=$(count "$ua" 'create|update|patch|delete'); r1=$(count "$ua" 'get|list|watch')
  printf '%-34s wall %6.2f s   writes %5d   reads %5d   peak RSS %6.1f MiB\n' "$label" \
    "$(echo "$end - $start" | bc)" $((w1 - w0)) $((r1 - r0)) "$(echo "$(tail -n 1 "$work/rss") / 1024" | bc -l)"
}

echo "services: $n ($((n * 5)) objects), control plane: $(kubectl version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
measure "mlsync apply (cold)" "mlsync/" "$bin" apply --repo "$repo" --log warn
measure "mlsync apply (no-op)" "mlsync/" "$bin" apply --repo "$repo" --log warn

hpa_version=v2
kubectl api-versions | grep -x autoscaling/v2 >/dev/null || hpa_version=v2beta2 # Kubernetes < 1.23
"$bin" render --repo "$repo" --show-secrets --hpa-version "$hpa_version" --source-id bench-kubectl 2>/dev/null \
  | sed 's/namespace: team-/namespace: kteam-/' > "$work/manifests.yaml"
for i in $(seq 0 9); do kubectl create namespace "kteam-$i" >/dev/null; done
measure "kubectl apply --server-side (cold)" "kubectl/" kubectl apply --server-side --field-manager=bench -f "$work/manifests.yaml"
measure "kubectl apply --server-side (no-op)" "kubectl/" kubectl apply --server-side --field-manager=bench -f "$work/manifests.yaml"
