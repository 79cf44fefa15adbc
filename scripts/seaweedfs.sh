#!/usr/bin/env bash
# Builds the SeaweedFS `weed` binary the object-store tests run against and
# caches it in a versioned folder; idempotent (does nothing when the binary is
# already there) and safe to run concurrently (flock on the cache folder).
#
#   ./scripts/seaweedfs.sh         build if missing, print the binary's path
#
# Only one SeaweedFS version is served by the Go module proxy (4.53). `go
# install .../weed@...` fails because its go.mod has a replace directive, so
# the module is downloaded and built from inside its module-cache directory
# (~16 min cold on 2 cores, ~15 s when the build cache is warm).
#
# The cache root is ${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}; the tests
# (internal/testpeer/seaweed) look for the binary at the same place.
set -euo pipefail

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

WEED_MODULE="github.com/seaweedfs/seaweedfs"
WEED_VERSION="v0.0.0-20261109003541-7506e5f91cd6" # = SeaweedFS 4.53
WEED_NAME="weed-4.53"

cache_root="${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}"
dir="$cache_root/$WEED_NAME"
bin="$dir/weed"

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.build.lock"
flock 9
if [ -x "$bin" ]; then # built by a concurrent run while we waited
	echo "$bin"
	exit 0
fi

echo "== seaweedfs: downloading $WEED_MODULE@$WEED_VERSION" >&2
# Outside any module, so the project's go.mod is never touched.
moddir=$(cd / && GOFLAGS=-mod=mod go mod download -json "$WEED_MODULE@$WEED_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$moddir" ] || [ ! -d "$moddir/weed" ]; then
	echo "seaweedfs: module directory not found after download" >&2
	exit 1
fi

echo "== seaweedfs: building weed (about 16 min cold on 2 cores)" >&2
start=$(date +%s)
tmp="$dir/weed.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$moddir" && GOFLAGS=-buildvcs=false nice -n 10 go build -ldflags="-s -w" -o "$tmp" ./weed)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
echo "== seaweedfs: built in $(($(date +%s) - start)) s" >&2
echo "$bin"
