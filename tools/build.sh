#!/usr/bin/env bash
# Builds or reuses every Go binary the tests need (`make tools` calls this):
# the control plane and helm first, then the Go interop peers when present.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/build-controlplane.sh"
# kubelet and kube-proxy for the real node, from the same pinned Kubernetes module.
"$here/build-node.sh"
if [[ -x $here/../tests/gopeers/build.sh ]]; then
  "$here/../tests/gopeers/build.sh"
elif [[ -f $here/../tests/gopeers/build.sh ]]; then
  bash "$here/../tests/gopeers/build.sh"
fi
# kstatus (cli-utils) and gopher-lua, for the Router health tests.
bash "$here/../tests/healthpeers/build.sh" >/dev/null
