package sched

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNewLoopErrors: a loop that cannot start returns an error and leaves
// no goroutine, thread or fd behind.
func TestNewLoopErrors(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	for _, cfg := range []Config{
		{Buffers: 3},       // not a power of two
		{BufferSize: -1},   // no buffer memory
		{Buffers: 1 << 16}, // more than a buffer ring holds
		{Entries: 1 << 30}, // clamped by the kernel, must still work or fail cleanly
	} {
		l, err := NewLoop(cfg)
		if err == nil {
			closeLoop(t, l)
			if cfg.Entries == 0 {
				t.Errorf("NewLoop(%+v) succeeded", cfg)
			}
			continue
		}
		t.Logf("NewLoop(%+v): %v", cfg, err)
	}
}

// TestCallbackPanic: a panicking callback is counted and logged; the rest
// of its batch still runs, and the loop goes on.
func TestCallbackPanic(t *testing.T) {
	var logBuf syncBuffer
	l := newLoop(t, Config{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	ctx := timeoutCtx(t)
	var ran []int
	done := make(chan struct{})
	onLoop(t, l, func() {
		// Three ops completing in one batch; the middle one panics.
		ops := make([]Op, 3)
		for i := range ops {
			ops[i].PrepNop(func(*Op, Result) {
				ran = append(ran, i)
				if i == 1 {
					panic("boom")
				}
				if i == 2 {
					close(done)
				}
			})
			if err := l.Submit(&ops[i]); err != nil {
				t.Error(err)
			}
		}
	})
	waitChan(t, done, "the callback after the panicking one")
	if err := l.Nop(ctx); err != nil {
		t.Fatalf("Nop after a panic: %v", err)
	}
	var got []int
	onLoop(t, l, func() { got = ran })
	if !equalInts(got, []int{0, 1, 2}) {
		t.Errorf("callbacks ran %v, want [0 1 2]", got)
	}
	if n := l.Metrics().CallbackPanics; n != 1 {
		t.Errorf("CallbackPanics = %d, want 1", n)
	}
	if !bytes.Contains(logBuf.Bytes(), []byte("boom")) {
		t.Errorf("the panic was not logged: %q", logBuf.Bytes())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// TestPrepCall: a KindCall op posted from another goroutine runs its
// callback on the loop thread with Res 0, without an SQE.
func TestPrepCall(t *testing.T) {
	l := newLoop(t, Config{})
	var op Op
	type res struct {
		onLoop bool
		r      Result
	}
	ch := make(chan res, 1)
	op.PrepCall(func(_ *Op, r Result) { ch <- res{l.OnLoop(), r} })
	m0 := l.Metrics()
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	got := waitChan(t, ch, "the call")
	if !got.onLoop || got.r.Res != 0 || got.r.More() {
		t.Errorf("call ran on the loop: %v, with %+v", got.onLoop, got.r)
	}
	// Reusable at once, and from a callback too.
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	waitChan(t, ch, "the call, again")
	// A call takes no SQE: only eventfd re-arms were submitted meanwhile.
	m := l.Metrics()
	if sqes, wakes := m.SQEsSubmitted-m0.SQEsSubmitted, m.InboxWakes-m0.InboxWakes; sqes > wakes+1 {
		t.Errorf("%d SQEs submitted around two calls and %d wake-ups", sqes, wakes)
	}
}

// TestOpTimeout: Op.Timeout cancels an op that has not completed in time
// and reports it as ETIME (not ECANCELED), and does nothing to one that
// completes first.
func TestOpTimeout(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	fd, peer := rawPair(t, "tcp4")
	defer unix.Close(fd)
	ch := make(chan Result, 1)
	var op Op
	start := time.Now()
	op.PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { ch <- r })
	op.Timeout = 30 * time.Millisecond
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	r := waitChan(t, ch, "a recv with a linked timeout")
	if r.Res != -int32(unix.ETIME) || !r.TimedOut() {
		t.Errorf("timed-out recv: %d (%v), want ETIME", r.Res, r.Err())
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Errorf("30ms linked timeout fired after %v", d)
	}
	// Data first: the recv completes and its timeout is dropped silently.
	if _, err := peer.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	op.PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { ch <- r })
	op.Timeout = time.Second
	stale := l.Metrics().StaleCQEs
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, ch, "a recv with data and a linked timeout"); r.Res != 4 {
		t.Errorf("recv: %+v", r)
	}
	if l.Metrics().StaleCQEs != stale {
		t.Errorf("the linked timeout's completion was counted as stale")
	}
	// Prep methods clear Timeout.
	op.PrepNop(nil)
	if op.Timeout != 0 {
		t.Errorf("PrepNop kept Timeout %v", op.Timeout)
	}
}

// TestTinyRingLinkedTimeout: an op with a linked timeout takes two SQEs,
// so even a loop configured with Entries: 1 must run it. (Regression test:
// before f5f00e7 such an op waited in the SQ FIFO forever while the loop
// spun in io_uring_enter, and Conn deadlines never fired.)
func TestTinyRingLinkedTimeout(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{Entries: 1})
	c, _ := connPair(t, l)
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ch := readAsync(c, make([]byte, 8))
	select {
	case r := <-ch:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Errorf("Read = (%d, %v), want a deadline error", r.n, r.err)
		}
	case <-time.After(2 * time.Second):
		m := l.Metrics()
		t.Errorf("Read with a 50ms deadline on an Entries: 1 loop still blocked after 2s; the loop made %d io_uring_enter calls meanwhile", m.Enters)
		c.Close()
		r := waitChan(t, ch, "the Read after Close")
		t.Logf("after Close the Read returned %v", r.err)
	}
}

// TestSendZC: a zero-copy send through the blocking API returns after the
// notification, with the bytes sent.
func TestSendZC(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	fd, peer := rawPair(t, "tcp4")
	defer unix.Close(fd)
	msg := bytes.Repeat([]byte("zero copy "), 1000)
	n, err := l.SendZC(ctx, fd, msg, 0)
	if err != nil || n != len(msg) {
		t.Fatalf("SendZC = (%d, %v)", n, err)
	}
	got := make([]byte, len(msg))
	_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("peer read: %v", err)
	}
	if err := l.Shutdown(ctx, fd, unix.SHUT_WR); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n, err := peer.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("peer read after Shutdown = (%d, %v), want EOF", n, err)
	}
	// On a closed peer: EPIPE or ECONNRESET, not a signal.
	peer.Close()
	time.Sleep(10 * time.Millisecond)
	if _, err := l.SendZC(ctx, fd, msg, 0); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("SendZC after shutdown: %v, want EPIPE", err)
	}
}

// TestSubmitTwice: Submit refuses an op that is already queued or in
// flight, and the op's first submission still completes once.
func TestSubmitTwice(t *testing.T) {
	l := newLoop(t, Config{})
	var op Op
	calls := 0
	done := make(chan struct{})
	var second error
	onLoop(t, l, func() {
		op.PrepTimeout(time.Millisecond, func(*Op, Result) {
			if calls++; calls == 1 {
				close(done)
			}
		})
		if err := l.Submit(&op); err != nil {
			t.Errorf("Submit: %v", err)
		}
		second = l.Submit(&op)
	})
	waitChan(t, done, "the timeout")
	if second == nil {
		t.Errorf("second Submit of an in-flight op succeeded")
	}
	if err := l.Nop(timeoutCtx(t)); err != nil {
		t.Fatal(err)
	}
	var n int
	onLoop(t, l, func() { n = calls })
	if n != 1 {
		t.Errorf("callback ran %d times, want 1", n)
	}
}

// TestDialRefused: connecting to a closed loopback port fails with
// ECONNREFUSED and leaks no socket.
func TestDialRefused(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := l.Dial(timeoutCtx(t), "tcp4", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port: %v, want ECONNREFUSED", err)
	}
}

// A blocking call or Close made from a callback would wait for the loop
// it runs on; it must fail fast with ErrOnLoop instead of deadlocking.
func TestBlockingCallOnLoopFailsFast(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	var nopErr, closeErr error
	onLoop(t, l, func() {
		nopErr = l.Nop(context.Background())
		closeErr = l.Close(context.Background())
	})
	if !errors.Is(nopErr, ErrOnLoop) || !errors.Is(closeErr, ErrOnLoop) {
		t.Fatalf("Nop on loop: %v, Close on loop: %v; want ErrOnLoop", nopErr, closeErr)
	}
	if err := l.Nop(timeoutCtx(t)); err != nil {
		t.Fatalf("loop unusable afterwards: %v", err)
	}
}

// Posting an op that is still queued would corrupt the inbox's links; it
// must be refused instead.
func TestPostTwiceIsRefused(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	done := make(chan struct{})
	op := new(Op)
	op.PrepTimeout(50*time.Millisecond, func(*Op, Result) { close(done) })
	if err := l.Post(op); err != nil {
		t.Fatal(err)
	}
	if err := l.Post(op); err == nil {
		t.Fatal("second Post of an op in flight was accepted")
	}
	waitChan(t, done, "the timeout's callback")
}

func TestTimerPanicDoesNotKillTheLoop(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fired := make(chan struct{})
	onLoop(t, l, func() {
		l.After(time.Millisecond, func() { panic("timer boom") })
		l.After(2*time.Millisecond, func() { close(fired) })
	})
	waitChan(t, fired, "the timer after the panicking one")
	if err := l.Nop(timeoutCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := l.Metrics().CallbackPanics; got != 1 {
		t.Fatalf("CallbackPanics = %d, want 1", got)
	}
}
