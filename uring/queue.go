package uring

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GetSQE returns the next free submission entry, zeroed, or nil when the
// submission queue is full (submit, then try again). The entry is handed
// to the kernel by the next Submit*.
func (r *Ring) GetSQE() *SQE {
	if r.closed {
		return nil
	}
	sq := &r.sq
	// The kernel advances head as it consumes entries; with SQPOLL it does
	// so concurrently, hence the acquire load.
	head := atomic.LoadUint32(sq.head)
	if sq.sqeTail-head >= sq.entries {
		return nil
	}
	sqe := &sq.sqes[sq.sqeTail&sq.mask]
	sq.sqeTail++
	*sqe = SQE{}
	return sqe
}

// SQReady returns how many entries GetSQE handed out that were not yet
// submitted.
func (r *Ring) SQReady() uint32 { return r.sq.sqeTail - r.sq.sqeHead }

// SQSpace returns how many entries GetSQE can still hand out.
func (r *Ring) SQSpace() uint32 {
	if r.closed {
		return 0
	}
	return r.sq.entries - (r.sq.sqeTail - atomic.LoadUint32(r.sq.head))
}

// flushSQ publishes the entries handed out since the last flush and returns
// how many the kernel has not consumed yet.
func (r *Ring) flushSQ() uint32 {
	sq := &r.sq
	if sq.sqeTail != sq.sqeHead {
		sq.sqeHead = sq.sqeTail
		// Release: the SQE contents must be visible before the new tail.
		atomic.StoreUint32(sq.tail, sq.sqeTail)
	}
	return sq.sqeTail - atomic.LoadUint32(sq.head)
}

// Submit hands every prepared entry to the kernel without waiting and
// returns how many the kernel took. It also runs deferred completion work
// when the kernel has some pending. Submit never sleeps, so it calls
// io_uring_enter without the Go scheduler's syscall bookkeeping; the
// kernel may still run submitted work inline before it returns.
func (r *Ring) Submit() (int, error) {
	return r.submit(0, -1)
}

// SubmitAndWait submits every prepared entry and waits until at least
// waitNr completions are ready to reap. It returns the number submitted.
// A signal that interrupts the wait does not end it early.
func (r *Ring) SubmitAndWait(waitNr uint32) (int, error) {
	return r.submit(waitNr, -1)
}

// SubmitAndWaitTimeout is SubmitAndWait that gives up after d
// (IORING_ENTER_EXT_ARG): if fewer than waitNr completions are ready by
// then, the error is unix.ETIME (the entries were still submitted).
// Without FEAT_EXT_ARG it returns unix.EOPNOTSUPP.
func (r *Ring) SubmitAndWaitTimeout(waitNr uint32, d time.Duration) (int, error) {
	if r.features&FeatExtArg == 0 {
		return 0, unix.EOPNOTSUPP
	}
	return r.submit(waitNr, max(d, 0))
}

// submit publishes the SQ, submits with a non-sleeping enter, then, when
// asked, waits for waitNr completions (timeout < 0: without limit).
func (r *Ring) submit(waitNr uint32, timeout time.Duration) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	toSubmit := r.flushSQ()
	submitted := 0
	if r.flags&SetupSQPoll != 0 {
		// The poller consumes the queue; enter only to wake it or to run
		// held-back completions. The seq-cst tail store in flushSQ orders
		// this flags load after it.
		submitted = int(toSubmit)
		var flags uint32
		if atomic.LoadUint32(r.sq.flags)&sqNeedWakeup != 0 {
			flags |= enterSQWakeup
		}
		if r.cqNeedsEnter() {
			flags |= enterGetEvents
		}
		if flags != 0 {
			if _, err := r.enterNoWait(0, flags); err != nil {
				return 0, err
			}
		}
	} else if toSubmit > 0 || waitNr > 0 || r.cqNeedsEnter() {
		n, err := r.enterNoWait(toSubmit, enterGetEvents)
		if err != nil {
			return n, err
		}
		submitted = n
	}
	if waitNr == 0 {
		return submitted, nil
	}
	return submitted, r.wait(waitNr, timeout)
}

// wait sleeps in io_uring_enter until waitNr completions are ready, or
// returns unix.ETIME once timeout (>= 0) has passed. Interrupted waits
// resume with what is left of the timeout.
func (r *Ring) wait(waitNr uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for r.CQReady() < waitNr {
		var ts *unix.Timespec
		if timeout >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return unix.ETIME
			}
			t := unix.NsecToTimespec(int64(left))
			ts = &t
		}
		switch err := r.enterWait(waitNr, ts); err {
		case nil, unix.EINTR:
		case unix.ETIME:
			if r.CQReady() < waitNr {
				return unix.ETIME
			}
		default:
			return err
		}
	}
	return nil
}

// CQNeedsEnter reports that completions are held back by the kernel:
// overflowed CQEs to flush, or task work to run (with TASKRUN_FLAG, which
// sched's rings have). Any Submit* or GetEvents posts them.
func (r *Ring) CQNeedsEnter() bool {
	if r.closed {
		return false
	}
	return r.cqNeedsEnter()
}

// EnterCalls returns how many io_uring_enter system calls the ring has
// made (submits, waits and task-work runs; retries after EINTR count).
func (r *Ring) EnterCalls() uint64 { return r.enterCalls }

// cqNeedsEnter reports that completions are held back by the kernel:
// overflowed CQEs to flush, or deferred task work to run.
func (r *Ring) cqNeedsEnter() bool {
	return atomic.LoadUint32(r.sq.flags)&(sqCQOverflow|sqTaskrun) != 0
}

// enterNoWait calls io_uring_enter with min_complete 0, retrying on EINTR.
// It never waits for I/O or for completions: the kernel issues every SQE
// non-blocking and hands anything that would wait to poll or to its
// worker threads. It can still sleep briefly inside the kernel (a
// contended ring mutex, memory reclaim in an allocation), and it can run
// for a while (a batch of sends runs the TCP stack). It skips
// entersyscall/exitsyscall anyway, by measurement: with Syscall6 a NOP
// round trip costs 40 ns more (1.29x liburing instead of 1.02x, 2026-12),
// and sysmon retook the P during long batched submissions (26,032 context
// switches per 1.28 M batched reads, against ~500). The cost of the
// choice: during such a sleep this thread keeps its P, so other goroutines
// wait for it as they would for a running callback. Waits for completions
// go through enterWait, which releases the P.
func (r *Ring) enterNoWait(toSubmit, flags uint32) (int, error) {
	for {
		r.enterCalls++
		n, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.enterFd), uintptr(toSubmit),
			0, uintptr(flags|r.enterFlags), 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// enterWait calls io_uring_enter to sleep until minComplete completions
// are ready or ts (if set) passes. It goes through the scheduler's
// syscall path so that the P can be handed to other goroutines.
//
// The kernel reads the getevents arg and the timespec during the call
// only. Both may be on the stack: the timespec's address is a uptr and the
// arg's stays an unsafe.Pointer until the syscall's argument list, so
// neither is an integer when the stack might move. Neither escapes, so a
// timed wait does not allocate.
func (r *Ring) enterWait(minComplete uint32, ts *unix.Timespec) error {
	flags := enterGetEvents | r.enterFlags
	var ext getEventsArg
	var arg unsafe.Pointer
	var argSize uintptr
	if ts != nil {
		ext.Ts = uptrTo(unsafe.Pointer(ts))
		arg = unsafe.Pointer(&ext)
		argSize = unsafe.Sizeof(ext)
		flags |= enterExtArg
	}
	r.enterCalls++
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.enterFd), 0,
		uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	if errno != 0 {
		return errno
	}
	return nil
}

// CQReady returns the number of completions ready to reap.
func (r *Ring) CQReady() uint32 {
	if r.closed {
		return 0
	}
	// Acquire: the CQE contents are visible once the tail is.
	return atomic.LoadUint32(r.cq.tail) - *r.cq.head
}

// PeekCQE returns the oldest ready completion without consuming it, or
// nil. The entry is valid until CQAdvance.
func (r *Ring) PeekCQE() *CQE {
	if r.closed {
		return nil
	}
	cq := &r.cq
	head := *cq.head
	if atomic.LoadUint32(cq.tail) == head {
		return nil
	}
	return &cq.cqes[head&cq.mask]
}

// Completions returns every ready completion as views into the ring,
// without copying: a, then b when the ready range wraps around the end of
// the ring. The views are valid until CQAdvance; pass len(a)+len(b) to it
// once they have been handled.
func (r *Ring) Completions() (a, b []CQE) {
	if r.closed {
		return nil, nil
	}
	cq := &r.cq
	head := *cq.head
	tail := atomic.LoadUint32(cq.tail)
	if tail == head {
		return nil, nil
	}
	start := head & cq.mask
	n := tail - head
	if start+n <= cq.entries {
		return cq.cqes[start : start+n], nil
	}
	return cq.cqes[start:], cq.cqes[:n-(cq.entries-start)]
}

// CQAdvance marks n completions as consumed, freeing their slots.
func (r *Ring) CQAdvance(n uint32) {
	if n == 0 || r.closed {
		return
	}
	// Release: the kernel may reuse the slots once it sees the new head.
	atomic.StoreUint32(r.cq.head, *r.cq.head+n)
}

// WaitCQE returns the oldest completion, submitting pending entries and
// blocking until one is ready. The entry is valid until CQAdvance.
func (r *Ring) WaitCQE() (*CQE, error) {
	for {
		if r.closed {
			return nil, ErrClosed
		}
		if cqe := r.PeekCQE(); cqe != nil {
			return cqe, nil
		}
		if _, err := r.SubmitAndWait(1); err != nil {
			return nil, err
		}
	}
}

// CQOverflowPending reports that the kernel holds completions that did not
// fit in the CQ ring (IORING_SQ_CQ_OVERFLOW). They are not lost on kernels
// with FEAT_NODROP: reap the ring and call FlushOverflow (any Submit* that
// enters the kernel flushes them too).
func (r *Ring) CQOverflowPending() bool {
	if r.closed {
		return false
	}
	return atomic.LoadUint32(r.sq.flags)&sqCQOverflow != 0
}

// FlushOverflow asks the kernel to move held-back completions into the CQ
// ring, as far as it has room.
func (r *Ring) FlushOverflow() error {
	return r.GetEvents()
}

// CQOverflowCount returns the kernel's count of completions it had to drop
// or hold back because the CQ ring was full.
func (r *Ring) CQOverflowCount() uint32 {
	if r.closed {
		return 0
	}
	return atomic.LoadUint32(r.cq.overflow)
}

// SQDropped returns the kernel's count of invalid submission entries it
// skipped.
func (r *Ring) SQDropped() uint32 {
	if r.closed {
		return 0
	}
	return atomic.LoadUint32(r.sq.dropped)
}

// SetEventfdNotify turns the registered eventfd's notifications on or off
// (IORING_CQ_EVENTFD_DISABLED) without a syscall, so a loop that only
// sleeps now and then pays for eventfd signals only while it sleeps. It
// returns unix.EOPNOTSUPP on kernels before 5.8.
func (r *Ring) SetEventfdNotify(enabled bool) error {
	if r.closed {
		return ErrClosed
	}
	if r.cq.flags == nil {
		return unix.EOPNOTSUPP
	}
	old := atomic.LoadUint32(r.cq.flags)
	if enabled {
		atomic.StoreUint32(r.cq.flags, old&^cqEventfdDisabled)
	} else {
		atomic.StoreUint32(r.cq.flags, old|cqEventfdDisabled)
	}
	return nil
}

// GetEvents enters the kernel without submitting or waiting, so that
// completions held back as deferred task work (DEFER_TASKRUN) or CQ
// overflow are posted to the CQ ring.
func (r *Ring) GetEvents() error {
	if r.closed {
		return ErrClosed
	}
	_, err := r.enterNoWait(0, enterGetEvents)
	return err
}
