#!/usr/bin/env bash
# Edge → SeaweedFS upload throughput: our objstore/s3 uploader against
# `mc mirror` (the original's uploader) on 2,000 x 200 KiB and 4 x 250 MiB,
# side by side in the same run, with peak RSS and the ratio.
#
#   bench/objstore/upload.sh            (BENCH_ROUNDS=n repeats each data set)
#
# Builds SeaweedFS (scripts/seaweedfs.sh) and mc when missing. mc is AGPL: it
# is installed here into the cache as a benchmark peer only and is never a
# dependency of the module. Needs ~1.5 GB free in $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

./scripts/seaweedfs.sh >/dev/null
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"
mcdir="${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}/mc-20250313"
if [ ! -x "$mcdir/mc" ]; then
	echo "== building mc $MC_VERSION (about 5 min)" >&2
	mkdir -p "$mcdir"
	(cd / && GOBIN="$mcdir" GOFLAGS=-buildvcs=false go install "github.com/minio/mc@$MC_VERSION")
fi
AISEDGE_BENCH=1 MC="$mcdir/mc" go test ./bench/objstore -run '^TestUploadThroughput$' -count=1 -timeout 30m -v |
	grep -E 'MB/s|ratio|^(ok|FAIL|---)'
