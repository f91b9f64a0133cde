// Command uringbench measures uringd against its peers, side by side on
// one machine, and writes Markdown tables, JSON and SVG charts.
//
//	cd bench
//	go run -ldflags=-checklinkname=0 ./cmd/uringbench               # the whole suite
//	go run -ldflags=-checklinkname=0 ./cmd/uringbench echo disk     # some scenarios
//	go run -ldflags=-checklinkname=0 ./cmd/uringbench -quick        # smoke test
//
// Scenarios: nop, disk, echo, http-plaintext, http-pipelined, http-json,
// static, idle, lag. Servers run pinned to CPU 1 with one loop/worker, load
// generators pinned to CPU 0; every scenario runs each available peer in
// the same invocation, alternating, -rounds times, and reports the median
// with min–max. Missing peers (nginx, node, wrk, fio, liburing-dev) are
// reported as skipped.
//
// The harness also runs its own children through subcommands of this
// binary:
//
//	uringbench serve NAME -addr 127.0.0.1:PORT [-root DIR]   # echo-uringd, echo-gnet, echo-net, http-uringd, http-uringd-nethttp, http-net, http-fasthttp, http-gnet, http-nbio
//	uringbench load echo|idle|rtt|ranges -addr 127.0.0.1:PORT ...   # load generators
//	uringbench diskread -file F -mode callbacks|blocking      # uringd's O_DIRECT reader
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/uringd/uringd/bench/internal/disk"
	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
	"github.com/uringd/uringd/bench/internal/servers"
	"github.com/uringd/uringd/bench/internal/suite"
)

func main() {
	// Servers and clients of the idle scenario hold 10k sockets each.
	_, _ = proc.RaiseNoFile()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "serve":
		err = serve(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "load":
		err = loadCmd(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "diskread":
		err = diskread(os.Args[2:])
	default:
		err = harness(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "uringbench:", err)
		os.Exit(1)
	}
}

// defaultDuration is -duration's default: 5 s per measurement keeps the
// full suite (about 60 measurements per round set) under 15 minutes.
const defaultDuration = 5 * time.Second

func harness(args []string) error {
	fs := flag.NewFlagSet("uringbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run -ldflags=-checklinkname=0 ./cmd/uringbench [flags] [scenario ...]\n\nscenarios:\n")
		for _, s := range suite.Scenarios {
			fmt.Fprintf(fs.Output(), "  %-15s %s\n", s.Name, s.About)
		}
		fmt.Fprintf(fs.Output(), "\nflags:\n")
		fs.PrintDefaults()
	}
	rounds := fs.Int("rounds", 3, "rounds per peer (the median and min–max are over rounds)")
	duration := fs.Duration("duration", defaultDuration, "length of each measurement")
	conns := fs.Int("conns", 64, "connections for the echo and HTTP scenarios")
	idleConns := fs.Int("idle-conns", 10000, "connections for the idle scenario")
	dir := fs.String("dir", os.TempDir(), "directory for the disk scenario's 1 GiB file (kept between runs)")
	jsonOut := fs.Bool("json", false, "also write results.json")
	quick := fs.Bool("quick", false, "smoke test: 1 round, tiny durations and sizes (numbers are not meaningful)")
	out := fs.String("out", "", "output directory (default bench/results)")
	serverCPU := fs.Int("server-cpu", 1, "CPU the servers are pinned to (-1: do not pin)")
	loadCPU := fs.Int("load-cpu", 0, "CPU the load generators are pinned to (-1: do not pin)")
	replot := fs.String("replot", "", "measure nothing: rewrite results.md and the charts from this results.json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	benchDir := findBenchDir()
	opt := suite.Options{
		Rounds: *rounds, Duration: *duration, Conns: *conns, IdleConns: *idleConns, Dir: *dir,
		Quick: *quick, ServerCPU: *serverCPU, LoadCPU: *loadCPU, Exe: exe, BenchDir: benchDir,
		Command: commandLine(args),
	}
	if *quick {
		opt.Rounds = 1
		opt.Duration = min(opt.Duration, time.Second)
		opt.IdleConns = min(opt.IdleConns, 200)
	}
	if runtime.NumCPU() < 2 && opt.ServerCPU != suite.NoCPU {
		fmt.Fprintln(os.Stderr, "uringbench: only one CPU: servers and load share CPU 0, numbers will be poor")
		opt.ServerCPU, opt.LoadCPU = 0, 0
	}
	outDir := *out
	if outDir == "" {
		outDir = "results"
		if benchDir != "" {
			outDir = filepath.Join(benchDir, "results")
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}

	if *replot != "" {
		return replotFrom(*replot, outDir)
	}

	prog := suite.NewProgress(os.Stderr)
	runner, err := suite.NewRunner(opt, prog)
	if err != nil {
		prog.Close()
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		suite.KillAll()
		runner.Close()
		fmt.Fprintf(os.Stderr, "\nuringbench: %v: children stopped\n", s)
		os.Exit(130)
	}()
	start := time.Now()
	tables, err := runner.Run(fs.Args())
	prog.Close()
	runner.Close()
	if err != nil {
		return err
	}

	env := runner.Env()
	env.Total = time.Since(start).Round(time.Second).String()
	if err := writeOutputs(outDir, env, tables, *jsonOut); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "uringbench: wrote results to %s (%s)\n", outDir, env.Total)
	return nil
}

// writeOutputs prints the Markdown and writes results.md, a chart per
// scenario and, when asked, results.json into outDir.
func writeOutputs(outDir string, env report.Env, tables []*report.Table, withJSON bool) error {
	var md bytes.Buffer
	fmt.Fprintf(&md, "## uringbench results\n\n%s", env.Header())
	if env.Total != "" {
		fmt.Fprintf(&md, "- total time: %s\n", env.Total)
	}
	md.WriteByte('\n')
	for _, t := range tables {
		if err := t.WriteMarkdown(&md); err != nil {
			return err
		}
		if len(t.Rows) == 0 {
			continue
		}
		var svg bytes.Buffer
		if err := t.WriteSVG(&svg); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, t.Scenario+".svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	os.Stdout.Write(md.Bytes())
	if err := os.WriteFile(filepath.Join(outDir, "results.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if !withJSON {
		return nil
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, env, tables); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "results.json"), js.Bytes(), 0o644)
}

// replotFrom rewrites the outputs from a results.json, measuring nothing.
func replotFrom(path, outDir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc report.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	same := false
	if abs, err := filepath.Abs(path); err == nil {
		if out, err := filepath.Abs(filepath.Join(outDir, "results.json")); err == nil {
			same = abs == out
		}
	}
	return writeOutputs(outDir, doc.Env, doc.Tables, !same)
}

// commandLine reconstructs how the harness was started, for the record.
func commandLine(args []string) string {
	prog := "uringbench"
	if strings.Contains(os.Args[0], "go-build") {
		prog = "go run -ldflags=-checklinkname=0 ./cmd/uringbench"
	}
	parts := []string{prog}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// findBenchDir walks up from the working directory to the bench module.
func findBenchDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if bytes.Contains(b, []byte("module github.com/uringd/uringd/bench\n")) {
				return dir
			}
			if d := filepath.Join(dir, "bench"); dir != d {
				if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/uringd/uringd/bench\n")) {
					return d
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// serve runs one server until SIGTERM or SIGINT.
func serve(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: uringbench serve NAME -addr HOST:PORT [-root DIR] (NAME: %s)", strings.Join(servers.Names, ", "))
	}
	name := args[0]
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	root := fs.String("root", "", "directory served under /static/ (http-uringd, http-uringd-nethttp, http-net, http-fasthttp)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	s, err := servers.Start(name, *addr, servers.Options{Root: *root})
	if err != nil {
		return err
	}
	fmt.Printf("LISTENING %s\n", s.Addr())
	<-sig
	return s.Close()
}

// loopbackOnly refuses anything but 127.0.0.1 / ::1 / localhost.
func loopbackOnly(addr string) error {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	switch host {
	case "127.0.0.1", "::1", "localhost":
		return nil
	}
	return fmt.Errorf("address %q is not loopback: uringbench only measures on 127.0.0.1 / ::1", addr)
}

func loadCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: uringbench load echo|idle|rtt|ranges -addr HOST:PORT [flags]")
	}
	kind := args[0]
	fs := flag.NewFlagSet("load "+kind, flag.ContinueOnError)
	addr := fs.String("addr", "", "server address (loopback)")
	conns := fs.Int("conns", 64, "connections")
	size := fs.Int("size", 64, "message size")
	warmup := fs.Duration("warmup", time.Second, "echo, ranges: warm-up before the measured window")
	duration := fs.Duration("duration", 5*time.Second, "measured window")
	proto := fs.String("proto", load.ProtoEcho, "idle: what to say on each connection (echo, http)")
	path := fs.String("path", "/", "idle: HTTP path")
	interval := fs.Duration("interval", time.Millisecond, "rtt: time between messages")
	dir := fs.String("dir", "", "ranges: directory holding -files (bodies are verified against them)")
	files := fs.String("files", "", "ranges: comma-separated file names under -dir, requested as -prefix NAME")
	prefix := fs.String("prefix", "/static/", "ranges: URL path prefix")
	rangeSize := fs.Int64("range", 1<<20, "ranges: bytes per range (offsets are multiples of it)")
	seed := fs.Uint64("seed", 1, "ranges: connection i draws files and offsets from PCG(seed, i)")
	verifyEvery := fs.Int("verify-every", 64, "ranges: verify every n-th body (and each connection's first) by SHA-256 against the file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	switch kind {
	case "echo":
		res, err := load.Echo(*addr, *conns, *size, *warmup, *duration, func() { fmt.Println("START") })
		if err != nil {
			return err
		}
		return printResult(res)
	case "ranges":
		if *dir == "" || *files == "" {
			return errors.New("load ranges: -dir and -files are required")
		}
		res, err := load.Ranges(load.RangeConfig{
			Addr: *addr, Conns: *conns, Dir: *dir, Files: strings.Split(*files, ","), Prefix: *prefix,
			RangeSize: *rangeSize, Warmup: *warmup, Duration: *duration, Seed: *seed, VerifyEvery: *verifyEvery,
		}, func() { fmt.Println("START") })
		if err != nil {
			return err
		}
		return printResult(res)
	case "rtt":
		res, err := load.RTT(*addr, *interval, *duration, *size)
		if err != nil {
			return err
		}
		return printResult(res)
	case "idle":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cs, err := load.OpenIdle(ctx, *addr, *conns, *proto, *path)
		cancel()
		if err != nil {
			return err
		}
		fmt.Printf("READY %d\n", len(cs))
		// Hold them until the harness closes our stdin (bounded: 10 min).
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
		}
		for _, c := range cs {
			c.Close()
		}
		fmt.Println("CLOSED")
		return nil
	}
	return fmt.Errorf("unknown load %q (echo, idle, rtt, ranges)", kind)
}

func printResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Printf("RESULT %s\n", b)
	return nil
}

func diskread(args []string) error {
	fs := flag.NewFlagSet("diskread", flag.ContinueOnError)
	file := fs.String("file", "", "file to read (O_DIRECT)")
	mode := fs.String("mode", disk.ModeCallbacks, "callbacks or blocking")
	qd := fs.Int("qd", 32, "reads in flight")
	duration := fs.Duration("duration", 5*time.Second, "how long to read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("diskread: -file is required")
	}
	res, err := disk.Run(*file, *mode, *qd, *duration)
	if err != nil {
		return err
	}
	return printResult(res)
}
