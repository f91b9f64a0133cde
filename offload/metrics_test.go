package offload_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/uringd/uringd/offload"
)

// After a known workload the counters and histogram counts match it, and
// quantiles are monotonic upper bounds capped by Max.
func TestMetricsKnownWorkload(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 2, BlockingWorkers: 1, QueueLen: 64})

	const (
		nDo       = 40 // 4 goroutines x 10
		nGo       = 20
		nBlocking = 6
		sleep     = 2 * time.Millisecond
	)
	sleeper := func(d time.Duration) offload.Job {
		return func(context.Context) (any, error) {
			time.Sleep(d)
			return nil, nil
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range nDo / 4 {
				if _, err := p.Do(bg, offload.CPU, offload.Wait, sleeper(sleep)); err != nil {
					t.Errorf("Do: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for range nBlocking {
			if _, err := p.Do(bg, offload.Blocking, offload.Wait, sleeper(sleep)); err != nil {
				t.Errorf("Do blocking: %v", err)
			}
		}
	})
	goDone := make(chan struct{})
	onLoop(t, l, func() {
		n := 0
		for range nGo {
			if err := p.Go(bg, l, offload.CPU, offload.FailFast, sleeper(sleep), func(_ any, err error) {
				if err != nil {
					t.Errorf("Go: %v", err)
				}
				if n++; n == nGo {
					close(goDone)
				}
			}); err != nil {
				t.Errorf("Go: %v", err)
			}
		}
	})
	wg.Wait()
	recv(t, goDone, "Go results")

	m := p.Metrics()
	check := func(name string, c offload.ClassMetrics, n uint64) {
		t.Helper()
		if c.Submitted != n || c.Completed != n || c.Wait.Count() != n || c.Run.Count() != n {
			t.Errorf("%s: Submitted %d Completed %d Wait.Count %d Run.Count %d, want all %d",
				name, c.Submitted, c.Completed, c.Wait.Count(), c.Run.Count(), n)
		}
		if c.Rejected != 0 || c.Cancelled != 0 || c.Panics != 0 || c.Undelivered != 0 || c.Running != 0 || c.QueueDepth != 0 {
			t.Errorf("%s: unexpected counters %+v", name, c)
		}
		if c.QueueCap != 64 {
			t.Errorf("%s: QueueCap %d, want 64", name, c.QueueCap)
		}
		// Every job slept at least `sleep`, so every run quantile's upper
		// bound is at least that.
		if c.Run.Max < sleep || c.Run.Quantile(0.01) < sleep {
			t.Errorf("%s: Run.Max %v, Run.Quantile(0.01) %v, want >= %v", name, c.Run.Max, c.Run.Quantile(0.01), sleep)
		}
		for _, h := range []offload.Histogram{c.Wait, c.Run} {
			checkQuantiles(t, name, h)
		}
	}
	check("cpu", m[offload.CPU], nDo+nGo)
	check("blocking", m[offload.Blocking], nBlocking)

	// Now one rejection, one cancellation (skipped while queued) and one
	// panic, on a fresh pool with one worker.
	p2 := newPool(t, offload.Config{CPUWorkers: 1, QueueLen: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	blockDone := make(chan error, 1)
	go func() {
		_, err := p2.Do(bg, offload.CPU, offload.Wait, block)
		blockDone <- err
	}()
	recv(t, started, "the blocking job")
	ctx, cancel := context.WithCancel(bg)
	got := make(chan error, 1)
	onLoop(t, l, func() {
		if err := p2.Go(ctx, l, offload.CPU, offload.FailFast, sleeper(0), func(_ any, err error) { got <- err }); err != nil {
			t.Errorf("Go: %v", err)
		}
	})
	cancel()
	if _, err := p2.Do(bg, offload.CPU, offload.FailFast, sleeper(0)); !errors.Is(err, offload.ErrOverloaded) {
		t.Errorf("FailFast: %v", err)
	}
	unblock()
	if err := recv(t, got, "the cancelled job's callback"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled job: %v", err)
	}
	if err := recv(t, blockDone, "the blocking job"); err != nil {
		t.Errorf("blocking job: %v", err)
	}
	if _, err := p2.Do(bg, offload.CPU, offload.Wait, panickingJob); err == nil {
		t.Error("panicking job returned no error")
	}
	c := p2.Metrics()[offload.CPU]
	// blocker, cancelled, panicking were accepted; the cancelled one did
	// not run, the panicking one did.
	if c.Submitted != 3 || c.Completed != 2 || c.Rejected != 1 || c.Cancelled != 1 || c.Panics != 1 || c.Run.Count() != 2 {
		t.Errorf("after reject/cancel/panic: %+v", c)
	}
	checkQuantiles(t, "p2 wait", c.Wait)
	checkQuantiles(t, "p2 run", c.Run)
}

func checkQuantiles(t *testing.T, name string, h offload.Histogram) {
	t.Helper()
	var sum uint64
	for _, b := range h.Buckets {
		sum += b
	}
	if sum != h.Count() {
		t.Errorf("%s: Count %d, bucket sum %d", name, h.Count(), sum)
	}
	if h.Count() == 0 {
		return
	}
	// Max is the largest observation, so it lies in the highest non-empty
	// bucket: Buckets[i] holds [2^(i-1), 2^i) µs, Buckets[0] under 1 µs.
	top := 0
	for i, b := range h.Buckets {
		if b > 0 {
			top = i
		}
	}
	lo, hi := time.Duration(0), time.Microsecond
	if top > 0 {
		lo, hi = time.Duration(1<<(top-1))*time.Microsecond, time.Duration(1<<top)*time.Microsecond
	}
	if h.Max < lo || h.Max >= hi {
		t.Errorf("%s: Max %v is outside its bucket %d [%v, %v)", name, h.Max, top, lo, hi)
	}
	prev := time.Duration(0)
	for q := 0.01; q <= 1.0001; q += 0.01 {
		v := h.Quantile(min(q, 1))
		if v < prev {
			t.Errorf("%s: Quantile(%.2f) = %v < previous %v", name, q, v, prev)
		}
		if v <= 0 {
			t.Errorf("%s: Quantile(%.2f) = %v, want > 0", name, q, v)
		}
		if v > h.Max && v > time.Microsecond {
			t.Errorf("%s: Quantile(%.2f) = %v > Max %v", name, q, v, h.Max)
		}
		prev = v
	}
}

// Histogram arithmetic on a hand-made snapshot.
func TestHistogramQuantile(t *testing.T) {
	var h offload.Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 {
		t.Errorf("empty histogram: Count %d Quantile %v", h.Count(), h.Quantile(0.5))
	}
	h.Buckets[0] = 1  // < 1 µs
	h.Buckets[3] = 2  // [4, 8) µs
	h.Buckets[10] = 1 // [512, 1024) µs
	h.Max = 700 * time.Microsecond
	if h.Count() != 4 {
		t.Fatalf("Count = %d, want 4", h.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.25, time.Microsecond},
		{0.5, 8 * time.Microsecond},
		{0.75, 8 * time.Microsecond},
		{1, 700 * time.Microsecond}, // the bucket's top, capped by Max
	} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	checkQuantiles(t, "hand-made", h)
}
