#!/usr/bin/env bash
# One real release on the kube-apiserver of $KUBECONFIG (scripts/deploy-checks.sh
# starts it): helm install with the gateway and miners on HPAs, helm upgrade to
# KEDA ScaledObjects, helm uninstall; after each step the server's objects are
# checked, not helm's record of them.
#   usage: helm-lifecycle.sh CHART VALUES   (needs KUBE_API_URL, KUBE_API_TOKEN, KUBE_API_CA)
set -euo pipefail
chart=$1 values=$2
ns=chattensor-lifecycle release=chattensor

# Names of the release's objects of one resource type, sorted, one per line.
names() {
  curl -sf --cacert "$KUBE_API_CA" -H "Authorization: Bearer $KUBE_API_TOKEN" \
    "$KUBE_API_URL/$1/namespaces/$ns/$2?labelSelector=app.kubernetes.io%2Finstance%3D$release" |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const item of JSON.parse(s).items.map((i) => i.metadata.name).sort()) console.log(item); });'
}
expect() {
  local what=$1 expected=$2 actual=$3
  if [ "$actual" != "$expected" ]; then
    printf '%s: expected [%s], the server has [%s]\n' "$what" "$expected" "$actual" >&2
    exit 1
  fi
  printf '  %s: [%s]\n' "$what" "$(echo "$actual" | tr '\n' ' ' | sed 's/ $//')"
}
hpas() { names apis/autoscaling/v2 horizontalpodautoscalers; }
scaled() { names apis/keda.sh/v1alpha1 scaledobjects; }
deployments() { names apis/apps/v1 deployments; }
# The chart names objects `<release>-chattensor-*`, or `<release>-*` when the release name holds the chart name.
full=$release

echo "helm install (gateway and miners on HPAs)"
helm install "$release" "$chart" --namespace "$ns" --create-namespace -f "$values" \
  --set gateway.keda.enabled=false --set gateway.autoscaling.enabled=true \
  --set miner.keda.enabled=false --set miner.autoscaling.enabled=true >/dev/null
expect deployments "$(printf '%s\n' "$full-chain-indexer" "$full-gateway" "$full-miner" "$full-validator")" "$(deployments)"
expect "autoscalers" "$(printf '%s\n' "$full-gateway" "$full-miner")" "$(hpas)"
expect "ScaledObjects" "" "$(scaled)"

echo "helm upgrade (gateway and miners on KEDA)"
helm upgrade "$release" "$chart" --namespace "$ns" -f "$values" >/dev/null
expect "autoscalers" "" "$(hpas)"
expect "ScaledObjects" "$(printf '%s\n' "$full-gateway" "$full-miner")" "$(scaled)"
revision=$(helm history "$release" --namespace "$ns" --max 1 -o json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s)[0].status))')
expect "release status" deployed "$revision"

echo "helm uninstall"
helm uninstall "$release" --namespace "$ns" >/dev/null
expect deployments "" "$(deployments)"
expect "autoscalers" "" "$(hpas)"
expect "ScaledObjects" "" "$(scaled)"
expect services "" "$(names api/v1 services)"
expect "network policies" "" "$(names apis/networking.k8s.io/v1 networkpolicies)"
