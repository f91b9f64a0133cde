package suite

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/uringd/uringd/bench/internal/lag"
	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/report"
)

// lagProcs is the GOMAXPROCS of the lag scenario: the pool needs a core
// of its own beside the loop's.
const lagProcs = 2

type lagCase struct {
	label   string
	mode    string
	workers int // offload: CPU workers; 0 is the pool default (GOMAXPROCS-1)
}

var lagCases = []lagCase{
	{"idle loop", lag.ModeIdle, 0},
	{"offload saturated (pool default: GOMAXPROCS−1 = 1 worker)", lag.ModeOffload, 0},
	{"offload saturated (2 workers = GOMAXPROCS)", lag.ModeOffload, lagProcs},
	{"gzip inline on the loop (the Node.js mistake)", lag.ModeInline, 0},
}

func (r *Runner) lag() (*report.Table, error) {
	t := &report.Table{
		Title:   "loop lag under offload saturation",
		RefName: "idle",
		Method: []string{
			fmt.Sprintf("in-process in the harness with GOMAXPROCS=%d and NO pinning (the pool needs the second core); %d rounds × %v per case, cases alternating", lagProcs, r.rounds(), r.opt.Duration),
			"one sched.Loop runs a repeating 1 ms Loop.After timer (lag = how late each tick ran) and the uringd echo server; a client process (unpinned, GOMAXPROCS=1) sends a 64-byte echo every 1 ms and measures round trips",
			"offload: offload.Pool kept saturated from the loop with Pool.Go(FailFast) of offload.Gzip(1 MiB of text, default level), 2 jobs per worker in flight; inline: the same gzip in a NOP completion callback, back to back",
		},
		Metrics: []report.Metric{
			{Key: "timer_p50", Label: "timer lag p50 µs"},
			{Key: "timer_p99", Label: "timer lag p99 µs", Ratio: true, Chart: true},
			{Key: "timer_max", Label: "timer lag max µs"},
			{Key: "echo_p50", Label: "echo RTT p50 µs"},
			{Key: "echo_p99", Label: "echo RTT p99 µs", Ratio: true, Chart: true},
			{Key: "echo_max", Label: "echo RTT max µs"},
			{Key: "jobs", Label: "gzip MiB/s"},
		},
	}
	for i, c := range lagCases {
		t.Row("", c.label).Ref = i == 0
	}
	prev := runtime.GOMAXPROCS(lagProcs)
	defer runtime.GOMAXPROCS(prev)
	probe := func(addr string, d time.Duration) (load.RTTResult, error) {
		var res load.RTTResult
		c, err := StartChild(ChildSpec{Name: "rtt probe", CPU: NoCPU, Env: gomaxprocs1,
			Argv: []string{r.opt.Exe, "load", "rtt", "-addr", addr, "-interval", "1ms", "-duration", d.String()}})
		if err != nil {
			return res, err
		}
		defer c.Stop()
		out, err := c.Expect("RESULT", d+time.Minute)
		if err != nil {
			return res, err
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return res, fmt.Errorf("rtt result %q: %w", out, err)
		}
		return res, c.Wait(30 * time.Second)
	}
	warmup := min(time.Second, r.opt.Duration/4)
	for round := range r.rounds() {
		for _, c := range rotate(lagCases, round) {
			row := t.Row("", c.label)
			r.prog.StepFor(warmup+r.opt.Duration, "%s · round %d/%d", c.label, round+1, r.rounds())
			res, err := lag.Run(lag.Config{Mode: c.mode, Workers: c.workers, Duration: r.opt.Duration, Warmup: warmup, Probe: probe})
			if err != nil {
				row.Note("round %d failed: %v", round+1, err)
				continue
			}
			row.Add("timer_p50", res.Timer.P50)
			row.Add("timer_p99", res.Timer.P99)
			row.Add("timer_max", res.Timer.Max)
			row.Add("echo_p50", res.Echo.P50)
			row.Add("echo_p99", res.Echo.P99)
			row.Add("echo_max", res.Echo.Max)
			row.Add("jobs", float64(res.Jobs)/res.Seconds) // 1 MiB per job
		}
	}
	idle, sat := lagCases[0].label, lagCases[1].label
	t.Checks = append(t.Checks,
		ratioCheck(t, "", sat, idle, "timer_p99", "p99 timer lag with the pool saturated <= 2x idle", 2, true))
	if row := t.Find("", sat); row != nil && row.Measured() {
		v := report.Median(row.Values["timer_p99"])
		verdict := "met"
		if v >= 1000 {
			verdict = "NOT met"
		}
		t.Checks = append(t.Checks, fmt.Sprintf("target p99 timer lag with the pool saturated < 1 ms: %s µs → %s", report.FormatNum(v), verdict))
	}
	return t, nil
}
