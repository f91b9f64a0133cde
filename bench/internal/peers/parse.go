// Package peers drives the measuring tools and servers that are not Go
// code of this module: wrk, fio, `go test -bench` binaries, nginx, Node.js
// and the liburing C anchors. It parses their output and writes their
// configuration; each missing one is reported with the reason.
package peers

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what the harness takes from wrk's report.
type WrkResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P99          float64 `json:"p99_us"` // 0 without --latency
	SocketErrors int64   `json:"socket_errors"`
	Non2xx       int64   `json:"non_2xx"`
	BytesRead    float64 `json:"bytes_read"`
}

var (
	reWrkTotal   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGT]?B) read`)
	reWrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reWrkP99     = regexp.MustCompile(`(?m)^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$`)
	reWrkSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reWrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func unitSeconds(v float64, unit string) float64 {
	switch unit {
	case "us":
		return v / 1e6
	case "ms":
		return v / 1e3
	case "m":
		return v * 60
	case "h":
		return v * 3600
	}
	return v
}

// ParseWrk parses wrk's text report.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	m := reWrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no \"N requests in T\" line in output:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	secs, _ := strconv.ParseFloat(m[2], 64)
	r.Seconds = unitSeconds(secs, m[3])
	read, _ := strconv.ParseFloat(m[4], 64)
	r.BytesRead = read * map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[5]]
	if m := reWrkRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	} else if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	if m := reWrkP99.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		r.P99 = unitSeconds(v, m[2]) * 1e6
	}
	if m := reWrkSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	if m := reWrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

// PipelineLua is a wrk script that sends depth requests for path in one
// write; wrk counts every response, so Requests/sec counts requests.
func PipelineLua(path string, depth int) string {
	return fmt.Sprintf(`-- pipelined requests: %[2]d per write
init = function(args)
  local r = {}
  for i = 1, %[2]d do
    r[i] = wrk.format(nil, %[1]q)
  end
  req = table.concat(r)
end

request = function()
  return req
end
`, path, depth)
}

// MixLua is a wrk script that asks, per request, for one of paths picked
// at random. Each wrk thread seeds its generator with seed plus its own
// index (setup numbers the threads), so a run's sequence of paths is the
// same every time and differs between threads. The requests are formatted
// once, in init.
func MixLua(paths []string, seed uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- a random one of %d paths per request; thread i seeds with %d + i\n", len(paths), seed)
	b.WriteString("local paths = {\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "  %q,\n", p)
	}
	fmt.Fprintf(&b, `}
local threads = 0
setup = function(thread)
  thread:set("id", threads)
  threads = threads + 1
end

init = function(args)
  math.randomseed(%d + (id or 0))
  reqs = {}
  for i, p in ipairs(paths) do
    reqs[i] = wrk.format(nil, p)
  end
end

request = function()
  return reqs[math.random(#reqs)]
end
`, seed)
	return b.String()
}

// FioResult is what the harness takes from fio's JSON report.
type FioResult struct {
	IOPS       float64 `json:"iops"`
	IOs        int64   `json:"ios"`
	RuntimeSec float64 `json:"runtime_s"` // wall time of the job (group)
	CPUSec     float64 `json:"cpu_s"`     // user+system over all jobs
	Jobs       int     `json:"jobs"`
}

// CPUPerIO is the CPU time per I/O in microseconds.
func (f FioResult) CPUPerIO() float64 {
	if f.IOs == 0 {
		return 0
	}
	return f.CPUSec * 1e6 / float64(f.IOs)
}

type fioJSON struct {
	Jobs []struct {
		JobName    string  `json:"jobname"`
		UsrCPU     float64 `json:"usr_cpu"`
		SysCPU     float64 `json:"sys_cpu"`
		JobRuntime float64 `json:"job_runtime"` // ms, summed over a group's jobs
		Options    struct {
			NumJobs string `json:"numjobs"`
		} `json:"job options"`
		Read struct {
			IOPS     float64 `json:"iops"`
			TotalIOs int64   `json:"total_ios"`
			Runtime  float64 `json:"runtime"` // ms
		} `json:"read"`
	} `json:"jobs"`
	GlobalOptions struct {
		NumJobs string `json:"numjobs"`
	} `json:"global options"`
}

// ParseFio parses `fio --output-format=json --group_reporting` output
// (anything before the first '{', such as warnings, is skipped). fio's
// usr_cpu and sys_cpu are percentages of one CPU averaged over the jobs
// of a group, and job_runtime is the sum of the jobs' run times, so
// (usr+sys)/100 × job_runtime is the CPU time of all of them.
func ParseFio(out []byte) (FioResult, error) {
	var r FioResult
	i := strings.IndexByte(string(out), '{')
	if i < 0 {
		return r, errors.New("fio: no JSON in output")
	}
	var doc fioJSON
	if err := json.Unmarshal(out[i:], &doc); err != nil {
		return r, fmt.Errorf("fio: %w", err)
	}
	if len(doc.Jobs) == 0 {
		return r, errors.New("fio: no jobs in report")
	}
	for _, j := range doc.Jobs {
		r.IOPS += j.Read.IOPS
		r.IOs += j.Read.TotalIOs
		r.RuntimeSec = max(r.RuntimeSec, j.Read.Runtime/1e3)
		jobs := 1
		if n, err := strconv.Atoi(j.Options.NumJobs); err == nil {
			jobs = n
		} else if n, err := strconv.Atoi(doc.GlobalOptions.NumJobs); err == nil {
			jobs = n
		}
		r.Jobs += jobs
		runtime := j.JobRuntime
		if runtime == 0 { // older fio: no job_runtime
			runtime = j.Read.Runtime * float64(jobs)
		}
		r.CPUSec += (j.UsrCPU + j.SysCPU) / 100 * runtime / 1e3
	}
	if r.IOs == 0 {
		return r, errors.New("fio: no reads completed")
	}
	return r, nil
}

// BenchLine is one result line of `go test -bench`.
type BenchLine struct {
	Name    string             // without "Benchmark" and the -GOMAXPROCS suffix
	N       int64              // iterations
	Metrics map[string]float64 // "ns/op", "cpu-ns/op", "B/op", ...
}

var reProcs = regexp.MustCompile(`-\d+$`)

// ParseBench parses the result lines of `go test -bench` output (and of
// the C anchors, which print the same format).
func ParseBench(out string) []BenchLine {
	var lines []BenchLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		bl := BenchLine{Name: reProcs.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""), N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			bl.Metrics[f[i+1]] = v
		}
		if len(bl.Metrics) > 0 {
			lines = append(lines, bl)
		}
	}
	return lines
}

// FioRuntime formats a duration for fio's --runtime (milliseconds, at
// least one).
func FioRuntime(d time.Duration) string {
	return fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
}
