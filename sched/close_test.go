package sched

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// opLog records every completion of callback ops, from the loop.
type opLog struct {
	mu      sync.Mutex
	calls   map[*Op]int
	finals  map[*Op][]Result
	afterFn map[*Op]int // completions after the final one
}

func newOpLog() *opLog {
	return &opLog{calls: map[*Op]int{}, finals: map[*Op][]Result{}, afterFn: map[*Op]int{}}
}

func (g *opLog) cb(op *Op, r Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[op]++
	if len(g.finals[op]) > 0 {
		g.afterFn[op]++
	}
	if !r.More() {
		g.finals[op] = append(g.finals[op], r)
	}
}

// checkFinal asserts that op had exactly one final completion, with res
// (any result when res is nil), and nothing after it.
func (g *opLog) checkFinal(t *testing.T, name string, op *Op, want ...int32) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.finals[op]
	if len(f) != 1 {
		t.Errorf("%s: %d final completions %+v, want 1", name, len(f), f)
		return
	}
	if g.afterFn[op] != 0 {
		t.Errorf("%s: %d completions after the final one", name, g.afterFn[op])
	}
	if len(want) == 0 {
		return
	}
	for _, w := range want {
		if f[0].Res == w {
			return
		}
	}
	t.Errorf("%s: final result %d (%v), want one of %v", name, f[0].Res, f[0].Err(), want)
}

// loopWork puts work of every kind in flight on l and returns a function
// that checks how it all ended once l is closed.
type loopWork struct {
	blocked               chan error // one per blocking call
	nBlocked              int
	log                   *opLog
	accept, recv, timeout Op
	queued                []*Op
	peers                 []net.Conn
}

func startWork(t *testing.T, l *Loop, fds *fdCloser, recvs int) *loopWork {
	t.Helper()
	w := &loopWork{log: newOpLog(), blocked: make(chan error, recvs+2)}
	ctx := timeoutCtx(t)
	// Blocking Recvs from goroutines, a blocking Sleep and a blocking
	// Accept.
	for range recvs {
		fd, peer := rawPair(t, "tcp4")
		fds.add(fd)
		w.peers = append(w.peers, peer)
		go func() {
			n, err := l.Recv(ctx, fd, make([]byte, 64), 0)
			if err == nil {
				err = fmt.Errorf("Recv returned %d bytes nobody sent", n)
			}
			w.blocked <- err
		}()
	}
	go func() { w.blocked <- l.Sleep(ctx, time.Hour) }()
	lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	fds.add(lfd)
	go func() {
		fd, _, err := l.Accept(ctx, lfd)
		if err == nil {
			fds.close(fd)
			err = errors.New("accepted a connection nobody made")
		}
		w.blocked <- err
	}()
	w.nBlocked = recvs + 2

	// Callback ops: a multishot accept (on a second listener), a multishot
	// recv, a timeout.
	lfd2, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	fds.add(lfd2)
	w.accept.PrepAcceptMultishot(lfd2, w.log.cb)
	rfd, peer := rawPair(t, "tcp4")
	fds.add(rfd)
	w.peers = append(w.peers, peer)
	w.recv.PrepRecvMultishot(rfd, w.log.cb)
	w.timeout.PrepTimeout(time.Hour, w.log.cb)
	for _, op := range []*Op{&w.accept, &w.recv, &w.timeout} {
		if err := l.Post(op); err != nil {
			t.Fatal(err)
		}
	}
	// Let some data flow through the multishot recv first.
	if _, err := peer.Write([]byte("some data")); err != nil {
		t.Fatal(err)
	}
	waitInFlight(t, l, recvs+2+3)
	return w
}

func (w *loopWork) check(t *testing.T, name string) {
	t.Helper()
	for i := range w.nBlocked {
		err := waitChan(t, w.blocked, fmt.Sprintf("%s: blocking call %d to return after Close", name, i))
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s: blocked call returned %v, want ErrClosed", name, err)
		}
	}
	ecanceled := -int32(unix.ECANCELED)
	w.log.checkFinal(t, name+": multishot accept", &w.accept, ecanceled)
	w.log.checkFinal(t, name+": multishot recv", &w.recv, ecanceled)
	w.log.checkFinal(t, name+": timeout", &w.timeout, ecanceled)
	for i, op := range w.queued {
		w.log.checkFinal(t, fmt.Sprintf("%s: queued op %d", name, i), op, ecanceled)
	}
	w.log.mu.Lock()
	if w.log.calls[&w.recv] < 2 {
		t.Errorf("%s: multishot recv ran %d times, want data then ECANCELED", name, w.log.calls[&w.recv])
	}
	w.log.mu.Unlock()
}

// checkRefuses asserts that a closed loop refuses all work with ErrClosed.
func checkRefuses(t *testing.T, l *Loop) {
	t.Helper()
	select {
	case <-l.Done():
	default:
		t.Fatalf("Done is not closed after Close returned")
	}
	ctx := timeoutCtx(t)
	var op Op
	op.PrepNop(func(*Op, Result) { t.Errorf("callback of an op posted to a closed loop ran") })
	if err := l.Post(&op); !errors.Is(err, ErrClosed) {
		t.Errorf("Post after Close: %v, want ErrClosed", err)
	}
	var op2 Op
	op2.PrepNop(func(*Op, Result) { t.Errorf("callback of an op submitted to a closed loop ran") })
	if err := l.Submit(&op2); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := l.Nop(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Nop after Close: %v, want ErrClosed", err)
	}
	if _, err := l.ReadAt(ctx, 0, make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Recv(ctx, 0, make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
	if _, err := l.OpenAt(ctx, unix.AT_FDCWD, "/", unix.OpenHow{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v, want ErrClosed", err)
	}
	if err := l.Sleep(ctx, time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Errorf("Sleep after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Dial(ctx, "tcp4", "127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
	start := time.Now()
	if err := l.Close(ctx); err != nil || time.Since(start) > time.Second {
		t.Errorf("second Close: %v after %v", err, time.Since(start))
	}
}

// TestLoopCloseInFlight: Close with blocking calls parked, multishot
// accept and recv armed, a timeout pending, and ops waiting for SQ space
// in the FIFO. Close returns within 2s; every blocked caller gets
// ErrClosed; every callback op gets exactly one final completion, with
// ECANCELED; the closed loop refuses work; no goroutine or fd leaks.
func TestLoopCloseInFlight(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{Entries: 4})
	fds := newFdCloser(t)
	w := startWork(t, l, fds, 8)

	// Hold the loop in a callback that fills the SQ and the SQ-wait FIFO
	// with receives on idle sockets, and returns only once Close has
	// begun, so they are still queued when the loop sees it.
	var idle []int
	for range 20 {
		fd, peer := rawPair(t, "tcp4")
		fds.add(fd)
		w.peers = append(w.peers, peer)
		idle = append(idle, fd)
	}
	held := make(chan struct{})
	var waiting int
	var hold Op
	hold.PrepNop(func(*Op, Result) {
		for _, fd := range idle {
			op := new(Op)
			op.PrepRecv(fd, make([]byte, 8), 0, w.log.cb)
			if err := l.Submit(op); err != nil {
				t.Errorf("Submit: %v", err)
			}
			w.queued = append(w.queued, op)
		}
		waiting = l.waitSQ.n
		close(held)
		for l.state.Load() == loopRunning {
			time.Sleep(100 * time.Microsecond)
		}
	})
	if err := l.Post(&hold); err != nil {
		t.Fatal(err)
	}
	waitChan(t, held, "the holding callback")
	if waiting < 10 {
		t.Errorf("only %d ops waited in the SQ FIFO", waiting)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v after %v", err, time.Since(start))
	}
	t.Logf("Close took %v", time.Since(start))
	w.check(t, "loop")
	checkRefuses(t, l)
}

// TestGroupCloseInFlight: the same for a Group of 4 loops, plus Conns and
// a Listener of the group blocked across Close.
func TestGroupCloseInFlight(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	g, err := NewGroup(4, Config{})
	if err != nil {
		t.Fatal(err)
	}
	fds := newFdCloser(t)
	var works []*loopWork
	for i := range g.Len() {
		works = append(works, startWork(t, g.Loop(i), fds, 3))
	}
	// A group listener with a blocked Accept, and Conns with blocked Reads.
	ln, err := g.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []*Conn
	for range 4 {
		c, err := g.Dial(timeoutCtx(t), "tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		defer c.Close()
	}
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		acceptErr <- err
	}()
	readErrs := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			_, err := c.Read(make([]byte, 8))
			readErrs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := g.Close(ctx); err != nil {
		t.Fatalf("Group.Close: %v after %v", err, time.Since(start))
	}
	t.Logf("Group.Close took %v", time.Since(start))
	for i, w := range works {
		w.check(t, fmt.Sprintf("loop %d", i))
		checkRefuses(t, g.Loop(i))
	}
	for range conns {
		err := waitChan(t, readErrs, "Conn.Read across Group.Close")
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Conn.Read across Group.Close: %v, want ErrClosed", err)
		}
	}
	if err := waitChan(t, acceptErr, "Listener.Accept across Group.Close"); !errors.Is(err, ErrClosed) {
		t.Errorf("Listener.Accept across Group.Close: %v, want ErrClosed", err)
	}
	if _, err := g.Dial(timeoutCtx(t), "tcp4", ln.Addr().String()); !errors.Is(err, ErrClosed) {
		t.Errorf("Group.Dial after Close: %v, want ErrClosed", err)
	}
	if err := g.Close(ctx); err != nil {
		t.Errorf("second Group.Close: %v", err)
	}
}

// TestCloseRacingPosts closes loops while 32 goroutines keep posting
// (blocking Nops and callback ops). Every call returns nil or ErrClosed,
// none hangs, and every op that Post accepted gets exactly one completion
// (0 or ECANCELED).
func TestCloseRacingPosts(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	var totalPosted int64
	defer func() { t.Logf("%d callback ops posted over 20 rounds", totalPosted) }()
	for round := range 20 {
		l, err := NewLoop(Config{Entries: 8})
		if err != nil {
			t.Fatal(err)
		}
		var accepted, completed, bad atomic.Int64
		var wg sync.WaitGroup
		ctx := timeoutCtx(t)
		for p := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5000; i++ {
					if i%64 == 0 {
						runtime.Gosched()
					}
					if p%2 == 0 {
						if err := l.Nop(ctx); err != nil {
							if !errors.Is(err, ErrClosed) {
								bad.Add(1)
								t.Errorf("Nop: %v", err)
							}
							return
						}
						continue
					}
					op := new(Op)
					op.PrepNop(func(_ *Op, r Result) {
						if r.Res != 0 && r.Res != -int32(syscall.ECANCELED) {
							bad.Add(1)
						}
						completed.Add(1)
					})
					if err := l.Post(op); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Post: %v", err)
						}
						return
					}
					accepted.Add(1)
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := l.Close(cctx); err != nil {
			cancel()
			t.Fatalf("round %d: Close: %v", round, err)
		}
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		waitChan(t, done, "posters to stop")
		totalPosted += accepted.Load()
		if a, c := accepted.Load(), completed.Load(); a != c || bad.Load() != 0 {
			t.Fatalf("round %d: %d ops accepted by Post, %d completions, %d bad", round, a, c, bad.Load())
		}
	}
}

// TestCloseWakeupAfterExit replays Loop.Close's steps with the preemption
// Go may insert between them: Close pushes its control message and leaves
// the posting section, the loop sees the closing state, drains, exits and
// closes its eventfd, and only then does Close store sleeping=1 and call
// wakeup, which writes 8 bytes to l.efd, a descriptor number that is now
// free or already reused by something else in the process.
//
// Regression test for a fixed bug: sched/loop.go Close(): `l.sleeping.Store(1); l.wakeup()` runs after
// `l.posting.Add(-1)`, outside the window teardown() waits for, so it can
// race with teardown's unix.Close(l.efd) (and l.efd is not reset to -1).
// A wake-up write must happen inside the posting section, or the eventfd
// must outlive every possible writer.
func TestCloseWakeupAfterExit(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l, err := NewLoop(Config{})
	if err != nil {
		t.Fatal(err)
	}
	efd := l.efd
	// Close, as loop.go does it, but the goroutine is "preempted" right
	// after leaving the posting section.
	if !l.state.CompareAndSwap(loopRunning, loopClosing) {
		t.Fatal("loop not running")
	}
	l.posting.Add(1)
	l.inbox.push(&Op{kind: kindCancelReq})
	l.posting.Add(-1)
	// The loop may notice the closing state on its own (it was woken by
	// nothing here, so give it the wake-up Post would give it).
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = unix.Write(efd, one)
	waitChan(t, l.Done(), "the loop to exit")

	// Something else in the process now gets the eventfd's number.
	var victim [2]int
	var extra [][2]int
	defer func() {
		for _, p := range append(extra, victim) {
			unix.Close(p[0])
			unix.Close(p[1])
		}
	}()
	for range 64 {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		if p[0] == efd || p[1] == efd {
			victim = p
			break
		}
		extra = append(extra, p)
	}
	if victim[1] != efd {
		if victim[0] == efd {
			t.Skipf("the eventfd number %d went to a pipe's read end", efd)
		}
		t.Skipf("no new descriptor got the eventfd's number %d", efd)
	}
	// The rest of Close.
	l.sleeping.Store(1)
	l.wakeup()
	buf := make([]byte, 16)
	if n, err := unix.Read(victim[0], buf); n > 0 {
		t.Errorf("BUG: Close's late wake-up wrote %d bytes %v into an unrelated pipe that reused the closed eventfd's number %d", n, buf[:n], efd)
	} else if err != unix.EAGAIN {
		t.Errorf("reading the pipe: %v", err)
	}
}
