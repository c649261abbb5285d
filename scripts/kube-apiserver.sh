#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy (k8s.io/kubernetes at a pinned
# version) and caches the binary under .cache/kube-apiserver/. k8s.io/kubernetes
# refers to its staging modules (k8s.io/api, k8s.io/apiserver, ...) by relative
# paths; here they are replaced by their published v0.<minor>.<patch> tags,
# read from the kubernetes module's own go.mod. Idempotent: prints the path of
# the cached binary when it is already built.
#   usage: scripts/kube-apiserver.sh [version]   (default: KUBERNETES_VERSION of deploy-checks.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(sed -n 's/^KUBERNETES_VERSION=//p' scripts/deploy-checks.sh)}
out=".cache/kube-apiserver/v$version"
# One build at a time: CI starts one in the background at the beginning, and the
# deploy checks, which run last, wait here for it instead of building again.
mkdir -p .cache/kube-apiserver
exec 9>.cache/kube-apiserver/.lock
flock 9
binary="$out/kube-apiserver"
if [ -x "$binary" ] && [ -f "$out/.complete" ]; then
  echo "$PWD/$binary"
  exit 0
fi

mkdir -p "$out/mod"
mod="$out/mod"
staging_version="v0.${version#1.}"
started=$(date +%s)
(
  cd "$mod"
  kdir=$(go mod download -json "k8s.io/kubernetes@v$version" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s);
      if (m.Error) { console.error(m.Error); process.exit(1); }
      console.log(m.Dir);
    });')
  {
    echo "module chattensor.local/kube-apiserver"
    echo
    sed -n 's/^go \([0-9.]*\)$/go \1/p' "$kdir/go.mod"
    echo
    echo "require k8s.io/kubernetes v$version"
    echo
    # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.y.z`.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#replace \1 => \1 '"$staging_version"'#p' "$kdir/go.mod"
  } >go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@v$version"
  minor=${version#1.}; minor=${minor%%.*}
  # The version the server reports: helm checks the chart's kubeVersion against it.
  pkg=k8s.io/component-base/version
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o kube-apiserver \
    -ldflags "-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
    k8s.io/kubernetes/cmd/kube-apiserver
)
mv "$mod/kube-apiserver" "$binary"
echo "built kube-apiserver v$version in $(( $(date +%s) - started )) s" >"$out/.complete"
cat "$out/.complete" >&2
echo "$PWD/$binary"
