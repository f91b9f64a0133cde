package offload_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/uringd/uringd/offload"
)

// While the CPU workers are saturated with gzip jobs submitted from a
// loop, the loop keeps serving a 1 ms timer: the work really is off the
// loop. A correctness check with a generous bound, not a benchmark.
func TestLoopStaysFreeUnderCPULoad(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	const workers = 2
	p := newPool(t, offload.Config{CPUWorkers: workers, QueueLen: 8})
	data := testData(1 << 20)

	var (
		stopping  atomic.Bool
		inFlight  int // loop only
		completed atomic.Int64
		fires     atomic.Int64
		jobErr    atomic.Value
		stopped   = make(chan struct{})
	)
	// submit keeps workers+2 gzip jobs in flight, resubmitting from each
	// result's callback on the loop.
	var submit func()
	submit = func() {
		for !stopping.Load() && inFlight < workers+2 {
			err := p.Go(bg, l, offload.CPU, offload.FailFast, offload.Gzip(data, gzip.DefaultCompression), func(v any, err error) {
				inFlight--
				// No checking of the output here: that would be CPU work
				// on the loop (TestGzipRoundTrip checks it).
				if err != nil {
					jobErr.Store(err)
				} else if b, ok := v.([]byte); !ok || len(b) == 0 {
					jobErr.Store(errors.New("gzip job yielded no bytes"))
				}
				completed.Add(1)
				if stopping.Load() && inFlight == 0 {
					close(stopped)
					return
				}
				submit()
			})
			if err != nil {
				jobErr.Store(err)
				return
			}
			inFlight++
		}
	}
	var tick func()
	tick = func() {
		fires.Add(1)
		if !stopping.Load() {
			l.After(time.Millisecond, tick)
		}
	}
	onLoop(t, l, func() {
		submit()
		l.After(time.Millisecond, tick)
	})

	// Wait until both workers are busy, then count timer fires over a
	// window in which they stay busy.
	waitFor(t, "the workers to be saturated", func() bool {
		return p.Metrics()[offload.CPU].Running == workers
	})
	const window = 200 * time.Millisecond
	startFires := fires.Load()
	busy, samples := 0, 0
	for deadline := time.Now().Add(window); time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		samples++
		// Saturated: every worker has a job, running or waiting for it.
		if m := p.Metrics()[offload.CPU]; m.Running+int64(m.QueueDepth) >= workers {
			busy++
		}
	}
	n := fires.Load() - startFires
	stopping.Store(true)
	recv(t, stopped, "the in-flight gzip jobs to finish")

	if v := jobErr.Load(); v != nil {
		t.Fatalf("gzip job: %v", v)
	}
	t.Logf("%d timer fires in %v with %d CPU workers busy in %d of %d samples; %d gzip jobs completed",
		n, window, workers, busy, samples, completed.Load())
	if busy < samples*3/4 {
		t.Errorf("the workers were saturated in only %d of %d samples: the load did not hold", busy, samples)
	}
	if n < 50 {
		t.Errorf("only %d timer fires in %v while the pool was saturated, want >= 50: the loop is starved", n, window)
	}
}
