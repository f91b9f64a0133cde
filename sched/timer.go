package sched

import (
	"container/heap"
	"runtime/debug"
	"time"
)

// Timer is a callback scheduled on a loop with After, or made with
// NewTimer and scheduled (again and again, without allocating) with Reset.
type Timer struct {
	when  time.Time
	fn    func()
	index int // position in the heap, -1 when not scheduled
	loop  *Loop
}

// After runs fn on the loop once d has passed. It must be called on the
// loop (from a callback or timer) and panics with ErrNotOnLoop otherwise:
// the timer heap belongs to the loop. The loop's sleep is bounded by the
// earliest timer, so timers cost no SQE.
func (l *Loop) After(d time.Duration, fn func()) *Timer {
	if err := l.checkOnLoop(); err != nil {
		panic(err)
	}
	t := &Timer{when: time.Now().Add(d), fn: fn, loop: l}
	heap.Push(&l.timers, t)
	return t
}

// NewTimer returns a timer that runs fn on the loop each time it fires;
// it is not scheduled until Reset. It may be called from any goroutine.
func (l *Loop) NewTimer(fn func()) *Timer {
	return &Timer{fn: fn, loop: l, index: -1}
}

// Reset schedules the timer to fire once d from now, replacing any
// pending schedule. It must be called on the timer's loop and panics with
// ErrNotOnLoop otherwise.
func (t *Timer) Reset(d time.Duration) {
	if err := t.loop.checkOnLoop(); err != nil {
		panic(err)
	}
	t.when = time.Now().Add(d)
	if t.index >= 0 {
		heap.Fix(&t.loop.timers, t.index)
		return
	}
	heap.Push(&t.loop.timers, t)
}

// Stop unschedules the timer; it reports whether the timer was pending.
// It must be called on the timer's loop and panics with ErrNotOnLoop
// otherwise.
func (t *Timer) Stop() bool {
	if err := t.loop.checkOnLoop(); err != nil {
		panic(err)
	}
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.loop.timers, t.index)
	return true
}

// runTimers fires every due timer and records how late each fired.
// It runs inside runUserCode.
func (l *Loop) runTimers() {
	if len(l.timers) == 0 {
		return
	}
	now := time.Now()
	l.batchStart = now
	for len(l.timers) > 0 && !l.timers[0].when.After(now) {
		t := heap.Pop(&l.timers).(*Timer)
		l.metrics.timerLag(now.Sub(t.when))
		l.fire(t)
	}
}

// fire runs one timer; a panic is logged and counted like a callback's.
func (l *Loop) fire(t *Timer) {
	defer func() {
		if p := recover(); p != nil {
			l.metrics.panics.Add(1)
			l.cfg.Logger.Error("sched: timer panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	t.fn()
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// due reports whether the earliest timer is due.
func (h timerHeap) due() bool {
	return len(h) > 0 && !h[0].when.After(time.Now())
}

// untilNext returns the time until the earliest timer, if any.
func (h timerHeap) untilNext() (time.Duration, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return max(time.Until(h[0].when), 0), true
}
