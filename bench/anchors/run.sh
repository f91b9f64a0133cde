#!/bin/sh
# Build and run the liburing anchors: the practical floor for uringd's ring
# layer, measured by C programs that do almost nothing in user space.
#
#   nop_anchor.c   NOP round trips, serial and batched x64
#   read_anchor.c  4 KiB page-cache reads (io_uring serial, batched x64; pread)
#                  of a 64 MiB file it writes like bench/ring does
#
# They print Go-benchmark-format lines with bench/ring's names, so benchstat
# can put them beside the Go rows.
#
#   bench/anchors/run.sh [count]          # count: repetitions (default 1)
#   taskset -c 1 bench/anchors/run.sh 5   # pinned, as in bench/RESULTS.md
#
# Needs gcc and liburing-dev (apt-get install -y liburing-dev); without
# liburing it says so and exits 0.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
if [ ! -f /usr/include/liburing.h ]; then
	echo "skipped: liburing-dev not installed"
	exit 0
fi
if ! command -v gcc >/dev/null 2>&1; then
	echo "skipped: gcc not installed"
	exit 0
fi
count=${1:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/uringd-anchors.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

gcc -O2 -Wall -Wextra -o "$work/nop_anchor" "$dir/nop_anchor.c" -luring
gcc -O2 -Wall -Wextra -o "$work/read_anchor" "$dir/read_anchor.c" -luring

"$work/nop_anchor" "$count"
"$work/read_anchor" "$work/data" "$count" # creates and removes data
