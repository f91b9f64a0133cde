// Package lag measures loop lag under CPU load (issue 4): one sched.Loop
// serves a repeating 1 ms timer (Loop.After) and an echo server, while
//
//   - idle: nothing else runs;
//   - offload: an offload.Pool is kept saturated with gzip of 1 MiB
//     buffers submitted from the loop with Pool.Go (results come back to
//     the loop, which submits more);
//   - inline: the same gzip runs on the loop itself, each in the callback
//     of a NOP completion (the Node.js mistake).
//
// Timer lateness (how long after its due time each tick ran) is loop lag
// as the loop's own code sees it; the echo round trips are measured by a
// client outside the loop (another process in the harness), as a
// connection on the loop sees it.
package lag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/servers"
	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

// Modes.
const (
	ModeIdle    = "idle"
	ModeOffload = "offload"
	ModeInline  = "inline"
)

// Config is one run.
type Config struct {
	Mode     string
	Workers  int           // offload: CPU workers (0: the pool's default, GOMAXPROCS-1)
	Duration time.Duration // measured window
	Warmup   time.Duration // before the window (pool saturated, caches warm)
	Tick     time.Duration // timer period (default 1 ms)
	JobSize  int           // bytes per gzip job (default 1 MiB)
	// Probe measures echo round trips against addr for the window's
	// duration (the harness runs a child process; tests call load.RTT).
	Probe func(addr string, d time.Duration) (load.RTTResult, error)
}

// Result is one run's measurements; latencies in microseconds.
type Result struct {
	Mode        string         `json:"mode"`
	Workers     int            `json:"workers,omitempty"`
	Timer       load.RTTResult `json:"timer_lateness"`
	Echo        load.RTTResult `json:"echo_rtt"`
	Jobs        int            `json:"gzip_jobs"` // completed in the window
	Seconds     float64        `json:"seconds"`
	CompressedB int            `json:"compressed_bytes"` // of one job: proof the work was done
}

// Data returns size bytes of text-like data that gzip compresses about
// 3:1 (random words), so a job does realistic work.
func Data(size int) []byte {
	words := []string{"uringd", "loop", "kernel", "ring", "offload", "gzip", "latency", "connection",
		"request", "response", "buffer", "completion", "submission", "queue", "worker", "timer"}
	r := rand.New(rand.NewPCG(7, 11))
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(9) == 0 {
			fmt.Fprintf(&b, " %d\n", r.IntN(100000))
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:size]
}

// state lives on the loop: only loop callbacks touch it.
type state struct {
	cfg       Config
	l         *sched.Loop
	pool      *offload.Pool
	job       offload.Job
	recording bool
	stopping  bool
	lateness  []time.Duration
	jobs      int
	inflight  int
	maxFlight int
	nop       sched.Op
	outLen    int
	jobErr    error
	drained   chan struct{}
}

// Run performs one measurement.
func Run(cfg Config) (Result, error) {
	if cfg.Tick == 0 {
		cfg.Tick = time.Millisecond
	}
	if cfg.JobSize == 0 {
		cfg.JobSize = 1 << 20
	}
	res := Result{Mode: cfg.Mode}
	l, err := sched.NewLoop(sched.Config{LockOSThread: true})
	if err != nil {
		return res, err
	}
	defer l.Close(context.Background())
	echo, err := servers.StartUringdEchoOn(l, "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer echo.Close()

	s := &state{cfg: cfg, l: l, drained: make(chan struct{})}
	s.job = offload.Gzip(Data(cfg.JobSize), -1) // gzip.DefaultCompression
	switch cfg.Mode {
	case ModeIdle, ModeInline:
	case ModeOffload:
		res.Workers = cfg.Workers
		if res.Workers <= 0 {
			res.Workers = max(1, runtime.GOMAXPROCS(0)-1) // the pool's default
		}
		s.pool = offload.New(offload.Config{CPUWorkers: res.Workers})
		defer s.pool.Close(context.Background())
		// Keep twice the workers' worth of jobs queued or running, so a
		// worker never waits for the loop to hand it the next one.
		s.maxFlight = 2 * res.Workers
	default:
		return res, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	if err := s.call(s.start); err != nil {
		return res, err
	}
	time.Sleep(cfg.Warmup)
	if err := s.call(func() { s.recording = true; s.jobs = 0 }); err != nil {
		return res, err
	}
	t0 := time.Now()
	var probeErr error
	if cfg.Probe != nil {
		res.Echo, probeErr = cfg.Probe(echo.Addr(), cfg.Duration)
	} else {
		time.Sleep(cfg.Duration)
	}
	var lateness []time.Duration
	if err := s.call(func() {
		s.recording, s.stopping = false, true
		res.Jobs, lateness = s.jobs, s.lateness
		if s.inflight == 0 {
			close(s.drained)
		}
	}); err != nil {
		return res, err
	}
	res.Seconds = time.Since(t0).Seconds()
	select {
	case <-s.drained:
	case <-time.After(30 * time.Second):
		return res, errors.New("lag: jobs did not drain in 30s")
	}
	res.Timer = load.Summarise(lateness)
	res.CompressedB = s.outLen
	if s.jobErr != nil {
		return res, s.jobErr
	}
	if probeErr != nil {
		return res, fmt.Errorf("echo probe: %w", probeErr)
	}
	if res.Timer.N == 0 {
		return res, errors.New("lag: the timer never fired")
	}
	if cfg.Mode != ModeIdle && res.Jobs == 0 {
		return res, errors.New("lag: no gzip job completed in the window")
	}
	return res, nil
}

// call runs fn on the loop and waits for it.
func (s *state) call(fn func()) error {
	done := make(chan struct{})
	op := new(sched.Op)
	op.PrepCall(func(*sched.Op, sched.Result) {
		fn()
		close(done)
	})
	if err := s.l.Post(op); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(60 * time.Second):
		return errors.New("lag: the loop did not run a call within 60s")
	}
}

// start runs on the loop: arm the timer and the load.
func (s *state) start() {
	s.arm()
	switch s.cfg.Mode {
	case ModeOffload:
		s.fill()
	case ModeInline:
		s.inflight = 1
		s.nop.PrepNop(s.inlineJob)
		if err := s.l.Submit(&s.nop); err != nil {
			s.jobErr = err
			s.inflight = 0
		}
	}
}

// arm schedules the next tick, recording how late each one runs.
func (s *state) arm() {
	due := time.Now().Add(s.cfg.Tick)
	s.l.After(s.cfg.Tick, func() {
		if s.recording {
			s.lateness = append(s.lateness, time.Since(due))
		}
		if !s.stopping {
			if s.cfg.Mode == ModeOffload {
				s.fill() // after an ErrOverloaded, try again
			}
			s.arm()
		}
	})
}

// fill submits gzip jobs from the loop until maxFlight are in the pool.
// FailFast: the loop never blocks on a full queue.
func (s *state) fill() {
	for !s.stopping && s.inflight < s.maxFlight {
		err := s.pool.Go(context.Background(), s.l, offload.CPU, offload.FailFast, s.job, s.jobDone)
		if errors.Is(err, offload.ErrOverloaded) {
			return
		}
		if err != nil {
			s.jobErr = err
			return
		}
		s.inflight++
	}
}

// jobDone runs on the loop with a job's result.
func (s *state) jobDone(v any, err error) {
	s.inflight--
	if err != nil {
		s.jobErr = err
	} else {
		s.outLen = len(v.([]byte))
		if s.recording {
			s.jobs++
		}
	}
	if s.stopping {
		if s.inflight == 0 {
			close(s.drained)
		}
		return
	}
	s.fill()
}

// inlineJob runs the gzip on the loop, then goes through the kernel (a
// NOP) before the next one, like a handler doing CPU work per request.
func (s *state) inlineJob(op *sched.Op, r sched.Result) {
	v, err := s.job(context.Background())
	if err != nil {
		s.jobErr = err
	} else {
		s.outLen = len(v.([]byte))
		if s.recording {
			s.jobs++
		}
	}
	if s.stopping || err != nil {
		s.inflight = 0
		if s.stopping {
			close(s.drained)
		}
		return
	}
	op.PrepNop(s.inlineJob)
	if err := s.l.Submit(op); err != nil {
		s.jobErr = err
	}
}
