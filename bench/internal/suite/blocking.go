package suite

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/report"
)

// blockingSources are the benchmarks of the blocking scenario: the
// engine's blocking API and hand-offs against what a Go program would
// use instead.
var blockingSources = []struct{ pkg, bench string }{
	{"sched", "^Benchmark(SerialCachedRead4K|RoundTrip|ColdRead4K)$"},
	{"offload", "^BenchmarkEmptyJobFromLoop$"},
}

// blockingRow maps a benchmark name to its group and peer.
func blockingRow(name string) (group, peer string) {
	base, sub, _ := strings.Cut(name, "/")
	switch base {
	case "SerialCachedRead4K":
		return "cached 4 KiB ReadAt, one goroutine", strings.TrimPrefix(sub, "impl=")
	case "RoundTrip":
		return "blocking round trip through the loop", "Loop.Nop"
	case "EmptyJobFromLoop":
		return "offload round trip from a loop", "Pool.Go (empty job)"
	case "ColdRead4K":
		g, impl, _ := strings.Cut(sub, "/")
		return "O_DIRECT 4 KiB random reads, " + strings.TrimPrefix(g, "goroutines=") + " goroutines", strings.TrimPrefix(impl, "impl=")
	}
	return base, sub
}

// blocking runs the engine-round-2 benchmarks twice: the way Go programs
// run (no pinning, default GOMAXPROCS) and pinned to one CPU with
// GOMAXPROCS=1. Pinning hides the cost of waking a thread on another CPU,
// which is what a goroutine handing work to a loop pays.
func (r *Runner) blocking() (*report.Table, error) {
	bt := r.benchTime()
	t := &report.Table{
		Title: "blocking API and hand-offs vs what they replace",
		Method: []string{
			fmt.Sprintf("bench/sched and bench/offload benchmarks (`go test -c`), `-test.benchtime %v -test.count %d`, run unpinned with the default GOMAXPROCS, then %s with GOMAXPROCS=1", bt, r.rounds(), cpuNote(r.opt.ServerCPU)),
			"O_DIRECT reads: 1 GiB file on the test machine's disk (bench/sched directFile), reads/s over all goroutines; the VM's disk throttles under sustained load, so the two peers alternate by count",
		},
		Metrics: []report.Metric{
			{Key: "ns_op", Label: "ns/op", Ratio: true, Chart: true},
			{Key: "cpu_ns", Label: "CPU ns/op", Ratio: true},
			{Key: "reads", Label: "reads/s", Higher: true, Ratio: true},
		},
	}
	modes := []struct {
		name string
		cpu  int
		env  []string
	}{
		{"unpinned", NoCPU, nil},
		{"pinned", r.opt.ServerCPU, gomaxprocs1},
	}
	for _, mode := range modes {
		for _, src := range blockingSources {
			bin, err := r.testBinary(src.pkg)
			var out []byte
			if err == nil {
				r.prog.Step("go test -bench %s ./%s/ (%s)", src.bench, src.pkg, mode.name)
				out, err = runPinned(mode.cpu, 20*time.Minute, mode.env, bin, "-test.run", "^$",
					"-test.bench", src.bench, "-test.benchtime", bt.String(), "-test.count", strconv.Itoa(r.rounds()), "-test.benchmem")
			}
			if err != nil {
				skip(t.Row(mode.name, "bench/"+src.pkg), err)
				continue
			}
			for _, bl := range peers.ParseBench(string(out)) {
				g, p := blockingRow(bl.Name)
				row := t.Row(mode.name+": "+g, p)
				row.Add("ns_op", bl.Metrics["ns/op"])
				if v, ok := bl.Metrics["cpu-ns/op"]; ok {
					row.Add("cpu_ns", v)
				}
				if v, ok := bl.Metrics["reads/s"]; ok {
					row.Add("reads", v)
				}
			}
		}
		// References: os.File where it is the peer replaced.
		for _, row := range t.Rows {
			if strings.HasPrefix(row.Group, mode.name+":") && (row.Peer == "os.File" || row.Peer == "Loop.Nop" || row.Peer == "Pool.Go (empty job)") {
				row.Ref = true
			}
		}
		g := mode.name + ": cached 4 KiB ReadAt, one goroutine"
		t.Checks = append(t.Checks,
			ratioCheck(t, g, "sched.File", "os.File", "ns_op", "sched.File cached serial ReadAt <= 1.2x os.File ("+mode.name+")", 1.2, true),
			absCheck(t, mode.name+": blocking round trip through the loop", "Loop.Nop", "ns_op", "blocking round trip <= 5 µs ("+mode.name+")", 5000),
			absCheck(t, mode.name+": offload round trip from a loop", "Pool.Go (empty job)", "ns_op", "Pool.Go from a loop and back <= 5 µs ("+mode.name+")", 5000))
		for _, gs := range []string{"64", "256"} {
			cg := mode.name + ": O_DIRECT 4 KiB random reads, " + gs + " goroutines"
			t.Checks = append(t.Checks, ratioCheckHigher(t, cg, "sched.File", "os.File", "reads", "cold reads sched.File >= 2x os.File ("+mode.name+", "+gs+" goroutines)", 2))
		}
	}
	return t, nil
}

// absCheck checks a row's median against an absolute bound (lower is
// better).
func absCheck(t *report.Table, group, peer, key, what string, limit float64) string {
	row := t.Find(group, peer)
	if row == nil || !row.Measured() || len(row.Values[key]) == 0 {
		return fmt.Sprintf("target %s: not checked (no measurement)", what)
	}
	v := report.Median(row.Values[key])
	verdict := "met"
	if v > limit {
		verdict = "NOT met"
	}
	return fmt.Sprintf("target %s: %s → %s", what, report.FormatNum(v), verdict)
}

// ratioCheckHigher checks a/b >= limit for a higher-is-better metric.
func ratioCheckHigher(t *report.Table, group, a, b, key, what string, limit float64) string {
	ra, rb := t.Find(group, a), t.Find(group, b)
	if ra == nil || rb == nil || !ra.Measured() || !rb.Measured() || len(ra.Values[key]) == 0 || len(rb.Values[key]) == 0 {
		return fmt.Sprintf("target %s: not checked (a row is missing)", what)
	}
	x := report.Median(ra.Values[key]) / report.Median(rb.Values[key])
	verdict := "met"
	if x < limit {
		verdict = "NOT met"
	}
	return fmt.Sprintf("target %s: %.2fx → %s", what, x, verdict)
}
