package suite

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/report"
)

// nopSource is one `go test -bench` run (or the C anchor) of the nop
// scenario.
type nopSource struct {
	pkg, bench string // bench package and -bench pattern; pkg "" for the anchor
	groups     []string
}

var nopSources = []nopSource{
	{"ring", "^BenchmarkNOP", []string{"NOPSerial", "NOPBatch64", "NOPConcurrent64"}},
	{"", "", []string{"NOPSerial", "NOPBatch64"}}, // anchors/nop_anchor.c
	{"sched", "^BenchmarkCrossGoroutineNop$", []string{"CrossGoroutineNop"}},
	{"offload", "^BenchmarkEmptyJob", []string{"EmptyJobFromGoroutine", "EmptyJobFromLoop"}},
}

// nopGroup renames benchmark groups and peers for the table.
func nopGroup(name string) (group, peer string) {
	group, peer, _ = strings.Cut(name, "/")
	switch group {
	case "CrossGoroutineNop":
		return "blocking NOP through the loop's inbox", "uringd " + peer
	case "EmptyJobFromGoroutine":
		return "offload empty job round trip", "Pool.Do from a goroutine"
	case "EmptyJobFromLoop":
		return "offload empty job round trip", "Pool.Go from a loop"
	}
	if peer == "liburing" || peer == "liburing-noregfd" {
		peer += " (C anchor)"
	}
	return group, peer
}

func (r *Runner) nop() (*report.Table, error) {
	// Half the disk scenario's benchtime: these are short, stable loops,
	// and the suite has a 15-minute budget.
	bt := max(r.benchTime()/2, 100*time.Millisecond)
	t := &report.Table{
		Title: "NOP and round-trip costs",
		Method: []string{
			fmt.Sprintf("bench/ring, bench/sched and bench/offload benchmarks compiled with `go test -c` and run %s with GOMAXPROCS=1, `-test.benchtime %v -test.count %d`", cpuNote(r.opt.ServerCPU), bt, r.rounds()),
			"liburing C anchor: bench/anchors/nop_anchor.c (gcc -O2 -luring), same CPU, same count; min–max are over the counts",
		},
		Metrics: []report.Metric{
			{Key: "ns_op", Label: "ns/op", Ratio: true, Chart: true},
			{Key: "allocs", Label: "allocs/op"},
		},
	}
	add := func(out string) int {
		n := 0
		for _, bl := range peers.ParseBench(out) {
			g, p := nopGroup(bl.Name)
			row := t.Row(g, p)
			row.Add("ns_op", bl.Metrics["ns/op"])
			if a, ok := bl.Metrics["allocs/op"]; ok {
				row.Add("allocs", a)
			}
			n++
		}
		return n
	}
	for _, src := range nopSources {
		var out []byte
		var err error
		if src.pkg == "" {
			var bin string
			if bin, err = r.nopAnchor(); err == nil {
				r.prog.Step("liburing nop_anchor × %d", r.rounds())
				out, err = runPinned(r.opt.ServerCPU, 10*time.Minute, nil, bin, strconv.Itoa(r.rounds()))
			}
			if err != nil {
				for _, g := range src.groups {
					skip(t.Row(g, "liburing (C anchor)"), err)
				}
				continue
			}
		} else {
			var bin string
			if bin, err = r.testBinary(src.pkg); err == nil {
				r.prog.Step("go test -bench %s ./%s/", src.bench, src.pkg)
				out, err = runPinned(r.opt.ServerCPU, 10*time.Minute, gomaxprocs1, bin, "-test.run", "^$",
					"-test.bench", src.bench, "-test.benchtime", bt.String(), "-test.count", strconv.Itoa(r.rounds()), "-test.benchmem")
			}
			if err != nil {
				for _, g := range src.groups {
					grp, _ := nopGroup(g)
					skip(t.Row(grp, "bench/"+src.pkg), err)
				}
				continue
			}
		}
		if add(string(out)) == 0 {
			for _, g := range src.groups {
				grp, _ := nopGroup(g)
				skip(t.Row(grp, "bench/"+src.pkg), fmt.Errorf("no benchmark lines in output"))
			}
		}
	}
	// The ratio reference of each group: its "uringd" row, or the first
	// uringd-something row.
	seen := map[string]bool{}
	for _, row := range t.Rows {
		if row.Peer == "uringd" {
			row.Ref, seen[row.Group] = true, true
		}
	}
	for _, row := range t.Rows {
		if !seen[row.Group] && (strings.HasPrefix(row.Peer, "uringd") || strings.HasPrefix(row.Peer, "Pool.")) {
			row.Ref, seen[row.Group] = true, true
		}
	}
	if row := t.Find("blocking NOP through the loop's inbox", "uringd serial"); row != nil && row.Measured() {
		v := report.Median(row.Values["ns_op"])
		verdict := "met"
		if v >= 2000 {
			verdict = "NOT met"
		}
		t.Checks = append(t.Checks, fmt.Sprintf("target cross-goroutine blocking NOP round trip < 2 µs: %s ns → %s", report.FormatNum(v), verdict))
	}
	return t, nil
}

// nopAnchor builds bench/anchors/nop_anchor.c.
func (r *Runner) nopAnchor() (string, error) {
	if r.opt.BenchDir == "" {
		return "", fmt.Errorf("bench/ source not found (run inside bench/)")
	}
	return peers.BuildAnchor(filepath.Join(r.opt.BenchDir, "anchors", "nop_anchor.c"), r.tmp)
}
