// Package suite runs the scenarios of `uringbench`: it starts servers and
// load generators as pinned child processes, alternates peers over
// rounds, samples CPU and memory from /proc, and fills report tables.
package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
)

// Options configure a run.
type Options struct {
	Rounds    int
	Duration  time.Duration // per measurement
	Conns     int           // connections for echo and HTTP load
	IdleConns int           // connections for the idle scenario
	Dir       string        // where the disk scenario's file and the static streams' files live (kept between runs)
	Quick     bool          // smoke test: tiny sizes, one short round
	ServerCPU int
	LoadCPU   int
	Exe       string // this binary, for serve/load/diskread children
	BenchDir  string // the bench module's source ("" if not found)
	Command   string // the command line, as printed with results
}

// Scenario is one named part of the suite.
type Scenario struct {
	Name  string
	About string
	run   func(*Runner) (*report.Table, error)
}

// Scenarios lists every scenario in the order the full suite runs them.
var Scenarios = []Scenario{
	{"nop", "ring NOP round trips and loop/offload round trips (go test -bench) beside the liburing anchor", (*Runner).nop},
	{"blocking", "blocking API vs os.File, round trips, O_DIRECT from many goroutines: unpinned and pinned", (*Runner).blocking},
	{"disk", "4 KiB random reads: O_DIRECT QD32 vs fio (io_uring, libaio, psync), and page-cache reads", (*Runner).disk},
	{"echo", "echo server, 64 connections x 64-byte messages: uringd vs gnet vs net", (*Runner).echo},
	{"conn-echo", "goroutine-per-connection echo, 16 connections: sched.Conn vs package net, unpinned and pinned", (*Runner).connEcho},
	{"http-plaintext", "HTTP plaintext with wrk: uringd httpd (native, net/http adapter), net/http, fasthttp, gnet, nbio, nginx, node, liburing anchor", func(r *Runner) (*report.Table, error) { return r.http(httpPlaintext) }},
	{"http-pipelined", "HTTP plaintext pipelined 16 deep with wrk", func(r *Runner) (*report.Table, error) { return r.http(httpPipelined) }},
	{"http-json", "HTTP JSON with wrk", func(r *Runner) (*report.Table, error) { return r.http(httpJSON) }},
	{"static", "static files 1 KiB, 64 KiB, 10 MiB, a 1,000-file mix, 256 video-like range streams: uringd, nginx, net/http, fasthttp, node", (*Runner).static},
	{"idle", "memory per idle keep-alive connection at 10k connections", (*Runner).idle},
	{"lag", "loop lag while an offload pool is saturated with gzip, vs idle and vs inline", (*Runner).lag},
}

// Names returns the scenario names.
func Names() []string {
	var n []string
	for _, s := range Scenarios {
		n = append(n, s.Name)
	}
	return n
}

// Runner runs scenarios.
type Runner struct {
	opt  Options
	env  report.Env
	tmp  string
	prog *Progress

	anchorOnce sync.Once
	anchorBin  string
	anchorErr  error
	testBins   map[string]string
	testErrs   map[string]error
	staticOnce sync.Once
	staticDir  string
	staticErr  error
}

// NewRunner prepares a run; Close removes its scratch directory.
func NewRunner(opt Options, prog *Progress) (*Runner, error) {
	tmp, err := os.MkdirTemp("", "uringbench-")
	if err != nil {
		return nil, err
	}
	env := report.Env{Machine: proc.ThisMachine(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Command: opt.Command}
	return &Runner{opt: opt, env: env, tmp: tmp, prog: prog, testBins: map[string]string{}, testErrs: map[string]error{}}, nil
}

// Env returns the environment printed with the results.
func (r *Runner) Env() report.Env { return r.env }

// Close removes the scratch directory.
func (r *Runner) Close() { os.RemoveAll(r.tmp) }

// Run runs the named scenarios (all when names is empty) and returns a
// table per scenario. A scenario that fails entirely yields a table with
// the error as a note, so the others still run.
func (r *Runner) Run(names []string) ([]*report.Table, error) {
	var todo []Scenario
	if len(names) == 0 {
		todo = Scenarios
	}
	for _, n := range names {
		i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		todo = append(todo, Scenarios[i])
	}
	var tables []*report.Table
	for i, s := range todo {
		r.prog.Scenario(s.Name, i+1, len(todo))
		start := time.Now()
		t, err := s.run(r)
		if t == nil {
			t = &report.Table{Scenario: s.Name, Title: s.Name}
		}
		t.Scenario, t.Env = s.Name, r.env
		if err != nil {
			t.Checks = append(t.Checks, "scenario failed: "+err.Error())
			r.prog.Logf("%s: %v", s.Name, err)
		}
		r.prog.Logf("%s done in %s", s.Name, time.Since(start).Round(time.Second))
		tables = append(tables, t)
	}
	return tables, nil
}

// rounds returns the number of rounds.
func (r *Runner) rounds() int { return max(r.opt.Rounds, 1) }

// rotate returns items rotated by round, so each peer goes first once:
// peers alternate and no one always runs on a freshly idle machine.
func rotate[T any](items []T, round int) []T {
	if len(items) == 0 {
		return nil
	}
	k := round % len(items)
	return append(slices.Clone(items[k:]), items[:k]...)
}

// gomaxprocs1 is the environment of every pinned Go child.
var gomaxprocs1 = []string{"GOMAXPROCS=1"}

// goChild is a child running this binary with args, pinned to cpu.
func (r *Runner) goChild(name string, cpu int, args ...string) ChildSpec {
	return ChildSpec{Name: name, Argv: append([]string{r.opt.Exe}, args...), Env: gomaxprocs1, CPU: cpu}
}

// runPinned runs argv pinned to cpu (NoCPU: unpinned) and returns its
// stdout; it is killed after timeout.
func runPinned(cpu int, timeout time.Duration, env []string, argv ...string) ([]byte, error) {
	if cpu != NoCPU {
		ts := taskset()
		if ts == "" {
			return nil, errors.New("taskset not found (util-linux): cannot pin")
		}
		argv = append([]string{ts, "-c", strconv.Itoa(cpu)}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr tailBuffer
	stderr.max = 8 << 10
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", filepath.Base(argv[min(len(argv)-1, 3)]), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// anchor builds bench/anchors/hello_anchor.c once.
func (r *Runner) anchor() (string, error) {
	r.anchorOnce.Do(func() {
		if r.opt.BenchDir == "" {
			r.anchorErr = errors.New("bench/ source not found (run inside bench/)")
			return
		}
		r.anchorBin, r.anchorErr = peers.BuildAnchor(filepath.Join(r.opt.BenchDir, "anchors", "hello_anchor.c"), r.tmp)
	})
	return r.anchorBin, r.anchorErr
}

// goTool returns the go command.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, root := range []string{os.Getenv("GOROOT"), "/usr/local/go"} {
		if p := filepath.Join(root, "bin", "go"); root != "" {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("go command not found on PATH")
}

// testBinary compiles the benchmarks of bench package pkg ("ring",
// "sched", "offload") once, with -ldflags=-checklinkname=0.
func (r *Runner) testBinary(pkg string) (string, error) {
	if bin, ok := r.testBins[pkg]; ok {
		return bin, nil
	}
	if err, ok := r.testErrs[pkg]; ok {
		return "", err
	}
	bin, err := r.buildTest(pkg)
	if err != nil {
		r.testErrs[pkg] = err
		return "", err
	}
	r.testBins[pkg] = bin
	return bin, nil
}

func (r *Runner) buildTest(pkg string) (string, error) {
	if r.opt.BenchDir == "" {
		return "", errors.New("bench/ source not found (run inside bench/)")
	}
	if _, err := os.Stat(filepath.Join(r.opt.BenchDir, pkg)); err != nil {
		return "", fmt.Errorf("bench/%s does not exist", pkg)
	}
	gobin, err := goTool()
	if err != nil {
		return "", err
	}
	r.prog.Step("compiling bench/%s benchmarks", pkg)
	bin := filepath.Join(r.tmp, pkg+".test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "test", "-c", "-ldflags=-checklinkname=0", "-o", bin, "./"+pkg+"/")
	cmd.Dir = r.opt.BenchDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c ./%s/: %v: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// skip marks row as skipped with err's text.
func skip(row *report.Row, err error) {
	row.Status = "skipped: " + strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	if len(row.Status) > 300 {
		row.Status = row.Status[:300] + "…"
	}
}

// pinNote describes the pinning used in method lines.
func (r *Runner) pinNote() string {
	return fmt.Sprintf("server %s (taskset), Go servers GOMAXPROCS=1; load generator %s", cpuNote(r.opt.ServerCPU), cpuNote(r.opt.LoadCPU))
}

func cpuNote(cpu int) string {
	if cpu == NoCPU {
		return "NOT pinned"
	}
	return fmt.Sprintf("pinned to CPU %d", cpu)
}

// ratioCheck formats a target check a/b <= limit for metric key.
func ratioCheck(t *report.Table, group, a, b, key, what string, limit float64, lowerIsBetter bool) string {
	ra, rb := t.Find(group, a), t.Find(group, b)
	if ra == nil || rb == nil || !ra.Measured() || !rb.Measured() {
		return fmt.Sprintf("target %s: not checked (a row is missing)", what)
	}
	va, vb := report.Median(ra.Values[key]), report.Median(rb.Values[key])
	if vb == 0 {
		return fmt.Sprintf("target %s: not checked (zero)", what)
	}
	ratio := va / vb
	met := ratio <= limit
	if !lowerIsBetter {
		met = ratio >= limit
	}
	verdict := "NOT met"
	if met {
		verdict = "met"
	}
	return fmt.Sprintf("target %s: %.2fx → %s", what, ratio, verdict)
}
