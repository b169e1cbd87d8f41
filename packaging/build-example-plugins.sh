#!/bin/sh
# Build the two example plugin executables, ready for plugin.Dockerfile:
#
#   packaging/build-example-plugins.sh [OUT]      OUT defaults to build/plugins
#
#   OUT/hardcoded          the Python example (examples/plugins/hardcoded), a zipapp
#   OUT/turing-hardcoded   Turing's hardcoded example engine in Go, built unchanged from
#                          Turing's module (tests/gopeers/cmd/hardcoded-plugin), static
#
# then, for each:  docker build -f plugin.Dockerfile --build-arg PLUGIN=build/plugins/NAME -t NAME-plugin .
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/plugins}
mkdir -p "$out"
out=$(cd "$out" && pwd)

"${PYTHON:-python3}" "$root/examples/plugins/hardcoded/build.py" "$out/hardcoded"

# Turing's module is served by the Go module proxy but not listed in the checksum
# database; go.sum pins its hash.
(
  cd "$root/tests/gopeers"
  GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/caraml-dev" \
    CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -o "$out/turing-hardcoded" ./cmd/hardcoded-plugin
)
echo "built $out/hardcoded and $out/turing-hardcoded"
