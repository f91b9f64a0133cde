package sched

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fdRef protects a file descriptor's lifetime the way internal/poll's
// fdMutex does: every operation holds a reference while it may use the fd
// number (in the kernel or in a syscall), Close marks the fd closing so
// that no new reference is granted, and the descriptor is closed only
// when the last reference is dropped. So an fd number is never closed, and
// then reused by another open, while an operation still names it.
type fdRef struct {
	fd int
	// state holds the reference count in the low bits and refClosing.
	state    atomic.Int64
	drained  chan struct{} // closed when the last reference of a closing fd is dropped
	closeErr error         // close(2)'s result, written before drained is closed
}

const refClosing = int64(1) << 62

func (r *fdRef) init(fd int) {
	r.fd, r.drained = fd, make(chan struct{})
}

// incref takes a reference; it fails once Close has begun.
func (r *fdRef) incref() bool {
	for {
		s := r.state.Load()
		if s&refClosing != 0 {
			return false
		}
		if r.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// decref drops a reference; the last one of a closing fd closes it.
func (r *fdRef) decref() {
	if r.state.Add(-1) == refClosing {
		r.destroy()
	}
}

// closing reports whether Close has begun.
func (r *fdRef) closing() bool { return r.state.Load()&refClosing != 0 }

// startClose marks the fd closing. It returns false if Close had already
// begun. The caller then cancels what is in flight and waits on drained.
func (r *fdRef) startClose() bool {
	for {
		s := r.state.Load()
		if s&refClosing != 0 {
			return false
		}
		if r.state.CompareAndSwap(s, s|refClosing) {
			if s == 0 {
				r.destroy()
			}
			return true
		}
	}
}

func (r *fdRef) destroy() {
	r.closeErr = unix.Close(r.fd)
	close(r.drained)
}
