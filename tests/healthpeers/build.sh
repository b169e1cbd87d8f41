#!/usr/bin/env bash
# Builds the health-check peers (kstatus: cli-utils' verdict on objects; argolua: an Argo
# CD health script run by gopher-lua) or reuses a cached build; prints the bin directory.
#
# The cache key is a hash of go.mod, go.sum, every .go file of this module and the Go
# version, so any edit gives a new build.
#
#   TURNOUT_CACHE   cache root (default ~/.cache/turnout)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${TURNOUT_CACHE:-$HOME/.cache/turnout}/healthpeers
commands=(kstatus argolua)

die() { echo "healthpeers/build.sh: $*" >&2; exit 1; }

command -v go >/dev/null || die "no 'go' on PATH: install Go (1.24 or newer) first"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

key=$(
  cd "$here"
  {
    echo "$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
    find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | while read -r f; do
      echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
)
bin=$cache_root/$key/bin

have_all() {
  local c
  for c in "${commands[@]}"; do [[ -x $1/$c ]] || return 1; done
}

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9

if have_all "$bin"; then
  echo "healthpeers: reusing $bin" >&2
else
  tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/bin"
  echo "healthpeers: building $key into $bin" >&2
  (cd "$here" && go build -trimpath -o "$tmp/bin/" "${commands[@]/#/./cmd/}") ||
    die "go build failed (see above)"
  have_all "$tmp/bin" || die "go build did not produce every command: ${commands[*]}"
  rm -rf "$cache_root/$key"
  mv "$tmp" "$cache_root/$key"
  trap - EXIT
fi
echo "$bin"
