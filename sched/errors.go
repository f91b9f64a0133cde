package sched

import "errors"

// Errors of the loop; they work with errors.Is.
var (
	// ErrClosed is returned for work given to a loop that is closing or
	// closed.
	ErrClosed = errors.New("sched: loop closed")
	// ErrOnLoop is returned by blocking calls (and Close) made from the
	// loop itself, which would wait for themselves forever: code on a loop
	// uses the callback API.
	ErrOnLoop = errors.New("sched: blocking call on the loop's own goroutine")
	// ErrNotOnLoop is returned by loop-only methods (Submit, After,
	// Timer.Stop) called from another goroutine, which would race with the
	// loop: other goroutines use Post.
	ErrNotOnLoop = errors.New("sched: loop-only method called off the loop")
	// ErrOpInUse is returned when an Op is submitted or posted while it is
	// still queued or in flight.
	ErrOpInUse = errors.New("sched: op is still queued or in flight")
	// ErrOverloaded is returned by Post and Submit when the loop already
	// holds Config.MaxOps operations.
	ErrOverloaded = errors.New("sched: loop overloaded")
)

// checkOnLoop returns ErrNotOnLoop unless the caller runs on the loop.
// Outside race-detector builds it checks only that the loop is running
// user code, which costs an atomic load and catches calls made while the
// loop sleeps or works; race builds (tests) also compare thread ids, which
// costs a syscall.
func (l *Loop) checkOnLoop() error {
	if !l.inUserCode.Load() {
		return ErrNotOnLoop
	}
	if raceEnabled && !l.OnLoop() {
		return ErrNotOnLoop
	}
	return nil
}
