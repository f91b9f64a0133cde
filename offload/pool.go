package offload

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// Class is a work class. Each class has its own workers and its own
// bounded queue, so slow blocking calls cannot starve CPU work or the
// reverse (libuv splits its threadpool the same way).
type Class int

// Work classes.
const (
	// CPU is for computation: compression, hashing, encoding. Its workers
	// default to GOMAXPROCS.
	CPU Class = iota
	// Blocking is for calls that sleep in the kernel or on the network
	// without io_uring support (DNS lookups, legacy libraries).
	Blocking
	numClasses
)

func (c Class) String() string {
	switch c {
	case CPU:
		return "cpu"
	case Blocking:
		return "blocking"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Policy says what Submit does when a class's queue is full.
type Policy int

// Backpressure policies.
const (
	// Wait blocks until the queue has room or the context ends.
	Wait Policy = iota
	// FailFast returns ErrOverloaded at once.
	FailFast
)

// Errors returned by the pool; they work with errors.Is.
var (
	ErrOverloaded = errors.New("offload: queue full")
	ErrClosed     = errors.New("offload: pool closed")
	// ErrJobExited is the error of a job that called runtime.Goexit; its
	// worker is replaced.
	ErrJobExited = errors.New("offload: job called runtime.Goexit")
)

// PanicError is the error of a job that panicked. The worker survives.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the job's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("offload: job panicked: %v\n%s", e.Value, e.Stack)
}

// workerNice is the niceness of CPU workers' threads (loops run at 0).
const workerNice = 10

// Job is a unit of work. It should return soon after ctx is cancelled.
type Job func(ctx context.Context) (any, error)

// Config sizes a Pool. Zero values take the defaults.
type Config struct {
	CPUWorkers      int // default GOMAXPROCS-1 (at least 1): one P stays free for the loops
	BlockingWorkers int // default 4, as libuv
	QueueLen        int // per class, default 1024
}

// Pool runs jobs on worker goroutines, never on a loop.
type Pool struct {
	classes    [numClasses]*class
	closing    chan struct{}
	closeOnce  sync.Once
	submitting atomic.Int64
	ctx        context.Context // cancelled when Close gives up waiting
	cancel     context.CancelFunc
	workers    sync.WaitGroup
	exited     chan struct{} // closed once Close has begun and every worker has exited

	mu      sync.Mutex
	running map[*task]struct{} // tasks whose job is running, for Close to give up on
	gaveUp  bool               // a Close gave up: no job starts any more
}

type class struct {
	queue       chan *task
	stats       classStats
	lowPriority bool // workers run at a lower OS priority than loops
	spin        bool // workers poll for the next job before sleeping
}

type task struct {
	ctx     context.Context
	fn      Job
	queued  time.Time
	class   *class
	state   atomic.Int32
	res     any
	err     error
	done    chan struct{} // blocking submitters
	loop    *sched.Loop   // loop submitters: the result goes back here
	op      sched.Op
	deliver func(any, error)
}

const (
	taskQueued int32 = iota
	taskRunning
	taskAbandoned // the submitter stopped waiting while it was queued
	taskDone      // the job returned; its worker delivers the result
	taskDropped   // Close gave up while the job ran: the submitter got ErrClosed, the result is dropped
)

// New starts a pool.
func New(cfg Config) *Pool {
	if cfg.CPUWorkers <= 0 {
		// One P is left for the loops: with a worker on every P, a loop
		// that wakes finds none free and waits for the Go scheduler to
		// preempt a job (10 ms). bench/RESULTS.md has the measurements.
		cfg.CPUWorkers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if cfg.BlockingWorkers <= 0 {
		cfg.BlockingWorkers = 4
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	p := &Pool{closing: make(chan struct{}), exited: make(chan struct{}), running: make(map[*task]struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for c, n := range [numClasses]int{cfg.CPUWorkers, cfg.BlockingWorkers} {
		cl := &class{queue: make(chan *task, cfg.QueueLen), lowPriority: Class(c) == CPU}
		// Spinning workers must leave a P for the loops.
		cl.spin = cl.lowPriority && n < runtime.GOMAXPROCS(0)
		p.classes[c] = cl
		for range n {
			p.workers.Add(1)
			go p.work(cl)
		}
	}
	return p
}

func (p *Pool) class(c Class) (*class, error) {
	if c < 0 || c >= numClasses {
		return nil, fmt.Errorf("offload: unknown class %d", int(c))
	}
	return p.classes[c], nil
}

// enqueue puts t on its class's queue under the policy.
func (p *Pool) enqueue(t *task, policy Policy) error {
	p.submitting.Add(1)
	defer p.submitting.Add(-1)
	select {
	case <-p.closing:
		return ErrClosed
	default:
	}
	t.queued = time.Now()
	if policy == FailFast {
		select {
		case t.class.queue <- t:
			t.class.stats.submitted.Add(1)
			return nil
		default:
			t.class.stats.rejected.Add(1)
			return ErrOverloaded
		}
	}
	select {
	case t.class.queue <- t:
		t.class.stats.submitted.Add(1)
		return nil
	case <-t.ctx.Done():
		return t.ctx.Err()
	case <-p.closing:
		return ErrClosed
	}
}

// Do runs fn in class c and waits for its result. If ctx ends while the
// job is queued, the job never runs and Do returns ctx's error; if it ends
// while the job runs, the job's ctx is cancelled and Do returns ctx's
// error without waiting for the job to notice.
func (p *Pool) Do(ctx context.Context, c Class, policy Policy, fn Job) (any, error) {
	cl, err := p.class(c)
	if err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, errors.New("offload: Do needs a job")
	}
	t := &task{ctx: ctx, fn: fn, class: cl, done: make(chan struct{})}
	if err := p.enqueue(t, policy); err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		return t.res, t.err
	case <-ctx.Done():
		if t.state.CompareAndSwap(taskQueued, taskAbandoned) {
			cl.stats.cancelled.Add(1)
		}
		return nil, ctx.Err()
	}
}

// Go runs fn in class c and hands its result to cb on loop l: cb runs on
// the loop's goroutine, never on a worker. Go itself does not block unless
// policy is Wait and the queue is full. Cancelling ctx while the job is
// queued skips it (cb gets ctx's error); while it runs, the job's ctx is
// cancelled. If the loop has closed by the time the result is ready, cb
// is not called.
func (p *Pool) Go(ctx context.Context, l *sched.Loop, c Class, policy Policy, fn Job, cb func(any, error)) error {
	cl, err := p.class(c)
	if err != nil {
		return err
	}
	if l == nil || cb == nil || fn == nil {
		return errors.New("offload: Go needs a loop, a job and a callback")
	}
	t := &task{ctx: ctx, fn: fn, class: cl, loop: l, deliver: cb}
	return p.enqueue(t, policy)
}

func (p *Pool) work(cl *class) {
	defer p.workers.Done()
	if cl.lowPriority && cl.spin {
		// A CPU worker gets a thread of its own at a lower priority, so
		// that when threads outnumber cores the kernel runs the loops
		// first. Raising one's own niceness needs no privilege. The thread
		// is discarded when the worker exits (it stays locked). Only when
		// a P stays free for the loops: with every P taken by workers
		// (GOMAXPROCS 1), a loop waits for the Go scheduler whatever the
		// thread priorities, and the locked thread would only make every
		// hand-off wake another thread.
		runtime.LockOSThread()
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), workerNice)
	}
	if !cl.lowPriority || !cl.spin {
		for t := range cl.queue {
			p.run(t)
		}
		return
	}
	// A CPU worker's thread is its own, and waking a goroutine locked to
	// a sleeping thread wakes that thread on another CPU: tens of
	// microseconds on a VM, more than a small job costs. So after a job
	// the worker keeps looking for the next one for a while before it
	// sleeps; a loop that submits again within that window costs no
	// wake-up. It spins only when the pool leaves a P free for the loops
	// (cl.spin), only after a job whose result went to a loop (a result
	// for a blocking Do readies its goroutine on this thread's P, which
	// spinning would hold), and the window halves after every spin that
	// found nothing, so a pool used now and then stops paying for it.
	budget := maxWorkerSpin
	for {
		t, ok := <-cl.queue
		if !ok {
			return
		}
		for t != nil {
			p.run(t)
			if t.loop == nil {
				// The submitter is a goroutine that finishing the job
				// readied onto this worker's P: sleep, so that it runs.
				break
			}
			t, ok = spinRecv(cl.queue, budget)
			if !ok {
				return
			}
			if t == nil {
				budget = max(budget/2, maxWorkerSpin/16)
			} else {
				budget = maxWorkerSpin
			}
		}
	}
}

// maxWorkerSpin is how long an idle CPU worker polls its queue.
const maxWorkerSpin = 50 * time.Microsecond

// spinRecv polls q for up to d. It returns (nil, true) if nothing came,
// and ok false once q is closed.
func spinRecv(q chan *task, d time.Duration) (*task, bool) {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case t, ok := <-q:
			return t, ok
		default:
		}
		if i%16 == 15 && time.Since(start) >= d {
			return nil, true
		}
	}
}

// run runs a task taken off its queue (by a worker, or by a Close that
// gave up), or skips it when its submitter, its context or the pool is
// done with it.
func (p *Pool) run(t *task) {
	if !t.state.CompareAndSwap(taskQueued, taskRunning) {
		return // abandoned by a blocking submitter
	}
	if err := t.ctx.Err(); err != nil {
		p.skip(t, err)
		return
	}
	if !p.track(t) {
		p.skip(t, ErrClosed)
		return
	}
	t.class.stats.waitHist.observe(time.Since(t.queued))
	p.call(t)
}

func (p *Pool) skip(t *task, err error) {
	t.class.stats.cancelled.Add(1)
	t.err = err
	p.finish(t)
}

// track records t as running, unless a Close has given up, in which case
// the job must not start. Checking and recording under one lock means a
// Close that gives up sees every job that starts before it.
func (p *Pool) track(t *task) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gaveUp {
		return false
	}
	p.running[t] = struct{}{}
	return true
}

func (p *Pool) untrack(t *task) {
	p.mu.Lock()
	delete(p.running, t)
	p.mu.Unlock()
}

// call runs the job with a context that also ends when Close gives up,
// then finishes the task, also when the job panicked or called
// runtime.Goexit (which ends this worker: a new one takes its place).
// The result goes to the submitter unless Close gave up on the job while
// it ran; then Close has answered ErrClosed and the result is dropped.
func (p *Pool) call(t *task) {
	st := &t.class.stats
	ctx, cancel := context.WithCancel(t.ctx)
	stop := context.AfterFunc(p.ctx, cancel)
	start := time.Now()
	var res any
	var err error
	returned := false
	st.running.Add(1)
	defer func() {
		stop()
		cancel()
		if v := recover(); v != nil {
			st.panics.Add(1)
			res, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		} else if !returned {
			res, err = nil, ErrJobExited
			p.workers.Add(1)
			go p.work(t.class)
		}
		st.runHist.observe(time.Since(start))
		p.untrack(t)
		// Whoever moves the task out of taskRunning owns t.res and t.err
		// and delivers: this worker, or a Close that gave up first.
		deliver := t.state.CompareAndSwap(taskRunning, taskDone)
		if !deliver {
			st.undelivered.Add(1)
		}
		// Counted last, so that whoever sees the job completed sees the
		// rest of its counters too.
		st.running.Add(-1)
		st.completed.Add(1)
		if deliver {
			t.res, t.err = res, err
			p.finish(t)
		}
	}()
	res, err = t.fn(ctx)
	returned = true
}

func (p *Pool) finish(t *task) {
	if t.loop == nil {
		close(t.done)
		return
	}
	t.op.Data = t
	t.op.PrepCall(deliverOnLoop)
	if err := t.loop.Post(&t.op); err != nil {
		t.class.stats.undelivered.Add(1)
	}
}

func deliverOnLoop(op *sched.Op, r sched.Result) {
	t := op.Data.(*task)
	if r.Err() != nil {
		// The loop closed before it could run the callback.
		t.class.stats.undelivered.Add(1)
		return
	}
	t.deliver(t.res, t.err)
}

// Close stops accepting jobs (Do and Go return ErrClosed from then on),
// lets the workers run the jobs already queued, and returns nil once
// every worker has exited: every accepted job has then run or been
// skipped, and its result has been handed over (its Do has returned, its
// Go callback has been posted to the loop).
//
// If ctx ends first, Close gives up and returns ctx.Err() without
// waiting for any job: it cancels the context of every running job,
// answers the submitters of those jobs with ErrClosed at once, and skips
// every queued job with ErrClosed (no job starts after Close has given
// up). A job that ignores its context goes on running on its worker in
// the background; when it returns, its result is dropped and counted in
// Metrics as Undelivered.
//
// Close may be called again, also concurrently. A later call waits under
// its own ctx for the workers still running jobs that an earlier call gave
// up on, and returns nil once they have all exited.
func (p *Pool) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		close(p.closing)
		// Submitters that passed the closing check are about to send or
		// are bailing out; once none remain, the queues can be closed.
		for p.submitting.Load() != 0 {
			runtime.Gosched()
		}
		for _, cl := range p.classes {
			close(cl.queue)
		}
		go func() {
			p.workers.Wait()
			close(p.exited)
		}()
	})
	// Workers that have already exited win over a ctx that has ended too.
	select {
	case <-p.exited:
		return nil
	default:
	}
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		p.giveUp()
		return ctx.Err()
	}
}

// giveUp stops the pool from waiting for jobs: no job starts any more,
// running jobs are cancelled and their submitters get ErrClosed now, and
// the queues are drained here, since a worker stuck in a job cannot.
func (p *Pool) giveUp() {
	p.mu.Lock()
	p.gaveUp = true
	var dropped []*task
	for t := range p.running {
		// The worker may be returning right now: the CAS decides who
		// delivers (see call).
		if t.state.CompareAndSwap(taskRunning, taskDropped) {
			dropped = append(dropped, t)
		}
	}
	p.mu.Unlock()
	p.cancel()
	for _, t := range dropped {
		t.err = ErrClosed
		p.finish(t)
	}
	for _, cl := range p.classes {
		for t := range cl.queue {
			p.run(t) // skips it: gaveUp is set
		}
	}
}
