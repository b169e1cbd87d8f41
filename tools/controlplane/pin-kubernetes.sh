#!/usr/bin/env bash
# Re-pins the Kubernetes tools module (tools/controlplane/kubernetes) to a release.
#
# Why this exists: the published k8s.io/kubernetes go.mod requires its staging
# modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and resolves them through
# `replace => ./staging/...` lines that only work inside the Kubernetes repo. A
# consuming module must replace each of them with the matching published v0.Y.Z.
# The list changes between releases, so it is read from that go.mod, never typed.
#
# Usage: tools/controlplane/pin-kubernetes.sh v1.36.3
# Then commit tools/controlplane/kubernetes/go.mod and go.sum.
set -euo pipefail

version=${1:?usage: $0 vX.Y.Z}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "not a Kubernetes release: $version" >&2; exit 2; }
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
module_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kubernetes"

upstream_gomod=$(go mod download -json "k8s.io/kubernetes@${version}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')

# Every module the upstream go.mod requires at v0.0.0 is a staging module.
mapfile -t staging < <(awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// { print $1 }' "$upstream_gomod" | sort -u)
(( ${#staging[@]} > 0 )) || { echo "no v0.0.0 requirements found in $upstream_gomod" >&2; exit 1; }

cd "$module_dir"
rm -f go.mod go.sum
go mod init turnout.dev/tools/controlplane/kubernetes >/dev/null 2>&1
go mod edit -go="$(awk '$1 == "go" { print $2; exit }' "$upstream_gomod")"
go mod edit -require="k8s.io/kubernetes@${version}"
for m in "${staging[@]}"; do
  go mod edit -replace="${m}=${m}@${staging_version}"
done
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go mod edit -tool="k8s.io/kubernetes/cmd/${cmd}"
done
go mod tidy
echo "pinned k8s.io/kubernetes ${version} with ${#staging[@]} staging replaces (${staging_version})"
