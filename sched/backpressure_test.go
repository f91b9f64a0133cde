package sched

// Regression tests for Config.MaxOps (issue "engine round 2", section 1,
// defect 12): a loop holds a bounded number of operations; beyond it
// Post and Submit fail with ErrOverloaded and blocking callers wait for
// room, bounded by their context.

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fillLoop posts receives on idle sockets until l holds max ops, and
// returns them with the peers whose writes complete them.
func fillLoop(t *testing.T, l *Loop, fds *fdCloser, ops []Op, res chan<- Result) []int {
	t.Helper()
	peers := make([]int, len(ops))
	for i := range ops {
		fd, peer := rawSocketPair(t, fds)
		peers[i] = peer
		ops[i].PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { res <- r })
		if err := l.Post(&ops[i]); err != nil {
			t.Fatalf("Post %d: %v", i, err)
		}
	}
	return peers
}

// waitFull waits until a blocking caller has found the loop full and
// asked for room (Loop.full; the loop clears it when it announces room).
func waitFull(t *testing.T, l *Loop) {
	t.Helper()
	for limit := time.Now().Add(testTimeout); !l.full.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(limit) {
			t.Fatalf("no caller waited for room within %v", testTimeout)
		}
	}
}

func TestBackpressureMaxOps(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	const max = 4
	l := newLoop(t, Config{MaxOps: max})
	fds := newFdCloser(t)
	res := make(chan Result, 2*max)

	// Three receives in flight; on the loop (where the onLoop NOP has
	// already left the count) a fourth fits and a fifth is refused.
	ops := make([]Op, max)
	peers := fillLoop(t, l, fds, ops[:max-1], res)
	var fifth Op
	var fourthErr, fifthErr error
	onLoop(t, l, func() {
		fd, peer := rawSocketPair(t, fds)
		peers = append(peers, peer)
		ops[max-1].PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { res <- r })
		fourthErr = l.Submit(&ops[max-1])
		fifth.PrepNop(func(*Op, Result) { t.Error("the refused op ran") })
		fifthErr = l.Submit(&fifth)
	})
	if fourthErr != nil {
		t.Fatalf("Submit of op %d of %d: %v", max, max, fourthErr)
	}
	if !errors.Is(fifthErr, ErrOverloaded) {
		t.Fatalf("Submit beyond MaxOps: %v, want ErrOverloaded", fifthErr)
	}
	// Off the loop, Post is refused too, and the refused op is free for
	// another try.
	if err := l.Post(&fifth); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Post beyond MaxOps: %v, want ErrOverloaded", err)
	}
	if fifth.inUse.Load() {
		t.Error("a refused op stays marked in use")
	}
	if n := l.Metrics().Overloaded; n != 2 {
		t.Errorf("Metrics.Overloaded = %d, want 2", n)
	}

	// A blocking call whose context ends while it waits for room returns
	// the context's error, and its op never reaches the loop.
	ctx, cancel := context.WithCancel(timeoutCtx(t))
	gave := make(chan error, 1)
	go func() { gave <- l.Nop(ctx) }()
	waitFull(t, l)
	cancel()
	if err := waitChan(t, gave, "the Nop whose context was cancelled"); !errors.Is(err, context.Canceled) {
		t.Errorf("Nop waiting for room, context cancelled: %v, want context.Canceled", err)
	}

	// Blocking callers (the loop API and a Conn) wait while the loop is
	// full: each finds it full and asks for room (full is reset before
	// each, so waitFull sees that caller's request) ...
	c, cpeer := unixConnPair(t, l)
	l.full.Store(false)
	nop := make(chan error, 1)
	go func() { nop <- l.Nop(timeoutCtx(t)) }()
	waitFull(t, l)
	l.full.Store(false)
	rbuf := make([]byte, 8)
	rch := readAsync(c, rbuf)
	waitFull(t, l)
	// Nothing can complete: every op in the loop waits for data that
	// nobody sends, and Post refuses the waiters' ops.
	select {
	case err := <-nop:
		t.Fatalf("Nop returned %v while the loop was full", err)
	case r := <-rch:
		t.Fatalf("Read returned (%d, %v) while the loop was full", r.n, r.err)
	default:
	}
	if got := l.ops.Load(); got != max {
		t.Fatalf("the loop holds %d ops, want %d", got, max)
	}
	// ... and proceed once one op completes. The Read's data is there
	// first, so whichever of the two gets the free place first gives it
	// back at once.
	writeFd(t, cpeer, []byte("conn"))
	writeFd(t, peers[0], []byte("a"))
	if r := waitChan(t, res, "the first receive"); r.Res != 1 {
		t.Fatalf("receive: %+v", r)
	}
	if err := waitChan(t, nop, "the Nop once there was room"); err != nil {
		t.Errorf("Nop: %v", err)
	}
	if r := waitChan(t, rch, "the Read once there was room"); r.err != nil || string(rbuf[:r.n]) != "conn" {
		t.Errorf("Read = (%q, %v), want its data", rbuf[:r.n], r.err)
	}

	// Close cancels the rest; the count returns to zero.
	closeLoop(t, l)
	for range max - 1 {
		if r := waitChan(t, res, "the cancelled receives"); r.Res != -int32(unix.ECANCELED) {
			t.Errorf("receive at Close: %+v, want ECANCELED", r)
		}
	}
	if n := l.ops.Load(); n != 0 {
		t.Errorf("%d ops counted after Close", n)
	}
	if err := l.Post(&fifth); !errors.Is(err, ErrClosed) {
		t.Errorf("Post after Close: %v, want ErrClosed", err)
	}
}

// A Conn call that waits for room in a full loop is still a blocked
// net.Conn call: a deadline or Close must end it.
func TestBackpressureConnWaitHonoursDeadlineAndClose(t *testing.T) {
	// fullLoop returns a loop holding MaxOps receives, a Conn on it whose
	// Read waits for room, and a rescue that makes room.
	fullLoop := func(t *testing.T) (*Conn, <-chan ioResult, func()) {
		const max = 2
		l := newLoop(t, Config{MaxOps: max})
		fds := newFdCloser(t)
		res := make(chan Result, max)
		peers := fillLoop(t, l, fds, make([]Op, max), res)
		c, _ := unixConnPair(t, l)
		rch := readAsync(c, make([]byte, 8))
		waitFull(t, l)
		rescued := false
		rescue := func() {
			if !rescued {
				rescued = true
				writeFd(t, peers[0], []byte("x"))
			}
		}
		t.Cleanup(rescue)
		return c, rch, rescue
	}

	t.Run("deadline", func(t *testing.T) {
		checkFds(t)
		checkGoroutines(t)
		c, rch, rescue := fullLoop(t)
		if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-rch:
			if !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
			}
		case <-time.After(testTimeout):
			t.Errorf("a Read waiting for room in a full loop ignored SetReadDeadline(past) for %v", testTimeout)
			rescue()
			waitChan(t, rch, "the Read after room")
		}
	})

	t.Run("close", func(t *testing.T) {
		checkFds(t)
		checkGoroutines(t)
		c, rch, rescue := fullLoop(t)
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Close of a Conn whose Read waits for room blocked for %v", testTimeout)
			rescue()
			waitChan(t, closed, "Close after room")
		}
		if r := waitChan(t, rch, "the Read after Close"); !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("Read after Close = (%d, %v), want net.ErrClosed", r.n, r.err)
		}
	})
}
