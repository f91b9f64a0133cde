package sched

import (
	"errors"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Values of Loop.sleeping.
const (
	sleepNone  int32 = iota
	sleepEnter       // blocked in io_uring_enter: wake through the armed eventfd read
	sleepPark        // parked in the netpoller: wake through the notify eventfd
)

// enter submits everything queued and, when there is nothing else to do,
// sleeps until a completion, a post, or the next timer or deadline.
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
	if wait && l.cfg.Spin > 0 && l.interacted {
		// Spin only with nothing left to submit: what a goroutine posted
		// may complete right away.
		if l.ring.SQReady() > 0 {
			l.metrics.submitted.Add(uint64(l.ring.SQReady()))
			if _, err := l.ring.Submit(); err != nil {
				l.enterFailed(err)
			}
		}
		if l.ring.CQReady() > 0 || l.spin() {
			wait = false
		}
	}
	var timeout time.Duration = -1
	if wait {
		if d, ok := l.untilDue(); ok {
			timeout = d
			wait = d > 0
		}
	}
	// How to sleep. Blocking in io_uring_enter is the cheapest sleep, but
	// the thread keeps its P while blocked, and goroutines this loop made
	// runnable (blocking-API callers, offload workers) would wait for
	// sysmon to take the P back: tens of microseconds or more. So a loop
	// that has exchanged work with goroutines since it last slept parks in
	// Go's netpoller instead, on an eventfd the ring signals on
	// completion, and its P is free at once. A loop that only serves its
	// own callbacks keeps the one-syscall sleep.
	// A loop without LockOSThread always parks: it shares Ps with the
	// goroutines it serves, and blocking in the kernel would hold one.
	mode := sleepEnter
	if l.interacted || !l.cfg.LockOSThread {
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
	submitted := l.ring.SQReady()
	var err error
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
	l.metrics.iterations.Add(1)
	if n := l.ring.EnterCalls(); n != l.enters {
		l.metrics.enters.Add(n - l.enters)
		l.enters = n
	}
	if err != nil && !errors.Is(err, unix.ETIME) {
		l.enterFailed(err)
	}
	if l.ring.CQOverflowPending() {
		l.metrics.cqOverflows.Add(1)
	}
}

// enterFailed accounts for a failed io_uring_enter. EBUSY and EAGAIN mean
// the kernel wants completions reaped first; the unsubmitted SQEs stay
// queued for the next enter.
func (l *Loop) enterFailed(err error) {
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
		l.cfg.Logger.Error("sched: io_uring_enter", "err", err)
	}
	l.metrics.enterErrors.Add(1)
}

// spin keeps an idle loop that has exchanged work with goroutines since
// it last slept awake for a short while, yielding its P so that they run,
// and reports whether work turned up. A goroutine that posts meanwhile
// finds the loop awake and pays no wake-up syscall, and the loop saves a
// sleep. Completions count as work: an op posted by a goroutine may
// complete while the loop spins. The budget adapts: a spin that found
// nothing halves the next one (down to a sixteenth of Config.Spin), a
// successful one restores it, so a loop whose goroutines come back too
// late for the spin stops burning CPU on it.
func (l *Loop) spin() bool {
	if l.cfg.Spin <= 0 || !l.interacted {
		return false
	}
	l.metrics.spins.Add(1)
	start := time.Now()
	for {
		runtime.Gosched()
		if !l.inbox.empty() || l.ring.CQReady() > 0 || l.ring.CQNeedsEnter() || l.state.Load() != loopRunning {
			l.spinBudget = l.cfg.Spin
			return true
		}
		if d, ok := l.untilDue(); ok && d == 0 {
			return true
		}
		if time.Since(start) >= l.spinBudget {
			l.spinBudget = max(l.spinBudget/2, l.cfg.Spin/16)
			l.metrics.spinMisses.Add(1)
			return false
		}
	}
}

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
	if l.ring.CQNeedsEnter() {
		if err := l.ring.GetEvents(); err != nil {
			return err
		}
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
	err := l.notifyConn.Read(l.parkReadyFn)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	// With DEFER_TASKRUN the completions that woke us are still task work.
	if l.ring.CQNeedsEnter() {
		return l.ring.GetEvents()
	}
	return nil
}

// parkReady is park's RawConn.Read callback: it drains the eventfd and
// reports whether anything had signalled it. The read cannot be skipped:
// RawConn.Read forgets readiness that arrived before it was called, and
// only the eventfd's count remembers a wake-up that came in between.
func (l *Loop) parkReady(fd uintptr) bool {
	_, err := unix.Read(int(fd), l.notifyBuf[:])
	return err != unix.EAGAIN
}

// idle reports that the loop has nothing to do but wait for the kernel:
// no callbacks to run and nothing that still needs an SQE.
func (l *Loop) idle() bool {
	return l.waitSQ.n == 0 && l.doneNext == len(l.done) && len(l.cancels) == 0 && !l.cancelAll
}

// untilDue returns the time until the earliest timer or op deadline.
func (l *Loop) untilDue() (time.Duration, bool) {
	d, ok := l.timers.untilNext()
	if dl, dok := l.deadlines.untilNext(l.now()); dok && (!ok || dl < d) {
		d, ok = dl, true
	}
	return d, ok
}

// wakeup signals the eventfd if, and only if, the loop is asleep; the
// CompareAndSwap makes one producer per sleep pay for the syscall.
func (l *Loop) wakeup() {
	mode := l.sleeping.Load()
	if mode == sleepNone || !l.sleeping.CompareAndSwap(mode, sleepNone) {
		return
	}
	l.metrics.inboxWakes.Add(1)
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
