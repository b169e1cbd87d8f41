#!/usr/bin/env bash
# Builds the Go interop peers (hardcoded-plugin, plugin-host, echo-bench,
# gob-vectors) or reuses a cached build, prints the bin directory on stdout and
# records it in $TURNOUT_CACHE/gopeers/current.
#
# The cache key is a hash of go.mod, go.sum, every .go file of this module
# (names and contents) and the Go version, so any edit gives a new build.
# Each build records its wall time and peak memory in <key>/build.json.
#
#   TURNOUT_CACHE   cache root (default ~/.cache/turnout)
#   GOPEERS_FORCE=1 rebuild even if the cache has this key
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${TURNOUT_CACHE:-$HOME/.cache/turnout}/gopeers
commands=(hardcoded-plugin plugin-host echo-bench gob-vectors)

die() { echo "gopeers/build.sh: $*" >&2; exit 1; }

command -v go >/dev/null || die "no 'go' on PATH: install Go (1.22 or newer) first"

# Turing's engines/experiment module at the pinned pseudo-version is served by
# the Go module proxy but is not in the checksum database: its hash is pinned
# in go.sum instead, and the checksum database is not asked about it.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/caraml-dev"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

go_version=$(go env GOVERSION)
key=$(
  cd "$here"
  {
    echo "$go_version $(go env GOOS)/$(go env GOARCH)"
    find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | while read -r f; do
      echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
)
dest=$cache_root/$key
bin=$dest/bin

have_all() {
  local c
  for c in "${commands[@]}"; do [[ -x $1/$c ]] || return 1; done
}

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9

if [[ ${GOPEERS_FORCE:-} != 1 ]] && have_all "$bin" && [[ -f $dest/build.json ]]; then
  echo "gopeers: reusing $bin" >&2
else
  tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/bin"
  echo "gopeers: building $key with $go_version into $bin" >&2
  start=$(date +%s.%N)
  # /usr/bin/time -v reports the largest resident set among the go command and
  # the compilers and linkers it waited for.
  if [[ -x /usr/bin/time ]]; then
    (cd "$here" && /usr/bin/time -v -o "$tmp/time.txt" \
      go build -trimpath -o "$tmp/bin/" "${commands[@]/#/./cmd/}") ||
      die "go build failed (see above)"
    peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
  else
    (cd "$here" && go build -trimpath -o "$tmp/bin/" "${commands[@]/#/./cmd/}") ||
      die "go build failed (see above)"
    peak_kb=null
  fi
  end=$(date +%s.%N)
  have_all "$tmp/bin" || die "go build did not produce every command: ${commands[*]}"
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
  printf '{"key": "%s", "go": "%s", "seconds": %s, "peak_rss_kb": %s, "built_at": "%s"}\n' \
    "$key" "$go_version" "$seconds" "${peak_kb:-null}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/build.json"
  rm -f "$tmp/time.txt"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
  echo "gopeers: built in ${seconds}s, peak RSS ${peak_kb:-?} KiB" >&2
fi

printf '%s\n' "$bin" >"$cache_root/current.tmp"
mv "$cache_root/current.tmp" "$cache_root/current"
echo "$bin"
