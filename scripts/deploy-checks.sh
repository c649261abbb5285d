#!/usr/bin/env bash
# Deployment checks (`npm run test:deploy`):
#   1. helm lint --strict and helm template for every value set in helm/chattensor/ci/
#   2. kubeconform -strict on every rendered manifest, against JSON schemas
#      generated here from the Kubernetes OpenAPI document and the CRDs used
#      (nothing is downloaded but Go modules)
#   3. promtool on the alert rules rendered from the chart, and on the compose
#      stack's Prometheus config and rules (which must match the chart's);
#      promtool unit tests of the alerts (test/deploy/alerts.test.yml); every
#      dashboard query parsed as PromQL
#   4. docker compose config, where a compose client is installed
#   5. the compiled services need only production dependencies (what the images install)
#   6. the Jest deploy tests (test/deploy): env variables against the services'
#      schemas, metric names against what the services export, chart behaviour,
#      images and compose file, and the services run with the compose
#      environment answering the chart's helm test request (needs nats-server
#      and redis-server, which it starts on free ports)
# `--write` regenerates deploy/prometheus/alerts.yml from the chart instead of
# failing when it is stale.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
# Schemas come from these modules: the cluster API the chart is validated
# against, and the versions of the CRDs it renders.
KUBERNETES_VERSION=1.34.2
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.21.0
COMPOSE_GO_VERSION=v2.16.2

write=false
[ "${1:-}" = "--write" ] && write=true

work=.cache/deploy
mkdir -p "$work/rendered" "$work/rules"
export PATH="$(go env GOPATH)/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

# Installs a Go tool at a pinned version unless that version is already on PATH.
ensure_go_tool() {
  local binary=$1 package=$2 version=$3 current=""
  if command -v "$binary" >/dev/null 2>&1; then
    current=$(go version -m "$(command -v "$binary")" 2>/dev/null | awk '$1 == "mod" { print $3; exit }')
  fi
  if [ "$current" != "$version" ]; then
    echo "installing $binary $version"
    go install "$package@$version"
  fi
}

# Prints the directory of a Go module in the module cache, downloading it first if needed.
module_dir() {
  (cd "$work" && go mod download -json "$1@$2") | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s);
      if (m.Error) { console.error(m.Error); process.exit(1); }
      console.log(m.Dir);
    });'
}

step "tools"
ensure_go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
ensure_go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is missing: install Debian's prometheus package (apt-get install -y prometheus)" >&2
  exit 1
fi
echo "helm $(helm version --short), kubeconform $(kubeconform -v), $(promtool --version 2>&1 | head -1)"

step "JSON schemas (Kubernetes $KUBERNETES_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION, KEDA $KEDA_VERSION)"
schemas="$work/schemas/k8s-$KUBERNETES_VERSION-po-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION"
if [ ! -f "$schemas/.complete" ]; then
  k8s=$(module_dir k8s.io/kubernetes "v$KUBERNETES_VERSION")
  po=$(module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")
  keda=$(module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")
  rm -rf "$schemas"
  node test/deploy/tools/k8s-json-schemas.mjs --out "$schemas" \
    --swagger "$k8s/api/openapi-spec/swagger.json" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    --crd "$keda/config/crd/bases/keda.sh_scaledobjects.yaml"
  touch "$schemas/.complete"
else
  echo "cached in $schemas"
fi
compose_schema="$(module_dir github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION")/schema/compose-spec.json"

chart=helm/chattensor
render() { helm template chattensor "$chart" --namespace chattensor --kube-version "$KUBERNETES_VERSION" "$@"; }

for values in "$chart"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  step "value set $name"
  helm lint --strict --quiet --kube-version "$KUBERNETES_VERSION" -f "$values" "$chart"
  render -f "$values" >"$work/rendered/$name.yaml"
  kubeconform -strict -summary -kubernetes-version "$KUBERNETES_VERSION" \
    -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$work/rendered/$name.yaml"
  if grep -q '^kind: PrometheusRule' "$work/rendered/$name.yaml"; then
    node test/deploy/tools/prometheus-rules.mjs "$work/rendered/$name.yaml" >"$work/rules/$name.yml"
    promtool check rules "$work/rules/$name.yml"
  fi
done

step "compose stack"
# The compose Prometheus evaluates the chart's rules; its targets carry namespace=chattensor.
render -f "$chart/ci/minimal-cpu-values.yaml" --set monitoring.prometheusRule.enabled=true \
  --show-only templates/monitoring/prometheusrule.yaml >"$work/rendered/compose-rules.yaml"
node test/deploy/tools/prometheus-rules.mjs "$work/rendered/compose-rules.yaml" >"$work/rules/compose.yml"
if ! cmp -s "$work/rules/compose.yml" deploy/prometheus/alerts.yml; then
  if $write; then
    cp "$work/rules/compose.yml" deploy/prometheus/alerts.yml
    echo "rewrote deploy/prometheus/alerts.yml"
  else
    diff -u deploy/prometheus/alerts.yml "$work/rules/compose.yml" || true
    echo "deploy/prometheus/alerts.yml differs from the chart's rules: run scripts/deploy-checks.sh --write" >&2
    exit 1
  fi
fi
promtool check rules deploy/prometheus/alerts.yml
promtool check config --syntax-only deploy/prometheus/prometheus.yml

if docker compose version >/dev/null 2>&1; then
  docker compose -f deploy/docker-compose.yml config --quiet && echo "docker compose config: ok"
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f deploy/docker-compose.yml config --quiet && echo "docker-compose config: ok"
else
  echo "no compose client here: the Jest tests validate the file against the compose specification's schema"
fi

step "alert rule unit tests and dashboard queries"
promtool test rules test/deploy/alerts.test.yml
node test/deploy/tools/dashboard-queries.mjs "$chart"/dashboards/*.json >"$work/rules/dashboards.yml"
promtool check rules "$work/rules/dashboards.yml"

step "production dependencies"
# The images install production dependencies only: every package the compiled
# services (and the model generator the miner's init container runs) require
# must be one of them.
prod="$work/prod-deps"
lock_hash=$(sha256sum package-lock.json .npmrc | sha256sum | cut -c1-16)
if [ ! -f "$prod/.installed-$lock_hash" ]; then
  rm -rf "$prod" && mkdir -p "$prod"
  cp package.json package-lock.json .npmrc "$prod/"
  (cd "$prod" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$prod/.installed-$lock_hash"
fi
# CI builds before this script runs (`npm test`); building again here would
# delete dist/ under anyone running the end-to-end tests.
[ -f dist/services/gateway/src/main.js ] || npm run build --silent
node test/deploy/tools/prod-deps.mjs --node-modules "$prod/node_modules" \
  dist/services/*/src/main.js dist/libs/inference/src/cli/generate-model.js

step "Jest deploy tests"
DEPLOY_RENDERED_DIR="$work/rendered" DEPLOY_K8S_VERSION="$KUBERNETES_VERSION" COMPOSE_SCHEMA="$compose_schema" \
  npx jest -c test/deploy/jest.config.js
