package offload_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/uringd/uringd/offload"
)

// A Close whose ctx has ended gives up at once, even on jobs that ignore
// their context: it returns ctx's error while those jobs are provably
// still blocked, their submitters get ErrClosed, queued jobs are skipped,
// and the jobs' own results are dropped when they finally return. A later
// Close waits for them and returns nil; no goroutine is left behind.
func TestCloseGivesUpOnJobsThatIgnoreCtx(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, BlockingWorkers: 1, QueueLen: 4})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the pool's Close

	// stuck returns a job that ignores its ctx and blocks until release,
	// counting how many such jobs have returned.
	var returned atomic.Int32
	stuck := func(started chan<- struct{}) offload.Job {
		return func(context.Context) (any, error) {
			close(started)
			<-release
			returned.Add(1)
			return "late result", nil
		}
	}
	var ranQueued atomic.Int32
	queued := func(context.Context) (any, error) {
		ranQueued.Add(1)
		return "ran", nil
	}

	// A stuck job in each class's only worker (Blocking from Do, CPU from
	// Go on the loop), and one job queued behind each.
	doStarted := make(chan struct{})
	doDone := make(chan result, 1)
	go func() {
		v, err := p.Do(bg, offload.Blocking, offload.Wait, stuck(doStarted))
		doDone <- result{v: v, err: err}
	}()
	recv(t, doStarted, "the stuck Do job")
	queuedDoDone := make(chan error, 1)
	go func() {
		_, err := p.Do(bg, offload.Blocking, offload.Wait, queued)
		queuedDoDone <- err
	}()
	goStarted := make(chan struct{})
	goDone := make(chan result, 4) // room for unexpected extra deliveries
	onLoop(t, l, func() {
		for _, job := range []offload.Job{stuck(goStarted), queued} {
			if err := p.Go(bg, l, offload.CPU, offload.FailFast, job, func(v any, err error) {
				goDone <- result{v: v, err: err, onLoop: l.OnLoop()}
			}); err != nil {
				t.Errorf("Go: %v", err)
			}
		}
	})
	recv(t, goStarted, "the stuck Go job")
	waitFor(t, "a job queued in each class", func() bool {
		m := p.Metrics()
		return m[offload.CPU].QueueDepth == 1 && m[offload.Blocking].QueueDepth == 1
	})

	// Close with a ctx that has already ended returns its error, and does
	// so while both jobs are still blocked on release.
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	closeDone := make(chan error, 1)
	go func() { closeDone <- p.Close(cancelled) }()
	if err := recv(t, closeDone, "Close with a cancelled ctx"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want context.Canceled", err)
	}
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d stuck jobs returned before release", n)
	}

	// Every submitter has its answer: ErrClosed for the stuck jobs and the
	// skipped ones, Go callbacks on the loop's thread.
	if r := recv(t, doDone, "the stuck Do"); !errors.Is(r.err, offload.ErrClosed) || r.v != nil {
		t.Errorf("stuck Do: (%v, %v), want (nil, ErrClosed)", r.v, r.err)
	}
	if err := recv(t, queuedDoDone, "the queued Do"); !errors.Is(err, offload.ErrClosed) {
		t.Errorf("queued Do: %v, want ErrClosed", err)
	}
	for range 2 {
		r := recv(t, goDone, "a Go callback")
		if !errors.Is(r.err, offload.ErrClosed) || r.v != nil || !r.onLoop {
			t.Errorf("Go callback: (%v, %v), on the loop: %v; want (nil, ErrClosed) on the loop", r.v, r.err, r.onLoop)
		}
	}
	for _, c := range []offload.Class{offload.CPU, offload.Blocking} {
		m := p.Metrics()[c]
		if m.Running != 1 || m.Cancelled != 1 || m.Completed != 0 || m.Undelivered != 0 || m.QueueDepth != 0 {
			t.Errorf("%v before release: Running %d Cancelled %d Completed %d Undelivered %d QueueDepth %d, want 1 1 0 0 0",
				c, m.Running, m.Cancelled, m.Completed, m.Undelivered, m.QueueDepth)
		}
	}

	// More Closes with ended ctxs (here two at once) give up again.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := p.Close(cancelled); !errors.Is(err, context.Canceled) {
				t.Errorf("Close again with stuck jobs: %v, want context.Canceled", err)
			}
		})
	}
	wg.Wait()
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d stuck jobs returned before release", n)
	}

	// Once the jobs return, a Close with time returns nil: the workers have
	// exited. The late results were dropped, not delivered.
	unblock()
	ctx, cancel2 := context.WithTimeout(bg, timeout)
	defer cancel2()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close after release: %v, want nil", err)
	}
	if n := returned.Load(); n != 2 {
		t.Errorf("Close returned nil with %d of 2 stuck jobs returned", n)
	}
	onLoop(t, l, func() {}) // anything posted before this has run
	select {
	case r := <-goDone:
		t.Errorf("a dropped result was delivered: (%v, %v)", r.v, r.err)
	default:
	}
	if n := ranQueued.Load(); n != 0 {
		t.Errorf("%d skipped jobs ran", n)
	}
	for _, c := range []offload.Class{offload.CPU, offload.Blocking} {
		m := p.Metrics()[c]
		if m.Running != 0 || m.Completed != 1 || m.Undelivered != 1 || m.Cancelled != 1 {
			t.Errorf("%v after release: Running %d Completed %d Undelivered %d Cancelled %d, want 0 1 1 1",
				c, m.Running, m.Completed, m.Undelivered, m.Cancelled)
		}
	}
	checkClosed(t, p, l)
}
