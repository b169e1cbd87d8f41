#!/usr/bin/env bash
# Builds (or reuses) the real node's Kubernetes binaries: kubelet and kube-proxy.
#
# They come from tools/node/kubernetes, a tools module that pins exactly the same
# k8s.io/kubernetes version and replace lines as the control plane's
# (tools/controlplane/kubernetes; a unit test checks they agree), kept apart so that
# adding node tools does not change the control plane's cache key. Binaries are cached
# under $TURNOUT_CACHE/node/<key>, the key made of the pinned version and a hash of
# the module's go.mod/go.sum, so an unchanged pin is a fast no-op.
#
# Usage:
#   tools/build-node.sh              build if needed, print the bin dir
#   tools/build-node.sh --print-dir  print the cache dir without building
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module="$repo/tools/node/kubernetes"
cache_root="${TURNOUT_CACHE:-$HOME/.cache/turnout}/node"
recipe=1

die() { echo "build-node: $*" >&2; exit 1; }

k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ { print $2; exit }
  $1 == "require" && $2 == "k8s.io/kubernetes" { print $3; exit }' "$module/go.mod")
[[ -n $k8s_version ]] || die "k8s.io/kubernetes is not pinned in $module/go.mod"
pins_hash=$({ echo "recipe $recipe"; cat "$module/go.mod" "$module/go.sum"; } | sha256sum | cut -c1-12)
dest="$cache_root/k8s-${k8s_version}_${pins_hash}"

if [[ ${1-} == --print-dir ]]; then
  echo "$dest"
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument: $1 (only --print-dir is accepted)"

binaries=(kubelet kube-proxy)
complete() {
  [[ -f $dest/complete ]] || return 1
  local b
  for b in "${binaries[@]}"; do [[ -x $dest/bin/$b ]] || return 1; done
}
if complete; then
  echo "node binaries (cached): $dest/bin"
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; install Go 1.26+"
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if complete; then
  echo "node binaries (cached): $dest/bin"
  exit 0
fi

work="$dest.partial"
rm -rf "$work"
mkdir -p "$work/bin"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--p=2} -buildvcs=false"

k8s_minor=$(cut -d. -f2 <<<"$k8s_version")
ldflags="-s -w"
for kv in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$k8s_minor" gitTreeState=clean \
  buildDate=1970-01-01T00:00:00Z; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done

echo "building kubelet and kube-proxy $k8s_version (about 30 s with the control plane's build cache warm, 5 min cold)" >&2
started=$SECONDS
(cd "$module" && go build -trimpath -ldflags "$ldflags" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy) &
build=$!
# A cold build takes minutes: say it is still going rather than go quiet.
while kill -0 "$build" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$build" 2>/dev/null || break; sleep 1; done
  kill -0 "$build" 2>/dev/null && echo "  ... still building kubelet and kube-proxy ($((SECONDS - started)) s)" >&2
done
wait "$build" || die "go build failed in $module"
for b in "${binaries[@]}"; do [[ -x $work/bin/$b ]] || die "build produced no $b"; done
echo "kubernetes $k8s_version" >"$work/versions.txt"
echo "kubelet and kube-proxy: $((SECONDS - started)) s" >&2
touch "$work/complete"
rm -rf "$dest"
mv "$work" "$dest"
echo "node binaries: $dest/bin"
