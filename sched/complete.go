package sched

import (
	"runtime/debug"
	"time"

	"github.com/uringd/uringd/uring"
	"golang.org/x/sys/unix"
)

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
			// Not idle until its callback runs: a callback of the same
			// batch that cancels it must still be heard (a multishot is
			// then not re-armed).
			op.state = opReaped
		}
		l.done = append(l.done, cp)
	}
}

// runCallbacks runs the callbacks of reaped completions in order. A
// callback that submits work queues it; nothing here recurses. A panicking
// callback is logged and counted, and the rest of the batch still runs; so
// does it after a callback that called runtime.Goexit (see runGuarded),
// because doneNext always points past the callback being run.
func (l *Loop) runCallbacks() {
	if l.doneNext == len(l.done) {
		return
	}
	start := time.Now()
	l.batchStart = start
	for l.doneNext < len(l.done) {
		l.runFrom()
	}
	l.metrics.lag(time.Since(start))
	clear(l.done)
	l.done = l.done[:0]
	l.doneNext = 0
	if l.full.Load() && l.ops.Load() < int64(l.cfg.MaxOps) {
		l.wakeRoomWaiters()
	}
}

// runFrom runs callbacks from l.doneNext until the end of the batch or
// one that panics.
func (l *Loop) runFrom() {
	var c completion
	returned := false
	defer func() {
		if returned {
			return
		}
		// A panic, or runtime.Goexit (recover returns nil): either way
		// the callback's buffer goes back to the kernel.
		p := recover()
		if c.hasBuf {
			l.bufs.Recycle(c.bid)
		}
		if p != nil {
			l.metrics.panics.Add(1)
			l.cfg.Logger.Error("sched: callback panicked", "kind", c.op.kind, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	for l.doneNext < len(l.done) {
		c = l.done[l.doneNext]
		l.doneNext++
		l.dispatch(c)
		if c.hasBuf {
			l.bufs.Recycle(c.bid)
		}
		if l.cfg.SubmitBatch > 0 && int(l.ring.SQReady())+l.waitSQ.n >= l.cfg.SubmitBatch {
			l.submitEarly()
		}
	}
	returned = true
}

// submitEarly submits what callbacks have queued so far, in the middle of
// a batch (Config.SubmitBatch), ops that waited for SQ space included
// (they go first: later ops queue behind them), and moves what still
// waits into the room it made.
func (l *Loop) submitEarly() {
	for {
		l.fillSQ()
		if l.ring.SQReady() == 0 {
			return
		}
		n, err := l.ring.Submit()
		if err != nil {
			l.enterFailed(err)
			return
		}
		l.metrics.submitted.Add(uint64(n))
		l.metrics.earlySubmits.Add(1)
		if n == 0 || l.waitSQ.n == 0 {
			return
		}
	}
}

func (l *Loop) dispatch(c completion) {
	op := c.op
	switch op.kind {
	case kindWake:
		l.metrics.wakeReads.Add(1)
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
				l.rearm(op, c)
				return
			}
		}
	case KindAcceptMultishot:
		if c.final && c.res.Res >= 0 && !op.cancelled && l.state.Load() == loopRunning {
			// The kernel ended the multishot (e.g. on CQ overflow) with a
			// CQE that still carries a connection: deliver it and re-arm.
			l.rearm(op, c)
			return
		}
	}
	if c.final {
		if op.dlPos != 0 {
			l.deadlines.remove(op)
		}
		if op.cancelled && (c.res.Res == -int32(unix.EINTR) || c.res.Res == -errRestartSys) {
			// A cancelled op that was blocked in an io-wq worker (a
			// splice, say) is interrupted rather than cancelled: the
			// same thing to the caller.
			c.res.Res = -int32(unix.ECANCELED)
		}
		if op.timedOut && c.res.Res == -int32(unix.ECANCELED) {
			c.res.Res = -int32(unix.ETIME)
		}
		// Whether or not a cancel won the race, it is spent: a reused op
		// must not inherit it.
		op.cancelled, op.timedOut = false, false
		op.state = opIdle
		if op.parks {
			l.interacted = true
			l.readied = true
		}
		if !op.kind.exempt() {
			l.ops.Add(-1)
		}
		op.seq.Add(1)         // even: cancel requests for this submission are void
		op.inUse.Store(false) // the callback may submit it again
	}
	if op.cb != nil {
		op.cb(op, c.res)
	}
}

// rearm delivers the last CQE of a multishot the kernel ended as one more
// of the stream, then submits the op again. The op is opRearming while its
// callback runs, so a Cancel made there is not lost: the stream then ends
// with a final ECANCELED instead of going on.
func (l *Loop) rearm(op *Op, c completion) {
	c.res.Flags |= uring.CQEFMore
	op.state = opRearming
	op.cb(op, c.res)
	if op.state != opRearming {
		return
	}
	op.state = opIdle
	if !op.cancelled && l.state.Load() == loopRunning {
		l.submit(op)
		return
	}
	l.dispatch(completion{op: op, res: Result{Res: -int32(unix.ECANCELED)}, final: true})
}

// errRestartSys is the kernel's internal ERESTARTSYS (512), which an
// interrupted io-wq operation can complete with.
const errRestartSys = 512

// wakeRoomWaiters lets blocking callers that found the loop full try
// again.
func (l *Loop) wakeRoomWaiters() {
	l.full.Store(false)
	room := make(chan struct{})
	close(*l.room.Swap(&room))
}
