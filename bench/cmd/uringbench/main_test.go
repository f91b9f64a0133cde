package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
)

// The harness starts its children by running its own binary; in tests
// that binary is the test binary, which becomes uringbench when asked.
func TestMain(m *testing.M) {
	if os.Getenv("URINGBENCH_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:80", "[::1]:80", "localhost:1"} {
		if err := loopbackOnly(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:80", "10.0.0.1:80", ":80", "example.com:80", ""} {
		if err := loopbackOnly(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	if got := commandLine([]string{"-rounds", "3", "-dir", "/a b", "echo"}); !strings.HasSuffix(got, " -rounds 3 -dir '/a b' echo") {
		t.Fatal(got)
	}
}

func TestFindBenchDir(t *testing.T) {
	dir := findBenchDir()
	if dir == "" || filepath.Base(dir) != "bench" {
		t.Fatalf("findBenchDir() = %q", dir)
	}
}

// TestHarnessEcho runs the echo scenario end to end, unpinned and tiny:
// servers and the load generator as child processes, /proc sampling, and
// the Markdown, JSON and SVG outputs.
func TestHarnessEcho(t *testing.T) {
	t.Setenv("URINGBENCH_TEST_AS_MAIN", "1")
	out := t.TempDir()
	err := harness([]string{"-quick", "-duration", "300ms", "-conns", "4", "-server-cpu", "-1", "-load-cpu", "-1", "-json", "-out", out, "echo"})
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"uringd (sched callbacks)", "gnet v2 (1 event loop)", "net (goroutine per conn)"} {
		var line string
		for _, l := range strings.Split(string(md), "\n") {
			if strings.HasPrefix(l, "| "+peer+" |") {
				line = l
			}
		}
		if line == "" || strings.Contains(line, "skipped") || strings.Contains(line, "failed") {
			if strings.Contains(line, "io_uring") && os.Getenv("URINGD_REQUIRE_IOURING") == "" {
				continue
			}
			t.Errorf("%s not measured: %q\n%s", peer, line, md)
		}
	}
	for _, f := range []string{"echo.svg", "results.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestReplot writes outputs with JSON, rebuilds them from the JSON into
// another directory, and expects the same Markdown and charts.
func TestReplot(t *testing.T) {
	env := report.Env{Machine: proc.Machine{CPU: "cpu", Cores: 2, Kernel: "k", Go: "go"}, Date: "d", Command: "c", Total: "1s"}
	tb := &report.Table{Scenario: "echo", Title: "echo", Env: env, Metrics: []report.Metric{{Key: "m", Label: "m/s", Higher: true, Ratio: true, Chart: true}}}
	u := tb.Row("", "uringd")
	u.Ref = true
	u.Add("m", 2)
	u.Add("m", 3)
	tb.Row("", "peer").Add("m", 1)
	tb.Row("", "gone").Status = "skipped: why"
	a, b := t.TempDir(), t.TempDir()
	if err := writeOutputs(a, env, []*report.Table{tb}, true); err != nil {
		t.Fatal(err)
	}
	if err := replotFrom(filepath.Join(a, "results.json"), b); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.md", "echo.svg", "results.json"} {
		x, errA := os.ReadFile(filepath.Join(a, f))
		y, errB := os.ReadFile(filepath.Join(b, f))
		if errA != nil || errB != nil || string(x) != string(y) {
			t.Errorf("%s differs after replot (%v, %v)", f, errA, errB)
		}
	}
}
