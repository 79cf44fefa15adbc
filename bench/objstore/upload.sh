#!/usr/bin/env bash
# Edge → SeaweedFS upload throughput: our objstore/s3 uploader against
# `mc mirror` (the original's uploader) on 2,000 x 200 KiB and 4 x 250 MiB,
# side by side in the same run, with peak RSS and the ratio.
#
#   bench/objstore/upload.sh            (BENCH_ROUNDS=n repeats each data set)
#   SMOKE=1 bench/objstore/upload.sh    (seconds: 20 x 64 KiB and 1 x 11 MiB)
#
# Builds SeaweedFS (scripts/seaweedfs.sh) and mc when missing. mc is AGPL: it
# is installed here into the cache as a benchmark peer only and is never a
# dependency of the module. Needs ~1.5 GB free in $TMPDIR.
#
# SMOKE=1 builds nothing: it needs SeaweedFS built already, and uses mc
# when it is in the cache. Without mc (a 5-minute build the test suite does
# not pay for), our uploader runs a second time in mc's place, labelled
# "self", so the comparison and its ratio line still run: a format check
# whose ratio is no figure, and which the output says.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

cache="${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}"
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"
mcdir="$cache/mc-20250313"
if [ "${SMOKE:-0}" = 1 ]; then
	export AISEDGE_BENCH_SMOKE=1
	if [ ! -x "$cache/weed-4.53/weed" ]; then
		echo "SMOKE: SeaweedFS is not built ($cache/weed-4.53/weed): run ./scripts/seaweedfs.sh" >&2
		exit 1
	fi
	if [ -x "$mcdir/mc" ]; then
		export MC="$mcdir/mc"
	else
		echo "== SMOKE: mc not built ($mcdir/mc): aisedge against a second aisedge run (format check, not a figure)"
		export MC="" BENCH_SELF_COMPETITOR=1
	fi
	timeout=5m
else
	./scripts/seaweedfs.sh >/dev/null
	if [ ! -x "$mcdir/mc" ]; then
		echo "== building mc $MC_VERSION (about 5 min)" >&2
		mkdir -p "$mcdir"
		(cd / && GOBIN="$mcdir" GOFLAGS=-buildvcs=false go install "github.com/minio/mc@$MC_VERSION")
	fi
	export MC="$mcdir/mc"
	timeout=30m
fi
AISEDGE_BENCH=1 go test ./bench/objstore -run '^TestUploadThroughput$' -count=1 -timeout "$timeout" -v |
	grep -E 'MB/s|ratio|^(ok|FAIL|---)'
