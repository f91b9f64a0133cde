package sched

// Regression tests for the defects of the issue "engine round 2",
// section 1 (reproduced by the review in
// shared/review/engine-2026-12 against commit 8918930). Each test makes
// the bad interleaving happen on purpose: a test hook, a callback that
// holds the loop, a two-entry ring, or a pre-set state. None asserts how
// long anything took; every wait is bounded by testTimeout.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// discardLogger keeps expected warnings (Goexit, panics) out of the test
// output.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// unixConnPair returns a Conn on one end of a Unix stream socket pair and
// the other end as a raw blocking fd. Unlike TCP, a Unix stream socket
// frees send-buffer space only when the peer reads, so a Write that
// filled it stays blocked, deterministically, until the peer drains it.
func unixConnPair(t *testing.T, l *Loop) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	c := newConn(l, fds[0], "unix", nil)
	t.Cleanup(func() { c.Close() })
	peer := fds[1]
	t.Cleanup(func() { unix.Close(peer) })
	return c, peer
}

// rawSocketPair returns both ends of a Unix stream socket pair, closed
// at the end of the test (unless closed earlier through fds).
func rawSocketPair(t *testing.T, fds *fdCloser) (int, int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return fds.add(p[0]), fds.add(p[1])
}

// writeFd writes all of b to a raw blocking fd.
func writeFd(t *testing.T, fd int, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			t.Fatalf("write fd %d: %v", fd, err)
		}
		b = b[n:]
	}
}

// waitActive waits until the direction's op is posted and its call waits
// for it (d.active, set under d.dmu right after the Post).
func waitActive(t *testing.T, d *direction) {
	t.Helper()
	limit := time.Now().Add(testTimeout)
	for {
		d.dmu.Lock()
		active := d.active
		d.dmu.Unlock()
		if active {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("the call did not post its op within %v", testTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// opSnap is an Op's loop-owned state, read on the loop.
type opSnap struct {
	state     opState
	seq       uint32
	cancelled bool
	timedOut  bool
	userData  uint64
	timeout   time.Duration
	dlPos     int32
	untilDue  time.Duration // deadline - now, when dlPos != 0
}

func snapOp(t *testing.T, l *Loop, op *Op) opSnap {
	t.Helper()
	var s opSnap
	onLoop(t, l, func() {
		s = opSnap{op.state, op.seq.Load(), op.cancelled, op.timedOut, op.userData, op.Timeout, op.dlPos, 0}
		if op.dlPos != 0 {
			s.untilDue = time.Duration(op.deadline - l.now())
		}
	})
	return s
}

// waitOpInFlight waits until op is in the kernel (checked on the loop,
// after the iteration that submitted it reaped its inline completions)
// and returns its state there.
func waitOpInFlight(t *testing.T, l *Loop, op *Op) opSnap {
	t.Helper()
	limit := time.Now().Add(testTimeout)
	for {
		s := snapOp(t, l, op)
		if s.state == opInFlight {
			return s
		}
		if time.Now().After(limit) {
			t.Fatalf("op of kind %d not in flight within %v (state %d)", op.kind, testTimeout, s.state)
		}
		time.Sleep(time.Millisecond)
	}
}

// mutexWaiters returns how many goroutines are blocked in mu.Lock. It
// reads the mutex's state word: sync.Mutex is internal/sync.Mutex, whose
// first field is state int32 (bit 0 locked, bits 1-2 woken/starving, the
// waiter count from bit 3). mutexLayoutKnown checks that assumption.
func mutexWaiters(mu *sync.Mutex) int32 {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(mu))) >> 3
}

// mutexLayoutKnown checks that mutexWaiters sees a goroutine blocked in
// Lock, and nothing otherwise.
func mutexLayoutKnown() bool {
	var mu sync.Mutex
	state := func() int32 { return atomic.LoadInt32((*int32)(unsafe.Pointer(&mu))) }
	if state() != 0 {
		return false
	}
	mu.Lock()
	if state() != 1 {
		mu.Unlock()
		return false
	}
	done := make(chan struct{})
	var acquired atomic.Bool
	go func() {
		mu.Lock()
		acquired.Store(true)
		mu.Unlock()
		close(done)
	}()
	ok := false
	for limit := time.Now().Add(testTimeout); time.Now().Before(limit); runtime.Gosched() {
		if mutexWaiters(&mu) == 1 {
			ok = true
			break
		}
	}
	mu.Unlock()
	<-done
	return ok && acquired.Load() && state() == 0
}

// Defect 2. SetReadDeadline(past) landing between roundTrip reading the
// deadline and posting the op must not be lost.
//
// The interleaving is forced with testHookBeforePost, which runs inside
// that window with d.dmu held: it starts a goroutine that calls
// SetReadDeadline and does not return until that goroutine is blocked in
// d.dmu.Lock (its waiter is counted in the mutex's state word), so the
// setter demonstrably tried to change the deadline while the Read sat
// between reading it and posting. Should a regression let the setter
// complete without blocking (no lock, or the lock released too early),
// the hook sees it finish and returns; the setter has then run entirely
// inside the window, which is exactly the lost-deadline case the test
// must catch. Either way the Read must end with os.ErrDeadlineExceeded.
func TestRegressDeadlineSetInPostWindow(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	layoutKnown := mutexLayoutKnown()
	if !layoutKnown {
		t.Log("sync.Mutex layout unknown: the hook yields instead of seeing the setter blocked")
	}
	l := newLoop(t, Config{})
	c, peer := connPair(t, l)

	var (
		hooked, blocked, finishedEarly bool
		hookErr                        error
		setErr                         = make(chan error, 1)
	)
	// Set before the Read goroutine starts and reset after it has
	// returned: no data race on the hook variable.
	testHookBeforePost = func(hc *Conn, d *direction) {
		if hc != c || d != &c.rd || hooked {
			return
		}
		hooked = true // only the Read goroutine writes these, under rd.mu
		calling := make(chan struct{})
		go func() {
			close(calling)
			setErr <- c.SetReadDeadline(time.Unix(1, 0))
		}()
		<-calling
		limit := time.Now().Add(testTimeout)
		for i := 0; ; i++ {
			if layoutKnown && mutexWaiters(&d.dmu) > 0 {
				blocked = true
				return
			}
			if !layoutKnown && i >= 1000 {
				return
			}
			select {
			case err := <-setErr:
				setErr <- err
				finishedEarly = true
				return
			default:
			}
			if time.Now().After(limit) {
				hookErr = errors.New("the deadline setter neither blocked nor returned")
				return
			}
			runtime.Gosched()
		}
	}
	t.Cleanup(func() { testHookBeforePost = nil })

	ch := readAsync(c, make([]byte, 8))
	var r ioResult
	select {
	case r = <-ch:
	case <-time.After(testTimeout):
		t.Errorf("Read still blocked %v after SetReadDeadline(past) in its post window: the deadline was lost", testTimeout)
		peer.Write([]byte("x")) // let it return
		r = waitChan(t, ch, "the Read after data")
	}
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
	}
	if err := waitChan(t, setErr, "SetReadDeadline"); err != nil {
		t.Errorf("SetReadDeadline: %v", err)
	}
	switch {
	case hookErr != nil:
		t.Error(hookErr)
	case !hooked:
		t.Error("the Read never reached testHookBeforePost")
	case finishedEarly:
		t.Error("SetReadDeadline completed inside the Read's post window instead of waiting for the post")
	case layoutKnown && !blocked:
		t.Error("the setter was never seen blocked on the direction's dmu")
	}
}

// Defect 3. A deadline change that reaches the loop while the Read's op
// still waits in the SQ-wait FIFO must stop that op (the old cancel by
// fd went to the kernel before the op, missed it, and the Read blocked
// with its old, absent, deadline).
//
// The loop (2 SQ entries) is held in a KindCall callback while the Read
// posts its op and SetReadDeadline(past) posts its cancel behind it;
// released, the callback first submits NOPs until one of them has to
// wait in the FIFO: the SQ is full, so the Read's op, taken next from
// the inbox, joins the FIFO, and the cancel right after it finds it
// there.
func TestRegressDeadlineCancelReachesSQWaitFIFO(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{Entries: 2})
	c, peer := unixConnPair(t, l)

	hold, release := make(chan struct{}), make(chan struct{})
	var filled atomic.Bool
	var holdOp Op
	holdOp.PrepCall(func(*Op, Result) {
		close(hold)
		<-release
		for l.waitSQ.n == 0 {
			nop := new(Op)
			nop.PrepNop(nil)
			if err := l.Submit(nop); err != nil {
				t.Errorf("Submit: %v", err)
				return
			}
		}
		filled.Store(true)
	})
	if err := l.Post(&holdOp); err != nil {
		t.Fatal(err)
	}
	waitChan(t, hold, "the loop to run the holding callback")
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	m0 := l.Metrics()

	ch := readAsync(c, make([]byte, 8))
	waitInbox(t, l, 1) // the Read's op
	// The Read posted under rd.dmu and marks itself active before
	// releasing it, so this sees the call active and posts a cancel for
	// its submission, behind the op.
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	waitInbox(t, l, 2)
	close(release)
	released = true

	var r ioResult
	select {
	case r = <-ch:
	case <-time.After(testTimeout):
		t.Errorf("Read still blocked %v after SetReadDeadline(past): the cancel missed the op waiting for SQ space", testTimeout)
		writeFd(t, peer, []byte("x"))
		r = waitChan(t, ch, "the Read after data")
	}
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
	}
	if !filled.Load() {
		t.Fatal("the holding callback did not fill the SQ")
	}
	if m := l.Metrics(); m.SQFullWaits-m0.SQFullWaits < 2 {
		t.Errorf("SQFullWaits grew by %d: the Read's op did not wait for SQ space", m.SQFullWaits-m0.SQFullWaits)
	}
	// The conn is usable afterwards.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	writeFd(t, peer, []byte("ok"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ok" {
		t.Errorf("Read after clearing the deadline = (%q, %v)", buf[:n], err)
	}
}

// Defect 4. runtime.Goexit in a callback or a timer (t.FailNow in test
// code, for one) must not kill the loop: the rest of the batch runs,
// later work runs, Goexits counts both, and Close still tears the loop
// down and releases the ring and its fds.
func TestRegressGoexitInCallbackAndTimer(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{Logger: discardLogger()})

	// Two KindCall ops queued by one callback are one batch of l.done;
	// the first one calls Goexit.
	after := make(chan bool, 1)
	var first, second Op
	first.PrepCall(func(*Op, Result) { runtime.Goexit() })
	second.PrepCall(func(*Op, Result) { after <- l.OnLoop() })
	onLoop(t, l, func() {
		if err := l.Submit(&first); err != nil {
			t.Errorf("Submit: %v", err)
		}
		if err := l.Submit(&second); err != nil {
			t.Errorf("Submit: %v", err)
		}
	})
	if !waitChan(t, after, "the callback after the one that called Goexit") {
		t.Error("the callback after Goexit did not run on the loop")
	}

	// A timer that calls Goexit; the one due after it still fires.
	fired := make(chan struct{})
	onLoop(t, l, func() {
		l.After(0, func() { runtime.Goexit() })
		l.After(time.Microsecond, func() { close(fired) })
	})
	waitChan(t, fired, "the timer after the one that called Goexit")

	// Work posted afterwards still runs: a blocking call and a callback.
	nop := make(chan error, 1)
	go func() { nop <- l.Nop(timeoutCtx(t)) }()
	if err := waitChan(t, nop, "a Nop after the Goexits"); err != nil {
		t.Errorf("Nop after the Goexits: %v", err)
	}
	var ran bool
	onLoop(t, l, func() { ran = l.OnLoop() })
	if !ran {
		t.Error("OnLoop false in a callback after the Goexits")
	}
	if n := l.Metrics().Goexits; n != 2 {
		t.Errorf("Goexits = %d, want 2", n)
	}
	select {
	case <-l.Done():
		t.Fatal("the loop goroutine exited")
	default:
	}
	ctx := timeoutCtx(t)
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitChan(t, l.Done(), "the loop to exit")
	// checkFds and checkGoroutines verify that the ring, its eventfds and
	// the loop goroutine are gone.
}

// Defect 5. Deadlines at the edges: time.Unix(0, 0) is in the past (it
// was read as "no deadline"); deadlines too far away for an int64 of
// nanoseconds neither expire at once nor break the Read; a deadline
// extended or cleared while a Read is blocked is re-evaluated.
func TestRegressDeadlineEdges(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	c, peer := unixConnPair(t, l)
	buf := make([]byte, 16)

	// Every post of a Read records the Timeout its op carries.
	posts := make(chan time.Duration, 16)
	testHookBeforePost = func(hc *Conn, d *direction) {
		if hc == c && d == &c.rd {
			select {
			case posts <- d.w.op.Timeout:
			default: // never block a Read that holds d.dmu
			}
		}
	}
	t.Cleanup(func() { testHookBeforePost = nil })
	drainPosts := func() {
		for {
			select {
			case <-posts:
			default:
				return
			}
		}
	}
	// readData starts a Read, waits until its op is in the kernel and
	// checks there that its deadline has not expired, then sends data and
	// expects the Read to return it.
	readData := func(t *testing.T, what string) {
		t.Helper()
		ch := readAsync(c, buf)
		for limit := time.Now().Add(testTimeout); ; time.Sleep(time.Millisecond) {
			select {
			case r := <-ch:
				t.Fatalf("%s: Read returned (%d, %v) before any data was sent", what, r.n, r.err)
			default:
			}
			c.rd.dmu.Lock()
			active := c.rd.active
			c.rd.dmu.Unlock()
			if active {
				if s := snapOp(t, l, &c.rd.w.op); s.state == opInFlight {
					if s.timedOut || s.cancelled || (s.dlPos != 0 && s.untilDue <= 0) {
						r := waitChan(t, ch, "the expired Read")
						t.Fatalf("%s: the blocked Read's op expired at once: %+v; Read = (%d, %v)", what, s, r.n, r.err)
					}
					break
				}
			}
			if time.Now().After(limit) {
				t.Fatalf("%s: the Read's op not in flight within %v", what, testTimeout)
			}
		}
		writeFd(t, peer, []byte(what))
		r := waitChan(t, ch, "the Read after data")
		if r.err != nil || string(buf[:r.n]) != what {
			t.Errorf("%s: Read = (%q, %v), want the data", what, buf[:r.n], r.err)
		}
	}

	t.Run("unix0-new-read", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		drainPosts()
		r := waitChan(t, readAsync(c, buf), "a Read with deadline time.Unix(0, 0)")
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
		}
		if len(posts) != 0 {
			t.Errorf("the Read posted an op despite a past deadline")
		}
	})

	t.Run("unix0-blocked-read", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		ch := readAsync(c, buf)
		waitActive(t, &c.rd)
		if err := c.SetReadDeadline(time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		var r ioResult
		select {
		case r = <-ch:
		case <-time.After(testTimeout):
			t.Errorf("a blocked Read ignored SetReadDeadline(time.Unix(0, 0)) for %v", testTimeout)
			writeFd(t, peer, []byte("x"))
			r = <-ch
		}
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
		}
	})

	for _, far := range []struct {
		name string
		t    time.Time
	}{
		{"year-3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"unix-2^62s", time.Unix(1<<62, 0)},
		{"now+max-duration", time.Now().Add(1<<63 - 1)},
	} {
		t.Run(far.name, func(t *testing.T) {
			if err := c.SetReadDeadline(far.t); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(far.t); err != nil {
				t.Fatal(err)
			}
			timeouts := l.Metrics().Timeouts
			readData(t, "far")
			if n := l.Metrics().Timeouts - timeouts; n != 0 {
				t.Errorf("%d op deadlines passed for a deadline in year %d", n, far.t.Year())
			}
		})
	}

	t.Run("far-but-representable", func(t *testing.T) {
		// 200 years: time.Until does not saturate and l.now()+Timeout
		// fits in an int64.
		if err := c.SetReadDeadline(time.Now().Add(200 * 365 * 24 * time.Hour)); err != nil {
			t.Fatal(err)
		}
		drainPosts()
		readData(t, "200y")
		if d := <-posts; d <= 0 {
			t.Errorf("the Read posted with Timeout %v, want its deadline", d)
		}
	})

	t.Run("extend-while-blocked", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		drainPosts()
		ch := readAsync(c, buf)
		if d := waitChan(t, posts, "the Read's post"); d <= 0 || d > time.Hour {
			t.Fatalf("first post with Timeout %v, want at most an hour", d)
		}
		waitActive(t, &c.rd)
		if err := c.SetReadDeadline(time.Now().Add(3 * time.Hour)); err != nil {
			t.Fatal(err)
		}
		// The blocked Read's op is cancelled and posted again with the
		// new deadline.
		if d := waitChan(t, posts, "the Read's second post"); d <= 2*time.Hour {
			t.Fatalf("after extending the deadline the Read posted with Timeout %v, want more than 2h", d)
		}
		waitActive(t, &c.rd)
		s := waitOpInFlight(t, l, &c.rd.w.op)
		if s.timedOut || s.untilDue <= 2*time.Hour {
			t.Errorf("op after the extension: %+v", s)
		}
		writeFd(t, peer, []byte("extended"))
		r := waitChan(t, ch, "the Read after data")
		if r.err != nil || string(buf[:r.n]) != "extended" {
			t.Errorf("Read = (%q, %v), want the data", buf[:r.n], r.err)
		}
	})

	t.Run("zero-clears", func(t *testing.T) {
		// Cleared after a past deadline: a new Read blocks for data.
		if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read with a past deadline: %v", err)
		}
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		drainPosts()
		readData(t, "cleared")
		if d := <-posts; d != 0 {
			t.Errorf("Read posted with Timeout %v after the deadline was cleared", d)
		}
		// Cleared while a Read is blocked under a deadline: it is posted
		// again without one.
		if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		drainPosts()
		ch := readAsync(c, buf)
		waitChan(t, posts, "the Read's post")
		waitActive(t, &c.rd)
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		if d := waitChan(t, posts, "the Read's post after clearing"); d != 0 {
			t.Errorf("after clearing the deadline the Read posted with Timeout %v", d)
		}
		waitActive(t, &c.rd)
		if s := waitOpInFlight(t, l, &c.rd.w.op); s.dlPos != 0 || s.timedOut {
			t.Errorf("op after clearing the deadline: %+v", s)
		}
		writeFd(t, peer, []byte("none"))
		r := waitChan(t, ch, "the Read after data")
		if r.err != nil || string(buf[:r.n]) != "none" {
			t.Errorf("Read = (%q, %v), want the data", buf[:r.n], r.err)
		}
	})
}

// Defect 7. A connection reset by its peer while it waited in the accept
// queue is still accepted with its address: Listener.Accept takes the
// address from the accept itself, not from getpeername (which fails
// with ENOTCONN by then).
//
// The reset is in place before Accept: close(2) on a socket with
// SO_LINGER 0 sends the RST from inside the system call, and on the
// loopback device the transmit path hands the packet to the receive
// softirq, which runs when the sender re-enables bottom halves, still
// inside close(2). So when Close returns, the accepted-but-not-yet-
// accept(2)ed child socket has already been reset. The test checks
// that (getpeername fails) rather than trusting it.
func TestRegressAcceptAfterPeerReset(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	ln, err := l.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	clientAddr := client.LocalAddr().String()
	if err := client.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer conn.Close()
	if _, err := unix.Getpeername(conn.(*Conn).Fd()); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("precondition: getpeername on the accepted socket = %v, want ENOTCONN (the RST had not arrived)", err)
	}
	ra := conn.RemoteAddr()
	if ra == nil {
		t.Fatal("RemoteAddr() is nil for a connection reset before Accept")
	}
	if s := ra.String(); s != clientAddr {
		t.Errorf("RemoteAddr() = %q, want the dialer's %q", s, clientAddr)
	}
	if _, err := conn.Read(make([]byte, 8)); err == nil {
		t.Error("Read on a reset connection succeeded")
	}
}

// Defect 8a. A read deadline cancels the Read's op only: a Write blocked
// on the same socket keeps its submission (the old cancel by fd hit it
// too) and completes with every byte once the peer drains.
func TestRegressReadDeadlineSparesBlockedWrite(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	c, peer := unixConnPair(t, l)

	msg := make([]byte, 4<<20) // far more than a Unix socket buffers
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	wch := make(chan ioResult, 1)
	go func() {
		n, err := c.Write(msg)
		wch <- ioResult{n: n, err: err}
	}()
	waitActive(t, &c.wr)
	// With no reader nothing frees buffer space: once in the kernel the
	// send stays there.
	w0 := waitOpInFlight(t, l, &c.wr.w.op)

	rch := readAsync(c, make([]byte, 8))
	waitActive(t, &c.rd)
	waitOpInFlight(t, l, &c.rd.w.op)
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, rch, "the Read after SetReadDeadline(past)"); !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Errorf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
	}
	// The Read's cancel was submitted and completed before the Read
	// returned; a cancel that also hit the send would have completed it
	// (ECANCELED) by then, and the Write would have posted it again.
	if w1 := snapOp(t, l, &c.wr.w.op); w1.state != opInFlight || w1.seq != w0.seq || w1.userData != w0.userData || w1.cancelled {
		t.Errorf("the blocked Write's op was disturbed by the read deadline: before %+v, after %+v", w0, w1)
	}
	select {
	case r := <-wch:
		t.Fatalf("Write returned (%d, %v) before the peer read anything", r.n, r.err)
	default:
	}

	got := make([]byte, 0, len(msg))
	rb := make([]byte, 64<<10)
	for len(got) < len(msg) {
		n, err := unix.Read(peer, rb)
		if err != nil || n == 0 {
			t.Fatalf("peer read: (%d, %v)", n, err)
		}
		got = append(got, rb[:n]...)
	}
	r := waitChan(t, wch, "the Write after the peer drained")
	if r.err != nil || r.n != len(msg) {
		t.Errorf("Write = (%d, %v), want (%d, nil)", r.n, r.err, len(msg))
	}
	if !bytes.Equal(got, msg) {
		t.Error("the peer received different bytes")
	}
}

// Defect 8b. A cancel request names one submission of an op: one that
// arrives after that submission completed and the op was submitted
// again does nothing, while a cancel naming the current submission
// (Loop.Cancel) does cancel it.
func TestRegressStaleCancelRequestIsVoid(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	fds := newFdCloser(t)
	fd, peer := rawSocketPair(t, fds)

	res := make(chan Result, 4)
	buf := make([]byte, 8)
	var op Op
	cb := func(_ *Op, r Result) { res <- r }
	op.PrepRecv(fd, buf, 0, cb)
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	first := op.seq.Load()
	if first&1 != 1 {
		t.Fatalf("seq %d after Post, want odd", first)
	}
	writeFd(t, peer, []byte("a"))
	if r := waitChan(t, res, "the first recv"); r.Res != 1 {
		t.Fatalf("first recv: %+v", r)
	}

	op.PrepRecv(fd, buf, 0, cb)
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	second := op.seq.Load()
	s0 := waitOpInFlight(t, l, &op)
	if second == first || s0.seq != second {
		t.Fatalf("seq %d then %d (loop sees %d)", first, second, s0.seq)
	}
	// The first submission's cancel arrives late.
	if !l.push(getCancelReq(&op, first)) {
		t.Fatal("push refused")
	}
	// Two full iterations: the request is taken, and any ASYNC_CANCEL it
	// caused submitted and reaped.
	snapOp(t, l, &op)
	if s := snapOp(t, l, &op); s.state != opInFlight || s.cancelled || s.seq != second || s.userData != s0.userData {
		t.Fatalf("a stale cancel request touched the op's new submission: %+v (was %+v)", s, s0)
	}
	select {
	case r := <-res:
		t.Fatalf("the op completed after a stale cancel: %+v", r)
	default:
	}
	writeFd(t, peer, []byte("bc"))
	if r := waitChan(t, res, "the second recv"); r.Res != 2 {
		t.Fatalf("second recv: %+v, want its data", r)
	}

	// A cancel for the current submission cancels it.
	op.PrepRecv(fd, buf, 0, cb)
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	waitOpInFlight(t, l, &op)
	if err := l.Cancel(&op); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, res, "the cancelled recv"); r.Res != -int32(unix.ECANCELED) {
		t.Fatalf("cancelled recv: %+v, want ECANCELED", r)
	}
}

// Defect 8c. After a Conn is closed and its fd number reused by another
// socket, a late cancel from the closed Conn (a SetDeadline that had
// already decided to cancel, say) cannot hit the new socket's
// operation: cancels name the Op and its submission, never the fd.
func TestRegressLateCancelAfterFdReuse(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	a, _ := unixConnPair(t, l)

	ach := readAsync(a, make([]byte, 8))
	waitActive(t, &a.rd)
	sa := waitOpInFlight(t, l, &a.rd.w.op)
	oldFd := a.Fd()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, ach, "A's Read after Close"); !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("A's Read = (%d, %v), want net.ErrClosed", r.n, r.err)
	}
	if err := a.SetReadDeadline(time.Unix(1, 0)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline on a closed Conn: %v", err)
	}

	// Socket B gets A's number: the kernel hands out the lowest free
	// fd, and should a lower one be free, dup3 puts B there anyway.
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	bfd, bpeer := p[0], p[1]
	if bpeer == oldFd {
		bfd, bpeer = bpeer, bfd
	}
	if bfd != oldFd {
		if err := unix.Dup3(bfd, oldFd, unix.O_CLOEXEC); err != nil {
			t.Fatalf("dup3: %v", err)
		}
		unix.Close(bfd)
		bfd = oldFd
	}
	t.Cleanup(func() { unix.Close(bpeer) })
	b := newConn(l, bfd, "unix", nil)
	t.Cleanup(func() { b.Close() })
	if b.Fd() != oldFd {
		t.Fatalf("B has fd %d, want A's %d", b.Fd(), oldFd)
	}

	bbuf := make([]byte, 8)
	bch := readAsync(b, bbuf)
	waitActive(t, &b.rd)
	sb := waitOpInFlight(t, l, &b.rd.w.op)
	// A's late cancel, for the submission A's Read had in flight.
	if !l.push(getCancelReq(&a.rd.w.op, sa.seq)) {
		t.Fatal("push refused")
	}
	snapOp(t, l, &b.rd.w.op)
	if s := snapOp(t, l, &b.rd.w.op); s.state != opInFlight || s.cancelled || s.seq != sb.seq || s.userData != sb.userData {
		t.Fatalf("A's late cancel disturbed B's Read on the same fd number: %+v (was %+v)", s, sb)
	}
	writeFd(t, bpeer, []byte("b"))
	if r := waitChan(t, bch, "B's Read"); r.err != nil || string(bbuf[:r.n]) != "b" {
		t.Errorf("B's Read = (%q, %v), want its data", bbuf[:r.n], r.err)
	}
}

// Defect 9. Op.Timeout on a KindTimeout op is a separate limit: it does
// not overwrite the op's own duration (both used to share one timespec).
// Whichever is shorter ends the op with ETIME, and Metrics.Timeouts
// counts only the loop's deadline.
func TestRegressTimeoutOpKeepsItsDuration(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	run := func(t *testing.T, own, limit time.Duration) (Result, uint64) {
		t.Helper()
		before := l.Metrics().Timeouts
		ch := make(chan Result, 2)
		op := new(Op)
		op.PrepTimeout(own, func(_ *Op, r Result) { ch <- r })
		op.Timeout = limit
		if err := l.Post(op); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, ch, "the timeout op")
		var heap int
		onLoop(t, l, func() { heap = l.deadlines.Len() })
		if heap != 0 {
			t.Errorf("%d op deadlines left after the op completed", heap)
		}
		return r, l.Metrics().Timeouts - before
	}
	t.Run("own-duration-first", func(t *testing.T) {
		// With the duration overwritten by Op.Timeout the op would
		// complete after an hour: waitChan fails after testTimeout.
		r, timeouts := run(t, 50*time.Millisecond, time.Hour)
		if !r.TimedOut() || r.More() {
			t.Errorf("result %+v, want ETIME", r)
		}
		if timeouts != 0 {
			t.Errorf("Metrics.Timeouts grew by %d: the loop's deadline ended the op, not its own timer", timeouts)
		}
	})
	t.Run("op-timeout-first", func(t *testing.T) {
		r, timeouts := run(t, time.Hour, 50*time.Millisecond)
		if !r.TimedOut() {
			t.Errorf("result %+v, want ETIME", r)
		}
		if timeouts != 1 {
			t.Errorf("Metrics.Timeouts grew by %d, want 1", timeouts)
		}
	})
}

// Defect 10. Cancel requests still queued when the loop shuts down are
// the loop's own: failing them must not call a (nil) callback. Every
// user op's callback runs exactly once.
func TestRegressQueuedCancelsAtShutdown(t *testing.T) {
	t.Run("failQueued", func(t *testing.T) {
		// What teardown does with a request it finds in the inbox.
		l := &Loop{cfg: Config{Logger: discardLogger(), MaxOps: 1}}
		target := new(Op)
		l.failQueued(getCancelReq(target, 1), unix.ECANCELED)
		l.runCallbacks()
		if len(l.done) != 0 || l.metrics.panics.Load() != 0 {
			t.Errorf("a failed cancel request left %d completions and %d panics", len(l.done), l.metrics.panics.Load())
		}
	})

	t.Run("close", func(t *testing.T) {
		checkFds(t)
		checkGoroutines(t)
		l := newLoop(t, Config{Logger: discardLogger()})
		fds := newFdCloser(t)
		const n = 4
		var (
			mu    sync.Mutex
			calls = map[*Op][]Result{}
		)
		cb := func(op *Op, r Result) {
			mu.Lock()
			calls[op] = append(calls[op], r)
			mu.Unlock()
		}
		var inflight, queued [n]Op
		for i := range inflight {
			fd, _ := rawSocketPair(t, fds)
			inflight[i].PrepRecv(fd, make([]byte, 8), 0, cb)
			if err := l.Post(&inflight[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range inflight {
			waitOpInFlight(t, l, &inflight[i])
		}

		hold, release := make(chan struct{}), make(chan struct{})
		var holdOp Op
		holdOp.PrepCall(func(*Op, Result) {
			close(hold)
			<-release
		})
		if err := l.Post(&holdOp); err != nil {
			t.Fatal(err)
		}
		waitChan(t, hold, "the loop to run the holding callback")
		for i := range queued {
			fd, _ := rawSocketPair(t, fds)
			queued[i].PrepRecv(fd, make([]byte, 8), 0, cb)
			if err := l.Post(&queued[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Cancels for current submissions, stale ones, and one for an op
		// never submitted.
		for i := range n {
			reqs := []*Op{
				getCancelReq(&inflight[i], inflight[i].seq.Load()),
				getCancelReq(&queued[i], queued[i].seq.Load()),
				getCancelReq(&inflight[i], inflight[i].seq.Load()-1),
				getCancelReq(new(Op), 1),
			}
			for _, req := range reqs {
				if !l.push(req) {
					t.Fatal("push refused")
				}
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- l.Close(timeoutCtx(t)) }()
		for limit := time.Now().Add(testTimeout); l.state.Load() == loopRunning; time.Sleep(time.Millisecond) {
			if time.Now().After(limit) {
				t.Fatal("Close did not start")
			}
		}
		close(release)
		if err := waitChan(t, closed, "Close"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		m := l.Metrics()
		if m.CallbackPanics != 0 || m.Goexits != 0 {
			t.Errorf("CallbackPanics %d, Goexits %d after closing with queued cancels", m.CallbackPanics, m.Goexits)
		}
		for _, set := range []*[n]Op{&inflight, &queued} {
			for i := range set {
				op := &set[i]
				if rs := calls[op]; len(rs) != 1 || rs[0].Res != -int32(unix.ECANCELED) {
					t.Errorf("op %p: callbacks %+v, want one with ECANCELED", op, rs)
				}
			}
		}
		if len(calls) != 2*n {
			t.Errorf("%d ops had callbacks, want %d", len(calls), 2*n)
		}
		if got := l.ops.Load(); got != 0 {
			t.Errorf("ops count %d after Close, want 0", got)
		}
	})
}

// Defect 11. Metrics.Enters counts io_uring_enter system calls, not
// loop iterations. Every enter of the ring goes through uring's
// enterNoWait or enterWait, which count into Ring.EnterCalls, and the loop
// adds that count to Enters at the end of each enter(); so on the loop,
// between iterations, the two are equal by construction, which the test
// checks. The strace sub-test, where strace is installed and may attach
// (not needed in CI), counts the system calls from outside.
func TestRegressEntersCountsSyscalls(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)

	// chain runs n 1ms timeouts one after another from callbacks, and n
	// blocking Nops from this goroutine: both kinds of sleep (enter and
	// park).
	chain := func(t *testing.T, n int) {
		t.Helper()
		done := make(chan struct{})
		count := 0
		op := new(Op)
		var cb Callback
		cb = func(op *Op, r Result) {
			if count++; count == n {
				close(done)
				return
			}
			op.PrepTimeout(time.Millisecond, cb)
			if err := l.Submit(op); err != nil {
				t.Errorf("Submit: %v", err)
			}
		}
		op.PrepTimeout(time.Millisecond, cb)
		if err := l.Post(op); err != nil {
			t.Fatal(err)
		}
		waitChan(t, done, "the timeout chain")
		for range n / 4 {
			if err := l.Nop(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	equal := func(t *testing.T) uint64 {
		t.Helper()
		var enters, calls uint64
		onLoop(t, l, func() { enters, calls = l.Metrics().Enters, l.ring.EnterCalls() })
		if enters != calls {
			t.Errorf("Metrics.Enters = %d, the ring made %d io_uring_enter calls", enters, calls)
		}
		return enters
	}

	m0 := l.Metrics()
	equal(t)
	chain(t, 200)
	equal(t)
	m1 := l.Metrics()
	if d := m1.Enters - m0.Enters; d < 200 {
		t.Errorf("Enters grew by %d over 200 timer sleeps", d)
	}
	if d := m1.Iterations - m0.Iterations; d < 200 {
		t.Errorf("Iterations grew by %d over 200 timer sleeps", d)
	}

	t.Run("strace", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		path, err := exec.LookPath("strace")
		if err != nil {
			t.Skip("strace not installed")
		}
		out := filepath.Join(t.TempDir(), "strace.out")
		var stderr bytes.Buffer
		cmd := exec.Command(path, "-f", "-qq", "-o", out, "-e", "trace=io_uring_enter,getppid", "-p", strconv.Itoa(os.Getpid()))
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Skipf("strace: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				_ = cmd.Process.Signal(syscall.SIGINT) // detaches
				waitChan(t, exited, "strace to detach")
			}
		}
		t.Cleanup(stop)
		// Wait until every thread of this process is traced (new
		// threads are followed from then on).
		for limit := time.Now().Add(testTimeout); !allTracedBy(cmd.Process.Pid); time.Sleep(5 * time.Millisecond) {
			select {
			case err := <-exited:
				stopped = true
				t.Skipf("strace could not attach: %v: %s", err, stderr.Bytes())
			default:
			}
			if time.Now().After(limit) {
				t.Skipf("strace did not attach within %v: %s", testTimeout, stderr.Bytes())
			}
		}
		// Markers: getppid from the loop's callbacks, around the work.
		var before, after uint64
		onLoop(t, l, func() { before = l.ring.EnterCalls(); unix.Getppid() })
		chain(t, 40)
		onLoop(t, l, func() { after = l.ring.EnterCalls(); unix.Getppid() })
		stop()
		traced, err := countBetweenMarkers(out)
		if err != nil {
			t.Fatal(err)
		}
		if traced != after-before {
			t.Errorf("strace saw %d io_uring_enter calls, the ring counted %d", traced, after-before)
		}
		t.Logf("%d io_uring_enter calls between the markers", traced)
	})
}

// allTracedBy reports whether every thread of this process has tracer
// pid as its tracer.
func allTracedBy(pid int) bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue // exited
		}
		if !bytes.Contains(b, []byte("\nTracerPid:\t"+strconv.Itoa(pid)+"\n")) {
			return false
		}
	}
	return true
}

// countBetweenMarkers counts the io_uring_enter calls strace logged
// between the first two getppid calls.
func countBetweenMarkers(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	markers := 0
	var n uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "getppid("):
			markers++
		case markers == 1 && strings.Contains(line, "io_uring_enter("):
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if markers < 2 {
		return 0, errors.New("strace output has fewer than two markers")
	}
	return n, nil
}
