package offload_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uringd/uringd/offload"
)

// While every CPU worker is busy computing, the loop that submitted the
// jobs keeps running its timers: the work really is off the loop. The
// jobs spin until the loop's timer has fired fireTarget times, so a loop
// that ran the jobs itself, or one starved by them, would never get there
// and the test would fail on its timeout. It asserts progress, not speed
// (the speed is measured by bench's lag scenario).
func TestLoopRunsWhileWorkersAreBusy(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	const workers = 2
	const fireTarget = 20
	p := newPool(t, offload.Config{CPUWorkers: workers, QueueLen: 8})

	var fires atomic.Int64
	var running atomic.Int64
	var jobsOnLoop atomic.Int64
	spin := func(ctx context.Context) (any, error) {
		running.Add(1)
		if l.OnLoop() {
			jobsOnLoop.Add(1)
		}
		x := uint64(1)
		for fires.Load() < fireTarget && ctx.Err() == nil {
			for range 1000 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		return x, nil
	}
	results := make(chan error, workers)
	var tick func()
	tick = func() {
		// Count fires only once every worker is busy.
		if running.Load() == workers {
			fires.Add(1)
		}
		if fires.Load() < fireTarget {
			l.After(time.Millisecond, tick)
		}
	}
	onLoop(t, l, func() {
		for range workers {
			if err := p.Go(bg, l, offload.CPU, offload.FailFast, spin, func(_ any, err error) { results <- err }); err != nil {
				t.Errorf("Go: %v", err)
			}
		}
		l.After(time.Millisecond, tick)
	})
	for range workers {
		if err := recv(t, results, "a spinning job to see the loop's timer fire"); err != nil {
			t.Errorf("job: %v", err)
		}
	}
	if n := jobsOnLoop.Load(); n != 0 {
		t.Errorf("%d jobs ran on the loop", n)
	}
}
