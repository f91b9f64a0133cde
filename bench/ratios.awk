# ratios.awk: the ratios bench/RESULTS.md reports, from benchmark output
# (Go and anchor lines, any order). Round i pairs the i-th sample of each
# benchmark, so every ratio is taken between rows measured close in time;
# the median over rounds is printed with the range.
#
#   awk -f ratios.awk /tmp/ring-bench.txt /tmp/anchor-bench.txt
/^Benchmark/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name) # GOMAXPROCS suffix, if any
	for (i = 3; i < NF; i++)
		if ($(i + 1) == "ns/op") {
			v[name, ++n[name]] = $i + 0
			break
		}
}

function median(a, k,    i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}

# ratio prints median and range over rounds of num/den (ns/op over ns/op).
function ratio(label, num, den,    k, i, r, lo, hi) {
	k = n[num] < n[den] ? n[num] : n[den]
	if (k == 0) {
		printf "%-58s (missing: %s or %s)\n", label, num, den
		return
	}
	delete r
	for (i = 1; i <= k; i++) {
		r[i] = v[num, i] / v[den, i]
		if (i == 1 || r[i] < lo) lo = r[i]
		if (i == 1 || r[i] > hi) hi = r[i]
	}
	printf "%-58s %6.2fx  (range %.2f-%.2f, %d rounds)\n", label, median(r, k), lo, hi, k
}

END {
	print "ratio (median of per-round ratios)"
	ratio("NOP serial      uringd / liburing (both regfd)", "NOPSerial/uringd", "NOPSerial/liburing")
	ratio("NOP serial      uringd-noregfd / liburing-noregfd", "NOPSerial/uringd-noregfd", "NOPSerial/liburing-noregfd")
	ratio("NOP batch64     uringd / liburing", "NOPBatch64/uringd", "NOPBatch64/liburing")
	ratio("NOP serial      iouring-go / uringd (speedup)", "NOPSerial/iouring-go", "NOPSerial/uringd")
	ratio("NOP batch64     iouring-go / uringd (speedup)", "NOPBatch64/iouring-go", "NOPBatch64/uringd")
	ratio("NOP 64-way      iouring-go / uringd-ring-inflight64 (ops/s)", "NOPConcurrent64/iouring-go", "NOPConcurrent64/uringd-ring-inflight64")
	ratio("read serial     uringd / os.File.ReadAt serial", "Read4KPageCache/uringd/serial", "Read4KPageCache/osfile/serial")
	ratio("read batch64    uringd / os.File.ReadAt serial", "Read4KPageCache/uringd/batch64", "Read4KPageCache/osfile/serial")
	ratio("read batch64    uringd / os.File.ReadAt 32 goroutines", "Read4KPageCache/uringd/batch64", "Read4KPageCache/osfile/parallel32")
	ratio("read serial     uringd / liburing", "Read4KPageCache/uringd/serial", "Read4KPageCache/liburing/serial")
	ratio("read batch64    uringd / liburing", "Read4KPageCache/uringd/batch64", "Read4KPageCache/liburing/batch64")
	ratio("read serial     liburing / pread(2) in C", "Read4KPageCache/liburing/serial", "Read4KPageCache/pread-C/serial")
	ratio("read serial     iouring-go / uringd (speedup)", "Read4KPageCache/iouring-go/serial", "Read4KPageCache/uringd/serial")
	ratio("read batch64    iouring-go / uringd (speedup)", "Read4KPageCache/iouring-go/batch64", "Read4KPageCache/uringd/batch64")
}
