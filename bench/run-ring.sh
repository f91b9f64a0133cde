#!/bin/sh
# Run the ring-layer benchmarks the way bench/RESULTS.md reports them:
# pinned to one CPU with GOMAXPROCS=1, in rounds that interleave the liburing
# C anchors with the Go benchmarks (so drift and neighbours' load spread over
# all rows alike), then benchstat and the ratios (ratios.awk) over all rounds.
#
#   bench/run-ring.sh [outdir]    (default /tmp; writes ring-bench.txt,
#                                  anchor-bench.txt, all-bench.txt)
#
# BENCH_CPU (default 1) picks the CPU, BENCH_ROUNDS (default 10) the number
# of rounds; each round is `anchors/run.sh 1` then `go test ... -count 1`.
set -eu
cd "$(dirname "$0")"
out=${1:-/tmp}
cpu=${BENCH_CPU:-1}
rounds=${BENCH_ROUNDS:-10}

{
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores"
	echo "kernel: $(uname -r)"
	echo "go: $(go version)"
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
} | tee "$out/bench-env.txt"

: >"$out/anchor-bench.txt"
: >"$out/ring-bench.txt"
i=1
while [ "$i" -le "$rounds" ]; do
	echo "== round $i/$rounds"
	taskset -c "$cpu" ./anchors/run.sh 1 | tee -a "$out/anchor-bench.txt"
	taskset -c "$cpu" env GOMAXPROCS=1 go test -ldflags=-checklinkname=0 -run '^$' -bench . \
		-benchmem -count 1 ./ring/ | tee -a "$out/ring-bench.txt"
	i=$((i + 1))
done

cat "$out/ring-bench.txt" "$out/anchor-bench.txt" >"$out/all-bench.txt"
echo "== benchstat"
go run golang.org/x/perf/cmd/benchstat@latest "$out/all-bench.txt" || echo "(benchstat unavailable)"
echo "== ratios"
awk -f ratios.awk "$out/ring-bench.txt" "$out/anchor-bench.txt"
