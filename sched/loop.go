package sched

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uringd/uringd/uring"
	"golang.org/x/sys/unix"
)

// Config sets up a Loop. The zero value is usable.
type Config struct {
	// Entries is the submission queue size (default 256, at least 2). The
	// completion queue is four times larger, so bursts of completions
	// rarely overflow.
	Entries uint32
	// Buffers and BufferSize size the provided buffer ring that multishot
	// receives draw from (defaults 256 and 16 KiB). Buffers must be a power
	// of two.
	Buffers    uint32
	BufferSize int
	// LockOSThread runs the loop on an OS thread of its own, with a ring
	// set up with SINGLE_ISSUER and DEFER_TASKRUN and a registered ring
	// fd. That is the fastest setup for a loop whose work is callbacks
	// (servers, protocols): about 25% less CPU per message in the echo
	// benchmark. But Go cannot run another goroutine on a locked thread, so
	// every hand-off between the loop and a goroutine (blocking calls,
	// offload results) wakes a thread on another CPU: tens of microseconds
	// on a virtual machine. Leave it off (the default) when goroutines use
	// the loop's blocking API: the loop is then an ordinary goroutine that
	// the Go scheduler runs on whichever thread is free, and a hand-off
	// costs a goroutine switch. bench/RESULTS.md has the measurements.
	LockOSThread bool
	// MaxOps bounds the operations the loop holds at once: posted or
	// submitted and not yet completed for the last time (default 65536).
	// Beyond it Post and Submit return ErrOverloaded and the blocking API
	// waits for room, bounded by its context. Memory never grows without
	// bound because a producer is faster than the kernel. KindCall ops
	// (hand-offs that hold nothing in the kernel) do not count.
	MaxOps int
	// Spin is how long a loop that has just exchanged work with goroutines
	// keeps looking for more (yielding to them meanwhile) before it sleeps
	// (default 50µs; negative: never). A goroutine that posts within that
	// window costs the loop no wake-up syscall. Loops with LockOSThread do
	// not spin: yielding a locked thread hands its P to another thread.
	Spin time.Duration
	// SubmitBatch, when positive, submits the operations callbacks queue
	// as soon as that many wait, instead of once after the whole batch of
	// callbacks has run. A device that completes requests in bursts (a
	// virtual disk does) then idles until the first resubmission reaches
	// it: for a loop that keeps many disk reads in flight, submitting every
	// 4 brought O_DIRECT random reads from 0.80x to fio's rate on the
	// development VM (bench/RESULTS.md). Network loops gain nothing from
	// it and pay one more system call per SubmitBatch operations, so the
	// default (0) submits once per batch.
	SubmitBatch int
	// Logger receives the loop's warnings (default slog.Default()).
	Logger *slog.Logger
}

const (
	defaultMaxOps = 1 << 16
	defaultSpin   = 50 * time.Microsecond
)

func (c *Config) fill() {
	if c.Entries == 0 {
		c.Entries = 256
	}
	// An op's SQE plus a cancel always fit.
	c.Entries = max(c.Entries, 2)
	if c.Buffers == 0 {
		c.Buffers = 256
	}
	if c.BufferSize == 0 {
		c.BufferSize = 16 << 10
	}
	if c.MaxOps <= 0 {
		c.MaxOps = defaultMaxOps
	}
	if c.Spin == 0 {
		c.Spin = defaultSpin
	}
	if c.LockOSThread || c.Spin < 0 {
		c.Spin = 0
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

const recvBufGroup = 1

// Loop states.
const (
	loopRunning int32 = iota
	loopClosing
	loopClosed
)

// Loop is an event loop: one goroutine owning one io_uring. See the
// package documentation for its iteration.
type Loop struct {
	cfg  Config
	ring *uring.Ring
	bufs *uring.BufRing

	table     opTable
	waitSQ    opFIFO // ops that found the SQ full, in order
	cancels   []uint64
	done      []completion
	doneNext  int // next entry of done whose callback runs
	timers    timerHeap
	deadlines deadlineHeap
	epoch     time.Time // origin of op deadlines (monotonic)
	// batchStart is when the current batch of callbacks began (Now).
	batchStart time.Time

	inbox    inbox
	ops      atomic.Int64 // user ops posted or submitted and not yet final
	room     atomic.Pointer[chan struct{}]
	full     atomic.Bool  // a blocking caller waits for room
	sleeping atomic.Int32 // sleepNone, sleepEnter or sleepPark
	posting  atomic.Int32 // producers between their state check and push
	state    atomic.Int32
	efd      int // armed-read eventfd: wakes a loop blocked in io_uring_enter
	notifyFd int // wakes a loop parked in the netpoller
	wake     Op
	wakeBuf  [8]byte

	metrics      counters
	enters       uint64 // ring enter calls already added to metrics
	tid          atomic.Int64
	inUserCode   atomic.Bool // running callbacks or timers
	exited       chan struct{}
	cancelAll    bool // closing: ASYNC_CANCEL_ANY still to submit
	closeStarted bool
	interacted   bool          // work came from or went to goroutines since the last sleep
	readied      bool          // a callback woke a parked goroutine this iteration
	spinBudget   time.Duration // how long the next spin may last (adapts, see spin)

	notify       *os.File // eventfd registered with the ring, for parking
	notifyConn   syscall.RawConn
	parkReadyFn  func(uintptr) bool // l.parkReady, bound once
	notifyBuf    [8]byte
	parkDeadline time.Time
}

type completion struct {
	op     *Op
	res    Result
	final  bool
	bid    uint16
	hasBuf bool
}

// NewLoop starts a loop on its own goroutine.
func NewLoop(cfg Config) (*Loop, error) {
	cfg.fill()
	l := &Loop{cfg: cfg, exited: make(chan struct{}), efd: -1, notifyFd: -1, epoch: time.Now(), spinBudget: cfg.Spin}
	room := make(chan struct{})
	l.room.Store(&room)
	started := make(chan error, 1)
	go l.main(started)
	if err := <-started; err != nil {
		<-l.exited
		return nil, err
	}
	return l, nil
}

func (l *Loop) main(started chan<- error) {
	defer close(l.exited)
	if l.cfg.LockOSThread {
		// The ring's SINGLE_ISSUER/DEFER_TASKRUN and its registered fd
		// belong to this thread. The thread is never unlocked: it exits
		// with the goroutine, taking any thread state with it.
		runtime.LockOSThread()
		l.tid.Store(int64(unix.Gettid()))
	}
	if err := l.setup(); err != nil {
		l.teardown()
		started <- err
		return
	}
	started <- nil
	// Deferred, so that it also runs when a callback's runtime.Goexit has
	// unwound through runGuarded (which kept the loop running meanwhile).
	defer l.teardown()
	l.runGuarded()
}

func (l *Loop) setup() error {
	var err error
	l.ring, err = uring.Setup(uring.Config{
		Entries:   l.cfg.Entries,
		CQEntries: 4 * l.cfg.Entries,
		AnyThread: !l.cfg.LockOSThread,
	})
	if err != nil {
		return err
	}
	if l.cfg.LockOSThread {
		// A registered ring fd belongs to the registering thread.
		if err := l.ring.RegisterRingFd(); err != nil {
			l.cfg.Logger.Warn("sched: registering the ring fd failed; continuing without", "err", err)
		}
	}
	l.bufs, err = l.ring.NewBufRing(recvBufGroup, l.cfg.Buffers, l.cfg.BufferSize)
	if err != nil {
		return fmt.Errorf("sched: provided buffer ring: %w", err)
	}
	l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("sched: eventfd: %w", err)
	}
	l.notifyFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("sched: eventfd: %w", err)
	}
	if err := l.ring.RegisterEventfd(l.notifyFd); err != nil {
		return fmt.Errorf("sched: registering the notify eventfd: %w", err)
	}
	if err := l.ring.SetEventfdNotify(false); err != nil {
		return fmt.Errorf("sched: %w (Linux >= 6.1 is required)", err)
	}
	// The os.File owns notifyFd from here on and closes it.
	l.notify = os.NewFile(uintptr(l.notifyFd), "uring-notify")
	if l.notifyConn, err = l.notify.SyscallConn(); err != nil {
		return fmt.Errorf("sched: notify eventfd: %w", err)
	}
	l.parkReadyFn = l.parkReady
	l.wake.reset(kindWake, l.efd, nil)
	l.wake.buf = l.wakeBuf[:]
	l.submit(&l.wake)
	return nil
}

func (l *Loop) teardown() {
	l.state.Store(loopClosed)
	// Producers that saw the loop running may still be pushing; wait for
	// them, then fail whatever they left.
	for l.posting.Load() != 0 {
		runtime.Gosched()
	}
	for op := l.inbox.takeAll(); op != nil; {
		next := op.next
		op.next = nil
		l.failQueued(op, unix.ECANCELED)
		op = next
	}
	l.runUserCode()
	l.wakeRoomWaiters()
	if l.ring != nil {
		if err := l.ring.Close(); err != nil {
			l.cfg.Logger.Warn("sched: closing ring", "err", err)
		}
	}
	if l.efd >= 0 {
		unix.Close(l.efd)
		l.efd = -1
	}
	if l.notify != nil {
		l.notify.Close()
	} else if l.notifyFd >= 0 {
		unix.Close(l.notifyFd)
	}
}

// runGuarded runs the loop until it is closed and drained. A callback or
// timer that calls runtime.Goexit unwinds the loop's goroutine; the
// deferred call below catches that and carries on running the loop from
// inside the unwinding, so the loop survives: the goroutine only exits
// once the loop is closed. Panics never get here (runFrom and fire
// recover them).
func (l *Loop) runGuarded() {
	finished := false
	defer func() {
		if finished {
			return
		}
		l.inUserCode.Store(false)
		l.metrics.goexits.Add(1)
		l.cfg.Logger.Error("sched: a callback or timer called runtime.Goexit; the loop carries on")
		l.runGuarded()
	}()
	l.run()
	finished = true
}

// run is the loop: submit, wait, reap, dispatch, until closed and drained.
func (l *Loop) run() {
	for {
		closing := l.state.Load() == loopClosing
		if closing && !l.closeStarted {
			// Cancel everything in flight, the eventfd read included:
			// nobody may post any more, so nobody needs to wake us.
			l.closeStarted = true
			l.cancelAll = true
		}
		l.takeInbox()
		l.fillSQ()
		if closing && l.table.live == 0 && l.waitSQ.n == 0 && l.inbox.empty() && l.doneNext == len(l.done) {
			return
		}
		l.enter()
		l.reap()
		l.expireDeadlines()
		l.runUserCode()
	}
}

// runUserCode runs the callbacks of reaped completions, then due timers.
// In a loop without LockOSThread the goroutine is locked to its thread
// meanwhile, so that OnLoop can tell the loop's goroutine from others by
// thread id.
func (l *Loop) runUserCode() {
	if l.doneNext == len(l.done) && !l.timers.due() {
		return
	}
	if !l.cfg.LockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		l.tid.Store(int64(unix.Gettid()))
	}
	l.inUserCode.Store(true)
	l.runCallbacks()
	l.runTimers()
	l.inUserCode.Store(false)
}

// Close stops the loop: new work is refused with ErrClosed, work in
// flight is cancelled and its callbacks run (with ECANCELED), then the
// ring and its resources are released and the goroutine exits. Close
// returns when that has happened, or ctx's error if ctx ends first (the
// loop still finishes shutting down in the background). Calling Close
// from the loop itself returns ErrOnLoop: the loop cannot wait for itself.
func (l *Loop) Close(ctx context.Context) error {
	if l.OnLoop() {
		return ErrOnLoop
	}
	// In the posting window before the state changes, so teardown cannot
	// close the eventfds while this wakes the loop.
	l.posting.Add(1)
	if l.state.CompareAndSwap(loopRunning, loopClosing) {
		// The loop learns of the state on its next iteration; wake it
		// however it sleeps.
		l.sleeping.Store(sleepEnter)
		l.wakeup()
		l.sleeping.Store(sleepPark)
		l.wakeup()
	}
	l.posting.Add(-1)
	select {
	case <-l.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnLoop reports whether the caller runs on the loop: inside one of its
// callbacks or timers. Code that may run either way uses it to choose
// between Submit and Post.
func (l *Loop) OnLoop() bool {
	// User code runs on the loop only inside callbacks and timers, so the
	// gettid syscall is paid only while those run.
	return l.inUserCode.Load() && unix.Gettid() == int(l.tid.Load())
}

// ThreadID returns the OS thread the loop runs its callbacks on: with
// LockOSThread, always the same one; otherwise the one that ran the most
// recent batch (for diagnostics).
func (l *Loop) ThreadID() int { return int(l.tid.Load()) }

// Done is closed when the loop has exited.
func (l *Loop) Done() <-chan struct{} { return l.exited }

// Now returns the time the loop's current batch of callbacks began: a
// clock for timeouts and Date headers that costs nothing to read, and is
// at most one batch behind time.Now. It must be called on the loop.
func (l *Loop) Now() time.Time {
	if l.batchStart.IsZero() {
		return time.Now()
	}
	return l.batchStart
}

// now is the loop's monotonic clock for op deadlines, in nanoseconds since
// the loop started.
func (l *Loop) now() int64 { return int64(time.Since(l.epoch)) }
