package sched

import (
	"math"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Submit queues op on this loop. It must be called on the loop (from a
// callback or timer); other goroutines use Post. It returns ErrNotOnLoop
// when called elsewhere, ErrOpInUse when op is still queued or in flight,
// ErrOverloaded when the loop holds Config.MaxOps operations, and
// ErrClosed once the loop is closing.
func (l *Loop) Submit(op *Op) error {
	if l.state.Load() == loopClosed {
		return ErrClosed
	}
	if err := l.checkOnLoop(); err != nil {
		return err
	}
	if !op.inUse.CompareAndSwap(false, true) {
		return ErrOpInUse
	}
	if l.state.Load() != loopRunning {
		op.inUse.Store(false)
		return ErrClosed
	}
	if !op.kind.exempt() && l.ops.Add(1) > int64(l.cfg.MaxOps) {
		l.ops.Add(-1)
		op.inUse.Store(false)
		l.metrics.overloaded.Add(1)
		return ErrOverloaded
	}
	op.seq.Add(1)
	l.submit(op)
	return nil
}

// Post hands op to the loop from any goroutine; its callback runs on the
// loop. It returns ErrOpInUse when op is still queued or in flight,
// ErrOverloaded when the loop holds Config.MaxOps operations, and
// ErrClosed once the loop is closing.
func (l *Loop) Post(op *Op) error {
	if !op.inUse.CompareAndSwap(false, true) {
		return ErrOpInUse
	}
	if !op.kind.exempt() && l.ops.Add(1) > int64(l.cfg.MaxOps) {
		l.ops.Add(-1)
		op.inUse.Store(false)
		l.metrics.overloaded.Add(1)
		return ErrOverloaded
	}
	op.seq.Add(1)
	if !l.push(op) {
		if !op.kind.exempt() {
			l.ops.Add(-1)
		}
		op.seq.Add(1) // even again: the op is idle
		op.inUse.Store(false)
		return ErrClosed
	}
	return nil
}

// push puts op (a user op or an internal request) into the inbox and wakes
// the loop if it sleeps. It reports false when the loop is closing.
func (l *Loop) push(op *Op) bool {
	l.posting.Add(1)
	if l.state.Load() != loopRunning {
		l.posting.Add(-1)
		return false
	}
	op.state = opQueued
	l.inbox.push(op)
	// Wake inside the posting window: teardown closes the eventfd only
	// after every producer has left it.
	l.wakeup()
	l.posting.Add(-1)
	return true
}

// submit puts op into an SQE now, or at the back of the SQ-wait FIFO when
// the SQ is full or others already wait (order is kept).
func (l *Loop) submit(op *Op) {
	if op.Timeout > 0 && op.dlPos == 0 {
		now := l.now()
		// A Timeout too long to add (time.Until of a far-future time
		// saturates at the largest Duration) means never.
		op.deadline = now + int64(op.Timeout)
		if op.deadline < now {
			op.deadline = math.MaxInt64
		}
		l.deadlines.push(op)
	}
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

// prep turns op into an SQE. It returns false when the SQ has no room.
func (l *Loop) prep(op *Op) bool {
	sqe := l.ring.GetSQE()
	if sqe == nil {
		return false
	}
	if op.kind == KindRecvMultishot {
		op.group = recvBufGroup
	}
	op.prep(sqe)
	op.userData = l.table.insert(op)
	sqe.UserData = op.userData
	op.state = opInFlight
	return true
}

// fillSQ moves pending cancels and SQ-waiting ops into free SQEs.
// Cancels go first: each names an op already in the kernel.
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
		ud := l.cancels[len(l.cancels)-1]
		l.cancels = l.cancels[:len(l.cancels)-1]
		sqe.PrepCancel(ud, 0)
		sqe.UserData = udIgnore
	}
	for l.waitSQ.head != nil {
		op := l.waitSQ.head
		if l.state.Load() == loopClosing && op.kind != kindWake {
			l.waitSQ.pop()
			l.failQueued(op, unix.ECANCELED)
			continue
		}
		if !l.prep(op) {
			return
		}
		l.waitSQ.pop()
	}
}

// takeInbox handles what other goroutines posted, in the order they
// posted it: an op and a later request to cancel it arrive in that order.
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
				l.cancelSeq((*Op)(op.ptr), op.n)
			}
			putCancelReq(op)
		case l.state.Load() != loopRunning:
			l.failQueued(op, unix.ECANCELED)
		default:
			l.submit(op)
		}
		op = next
	}
}

// cancelSeq cancels target if it is still the submission numbered seq. An
// op's seq is odd from its Post or Submit until its final completion and
// even after, so a request that arrives after the op completed, and
// perhaps was submitted again, is void, and never touches an op that its
// owner may be preparing anew.
func (l *Loop) cancelSeq(target *Op, seq uint32) {
	if seq&1 == 1 && target.seq.Load() == seq {
		l.cancel(target)
	}
}

// cancel stops op: dropped from the SQ-wait FIFO if not yet submitted, or
// cancelled in the kernel with ASYNC_CANCEL aimed at its user_data.
// Either way its callback runs once more, with ECANCELED unless it
// completed first.
func (l *Loop) cancel(op *Op) {
	switch op.state {
	case opQueued:
		if l.waitSQ.remove(op) {
			l.failQueued(op, unix.ECANCELED)
		}
	case opInFlight:
		if !op.cancelled {
			op.cancelled = true
			l.cancels = append(l.cancels, op.userData)
		}
	case opRearming, opReaped:
		// Done in the kernel; the cancel keeps a multishot from being
		// re-armed (rearm, dispatch).
		op.cancelled = true
	}
}

// Cancel stops op if it is queued or in flight on this loop, a multishot
// accept or receive included: its callback then runs a last time with
// ECANCELED, unless the op completed first (then with its real result). It
// may be called from any goroutine; a cancel that reaches the loop after
// the op's final completion has no effect, even if op has been submitted
// again since. It returns ErrClosed once the loop is closing (which
// cancels everything anyway).
func (l *Loop) Cancel(op *Op) error {
	seq := op.seq.Load()
	if l.OnLoop() {
		if l.state.Load() == loopClosed {
			return ErrClosed
		}
		l.cancelSeq(op, seq)
		return nil
	}
	req := getCancelReq(op, seq)
	if !l.push(req) {
		putCancelReq(req)
		return ErrClosed
	}
	return nil
}

// failQueued completes an op that never reached the kernel with -errno.
func (l *Loop) failQueued(op *Op, errno unix.Errno) {
	op.state = opIdle
	if op.kind.internal() {
		if op.kind == kindCancelReq {
			putCancelReq(op)
		}
		return
	}
	l.done = append(l.done, completion{op: op, res: Result{Res: -int32(errno)}, final: true})
}

// expireDeadlines acts on ops whose Timeout has passed: a queued op fails
// with ETIME at once; an op in the kernel is cancelled, and its ECANCELED
// completion is reported as ETIME.
func (l *Loop) expireDeadlines() {
	if l.deadlines.Len() == 0 {
		return
	}
	now := l.now()
	for {
		op := l.deadlines.popDue(now)
		if op == nil {
			return
		}
		l.metrics.timeouts.Add(1)
		switch op.state {
		case opQueued:
			if l.waitSQ.remove(op) {
				l.failQueued(op, unix.ETIME)
			}
		case opInFlight:
			op.timedOut = true
			l.cancel(op)
		}
	}
}

// Cancel requests travel through the inbox as internal Ops; they are
// pooled because a cancel is posted from goroutines that must not wait
// for the loop to be done with it.
var cancelReqs = sync.Pool{New: func() any { return &Op{kind: kindCancelReq} }}

func getCancelReq(target *Op, seq uint32) *Op {
	req := cancelReqs.Get().(*Op)
	req.ptr, req.n = unsafe.Pointer(target), seq
	return req
}

func putCancelReq(req *Op) {
	req.ptr, req.state, req.next = nil, opIdle, nil
	cancelReqs.Put(req)
}
