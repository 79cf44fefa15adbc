#!/usr/bin/env bash
# Before/after benchmark of two revisions, in one run: for a change that
# must not alter performance (a refactoring), or to measure one that
# should. Each revision is checked out into its own worktree; their
# benchmarks then run alternately, A B A B ..., so that a machine that gets
# busier or quieter during the run affects both alike. Printed: every
# sample, then per benchmark the median of each side and the ratio B/A
# (for rates, above 1 is faster; for times, below 1 is faster).
#
#   bench/compare.sh REV_A REV_B            (ROUNDS=3)
#   SMOKE=1 bench/compare.sh [REV_A REV_B]  (about a minute: one round of
#                                            the smoke-sized benchmarks,
#                                            HEAD against itself by
#                                            default; a format check, not
#                                            figures)
#
# Benchmarks: the Go benchmarks of de-identification (BenchmarkDeid), the
# codec (BenchmarkCodec, our codec only), XNAT delivery against the
# emulator (BenchmarkXNATDeliver) and the folder object store
# (BenchmarkFSPut), each at -cpu 1; and C-STORE ingest into `aisedge run`
# (bench/dimse/cstore_bench.sh, small MR, storescu and 4 associations of
# aisedge send). A benchmark one revision lacks is reported for the other
# only.
set -euo pipefail
if [ $# = 0 ] && [ "${SMOKE:-0}" = 1 ]; then set -- HEAD HEAD; fi
[ $# = 2 ] || { echo "usage: $0 REV_A REV_B" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
SMOKE=${SMOKE:-0}
ROUNDS=${ROUNDS:-3}
benchtime=3x
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1 benchtime=1x
	export AISEDGE_BENCH_SMOKE=1
fi
WORK=$(mktemp -d /tmp/aisedge-compare.XXXXXX)
cleanup() {
	for s in a b; do git -C "$ROOT" worktree remove --force "$WORK/$s" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
declare -A REV=([a]=$1 [b]=$2)
for s in a b; do
	git -C "$ROOT" worktree add --detach -q "$WORK/$s" "${REV[$s]}"
	echo "$s = ${REV[$s]} ($(git -C "$WORK/$s" rev-parse --short HEAD))"
done
SAMPLES=$WORK/samples.txt
: > "$SAMPLES"

# go_benches SIDE ROUND: the Go benchmarks, one line per result:
# SIDE ROUND NAME VALUE UNIT (ns/op, MB/s).
go_benches() {
	local side=$1 round=$2 out codec
	if ! out=$(cd "$WORK/$side" && go test ./bench ./bench/objstore -run '^$' \
		-bench '^(BenchmarkDeid|BenchmarkXNATDeliver|BenchmarkFSPut)$' -cpu 1 -benchtime "$benchtime" -count 1 2>&1) ||
		! codec=$(cd "$WORK/$side" && go test ./bench -run '^$' -bench '^BenchmarkCodec$/./^aisedge$' \
			-cpu 1 -benchtime "$benchtime" -count 1 2>&1); then
		echo "$out" "${codec:-}" >&2
		return 1
	fi
	out="$out
$codec"
	echo "$out" | awk -v s="$side" -v r="$round" '/^Benchmark/ {
		for (i = 3; i < NF; i++) if ($(i+1) == "ns/op" || $(i+1) == "MB/s") print s, r, $1, $i, $(i+1) }'
}

# cstore SIDE ROUND: C-STORE ingest into aisedge run, inst/s per sender.
cstore() {
	local side=$1 round=$2 out
	local env=(RUNS=1 SERVERS=run "SENDERS=storescu aisedge-p4" WORKLOADS=small BENCH_DIR="$WORK/cstore-$side")
	[ "$SMOKE" = 1 ] && env+=(SMOKE=1)
	if ! out=$(cd "$WORK/$side" && env "${env[@]}" bench/dimse/cstore_bench.sh 2>&1); then
		echo "$out" >&2
		return 1
	fi
	echo "$out" | awk -v s="$side" -v r="$round" '$1 == "run" && $4 ~ /^run=/ {
		split($7, v, "="); print s, r, "CStore/run/" $2 "/" $3, v[2], "inst/s" }'
}

for round in $(seq 1 "$ROUNDS"); do
	for side in a b; do
		go_benches "$side" "$round" | tee -a "$SAMPLES"
		cstore "$side" "$round" | tee -a "$SAMPLES"
	done
done

echo
echo "== medians of $ROUNDS round(s), B/A"
awk '
{ key = $3 " " $5; v[$1, key] = v[$1, key] " " $4; keys[key] = 1 }
function median(s,   n, x, i, j, t) { n = split(s, x, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
	return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
END {
	for (k in keys) {
		split(k, p, " ")
		a = (("a", k) in v) ? median(v["a", k]) : ""; b = (("b", k) in v) ? median(v["b", k]) : ""
		if (a != "" && b != "" && a > 0) printf "%-60s %-7s A %12.1f  B %12.1f  B/A %.2f\n", p[1], p[2], a, b, b / a | "sort"
		else printf "%-60s %-7s A %12s  B %12s  (one side only)\n", p[1], p[2], a, b | "sort"
	}
}' "$SAMPLES"
