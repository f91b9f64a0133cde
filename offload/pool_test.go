package offload_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

var bg = context.Background()

// Results of Go arrive on the loop that submitted the job, as callbacks on
// its goroutine; jobs themselves never run on any loop.
func TestGoDeliversOnSubmittingLoop(t *testing.T) {
	leakCheck(t)
	loops := [2]*sched.Loop{newLoop(t), newLoop(t)}
	p := newPool(t, offload.Config{CPUWorkers: 2, BlockingWorkers: 2})

	const perLoop = 64
	type delivery struct {
		loop, job int
		onLoop    bool
		v         any
		err       error
	}
	onAnyLoop := func() bool { return loops[0].OnLoop() || loops[1].OnLoop() }
	deliveries := make(chan delivery, 2*perLoop)
	jobOnLoop := make(chan bool, 2*perLoop+1)
	for i, l := range loops {
		onLoop(t, l, func() {
			for j := range perLoop {
				class := offload.CPU
				if j%2 == 1 {
					class = offload.Blocking
				}
				err := p.Go(bg, l, class, offload.FailFast, func(context.Context) (any, error) {
					jobOnLoop <- onAnyLoop()
					return j, nil
				}, func(v any, err error) {
					deliveries <- delivery{loop: i, job: j, onLoop: l.OnLoop(), v: v, err: err}
				})
				if err != nil {
					t.Errorf("Go from loop %d, job %d: %v", i, j, err)
				}
			}
		})
	}
	seen := make(map[[2]int]bool)
	for range 2 * perLoop {
		d := recv(t, deliveries, "a Go result")
		if d.err != nil || d.v != d.job {
			t.Errorf("loop %d job %d: got (%v, %v), want (%d, nil)", d.loop, d.job, d.v, d.err, d.job)
		}
		if !d.onLoop {
			t.Errorf("loop %d job %d: callback ran off its loop", d.loop, d.job)
		}
		key := [2]int{d.loop, d.job}
		if seen[key] {
			t.Errorf("loop %d job %d delivered twice", d.loop, d.job)
		}
		seen[key] = true
	}

	// Blocking submitters' jobs are not run on a loop either.
	if _, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) {
		jobOnLoop <- onAnyLoop()
		return nil, nil
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	close(jobOnLoop) // every job has run: all results are in
	n := 0
	for on := range jobOnLoop {
		n++
		if on {
			t.Errorf("a job ran on a loop")
		}
	}
	if n != 2*perLoop+1 {
		t.Errorf("%d jobs recorded their thread, want %d", n, 2*perLoop+1)
	}
}

// With one worker per class, jobs from one submitter start and finish in
// submission order, and a loop's callbacks run in that order too.
func TestOrderOneWorker(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, BlockingWorkers: 1, QueueLen: 512})

	for _, class := range []offload.Class{offload.CPU, offload.Blocking} {
		t.Run(class.String(), func(t *testing.T) {
			var mu sync.Mutex
			var events []string
			job := func(i int) offload.Job {
				return func(context.Context) (any, error) {
					mu.Lock()
					events = append(events, fmt.Sprintf("start %d", i))
					mu.Unlock()
					runtime.Gosched() // give a second worker, if any, a chance to overtake
					mu.Lock()
					events = append(events, fmt.Sprintf("end %d", i))
					mu.Unlock()
					return i, nil
				}
			}
			want := func(n int) []string {
				var w []string
				for i := range n {
					w = append(w, fmt.Sprintf("start %d", i), fmt.Sprintf("end %d", i))
				}
				return w
			}

			// Do, in sequence from one goroutine.
			const nDo = 20
			for i := range nDo {
				v, err := p.Do(bg, class, offload.Wait, job(i))
				if err != nil || v != i {
					t.Fatalf("Do %d: (%v, %v)", i, v, err)
				}
			}
			mu.Lock()
			if !slices.Equal(events, want(nDo)) {
				t.Errorf("Do order:\n got %v\nwant %v", events, want(nDo))
			}
			events = nil
			mu.Unlock()

			// Go, all submitted at once from one loop callback.
			const nGo = 200
			var order []int // touched only on the loop
			done := make(chan struct{})
			onLoop(t, l, func() {
				for i := range nGo {
					err := p.Go(bg, l, class, offload.FailFast, job(i), func(v any, err error) {
						if err != nil {
							t.Errorf("Go %d: %v", i, err)
						}
						order = append(order, v.(int))
						if len(order) == nGo {
							close(done)
						}
					})
					if err != nil {
						t.Errorf("Go %d: %v", i, err)
					}
				}
			})
			recv(t, done, "all Go results")
			mu.Lock()
			if !slices.Equal(events, want(nGo)) {
				t.Errorf("Go job order differs from submission order:\n got %v", events)
			}
			mu.Unlock()
			for i, v := range order {
				if v != i {
					t.Fatalf("callbacks out of order at %d: %v", i, order)
				}
			}
		})
	}
}

// With many workers and submitters in both worlds, every job's result
// arrives exactly once, Go results on the right loop.
func TestEveryResultExactlyOnce(t *testing.T) {
	leakCheck(t)
	loops := [2]*sched.Loop{newLoop(t), newLoop(t)}
	p := newPool(t, offload.Config{CPUWorkers: 4, BlockingWorkers: 3, QueueLen: 16})

	const (
		perLoop    = 300
		goroutines = 4
		perG       = 100
	)
	var got [2][]int // per loop, touched only on that loop
	var ran sync.Map // job id -> *atomic.Int32
	mark := func(id int) {
		c, _ := ran.LoadOrStore(id, new(atomic.Int32))
		c.(*atomic.Int32).Add(1)
	}
	loopDone := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var submitters sync.WaitGroup
	for i, l := range loops {
		submitters.Go(func() {
			// A loop must not block, so it submits with FailFast and
			// retries later (from a timer) when the queue is full.
			var submit func(j int)
			submit = func(j int) {
				for ; j < perLoop; j++ {
					id := i*10000 + j
					class := offload.Class(j % 2)
					err := p.Go(bg, l, class, offload.FailFast, func(context.Context) (any, error) {
						mark(id)
						return id, nil
					}, func(v any, err error) {
						if err != nil {
							t.Errorf("job %d: %v", id, err)
						}
						if !l.OnLoop() {
							t.Errorf("job %d: callback off loop %d", id, i)
						}
						got[i] = append(got[i], v.(int))
						if len(got[i]) == perLoop {
							close(loopDone[i])
						}
					})
					if errors.Is(err, offload.ErrOverloaded) {
						l.After(100*time.Microsecond, func() { submit(j) })
						return
					}
					if err != nil {
						t.Errorf("Go %d: %v", id, err)
					}
				}
			}
			onLoop(t, l, func() { submit(0) })
		})
	}
	var doResults sync.Map // id -> count
	for g := range goroutines {
		submitters.Go(func() {
			for j := range perG {
				id := 100000 + g*1000 + j
				v, err := p.Do(bg, offload.Class(j%2), offload.Wait, func(context.Context) (any, error) {
					mark(id)
					return id, nil
				})
				if err != nil || v != id {
					t.Errorf("Do %d: (%v, %v)", id, v, err)
					continue
				}
				c, _ := doResults.LoadOrStore(id, new(atomic.Int32))
				c.(*atomic.Int32).Add(1)
			}
		})
	}
	submitters.Wait()
	for i := range loops {
		recv(t, loopDone[i], fmt.Sprintf("loop %d's results", i))
	}
	// Close everything, then look: a duplicate delivery would be in by now.
	ctx, cancel := context.WithTimeout(bg, timeout)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("pool Close: %v", err)
	}
	for _, l := range loops {
		closeLoop(t, l)
		<-l.Done()
	}
	for i := range loops {
		ids := slices.Clone(got[i])
		slices.Sort(ids)
		if len(ids) != perLoop {
			t.Errorf("loop %d got %d results, want %d", i, len(ids), perLoop)
		}
		for j, id := range ids {
			if id != i*10000+j {
				t.Fatalf("loop %d: result ids %v... are not each job once", i, ids[:min(j+3, len(ids))])
			}
		}
	}
	nRan := 0
	ran.Range(func(k, v any) bool {
		nRan++
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("job %v ran %d times", k, n)
		}
		return true
	})
	if want := 2*perLoop + goroutines*perG; nRan != want {
		t.Errorf("%d distinct jobs ran, want %d", nRan, want)
	}
	nDo := 0
	doResults.Range(func(k, v any) bool {
		nDo++
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("Do %v returned %d times", k, n)
		}
		return true
	})
	if nDo != goroutines*perG {
		t.Errorf("%d Do results, want %d", nDo, goroutines*perG)
	}
}

// A full queue: FailFast refuses with ErrOverloaded (counted as Rejected),
// Wait blocks until there is room or its context ends, and the queue never
// holds more than its bound.
func TestOverload(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, QueueLen: 2})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the pool's Close

	checkDepth := func(when string) offload.ClassMetrics {
		t.Helper()
		m := p.Metrics()[offload.CPU]
		if m.QueueCap != 2 {
			t.Errorf("%s: QueueCap = %d, want 2", when, m.QueueCap)
		}
		if m.QueueDepth > m.QueueCap {
			t.Errorf("%s: QueueDepth %d > QueueCap %d", when, m.QueueDepth, m.QueueCap)
		}
		return m
	}

	var neverRan atomic.Int32
	never := func(context.Context) (any, error) {
		neverRan.Add(1)
		return nil, nil
	}

	block, started := blocker(release)
	blockDone := make(chan result, 1)
	go func() {
		v, err := p.Do(bg, offload.CPU, offload.FailFast, block)
		blockDone <- result{v: v, err: err}
	}()
	recv(t, started, "the blocking job to start")

	// Fill the queue from the loop, then overflow it: FailFast from a loop
	// returns at once instead of blocking the loop.
	fillDone := make(chan result, 2)
	onLoop(t, l, func() {
		for i := range 2 {
			err := p.Go(bg, l, offload.CPU, offload.FailFast, func(context.Context) (any, error) {
				return i, nil
			}, func(v any, err error) { fillDone <- result{v: v, err: err} })
			if err != nil {
				t.Errorf("filling Go %d: %v", i, err)
			}
		}
		err := p.Go(bg, l, offload.CPU, offload.FailFast, never, func(any, error) {
			t.Error("callback of a rejected Go ran")
		})
		if !errors.Is(err, offload.ErrOverloaded) {
			t.Errorf("Go on a full queue: %v, want ErrOverloaded", err)
		}
	})
	m := checkDepth("full")
	if m.QueueDepth != 2 || m.Rejected != 1 || m.Running != 1 {
		t.Errorf("full: QueueDepth %d Rejected %d Running %d, want 2, 1, 1", m.QueueDepth, m.Rejected, m.Running)
	}

	if _, err := p.Do(bg, offload.CPU, offload.FailFast, never); !errors.Is(err, offload.ErrOverloaded) {
		t.Errorf("Do FailFast on a full queue: %v, want ErrOverloaded", err)
	}
	if m := checkDepth("after FailFast Do"); m.Rejected != 2 {
		t.Errorf("Rejected = %d, want 2", m.Rejected)
	}

	// Wait with a context that expires while the queue stays full.
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.Do(ctx, offload.CPU, offload.Wait, never); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do Wait with an expiring ctx: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("Do Wait returned after %v, before its context expired", d)
	}
	if m := checkDepth("after Wait timeout"); m.Rejected != 2 || m.Submitted != 3 {
		t.Errorf("after a Wait timeout: Rejected %d Submitted %d, want 2 and 3", m.Rejected, m.Submitted)
	}

	// Wait blocks until room frees, then succeeds.
	waitDone := make(chan result, 1)
	go func() {
		v, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) { return "waited", nil })
		waitDone <- result{v: v, err: err}
	}()
	select {
	case r := <-waitDone:
		t.Fatalf("Do Wait returned (%v, %v) while the queue was full", r.v, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	checkDepth("with a waiter")
	unblock()
	if r := recv(t, waitDone, "the waiting Do"); r.err != nil || r.v != "waited" {
		t.Errorf("waiting Do: (%v, %v), want (waited, nil)", r.v, r.err)
	}
	if r := recv(t, blockDone, "the blocking job"); r.err != nil || r.v != "blocker" {
		t.Errorf("blocking job: (%v, %v)", r.v, r.err)
	}
	for range 2 {
		if r := recv(t, fillDone, "a filling job"); r.err != nil {
			t.Errorf("filling job: %v", r.err)
		}
	}
	if n := neverRan.Load(); n != 0 {
		t.Errorf("%d refused jobs ran", n)
	}
	m = checkDepth("end")
	if m.Submitted != 4 || m.Completed != 4 || m.Rejected != 2 || m.QueueDepth != 0 {
		t.Errorf("end: Submitted %d Completed %d Rejected %d QueueDepth %d, want 4 4 2 0",
			m.Submitted, m.Completed, m.Rejected, m.QueueDepth)
	}
}

// Many submitters hammering a tiny queue with both policies: the queue
// stays within its bound, and every accepted job's result comes back.
func TestOverloadBurstStaysBounded(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 2, QueueLen: 4})
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var maxDepth atomic.Int64
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			m := p.Metrics()[offload.CPU]
			if m.QueueDepth > m.QueueCap {
				t.Errorf("QueueDepth %d > QueueCap %d", m.QueueDepth, m.QueueCap)
			}
			if int64(m.QueueDepth) > maxDepth.Load() {
				maxDepth.Store(int64(m.QueueDepth))
			}
			runtime.Gosched()
		}
	})
	var ok, rejected atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			policy := offload.Policy(g % 2)
			for i := range 200 {
				v, err := p.Do(bg, offload.CPU, policy, func(context.Context) (any, error) {
					time.Sleep(20 * time.Microsecond) // long enough for the queue to fill
					return i, nil
				})
				switch {
				case err == nil && v == i:
					ok.Add(1)
				case errors.Is(err, offload.ErrOverloaded) && policy == offload.FailFast:
					rejected.Add(1)
				default:
					t.Errorf("policy %d: Do = (%v, %v)", policy, v, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	m := p.Metrics()[offload.CPU]
	if m.Rejected != uint64(rejected.Load()) || m.Completed != uint64(ok.Load()) || m.Submitted != m.Completed {
		t.Errorf("metrics %+v disagree with callers: ok %d rejected %d", m, ok.Load(), rejected.Load())
	}
	if ok.Load()+rejected.Load() != 8*200 {
		t.Errorf("ok %d + rejected %d != %d", ok.Load(), rejected.Load(), 8*200)
	}
	t.Logf("accepted %d, rejected %d, max depth seen %d of 4", ok.Load(), rejected.Load(), maxDepth.Load())
}

// A queued job whose context is cancelled never runs and Do returns
// context.Canceled at once.
func TestCancelQueuedDo(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	blockDone := make(chan error, 1)
	go func() {
		_, err := p.Do(bg, offload.CPU, offload.Wait, block)
		blockDone <- err
	}()
	recv(t, started, "the blocking job")

	var ran atomic.Int32
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	queuedDone := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx, offload.CPU, offload.Wait, func(context.Context) (any, error) {
			ran.Add(1)
			return nil, nil
		})
		queuedDone <- err
	}()
	waitFor(t, "the job to be queued", func() bool { return p.Metrics()[offload.CPU].QueueDepth == 1 })
	cancel()
	if err := recv(t, queuedDone, "Do of the cancelled job"); !errors.Is(err, context.Canceled) {
		t.Errorf("Do of a cancelled queued job: %v, want context.Canceled", err)
	}
	unblock()
	if err := recv(t, blockDone, "the blocking job"); err != nil {
		t.Errorf("blocking job: %v", err)
	}
	// One worker, FIFO: once this one has run, the cancelled one was
	// dequeued (and skipped) before it.
	if v, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) { return "next", nil }); err != nil || v != "next" {
		t.Fatalf("next job: (%v, %v)", v, err)
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("the cancelled queued job ran %d times", n)
	}
	m := p.Metrics()[offload.CPU]
	if m.Cancelled != 1 || m.Completed != 2 {
		t.Errorf("Cancelled %d Completed %d, want 1 and 2", m.Cancelled, m.Completed)
	}
}

// A running job sees its context cancelled; Do returns promptly, even when
// the job does not look at its context.
func TestCancelRunningDo(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 1})

	// A job that honours its context.
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	started := make(chan struct{})
	jobSaw := make(chan error, 1)
	doDone := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx, offload.CPU, offload.Wait, func(ctx context.Context) (any, error) {
			close(started)
			select {
			case <-ctx.Done():
				jobSaw <- ctx.Err()
				return nil, ctx.Err()
			case <-time.After(timeout):
				jobSaw <- nil
				return "not cancelled", nil
			}
		})
		doDone <- err
	}()
	recv(t, started, "the job to start")
	cancel()
	if err := recv(t, doDone, "Do after cancel"); !errors.Is(err, context.Canceled) {
		t.Errorf("Do: %v, want context.Canceled", err)
	}
	if err := recv(t, jobSaw, "the job to see its ctx"); !errors.Is(err, context.Canceled) {
		t.Errorf("running job saw %v, want context.Canceled", err)
	}

	// A job that ignores its context: Do still returns without it.
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started2 := blocker(release)
	ctx2, cancel2 := context.WithCancel(bg)
	defer cancel2()
	doDone2 := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx2, offload.CPU, offload.Wait, block)
		doDone2 <- err
	}()
	recv(t, started2, "the stubborn job to start")
	cancel2()
	if err := recv(t, doDone2, "Do of a stubborn job after cancel"); !errors.Is(err, context.Canceled) {
		t.Errorf("Do: %v, want context.Canceled", err)
	}
	if r := p.Metrics()[offload.CPU].Running; r != 1 {
		t.Errorf("Running = %d while the stubborn job still runs, want 1", r)
	}
	unblock()
	// The worker is still there.
	if v, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) { return 7, nil }); err != nil || v != 7 {
		t.Errorf("job after cancellations: (%v, %v)", v, err)
	}
}

// Go from a loop: a queued job cancelled before it starts never runs and
// its callback gets ctx.Err() on the loop; a running one sees its ctx
// cancelled.
func TestCancelGo(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	go p.Do(bg, offload.CPU, offload.Wait, block) //nolint:errcheck // result not needed
	recv(t, started, "the blocking job")

	var ran atomic.Int32
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	got := make(chan result, 1)
	onLoop(t, l, func() {
		err := p.Go(ctx, l, offload.CPU, offload.FailFast, func(context.Context) (any, error) {
			ran.Add(1)
			return "ran", nil
		}, func(v any, err error) { got <- result{v: v, err: err, onLoop: l.OnLoop()} })
		if err != nil {
			t.Errorf("Go: %v", err)
		}
	})
	cancel()
	unblock()
	r := recv(t, got, "the cancelled job's callback")
	if !errors.Is(r.err, context.Canceled) || r.v != nil {
		t.Errorf("callback of a cancelled queued job: (%v, %v), want (nil, context.Canceled)", r.v, r.err)
	}
	if !r.onLoop {
		t.Errorf("callback ran off the loop")
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("cancelled queued job ran %d times", n)
	}

	// Running job, cancelled.
	ctx2, cancel2 := context.WithCancel(bg)
	defer cancel2()
	started2 := make(chan struct{})
	onLoop(t, l, func() {
		err := p.Go(ctx2, l, offload.CPU, offload.FailFast, func(ctx context.Context) (any, error) {
			close(started2)
			select {
			case <-ctx.Done():
				return "saw cancel", ctx.Err()
			case <-time.After(timeout):
				return "not cancelled", nil
			}
		}, func(v any, err error) { got <- result{v: v, err: err, onLoop: l.OnLoop()} })
		if err != nil {
			t.Errorf("Go: %v", err)
		}
	})
	recv(t, started2, "the running job")
	cancel2()
	r = recv(t, got, "the cancelled running job's callback")
	if !errors.Is(r.err, context.Canceled) || r.v != "saw cancel" || !r.onLoop {
		t.Errorf("running job cancelled: (%v, %v), on the loop: %v; want (saw cancel, context.Canceled) on the loop",
			r.v, r.err, r.onLoop)
	}
}

type panicValue struct{ code int }

func panickingJob(context.Context) (any, error) {
	panic(panicValue{code: 42})
}

// A panicking job becomes a *PanicError carrying the value and a stack
// that names the job; its worker lives on.
func TestPanic(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, BlockingWorkers: 1})

	checkPanic := func(err error) {
		t.Helper()
		var pe *offload.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v (%T) is not a *PanicError", err, err)
		}
		if pe.Value != (panicValue{code: 42}) {
			t.Errorf("PanicError.Value = %#v, want panicValue{42}", pe.Value)
		}
		if !strings.Contains(string(pe.Stack), "offload_test.panickingJob") {
			t.Errorf("stack does not name the job:\n%s", pe.Stack)
		}
		if !strings.Contains(pe.Error(), "42") {
			t.Errorf("Error() = %q does not show the value", pe.Error())
		}
	}

	v, err := p.Do(bg, offload.CPU, offload.Wait, panickingJob)
	if v != nil {
		t.Errorf("panicking job's value = %v, want nil", v)
	}
	checkPanic(err)
	// The one worker survived.
	for i := range 3 {
		if v, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) { return i, nil }); err != nil || v != i {
			t.Fatalf("job %d after a panic: (%v, %v)", i, v, err)
		}
	}
	// Through Go: the callback on the loop gets the *PanicError.
	got := make(chan result, 1)
	onLoop(t, l, func() {
		if err := p.Go(bg, l, offload.Blocking, offload.FailFast, panickingJob, func(v any, err error) {
			got <- result{v: v, err: err, onLoop: l.OnLoop()}
		}); err != nil {
			t.Errorf("Go: %v", err)
		}
	})
	r := recv(t, got, "the panicking Go job's callback")
	checkPanic(r.err)
	if !r.onLoop {
		t.Errorf("callback ran off the loop")
	}
	if v, err := p.Do(bg, offload.Blocking, offload.Wait, func(context.Context) (any, error) { return "ok", nil }); err != nil || v != "ok" {
		t.Fatalf("blocking job after a panic: (%v, %v)", v, err)
	}
	m := p.Metrics()
	if m[offload.CPU].Panics != 1 || m[offload.Blocking].Panics != 1 {
		t.Errorf("Panics = %d (cpu), %d (blocking), want 1 each", m[offload.CPU].Panics, m[offload.Blocking].Panics)
	}
	if m[offload.CPU].Completed != 4 || m[offload.Blocking].Completed != 2 {
		t.Errorf("Completed = %d (cpu), %d (blocking), want 4 and 2 (panicked jobs count as run)",
			m[offload.CPU].Completed, m[offload.Blocking].Completed)
	}
}

// Close with queued work and enough time runs every queued job, refuses
// new work while it drains, and then everything returns ErrClosed.
func TestCloseDrainsQueued(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, QueueLen: 5})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	blockDone := make(chan error, 1)
	go func() {
		_, err := p.Do(bg, offload.CPU, offload.Wait, block)
		blockDone <- err
	}()
	recv(t, started, "the blocking job")

	var ran atomic.Int32
	counted := func(context.Context) (any, error) {
		ran.Add(1)
		return "ran", nil
	}
	doDone := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := p.Do(bg, offload.CPU, offload.Wait, counted)
			doDone <- err
		}()
	}
	goDone := make(chan result, 2)
	onLoop(t, l, func() {
		for range 2 {
			if err := p.Go(bg, l, offload.CPU, offload.FailFast, counted, func(v any, err error) {
				goDone <- result{v: v, err: err, onLoop: l.OnLoop()}
			}); err != nil {
				t.Errorf("Go: %v", err)
			}
		}
	})
	waitFor(t, "5 queued jobs", func() bool { return p.Metrics()[offload.CPU].QueueDepth == 5 })

	closeDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, timeout)
		defer cancel()
		closeDone <- p.Close(ctx)
	}()
	// New work is refused as soon as Close starts (the queue is full, so
	// until then FailFast says ErrOverloaded and nothing is accepted).
	waitFor(t, "Close to refuse new work", func() bool {
		_, err := p.Do(bg, offload.CPU, offload.FailFast, counted)
		if err == nil {
			t.Error("a job was accepted on a full queue")
		}
		return errors.Is(err, offload.ErrClosed)
	})
	select {
	case err := <-closeDone:
		t.Fatalf("Close returned %v with a job still running and 5 queued", err)
	default:
	}
	unblock()
	if err := recv(t, closeDone, "Close"); err != nil {
		t.Errorf("Close with enough time: %v, want nil", err)
	}
	// Close waited for every job: all results are in already.
	if n := ran.Load(); n != 5 {
		t.Errorf("%d of 5 queued jobs ran", n)
	}
	if err := recv(t, blockDone, "the blocking job"); err != nil {
		t.Errorf("blocking job: %v", err)
	}
	for range 3 {
		if err := recv(t, doDone, "a queued Do"); err != nil {
			t.Errorf("queued Do: %v", err)
		}
	}
	for range 2 {
		r := recv(t, goDone, "a queued Go's callback")
		if r.err != nil || r.v != "ran" || !r.onLoop {
			t.Errorf("queued Go: (%v, %v), on the loop: %v", r.v, r.err, r.onLoop)
		}
	}
	checkClosed(t, p, l)
}

// checkClosed asserts that a closed pool refuses everything with ErrClosed
// and that closing again is harmless.
func checkClosed(t *testing.T, p *offload.Pool, l *sched.Loop) {
	t.Helper()
	for _, class := range []offload.Class{offload.CPU, offload.Blocking} {
		for _, policy := range []offload.Policy{offload.Wait, offload.FailFast} {
			if _, err := p.Do(bg, class, policy, func(context.Context) (any, error) {
				t.Error("job ran after Close")
				return nil, nil
			}); !errors.Is(err, offload.ErrClosed) {
				t.Errorf("Do(%v, %d) after Close: %v, want ErrClosed", class, policy, err)
			}
			var err error
			onLoop(t, l, func() {
				err = p.Go(bg, l, class, policy, func(context.Context) (any, error) {
					t.Error("job ran after Close")
					return nil, nil
				}, func(any, error) { t.Error("callback ran after Close") })
			})
			if !errors.Is(err, offload.ErrClosed) {
				t.Errorf("Go(%v, %d) after Close: %v, want ErrClosed", class, policy, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(bg, timeout)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	// Even with a context that is already done, closing a closed pool is fine.
	done, cancel2 := context.WithCancel(bg)
	cancel2()
	if err := p.Close(done); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("third Close: %v", err)
	}
}

// Close whose context ends first cancels the running job (which honours
// its ctx) and answers its submitter with ErrClosed, skips the queued ones
// with ErrClosed, and returns ctx's error.
func TestCloseTimeoutCancels(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, QueueLen: 8})

	started := make(chan struct{})
	sawCancel := make(chan error, 1)
	runningDone := make(chan result, 1)
	go func() {
		v, err := p.Do(bg, offload.CPU, offload.Wait, func(ctx context.Context) (any, error) {
			close(started)
			select {
			case <-ctx.Done():
				sawCancel <- ctx.Err()
				return "cancelled", ctx.Err()
			case <-time.After(timeout):
				return "not cancelled", nil
			}
		})
		runningDone <- result{v: v, err: err}
	}()
	recv(t, started, "the running job")

	var ran atomic.Int32
	counted := func(context.Context) (any, error) {
		ran.Add(1)
		return "ran", nil
	}
	doDone := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := p.Do(bg, offload.CPU, offload.Wait, counted)
			doDone <- err
		}()
	}
	goDone := make(chan result, 2)
	onLoop(t, l, func() {
		for range 2 {
			if err := p.Go(bg, l, offload.CPU, offload.FailFast, counted, func(v any, err error) {
				goDone <- result{v: v, err: err, onLoop: l.OnLoop()}
			}); err != nil {
				t.Errorf("Go: %v", err)
			}
		}
	})
	waitFor(t, "5 queued jobs", func() bool { return p.Metrics()[offload.CPU].QueueDepth == 5 })

	closeDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
		defer cancel()
		closeDone <- p.Close(ctx)
	}()
	if err := recv(t, closeDone, "Close with a short ctx"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want context.DeadlineExceeded", err)
	}
	// Close gave up on the running job: its submitter got ErrClosed, the
	// job saw its context cancelled, and its own result is dropped.
	r := recv(t, runningDone, "the running job")
	if !errors.Is(r.err, offload.ErrClosed) || r.v != nil {
		t.Errorf("running job: (%v, %v), want (nil, ErrClosed)", r.v, r.err)
	}
	if err := recv(t, sawCancel, "the running job's cancellation"); !errors.Is(err, context.Canceled) {
		t.Errorf("running job's ctx: %v, want context.Canceled", err)
	}
	for range 3 {
		if err := recv(t, doDone, "a skipped Do"); !errors.Is(err, offload.ErrClosed) {
			t.Errorf("skipped queued Do: %v, want ErrClosed", err)
		}
	}
	for range 2 {
		r := recv(t, goDone, "a skipped Go's callback")
		if !errors.Is(r.err, offload.ErrClosed) || !r.onLoop {
			t.Errorf("skipped queued Go: (%v, %v), on the loop: %v; want ErrClosed on the loop", r.v, r.err, r.onLoop)
		}
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d skipped jobs ran", n)
	}
	// The job returns after Close: its result is counted as dropped.
	waitFor(t, "the cancelled job to return", func() bool { return p.Metrics()[offload.CPU].Completed == 1 })
	m := p.Metrics()[offload.CPU]
	if m.Cancelled != 5 || m.Undelivered != 1 || m.Running != 0 || m.QueueDepth != 0 {
		t.Errorf("Cancelled %d Undelivered %d Running %d QueueDepth %d, want 5 1 0 0", m.Cancelled, m.Undelivered, m.Running, m.QueueDepth)
	}
	checkClosed(t, p, l)
}

// A submitter blocked by a full queue under Wait is released by Close
// with ErrClosed.
func TestCloseReleasesWaitingSubmitter(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 1, QueueLen: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	go p.Do(bg, offload.CPU, offload.Wait, block) //nolint:errcheck // result not needed
	recv(t, started, "the blocking job")
	queuedDone := make(chan error, 1)
	go func() {
		_, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) { return nil, nil })
		queuedDone <- err
	}()
	waitFor(t, "a queued job", func() bool { return p.Metrics()[offload.CPU].QueueDepth == 1 })
	var ran atomic.Int32
	waiterDone := make(chan error, 1)
	go func() {
		_, err := p.Do(bg, offload.CPU, offload.Wait, func(context.Context) (any, error) {
			ran.Add(1)
			return nil, nil
		})
		waiterDone <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter block on the full queue
	closeDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, timeout)
		defer cancel()
		closeDone <- p.Close(ctx)
	}()
	if err := recv(t, waiterDone, "the waiting submitter"); !errors.Is(err, offload.ErrClosed) {
		t.Errorf("waiting submitter: %v, want ErrClosed", err)
	}
	unblock()
	if err := recv(t, closeDone, "Close"); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := recv(t, queuedDone, "the queued job"); err != nil {
		t.Errorf("queued job: %v (Close with time should run it)", err)
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("refused job ran %d times", n)
	}
}

// Close racing with submitters of both kinds and both policies: no panic
// (send on a closed queue), every accepted job runs and every accepted Go
// is delivered, everything else is ErrClosed or ErrOverloaded.
func TestCloseRacingSubmitters(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	for round := range 20 {
		p := offload.New(offload.Config{CPUWorkers: 2, BlockingWorkers: 1, QueueLen: 4})
		var accepted, ran, delivered atomic.Int64
		job := func(context.Context) (any, error) {
			ran.Add(1)
			return nil, nil
		}
		var wg sync.WaitGroup
		startLine := make(chan struct{})
		for g := range 6 {
			wg.Go(func() {
				<-startLine
				policy := offload.Policy(g % 2)
				class := offload.Class(g / 2 % 2)
				for range 50 {
					var err error
					if g >= 4 {
						err = p.Go(bg, l, class, policy, job, func(any, error) { delivered.Add(1) })
					} else {
						_, err = p.Do(bg, class, policy, job)
					}
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.Is(err, offload.ErrClosed):
						return
					case errors.Is(err, offload.ErrOverloaded) && policy == offload.FailFast:
					default:
						t.Errorf("round %d: unexpected error %v", round, err)
						return
					}
				}
			})
		}
		close(startLine)
		time.Sleep(time.Duration(round%5) * 100 * time.Microsecond)
		ctx, cancel := context.WithTimeout(bg, timeout)
		if err := p.Close(ctx); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		cancel()
		wg.Wait()
		// Go callbacks may still be in the loop's inbox: a no-op call
		// through the same inbox comes after them.
		onLoop(t, l, func() {})
		if accepted.Load() != ran.Load() {
			t.Errorf("round %d: %d jobs accepted, %d ran", round, accepted.Load(), ran.Load())
		}
		m := p.Metrics()
		if sub := m[offload.CPU].Submitted + m[offload.Blocking].Submitted; sub != uint64(accepted.Load()) {
			t.Errorf("round %d: Submitted %d, accepted %d", round, sub, accepted.Load())
		}
		if d := delivered.Load(); d > accepted.Load() {
			t.Errorf("round %d: %d deliveries for %d accepted", round, d, accepted.Load())
		}
	}
}

// A Go result whose loop closed before delivery is counted as Undelivered
// and its callback never runs.
func TestUndeliveredWhenLoopClosed(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	block, started := blocker(release)
	go p.Do(bg, offload.CPU, offload.Wait, block) //nolint:errcheck // result not needed
	recv(t, started, "the blocking job")
	var called atomic.Int32
	onLoop(t, l, func() {
		if err := p.Go(bg, l, offload.CPU, offload.FailFast, func(context.Context) (any, error) { return 1, nil },
			func(any, error) { called.Add(1) }); err != nil {
			t.Errorf("Go: %v", err)
		}
	})
	closeLoop(t, l)
	unblock()
	waitFor(t, "Undelivered", func() bool { return p.Metrics()[offload.CPU].Undelivered == 1 })
	if n := called.Load(); n != 0 {
		t.Errorf("callback ran %d times on a closed loop", n)
	}
}

func TestUnknownClass(t *testing.T) {
	leakCheck(t)
	l := newLoop(t)
	p := newPool(t, offload.Config{CPUWorkers: 1})
	for _, c := range []offload.Class{-1, 2, 99} {
		if _, err := p.Do(bg, c, offload.Wait, func(context.Context) (any, error) {
			t.Error("job of an unknown class ran")
			return nil, nil
		}); err == nil || errors.Is(err, offload.ErrClosed) || errors.Is(err, offload.ErrOverloaded) {
			t.Errorf("Do with class %d: %v, want an unknown-class error", int(c), err)
		}
		var err error
		onLoop(t, l, func() {
			err = p.Go(bg, l, c, offload.Wait, func(context.Context) (any, error) { return nil, nil }, func(any, error) {})
		})
		if err == nil {
			t.Errorf("Go with class %d: nil error", int(c))
		}
	}
	if s := offload.CPU.String() + "," + offload.Blocking.String() + "," + offload.Class(5).String(); s != "cpu,blocking,class(5)" {
		t.Errorf("Class strings: %q", s)
	}
}

func TestGoexitJobIsReportedAndWorkerReplaced(t *testing.T) {
	p := offload.New(offload.Config{CPUWorkers: 1})
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := p.Do(ctx, offload.CPU, offload.Wait, func(context.Context) (any, error) {
		runtime.Goexit()
		return nil, nil
	})
	if !errors.Is(err, offload.ErrJobExited) {
		t.Fatalf("Goexit job: %v, want ErrJobExited", err)
	}
	v, err := p.Do(ctx, offload.CPU, offload.Wait, func(context.Context) (any, error) { return 7, nil })
	if err != nil || v != 7 {
		t.Fatalf("job after Goexit: %v %v (worker not replaced)", v, err)
	}
	if r := p.Metrics()[offload.CPU].Running; r != 0 {
		t.Fatalf("Running = %d after both jobs finished", r)
	}
}

func TestNilArgumentsAreRefused(t *testing.T) {
	p := offload.New(offload.Config{})
	defer p.Close(context.Background())
	if err := p.Go(context.Background(), nil, offload.CPU, offload.Wait, func(context.Context) (any, error) { return nil, nil }, func(any, error) {}); err == nil {
		t.Fatal("Go with a nil loop was accepted")
	}
	if _, err := p.Do(context.Background(), offload.CPU, offload.Wait, nil); err == nil {
		t.Fatal("Do with a nil job was accepted")
	}
}
