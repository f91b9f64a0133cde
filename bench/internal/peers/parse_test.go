package peers

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseWrkSamples(t *testing.T) {
	b, err := os.ReadFile("testdata/wrk-plain.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseWrk(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 123912 || r.Seconds != 1.1 || r.RPS != 112487.23 || r.P99 != 620 || r.SocketErrors != 0 || r.Non2xx != 0 {
		t.Fatalf("got %+v", r)
	}
	if math.Abs(r.BytesRead-16.19*(1<<20)) > 1 {
		t.Fatalf("bytes read %v", r.BytesRead)
	}
	// Pipelined at a high rate wrk prints 0.00us percentiles: no p99.
	b, err = os.ReadFile("testdata/wrk-pipelined.txt")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = ParseWrk(string(b)); err != nil || r.Requests != 1261616 || r.P99 != 0 {
		t.Fatalf("got %+v, %v", r, err)
	}
}

func TestParseWrkErrors(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Latency Distribution
     50%    1.20ms
     99%    1.05s
  52345 requests in 5.00s, 1.25GB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:  10469.00
`
	r, err := ParseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 52345 || r.Seconds != 5 || r.RPS != 10469 || r.P99 != 1.05e6 || r.SocketErrors != 10 || r.Non2xx != 17 || r.BytesRead != 1.25*(1<<30) {
		t.Fatalf("got %+v", r)
	}
	if _, err := ParseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestParseFio(t *testing.T) {
	// 8 psync jobs on one CPU, group reporting: fio 3.33's real output.
	b, err := os.ReadFile("testdata/fio-psync-8jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseFio(append([]byte("fio: some warning\n"), b...))
	if err != nil {
		t.Fatal(err)
	}
	// usr 0.630935% + sys 5.228636% of job_runtime 16008 ms = 0.938 s.
	if r.IOs != 107182 || r.Jobs != 8 || math.Abs(r.IOPS-53484.03) > 0.01 || math.Abs(r.CPUSec-0.938) > 0.001 || r.RuntimeSec != 2.004 {
		t.Fatalf("got %+v", r)
	}
	if math.Abs(r.CPUPerIO()-8.752) > 0.01 {
		t.Fatalf("CPU per IO %v µs", r.CPUPerIO())
	}
	b, err = os.ReadFile("testdata/fio-psync-1job.json")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = ParseFio(b); err != nil || r.IOs != 37426 || r.Jobs != 1 || math.Abs(r.CPUSec-0.648) > 0.001 {
		t.Fatalf("got %+v, %v", r, err)
	}
	if _, err := ParseFio([]byte("fio: engine io_uring not loadable")); err == nil {
		t.Fatal("garbage parsed")
	}
	if _, err := ParseFio([]byte(`{"jobs":[{"read":{"total_ios":0}}]}`)); err == nil {
		t.Fatal("zero reads accepted")
	}
	if got := FioRuntime(1500 * time.Millisecond); got != "1500ms" {
		t.Fatal(got)
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
BenchmarkNOPSerial/uringd                1000000               485.0 ns/op             0 B/op          0 allocs/op
BenchmarkNOPSerial/iouring-go-2           300000              3482 ns/op             240 B/op          4 allocs/op
BenchmarkPageCacheRead4K/impl=uringd-blocking/goroutines=32   	  500000	      2255 ns/op	      1661 cpu-ns/op	       0 B/op	       0 allocs/op
BenchmarkNOPSerial/liburing                          1000000        716.0 ns/op        0 B/op        0 allocs/op
BenchmarkBroken  notanumber  1 ns/op
PASS
`
	lines := ParseBench(out)
	if len(lines) != 4 {
		t.Fatalf("got %d lines: %+v", len(lines), lines)
	}
	if l := lines[1]; l.Name != "NOPSerial/iouring-go" || l.N != 300000 || l.Metrics["ns/op"] != 3482 || l.Metrics["allocs/op"] != 4 {
		t.Fatalf("line 1: %+v", l)
	}
	if l := lines[2]; l.Name != "PageCacheRead4K/impl=uringd-blocking/goroutines=32" || l.Metrics["cpu-ns/op"] != 1661 {
		t.Fatalf("line 2: %+v", l)
	}
}

func TestPipelineLua(t *testing.T) {
	s := PipelineLua("/plaintext", 16)
	for _, want := range []string{`for i = 1, 16 do`, `wrk.format(nil, "/plaintext")`, "request = function()"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

func TestNginxConfig(t *testing.T) {
	dir := t.TempDir()
	spec, err := Nginx(NginxConfig{Dir: dir, Addr: "127.0.0.1:1", Root: dir})
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			t.Skipf("nginx not installed: %v", err)
		}
		t.Fatal(err) // nginx -t refused our config
	}
	b, _ := os.ReadFile(spec.Argv[4])
	for _, want := range []string{"worker_processes 1;", "daemon off;", "listen 127.0.0.1:1 ", "alias " + dir + "/;", "sendfile on;", `return 200 "Hello, World!";`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q", want)
		}
	}
	if !spec.Tree {
		t.Error("nginx must be measured as a process tree")
	}
}

func TestMixLua(t *testing.T) {
	paths := []string{"/static/mix/0000.bin", "/static/mix/0001.bin", `/static/odd "name".bin`}
	s := MixLua(paths, 42)
	for _, p := range paths {
		if n := strings.Count(s, strconv.Quote(p)); n != 1 {
			t.Errorf("path %q appears %d times", p, n)
		}
	}
	for _, want := range []string{
		"math.randomseed(42 + (id or 0))", // deterministic, per thread
		`thread:set("id", threads)`,       // setup numbers the threads
		"reqs[i] = wrk.format(nil, p)",    // formatted once
		"return reqs[math.random(#reqs)]", // one random path per request
		"request = function()",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if MixLua(paths, 42) != s || MixLua(paths, 43) == s {
		t.Error("the script is not a function of paths and seed")
	}
}
