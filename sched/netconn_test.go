package sched

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connPair returns a sched.Conn dialled through l and the Go-side peer it
// is connected to.
func connPair(t *testing.T, l *Loop) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := timeoutCtx(t)
	c, err := l.Dial(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if c.RemoteAddr().String() != ln.Addr().String() || c.LocalAddr().String() != peer.RemoteAddr().String() {
		t.Errorf("addresses: local %v remote %v; peer sees %v, listener %v", c.LocalAddr(), c.RemoteAddr(), peer.RemoteAddr(), ln.Addr())
	}
	return c, peer
}

type ioResult struct {
	n   int
	err error
	at  time.Duration
}

func readAsync(c net.Conn, b []byte) <-chan ioResult {
	ch := make(chan ioResult, 1)
	start := time.Now()
	go func() {
		n, err := c.Read(b)
		ch <- ioResult{n, err, time.Since(start)}
	}()
	return ch
}

func TestConnReadDeadlines(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	c, peer := connPair(t, l)
	buf := make([]byte, 64)

	t.Run("past", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		n, err := c.Read(buf)
		if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = (%d, %v), want (0, os.ErrDeadlineExceeded)", n, err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%v is not a net.Error with Timeout()", err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("past deadline took %v", d)
		}
	})

	t.Run("fires", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, readAsync(c, buf), "Read with a 50ms deadline")
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
		}
		if r.at < 45*time.Millisecond || r.at > time.Second {
			t.Errorf("deadline of 50ms fired after %v", r.at)
		}
	})

	t.Run("extend", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		ch := readAsync(c, buf)
		time.Sleep(30 * time.Millisecond)
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(170 * time.Millisecond) // well past the first deadline
		if _, err := peer.Write([]byte("late data")); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, ch, "Read after extending its deadline")
		if r.err != nil || string(buf[:r.n]) != "late data" {
			t.Fatalf("Read = (%q, %v), want late data", buf[:r.n], r.err)
		}
		if r.at < 190*time.Millisecond {
			t.Errorf("Read returned after %v, before the data was sent", r.at)
		}
	})

	t.Run("clear", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(80 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		ch := readAsync(c, buf)
		time.Sleep(20 * time.Millisecond)
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		select {
		case r := <-ch:
			t.Fatalf("Read returned (%d, %v) although its deadline was cleared", r.n, r.err)
		default:
		}
		if _, err := peer.Write([]byte("after clear")); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, ch, "Read after clearing its deadline")
		if r.err != nil || string(buf[:r.n]) != "after clear" {
			t.Fatalf("Read = (%q, %v)", buf[:r.n], r.err)
		}
	})

	t.Run("shorten", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		ch := readAsync(c, buf)
		time.Sleep(20 * time.Millisecond)
		if err := c.SetReadDeadline(time.Now().Add(-time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, ch, "Read after moving its deadline to the past")
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
		}
	})

	t.Run("data before deadline", func(t *testing.T) {
		if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		r := waitChan(t, readAsync(c, buf), "Read")
		if r.err != nil || string(buf[:r.n]) != "ping" {
			t.Fatalf("Read = (%q, %v)", buf[:r.n], r.err)
		}
		if n, err := c.Write([]byte("pong")); n != 4 || err != nil {
			t.Fatalf("Write = (%d, %v)", n, err)
		}
		got := make([]byte, 4)
		_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadFull(peer, got); err != nil || string(got) != "pong" {
			t.Fatalf("peer read %q %v", got, err)
		}
	})

	t.Run("close unblocks", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		ch := readAsync(c, buf)
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		r := waitChan(t, ch, "Read blocked across Close")
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Read across Close = (%d, %v), want net.ErrClosed", r.n, r.err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close: %v, want net.ErrClosed", err)
		}
		// The peer sees EOF.
		_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
		if n, err := peer.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("peer Read after Close = (%d, %v), want EOF", n, err)
		}
	})
}

// TestConnWriteDeadline: the peer never reads, the socket buffers fill,
// and a blocked Write stops at its deadline having written part of b.
func TestConnWriteDeadline(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	c, _ := connPair(t, l)
	big := make([]byte, 64<<20)
	if err := c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan ioResult, 1)
	go func() {
		n, err := c.Write(big)
		done <- ioResult{n, err, time.Since(start)}
	}()
	r := waitChan(t, done, "Write to a peer that never reads")
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = (%d, %v), want os.ErrDeadlineExceeded", r.n, r.err)
	}
	if r.n <= 0 || r.n >= len(big) {
		t.Errorf("Write wrote %d of %d bytes before its deadline", r.n, len(big))
	}
	if r.at < 90*time.Millisecond || r.at > 2*time.Second {
		t.Errorf("write deadline of 100ms fired after %v", r.at)
	}
	// A write deadline in the past fails at once, and reads are unaffected.
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past deadline = (%d, %v)", n, err)
	}
	// Without a deadline the Write blocks until Close.
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		n, err := c.Write(big)
		done <- ioResult{n, err, 0}
	}()
	time.Sleep(30 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	r = waitChan(t, done, "a Write blocked across Close")
	if !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Write across Close = (%d, %v), want net.ErrClosed", r.n, r.err)
	}
}

// TestConnDeadlineChurn moves the read deadline around (always into the
// future) from another goroutine while reads complete back to back: every
// byte arrives in order, no read fails. Run with -race, this also checks
// that the cancel a deadline change posts never touches the waiter of the
// next read while that read is being prepared.
//
// Regression test for a fixed bug (it failed under -race): Conn.setDeadline
// (sched/netconn.go) used to post a cancel request aimed at the direction's
// reused waiter op whenever a call was busy. The loop handles that request later, in
// takeInbox -> Loop.cancel (sched/loop.go), reading target.state (and
// userData), with no synchronisation against the Conn goroutine, which by
// then may have finished that call and be re-preparing the same w.op for
// the next Read (Op.reset / Post write op.state). The race detector reports
// a write in Op.reset (op.go) / Loop.Post against the read in Loop.cancel.
func TestConnDeadlineChurn(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	c, peer := connPair(t, l)
	const total = 4 << 20
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		msg := make([]byte, total)
		fillStream(msg, 0)
		_ = peer.SetWriteDeadline(time.Now().Add(testTimeout))
		for off := 0; off < total; {
			n := min(1+off%1500, total-off)
			if _, err := peer.Write(msg[off : off+n]); err != nil {
				t.Errorf("peer write: %v", err)
				return
			}
			off += n
		}
	}()
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			time.Sleep(time.Duration(time.Now().UnixNano()%20) * time.Microsecond)
		}
	}()
	var rx streamChecker
	buf := make([]byte, 2048)
	deadline := time.Now().Add(testTimeout)
	for rx.next < total && time.Now().Before(deadline) {
		n, err := c.Read(buf)
		if err != nil {
			t.Errorf("Read after %d bytes: %v", rx.next, err)
			break
		}
		if err := rx.check(buf[:n]); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if rx.next != total {
		t.Errorf("received %d of %d bytes", rx.next, total)
	}
}

// TestListenerLoop: Loop.Listen accepts through the ring; Close unblocks a
// pending Accept with net.ErrClosed.
func TestListenerLoop(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ln, err := l.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if ln.Addr().(*net.TCPAddr).Port == 0 {
		t.Fatalf("listener address %v has no port", ln.Addr())
	}
	go func() {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("hi"))
		c.Close()
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	b, err := io.ReadAll(sc)
	if err != nil || string(b) != "hi" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	sc.Close()
	ch := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		ch <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitChan(t, ch, "Accept across Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept across Close: %v, want net.ErrClosed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestTimers: After fires in time order, Stop unschedules and reports
// whether the timer was pending, and timers run on the loop goroutine.
func TestTimers(t *testing.T) {
	l := newLoop(t, Config{})
	var mu sync.Mutex
	var order []int
	var offLoop int
	fired := make(chan struct{})
	var stopped, stopTwice, stopAfterFire bool
	var t4 *Timer
	start := time.Now()
	onLoop(t, l, func() {
		rec := func(i int) func() {
			return func() {
				mu.Lock()
				order = append(order, i)
				if !l.OnLoop() {
					offLoop++
				}
				mu.Unlock()
				if i == 3 {
					stopAfterFire = t4.Stop()
					close(fired)
				}
			}
		}
		l.After(60*time.Millisecond, rec(3))
		l.After(20*time.Millisecond, rec(1))
		t4 = l.After(10*time.Millisecond, rec(1))
		l.After(40*time.Millisecond, rec(2))
		l.After(-time.Second, rec(0)) // already due
		x := l.After(30*time.Millisecond, rec(99))
		stopped = x.Stop()
		stopTwice = x.Stop()
		t4.Stop()
		t4 = l.After(5*time.Millisecond, rec(1))
	})
	waitChan(t, fired, "the last timer")
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if want := []int{0, 1, 1, 2, 3}; !equalInts(order, want) {
		t.Errorf("timers fired in order %v, want %v", order, want)
	}
	if !stopped || stopTwice {
		t.Errorf("Stop = %v then %v, want true then false", stopped, stopTwice)
	}
	if stopAfterFire {
		t.Errorf("Stop of a timer that already fired returned true")
	}
	if offLoop != 0 {
		t.Errorf("%d timers ran off the loop", offLoop)
	}
	if elapsed < 60*time.Millisecond {
		t.Errorf("60ms timer fired after %v", elapsed)
	}
	m := l.Metrics()
	var timerCount uint64
	for _, v := range m.TimerLag {
		timerCount += v
	}
	if timerCount != 5 {
		t.Errorf("TimerLag histogram counts %d timers, want 5", timerCount)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSleep: Loop.Sleep waits, and honours its context.
func TestSleep(t *testing.T) {
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	start := time.Now()
	if err := l.Sleep(ctx, 30*time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 2*time.Second {
		t.Errorf("Sleep(30ms) took %v", d)
	}
	if err := l.Sleep(ctx, 0); err != nil {
		t.Errorf("Sleep(0): %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	if err := l.Sleep(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep cancelled: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled Sleep returned after %v", d)
	}

	dctx, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := l.Sleep(dctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep past ctx deadline: %v, want context.DeadlineExceeded", err)
	}
	// An already-ended context: either the sleep never starts or it is
	// cancelled at once.
	start = time.Now()
	if err := l.Sleep(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with ended ctx: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Sleep with ended ctx took %v", d)
	}
}
