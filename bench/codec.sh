#!/usr/bin/env bash
# Codec benchmark: parse + rewrite throughput of our DICOM codec against
# github.com/suyashkumar/dicom (in process) and dcmtk's dcmconv (a process
# per file), measured in the same run on the same files, with ratios.
#
#   bench/codec.sh [benchtime]     (default 5x)
#   SMOKE=1 bench/codec.sh         (seconds: 1x, 20 small files instead of
#                                   2,000; same output, a format check)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
if [ "${SMOKE:-0}" = 1 ]; then
	export AISEDGE_BENCH_SMOKE=1
	benchtime="${1:-1x}"
else
	benchtime="${1:-5x}"
fi
# -cpu 1: the benchmarks on one core (GOMAXPROCS=1 in the environment would
# also make the go command compile one package at a time).
if ! out=$(go test ./bench -run '^$' -bench '^BenchmarkCodec$' -cpu 1 -benchtime "$benchtime" -count 1 2>&1); then
	echo "$out" >&2
	exit 1
fi
echo "$out" | grep -E '^(Benchmark|cpu:)'
echo
echo "$out" | awk '
/^BenchmarkCodec\// {
	split($1, p, "/"); set = p[2]; impl = p[3]; sub(/-[0-9]+$/, "", impl)
	for (i = 2; i <= NF; i++) { if ($(i+1) == "MB/s") mb[set, impl] = $i; if ($(i+1) == "files/s") fs[set, impl] = $i }
	sets[set] = 1; impls[impl] = 1
}
END {
	for (s in sets) {
		printf "%-16s aisedge %8.1f MB/s %8.1f files/s\n", s, mb[s, "aisedge"], fs[s, "aisedge"]
		for (i in impls) if (i != "aisedge" && mb[s, i] > 0)
			printf "%-16s %-12s %8.1f MB/s   ratio aisedge/%s = %.1fx\n", s, i, mb[s, i], i, mb[s, "aisedge"] / mb[s, i]
	}
}'
