#!/usr/bin/env bash
# Builds (or reuses) the binaries of the test control plane: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok and helm.
#
# Why: no release download site is reachable from these machines, the Go module
# proxy is. Each binary group is built from a small tools module under
# tools/controlplane/<group> whose go.mod/go.sum pin exact versions. Binaries are
# cached outside the repo under a key made of the pinned versions and a hash of
# the go.mod/go.sum files, so a pin change builds a fresh set and an unchanged pin
# is a fast no-op.
#
# Usage:
#   tools/build-controlplane.sh              build if needed, print the bin dir
#   tools/build-controlplane.sh --print-dir  print the cache dir for the current
#                                            pins without building (the tests use
#                                            this, so the key logic lives only here)
#
# Environment: TURNOUT_CACHE (default ~/.cache/turnout), GOFLAGS (default -p=2,
# so a 2-core machine does not run out of memory linking kube-apiserver).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
modules="$repo/tools/controlplane"
cache_root="${TURNOUT_CACHE:-$HOME/.cache/turnout}/controlplane"

# Bump when the way binaries are built changes (flags, stamping, stage list)
# without a change to any go.mod/go.sum, so stale caches are not reused.
recipe=1

die() { echo "build-controlplane: $*" >&2; exit 1; }

# Version of a module as pinned in one of the tools modules' go.mod.
pinned() {
  local gomod="$modules/$1/go.mod" module=$2 version
  # A require line, in a block or not; replace lines are skipped.
  version=$(awk -v m="$module" '$1 != "replace" && !/=>/ {
    for (i = 1; i < NF; i++) if ($i == m && $(i+1) ~ /^v[0-9]/) { print $(i+1); exit } }' "$gomod")
  [[ -n $version ]] || die "$module is not pinned in $gomod"
  echo "$version"
}

k8s_version=$(pinned kubernetes k8s.io/kubernetes)
etcd_version=$(pinned etcd go.etcd.io/etcd/server/v3)
kwok_version=$(pinned kwok sigs.k8s.io/kwok)
helm_version=$(pinned helm helm.sh/helm/v3)
helm_client_go=$(pinned helm k8s.io/client-go)

pins_hash=$(
  cd "$modules"
  { echo "recipe $recipe"; cat kubernetes/go.mod kubernetes/go.sum etcd/go.mod etcd/go.sum \
      kwok/go.mod kwok/go.sum helm/go.mod helm/go.sum; } | sha256sum | cut -c1-12
)
key="k8s-${k8s_version}_etcd-${etcd_version}_kwok-${kwok_version}_helm-${helm_version}_${pins_hash}"
dest="$cache_root/$key"

if [[ ${1-} == --print-dir ]]; then
  echo "$dest"
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument: $1 (only --print-dir is accepted)"

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm)

complete() {
  [[ -f $dest/complete ]] || return 1
  local b
  for b in "${binaries[@]}"; do [[ -x $dest/bin/$b ]] || return 1; done
  [[ -f $dest/kwok-stages.yaml ]]
}

if complete; then
  echo "control plane binaries (cached): $dest/bin"
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; install Go 1.26+"
mkdir -p "$cache_root"
# One build at a time per cache: a second caller waits, then finds the result.
exec 9>"$cache_root/.lock"
flock 9
if complete; then
  echo "control plane binaries (cached): $dest/bin"
  exit 0
fi

# Build into a scratch dir and rename at the end, so an interrupted build never
# looks complete.
work="$dest.partial"
rm -rf "$work"
mkdir -p "$work/bin" "$work/stats"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--p=2} -buildvcs=false"

# True once process $1 has exited, false if it still runs after $2 seconds.
wait_for_exit() {
  local pid=$1 seconds=$2
  for ((i = 0; i < seconds; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# Runs one `go build` in a tools module, recording wall time and peak memory.
# `out` is the bin dir (several packages) or a file path (one package).
build_group() {
  local group=$1 ldflags=$2 out=$3
  shift 3
  echo "building $group: $*" >&2
  local timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -v -o "$work/stats/$group.time")
  local started=$SECONDS
  (cd "$modules/$group" && "${timer[@]}" go build -trimpath -ldflags "$ldflags" -o "$out" "$@") &
  local build=$!
  # A cold build of Kubernetes takes minutes: say it is still going, rather than go quiet.
  while ! wait_for_exit "$build" 30; do
    echo "  ... still building $group ($((SECONDS - started)) s; the first build takes several minutes)" >&2
  done
  wait "$build" || die "go build failed for $group (module $modules/$group)"
  local peak="unknown"
  if [[ -f $work/stats/$group.time ]]; then
    peak="$(awk -F': ' '/Maximum resident set size/ { printf "%.0f MiB", $2 / 1024 }' "$work/stats/$group.time")"
  fi
  echo "$group: $((SECONDS - started)) s wall, peak RSS $peak" | tee -a "$work/stats/summary.txt" >&2
}

# Version stamps: without them every Kubernetes binary reports v0.0.0 and
# clients (kubectl, helm) refuse or warn about version skew.
k8s_minor=$(cut -d. -f2 <<<"$k8s_version")
k8s_ldflags="-s -w"
for kv in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$k8s_minor" gitTreeState=clean \
  buildDate=1970-01-01T00:00:00Z; do
  k8s_ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
build_group kubernetes "$k8s_ldflags" "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl

# The package path ends in a major-version suffix, so name the binary explicitly.
build_group etcd "-s -w" "$work/bin/etcd" go.etcd.io/etcd/server/v3

build_group kwok "-s -w" "$work/bin/kwok" sigs.k8s.io/kwok/cmd/kwok

# Helm's default capabilities (the Kubernetes version `helm template` assumes)
# follow its client-go minor, as in helm's own Makefile.
helm_k8s_minor=$(cut -d. -f2 <<<"$helm_client_go")
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build_group helm "$helm_ldflags" "$work/bin/helm" helm.sh/helm/v3/cmd/helm

# kwok's standalone binary applies no stages by itself: gather the upstream ones
# that make nodes Ready, pods Running/Ready, and pods deletable.
kwok_src=$(cd "$modules/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
[[ -d $kwok_src/kustomize/stage ]] || die "kwok stages not found under $kwok_src/kustomize/stage"
{
  first=1
  for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
    pod/fast/pod-complete pod/fast/pod-delete; do
    file="$kwok_src/kustomize/stage/$stage.yaml"
    [[ -f $file ]] || die "kwok stage missing: $file"
    ((first)) || echo "---"
    first=0
    cat "$file"
  done
} >"$work/kwok-stages.yaml"

for b in "${binaries[@]}"; do [[ -x $work/bin/$b ]] || die "build produced no $b"; done
cat >"$work/versions.txt" <<EOF
kubernetes $k8s_version
etcd $etcd_version
kwok $kwok_version
helm $helm_version
EOF
touch "$work/complete"
rm -rf "$dest"
mv "$work" "$dest"
echo "control plane binaries: $dest/bin"
