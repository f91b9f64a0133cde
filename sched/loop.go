package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/uringd/uringd/uring"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned for work given to a loop that is closing or closed.
var ErrClosed = errors.New("sched: loop closed")

// ErrOnLoop is returned by blocking calls (and Close) made from the loop's
// own goroutine, which would wait for themselves forever: code on a loop
// uses the callback API.
var ErrOnLoop = errors.New("sched: blocking call on the loop's own goroutine")

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
	// Logger receives the loop's warnings (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) fill() {
	if c.Entries == 0 {
		c.Entries = 256
	}
	// An op with a linked timeout takes two SQEs at once.
	c.Entries = max(c.Entries, 2)
	if c.Buffers == 0 {
		c.Buffers = 256
	}
	if c.BufferSize == 0 {
		c.BufferSize = 16 << 10
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

// Loop is an event loop: one goroutine, locked to one OS thread, owning
// one io_uring. See the package documentation for its iteration.
type Loop struct {
	cfg  Config
	ring *uring.Ring
	bufs *uring.BufRing

	table   opTable
	waitSQ  opFIFO      // ops that found the SQ full, in order
	cancels []cancelReq // ASYNC_CANCELs still to submit
	done    []completion
	timers  timerHeap

	inbox    inbox
	sleeping atomic.Int32 // sleepNone, sleepEnter or sleepPark
	posting  atomic.Int32 // producers between their state check and push
	state    atomic.Int32
	efd      int // armed-read eventfd: wakes a loop blocked in io_uring_enter
	notifyFd int // wakes a loop parked in the netpoller
	wake     Op
	wakeBuf  [8]byte

	metrics      counters
	tid          atomic.Int64
	inUserCode   atomic.Bool // running callbacks or timers
	exited       chan struct{}
	cancelAll    bool // closing: ASYNC_CANCEL_ANY still to submit
	closeStarted bool
	interacted   bool // work came from or went to goroutines since the last sleep
	readied      bool // a callback woke a parked goroutine this iteration

	notify       *os.File // eventfd registered with the ring, for parking
	notifyConn   syscall.RawConn
	notifyBuf    [8]byte
	parkDeadline time.Time
}

type cancelReq struct {
	userData uint64
	fd       int32
	byFd     bool
}

type completion struct {
	op     *Op
	res    Result
	final  bool
	bid    uint16
	hasBuf bool
}

// NewLoop starts a loop on its own goroutine and OS thread.
func NewLoop(cfg Config) (*Loop, error) {
	cfg.fill()
	l := &Loop{cfg: cfg, exited: make(chan struct{}), efd: -1, notifyFd: -1}
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
	// The ring's SINGLE_ISSUER/DEFER_TASKRUN and its registered fd belong
	// to this thread. The thread is never unlocked: it exits with the
	// goroutine, taking any thread state with it.
	runtime.LockOSThread()
	l.tid.Store(int64(unix.Gettid()))
	if err := l.setup(); err != nil {
		l.teardown()
		started <- err
		return
	}
	started <- nil
	l.run()
	l.teardown()
}

func (l *Loop) setup() error {
	var err error
	l.ring, err = uring.Setup(uring.Config{Entries: l.cfg.Entries, CQEntries: 4 * l.cfg.Entries})
	if err != nil {
		return err
	}
	if err := l.ring.RegisterRingFd(); err != nil {
		l.cfg.Logger.Warn("sched: registering the ring fd failed; continuing without", "err", err)
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
		l.failQueued(op)
		op = next
	}
	l.runCallbacks()
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
		if closing && l.table.live == 0 && l.waitSQ.n == 0 && l.inbox.empty() {
			return
		}
		l.enter()
		l.reap()
		l.runCallbacks()
		l.runTimers()
	}
}

// enter makes the iteration's one io_uring_enter: submit everything and,
// when there is nothing else to do, sleep until a completion or the next
// timer.
func (l *Loop) enter() {
	wait := l.idle()
	if wait && l.readied {
		// Callbacks made goroutines runnable, most likely on this P: let
		// them run now, so that what they post next is in the inbox before
		// we decide to sleep.
		l.readied = false
		runtime.Gosched()
		l.takeInbox()
		l.fillSQ()
		wait = l.idle()
	}
	var timeout time.Duration = -1
	if wait {
		if d, ok := l.timers.untilNext(); ok {
			timeout = d
			wait = d > 0
		}
	}
	// Sleep mode. Blocking in io_uring_enter is the cheapest sleep, but the
	// thread keeps its P while blocked, and goroutines this loop made
	// runnable (blocking-API callers, offload workers) would wait for
	// sysmon to take the P back: tens of microseconds or more. So a loop
	// that has exchanged work with goroutines since it last slept parks in
	// Go's netpoller instead, on an eventfd the ring signals on
	// completion, and its P is free at once. A loop that only serves its
	// own callbacks keeps the one-syscall sleep.
	mode := sleepEnter
	if l.interacted {
		mode = sleepPark
	}
	if wait {
		// Wake-up protocol: announce the sleep, then look at the inbox
		// once more. A producer pushes and then reads sleeping; with both
		// sides using sequentially consistent atomics, either we see its
		// op here or it sees the loop asleep and signals the eventfd.
		l.sleeping.Store(mode)
		if !l.inbox.empty() {
			wait = false
		}
	}
	var err error
	l.metrics.enters.Add(1)
	submitted := l.ring.SQReady()
	switch {
	case !wait:
		_, err = l.ring.Submit()
	case mode == sleepPark:
		l.interacted = false
		_, err = l.ring.Submit()
		if err == nil {
			err = l.park(timeout)
		}
	case timeout >= 0:
		_, err = l.ring.SubmitAndWaitTimeout(1, timeout)
	default:
		_, err = l.ring.SubmitAndWait(1)
	}
	l.sleeping.Store(sleepNone)
	l.metrics.submitted.Add(uint64(submitted))
	if err != nil && !errors.Is(err, unix.ETIME) {
		// EBUSY/EAGAIN: the kernel wants completions reaped first; the
		// unsubmitted SQEs stay queued for the next enter.
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
			l.cfg.Logger.Error("sched: io_uring_enter", "err", err)
		}
		l.metrics.enterErrors.Add(1)
	}
	if l.ring.CQOverflowPending() {
		l.metrics.cqOverflows.Add(1)
	}
}

// Values of Loop.sleeping.
const (
	sleepNone  int32 = iota
	sleepEnter       // blocked in io_uring_enter: wake through the armed eventfd read
	sleepPark        // parked in the netpoller: wake through the notify eventfd
)

// park sleeps in the Go netpoller until the ring posts a completion (the
// kernel signals the registered notify eventfd), a producer writes that
// eventfd, or timeout passes (timeout < 0: no timeout).
func (l *Loop) park(timeout time.Duration) error {
	if err := l.ring.SetEventfdNotify(true); err != nil {
		return err
	}
	defer l.ring.SetEventfdNotify(false)
	// Completions queued while notifications were off signalled nothing:
	// post them now, and do not sleep if there are any.
	if err := l.ring.GetEvents(); err != nil {
		return err
	}
	if l.ring.CQReady() > 0 || !l.inbox.empty() {
		return nil
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	if !deadline.Equal(l.parkDeadline) {
		_ = l.notify.SetReadDeadline(deadline)
		l.parkDeadline = deadline
	}
	l.metrics.parks.Add(1)
	err := l.notifyConn.Read(func(fd uintptr) bool {
		_, err := unix.Read(int(fd), l.notifyBuf[:])
		return err != unix.EAGAIN
	})
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	// The completions that woke us are still deferred task work.
	return l.ring.GetEvents()
}

// idle reports that the loop has nothing to do but wait for the kernel:
// no callbacks to run and nothing that still needs an SQE.
func (l *Loop) idle() bool {
	return l.waitSQ.n == 0 && len(l.done) == 0 && len(l.cancels) == 0 && !l.cancelAll
}

// reap moves every ready CQE into l.done and frees the CQ slots at once,
// so callbacks never run while the kernel waits for CQ space.
func (l *Loop) reap() {
	a, b := l.ring.Completions()
	n := len(a) + len(b)
	if n == 0 {
		return
	}
	l.collect(a)
	l.collect(b)
	l.ring.CQAdvance(uint32(n))
	l.metrics.cqes.Add(uint64(n))
	l.metrics.batch(n)
}

func (l *Loop) collect(cqes []uring.CQE) {
	for i := range cqes {
		c := &cqes[i]
		if c.UserData == udIgnore {
			continue
		}
		op := l.table.lookup(c.UserData)
		if op == nil {
			l.metrics.stale.Add(1)
			if bid, ok := c.BufferID(); ok {
				l.bufs.Recycle(bid) // nobody will read it
			}
			continue
		}
		cp := completion{op: op, res: Result{Res: c.Res, Flags: c.Flags}}
		if bid, ok := c.BufferID(); ok {
			cp.bid, cp.hasBuf = bid, true
			cp.res.Buf = l.bufs.Buf(bid, int(max(c.Res, 0)))
		}
		if !c.More() {
			cp.final = true
			l.table.remove(c.UserData)
			op.state = opIdle
		}
		l.done = append(l.done, cp)
	}
}

// runCallbacks runs the callbacks of reaped completions in order. A
// callback that submits work queues it; nothing here recurses. A panicking
// callback is logged and counted, and the rest of the batch still runs.
func (l *Loop) runCallbacks() {
	if len(l.done) == 0 {
		return
	}
	start := time.Now()
	l.inUserCode.Store(true)
	next := 0
	for next < len(l.done) {
		next = l.runFrom(next)
	}
	l.inUserCode.Store(false)
	l.metrics.lag(time.Since(start))
	clear(l.done)
	l.done = l.done[:0]
}

// runFrom runs callbacks from index i and returns where to resume: the end
// of the batch, or the entry after one whose callback panicked.
func (l *Loop) runFrom(i int) (next int) {
	defer func() {
		if p := recover(); p != nil {
			c := l.done[i]
			if c.hasBuf {
				l.bufs.Recycle(c.bid)
			}
			l.metrics.panics.Add(1)
			l.cfg.Logger.Error("sched: callback panicked", "kind", c.op.kind, "panic", p, "stack", string(debug.Stack()))
			next = i + 1
		}
	}()
	for ; i < len(l.done); i++ {
		c := l.done[i]
		l.dispatch(c)
		if c.hasBuf {
			l.bufs.Recycle(c.bid)
		}
	}
	return i
}

func (l *Loop) dispatch(c completion) {
	op := c.op
	switch op.kind {
	case kindWake:
		l.metrics.inboxWakes.Add(1)
		if l.state.Load() == loopRunning {
			if c.res.Res < 0 {
				l.cfg.Logger.Error("sched: eventfd read", "err", c.res.Err())
			}
			l.submit(op)
		}
		return
	case KindRecvMultishot:
		if c.final && !op.cancelled && l.state.Load() == loopRunning {
			switch {
			case c.res.Res == -int32(unix.ENOBUFS):
				// The buffer ring ran dry and the kernel ended the
				// multishot. Buffers of this batch are back by now: re-arm.
				l.metrics.enobufs.Add(1)
				l.submit(op)
				return
			case c.res.Res > 0:
				// The kernel ended the multishot on a CQE that still
				// carries data: deliver it as one more of the stream and
				// re-arm, so the callback sees no difference.
				c.res.Flags |= uring.CQEFMore
				op.cb(op, c.res)
				if op.state == opIdle {
					l.submit(op)
				}
				return
			}
		}
	case KindAcceptMultishot:
		if c.final && c.res.Res >= 0 && !op.cancelled && l.state.Load() == loopRunning {
			// The kernel ended the multishot (e.g. on CQ overflow) with a
			// CQE that still carries a connection: deliver it and re-arm.
			c.res.Flags |= uring.CQEFMore
			op.cb(op, c.res)
			if op.state == opIdle {
				l.submit(op)
			}
			return
		}
	}
	if c.final {
		// Whether or not the cancel won the race, it is spent: a reused
		// op must not inherit it.
		op.cancelled = false
		if op.parks {
			l.interacted = true
			l.readied = true
		}
		op.inUse.Store(false) // the callback may submit it again
	}
	op.cb(op, c.res)
}

// Submit queues op on this loop. It must be called on the loop's
// goroutine (from a callback or a function the loop runs); other
// goroutines use Post. op must be idle (not already submitted).
func (l *Loop) Submit(op *Op) error {
	if !op.inUse.CompareAndSwap(false, true) {
		return fmt.Errorf("sched: op of kind %d submitted twice", op.kind)
	}
	if l.state.Load() != loopRunning {
		op.inUse.Store(false)
		return ErrClosed
	}
	l.submit(op)
	return nil
}

// submit puts op into an SQE now, or at the back of the SQ-wait FIFO when
// the SQ is full or others already wait (order is kept).
func (l *Loop) submit(op *Op) {
	if op.kind == KindCall {
		op.state = opIdle
		l.done = append(l.done, completion{op: op, final: true})
		return
	}
	op.state = opQueued
	if l.waitSQ.n > 0 || !l.prep(op) {
		l.metrics.sqFull.Add(1)
		l.waitSQ.push(op)
	}
}

// prep turns op into one SQE (two with a linked timeout). It returns false
// when the SQ has no room.
func (l *Loop) prep(op *Op) bool {
	need := uint32(1)
	if op.Timeout > 0 {
		need = 2
	}
	if l.ring.SQSpace() < need {
		return false
	}
	if op.kind == KindRecvMultishot {
		op.group = recvBufGroup
	}
	sqe := l.ring.GetSQE()
	op.prep(sqe)
	op.userData = l.table.insert(op)
	sqe.UserData = op.userData
	op.state = opInFlight
	if op.Timeout > 0 {
		sqe.Flags |= uring.SQEIOLink
		op.ts = unix.NsecToTimespec(int64(op.Timeout))
		lt := l.ring.GetSQE()
		lt.PrepLinkTimeout(&op.ts, 0)
		lt.UserData = udIgnore
	}
	return true
}

// fillSQ moves pending cancels and SQ-waiting ops into free SQEs.
func (l *Loop) fillSQ() {
	if l.cancelAll {
		if sqe := l.ring.GetSQE(); sqe != nil {
			sqe.PrepCancelAny()
			sqe.UserData = udIgnore
			l.cancelAll = false
		}
	}
	for len(l.cancels) > 0 {
		sqe := l.ring.GetSQE()
		if sqe == nil {
			return
		}
		c := l.cancels[len(l.cancels)-1]
		l.cancels = l.cancels[:len(l.cancels)-1]
		if c.byFd {
			sqe.PrepCancelFd(int(c.fd), uring.CancelAll)
		} else {
			sqe.PrepCancel(c.userData, 0)
		}
		sqe.UserData = udIgnore
	}
	for l.waitSQ.head != nil {
		op := l.waitSQ.head
		if l.state.Load() == loopClosing && op.kind != kindWake {
			l.waitSQ.pop()
			l.failQueued(op)
			continue
		}
		if !l.prep(op) {
			return
		}
		l.waitSQ.pop()
	}
}

// takeInbox handles what other goroutines posted.
func (l *Loop) takeInbox() {
	op := l.inbox.takeAll()
	if op != nil {
		l.interacted = true
	}
	for op != nil {
		next := op.next
		op.next = nil
		switch {
		case op.kind == kindCancelReq:
			if op.ptr != nil {
				l.cancel((*Op)(op.ptr))
			}
		case op.kind == kindCancelFdReq:
			l.cancels = append(l.cancels, cancelReq{fd: op.fd, byFd: true})
		case l.state.Load() != loopRunning:
			l.failQueued(op)
		default:
			l.submit(op)
		}
		op = next
	}
}

// cancel stops op: dropped from the SQ-wait FIFO if not yet submitted, or
// cancelled in the kernel with ASYNC_CANCEL. Either way its callback runs
// once more, with ECANCELED unless it completed first.
func (l *Loop) cancel(op *Op) {
	switch op.state {
	case opQueued:
		if l.waitSQ.remove(op) {
			l.failQueued(op)
		}
	case opInFlight:
		op.cancelled = true
		l.cancels = append(l.cancels, cancelReq{userData: op.userData})
	}
}

// failQueued completes an op that never reached the kernel.
func (l *Loop) failQueued(op *Op) {
	op.state = opIdle
	if op.kind == kindWake || op.kind == kindCancelReq {
		return
	}
	l.done = append(l.done, completion{op: op, res: Result{Res: -int32(unix.ECANCELED)}, final: true})
}

// Post hands op to the loop from any goroutine. op must be idle; its
// callback runs on the loop. It returns ErrClosed if the loop is closing.
func (l *Loop) Post(op *Op) error {
	if !op.inUse.CompareAndSwap(false, true) {
		return fmt.Errorf("sched: op of kind %d posted while still queued or in flight", op.kind)
	}
	l.posting.Add(1)
	if l.state.Load() != loopRunning {
		l.posting.Add(-1)
		op.inUse.Store(false)
		return ErrClosed
	}
	op.state = opQueued
	l.inbox.push(op)
	// Wake inside the posting window: teardown closes the eventfd only
	// after every producer has left it.
	l.wakeup()
	l.posting.Add(-1)
	return nil
}

// wakeup signals the eventfd if, and only if, the loop is asleep; the
// CompareAndSwap makes one producer per sleep pay for the syscall.
func (l *Loop) wakeup() {
	mode := l.sleeping.Load()
	if mode == sleepNone || !l.sleeping.CompareAndSwap(mode, sleepNone) {
		return
	}
	fd := l.efd
	if mode == sleepPark {
		fd = l.notifyFd
	}
	one := uint64(1)
	buf := (*[8]byte)(unsafe.Pointer(&one))
	for {
		_, err := unix.Write(fd, buf[:])
		if err != unix.EINTR {
			break
		}
	}
}

// Close stops the loop: new work is refused with ErrClosed, work in
// flight is cancelled and its callbacks run (with ECANCELED), then the
// ring and its resources are released and the goroutine exits. Close
// returns when that has happened, or ctx's error if ctx ends first (the
// loop still finishes shutting down in the background).
func (l *Loop) Close(ctx context.Context) error {
	if l.onLoop() {
		return ErrOnLoop
	}
	if l.state.CompareAndSwap(loopRunning, loopClosing) {
		// The loop learns of the state on its next iteration; a no-op
		// control message makes sure there is one.
		l.posting.Add(1)
		l.inbox.push(&Op{kind: kindCancelReq})
		l.sleeping.Store(sleepEnter) // force an eventfd write even if not asleep
		l.wakeup()
		l.sleeping.Store(sleepPark)
		l.wakeup()
		l.posting.Add(-1)
	}
	select {
	case <-l.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onLoop reports whether the caller runs on the loop's own thread, where
// waiting for the loop would wait forever.
// User code runs on the loop only inside callbacks and timers, so the
// gettid syscall is paid only while those run.
func (l *Loop) onLoop() bool {
	return l.inUserCode.Load() && unix.Gettid() == int(l.tid.Load())
}

// ThreadID returns the OS thread the loop runs on (for diagnostics, and
// for tests asserting that a callback ran on its loop).
func (l *Loop) ThreadID() int { return int(l.tid.Load()) }

// Done is closed when the loop has exited.
func (l *Loop) Done() <-chan struct{} { return l.exited }
