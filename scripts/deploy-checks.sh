#!/usr/bin/env bash
# Deployment checks (`npm run test:deploy`):
#   1. helm lint --strict and helm template for every value set in helm/chattensor/ci/
#   2. kubeconform -strict on every rendered manifest for every Kubernetes
#      minor the chart claims (Chart.yaml kubeVersion), against JSON schemas
#      generated here from each version's OpenAPI document and the CRDs used
#      (nothing is downloaded but Go modules)
#   3. a real kube-apiserver (built from the Go module proxy by
#      scripts/kube-apiserver.sh) on Debian's etcd: every value set applied in
#      a server-side dry run with strict field validation, then one real
#      helm install, helm upgrade (miner HPA to KEDA) and helm uninstall
#   4. promtool on the alert rules rendered from the chart, and on the compose
#      stack's Prometheus config and rules (which must match the chart's);
#      promtool unit tests of the alerts for a full, a validator-only and a
#      miner-only release (test/deploy/alerts*.test.yml); every dashboard
#      query parsed as PromQL
#   5. docker compose config, where a compose client is installed
#   6. the compiled services need only production dependencies, and each
#      image's application layer (its Dockerfile's pruned node_modules and
#      dist, assembled here without a container engine) loads its service;
#      what each node_modules holds and its size
#   7. the Jest deploy tests (test/deploy): env variables against the services'
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
# against, and the versions of the CRDs it renders. KUBERNETES_VERSION is also
# the kube-apiserver the chart is installed on; KUBERNETES_OLDER_VERSIONS are
# the latest patches of the older minors Chart.yaml's kubeVersion admits (the
# script checks that they cover every one).
KUBERNETES_VERSION=1.34.2
KUBERNETES_OLDER_VERSIONS="1.29.15 1.30.14 1.31.14 1.32.13 1.33.13"
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

# A kube-apiserver on a fresh etcd, on free local ports, with a static admin
# token; writes $KUBECONFIG. No controller-manager runs, so nothing creates
# pods or service-account tokens: the ServiceAccount admission plugin (which
# would look for those) is off, everything else is the server's default.
kube_api_pids=()
kube_api_stop() {
  local pid
  for pid in "${kube_api_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  kube_api_pids=()
}
trap kube_api_stop EXIT
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }
kube_api_start() {
  local kas api etcd_port peer_port api_port token started
  command -v etcd >/dev/null 2>&1 || { echo "etcd is missing: install Debian's etcd-server package" >&2; exit 1; }
  started=$(date +%s)
  kas=$(bash scripts/kube-apiserver.sh "$KUBERNETES_VERSION")
  api="$PWD/$work/kube-api"
  rm -rf "$api" && mkdir -p "$api"
  node -e 'const { generateKeyPairSync } = require("crypto");
    process.stdout.write(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }));' >"$api/sa.key"
  token=$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')
  echo "$token,deploy-checks,deploy-checks,\"system:masters\"" >"$api/tokens.csv"
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  etcd --data-dir "$api/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" >"$api/etcd.log" 2>&1 &
  kube_api_pids+=($!)
  "$kas" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$api/certs" --token-auth-file "$api/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$api/sa.key" \
    --service-account-signing-key-file "$api/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
    --disable-admission-plugins ServiceAccount >"$api/kube-apiserver.log" 2>&1 &
  kube_api_pids+=($!)
  for _ in $(seq 1 600); do
    [ -f "$api/certs/apiserver.crt" ] && curl -sf --cacert "$api/certs/apiserver.crt" -H "Authorization: Bearer $token" \
      "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! curl -sf --cacert "$api/certs/apiserver.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz" >/dev/null; then
    tail -20 "$api/etcd.log" "$api/kube-apiserver.log" >&2
    echo "kube-apiserver did not become ready" >&2
    exit 1
  fi
  cat >"$api/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: deploy-checks
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority: certs/apiserver.crt
users:
  - name: deploy-checks
    user:
      token: $token
contexts:
  - name: deploy-checks
    context: { cluster: deploy-checks, user: deploy-checks }
current-context: deploy-checks
KUBECONFIG
  export KUBECONFIG="$api/kubeconfig" KUBE_API_URL="https://127.0.0.1:$api_port" KUBE_API_TOKEN="$token" KUBE_API_CA="$api/certs/apiserver.crt"
  echo "kube-apiserver $("$kas" --version | cut -d' ' -f2) ready on 127.0.0.1:$api_port with etcd $(etcd --version | awk 'NR == 1 { print $3 }') after $(( $(date +%s) - started )) s"
}

step "tools"
ensure_go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
ensure_go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is missing: install Debian's prometheus package (apt-get install -y prometheus)" >&2
  exit 1
fi
echo "helm $(helm version --short), kubeconform $(kubeconform -v), $(promtool --version 2>&1 | head -1)"

# Every minor from the chart's kubeVersion lower bound to KUBERNETES_VERSION must be checked.
chart=helm/chattensor
claimed_min=$(sed -n 's/^kubeVersion: *">=1\.\([0-9]*\)\..*/\1/p' "$chart/Chart.yaml")
versions="$KUBERNETES_OLDER_VERSIONS $KUBERNETES_VERSION"
checked=$(for v in $versions; do echo "${v#1.}" | cut -d. -f1; done | sort -n | tr '\n' ' ')
expected=$(seq "$claimed_min" "$(echo "${KUBERNETES_VERSION#1.}" | cut -d. -f1)" | tr '\n' ' ')
if [ -z "$claimed_min" ] || [ "$checked" != "$expected" ]; then
  echo "Chart.yaml claims Kubernetes minors $expected but KUBERNETES_*VERSION(S) check $checked" >&2
  exit 1
fi

po=$(module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")
keda=$(module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")
crds=(
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
  "$keda/config/crd/bases/keda.sh_scaledobjects.yaml"
)
schemas_of() { echo "$work/schemas/k8s-$1-po-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION"; }
for version in $versions; do
  step "JSON schemas (Kubernetes $version, prometheus-operator $PROMETHEUS_OPERATOR_VERSION, KEDA $KEDA_VERSION)"
  schemas=$(schemas_of "$version")
  if [ ! -f "$schemas/.complete" ]; then
    k8s=$(module_dir k8s.io/kubernetes "v$version")
    rm -rf "$schemas"
    node test/deploy/tools/k8s-json-schemas.mjs --out "$schemas" \
      --swagger "$k8s/api/openapi-spec/swagger.json" $(printf -- '--crd %s ' "${crds[@]}")
    touch "$schemas/.complete"
  else
    echo "cached in $schemas"
  fi
done
compose_schema="$(module_dir github.com/compose-spec/compose-go/v2 "$COMPOSE_GO_VERSION")/schema/compose-spec.json"

render() { helm template chattensor "$chart" --namespace chattensor --kube-version "$KUBERNETES_VERSION" "$@"; }

for values in "$chart"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  step "value set $name"
  helm lint --strict --quiet --kube-version "$KUBERNETES_VERSION" -f "$values" "$chart"
  render -f "$values" >"$work/rendered/$name.yaml"
  for version in $versions; do
    # Rendered for that version (the chart may adapt to the cluster's API), checked against its schemas.
    helm template chattensor "$chart" --namespace chattensor --kube-version "$version" -f "$values" >"$work/rendered/$name-$version.yaml"
    printf 'Kubernetes %-8s ' "$version"
    kubeconform -strict -summary -kubernetes-version "$version" \
      -schema-location "$(schemas_of "$version")/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$work/rendered/$name-$version.yaml"
  done
  if grep -q '^kind: PrometheusRule' "$work/rendered/$name.yaml"; then
    node test/deploy/tools/prometheus-rules.mjs "$work/rendered/$name.yaml" >"$work/rules/$name.yml"
    promtool check rules "$work/rules/$name.yml"
  fi
done

step "kube-apiserver $KUBERNETES_VERSION on etcd: server-side dry run of every value set, helm install, upgrade, uninstall"
kube_api_start
kube_apply() { node test/deploy/tools/kube-apply.mjs --kubeconfig "$KUBECONFIG" "$@"; }
kube_apply --wait-established "${crds[@]}"
# The release namespace, and the one the dashboards go to (gpu-miners).
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' chattensor monitoring >"$work/namespace.yaml"
kube_apply "$work/namespace.yaml"
for values in "$chart"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  printf '%-24s ' "$name"
  kube_apply --dry-run --namespace chattensor "$work/rendered/$name.yaml"
done
bash test/deploy/tools/helm-lifecycle.sh "$chart" "$chart/ci/autoscaling-keda-values.yaml"
# The server keeps running for the Jest tests that need one (KUBE_API_*); the exit trap stops it.

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
# The full install (the compose stack's rules), and the releases that run only part of the system.
promtool test rules test/deploy/alerts.test.yml test/deploy/alerts-validator-only.test.yml test/deploy/alerts-miner-only.test.yml
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

step "image contents (each image's application layer, assembled as its Dockerfile does, without a container engine)"
# Outside the repository, so that Node's module resolution cannot climb to its node_modules.
images=$(mktemp -d)
repo=$PWD
trap 'kube_api_stop; rm -rf "$images"' EXIT
for service in gateway validator miner chain-indexer; do
  mkdir -p "$images/$service"
  cp -al "$prod/node_modules" "$images/$service/node_modules"
  cp -al dist "$images/$service/dist"
  # The prune command line of the service's Dockerfile, run on the same production install.
  prune_args=$(sed -n 's/^RUN node prune-node-modules.mjs //p' "deploy/$service/Dockerfile")
  [ -n "$prune_args" ] || { echo "deploy/$service/Dockerfile does not prune its node_modules" >&2; exit 1; }
  (cd "$images/$service" && node "$repo/deploy/prune-node-modules.mjs" $prune_args)
  # Every module the service loads at start is in the image: it gets as far as checking its configuration.
  status=0
  (cd "$images/$service" && env -i PATH="$PATH" CHAIN_MODE=invalid node "dist/services/$service/src/main.js" >/dev/null 2>&1) || status=$?
  if [ "$status" != 78 ]; then
    (cd "$images/$service" && env -i PATH="$PATH" CHAIN_MODE=invalid node "dist/services/$service/src/main.js") || true
    echo "$service did not load from its image's node_modules (exit $status, expected 78: invalid configuration)" >&2
    exit 1
  fi
done
node test/deploy/tools/image-contents.mjs "$images" >"$work/images.json"
node -e 'const r = require(process.argv[1]); for (const [image, i] of Object.entries(r))
  console.log(`${image.padEnd(14)} node_modules ${(i.nodeModulesBytes / 1e6).toFixed(1).padStart(6)} MB (${i.packages.length} packages), dist ${(i.distBytes / 1e6).toFixed(1)} MB, native: ${i.nativeBinaryFolders.join(" ") || "none"}`)' "$PWD/$work/images.json"

step "Jest deploy tests"
DEPLOY_RENDERED_DIR="$work/rendered" DEPLOY_K8S_VERSION="$KUBERNETES_VERSION" COMPOSE_SCHEMA="$compose_schema" \
  DEPLOY_IMAGES_DIR="$images" DEPLOY_IMAGES_REPORT="$PWD/$work/images.json" \
  npx jest -c test/deploy/jest.config.js
