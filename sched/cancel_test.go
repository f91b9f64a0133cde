package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// streamChecker checks that bytes received on a stream are exactly the
// bytes sent, in order: byte i of the stream is byte(i*7+i>>8).
type streamChecker struct{ next int }

func streamByte(i int) byte { return byte(i*7 + i>>8) }

func fillStream(b []byte, from int) {
	for i := range b {
		b[i] = streamByte(from + i)
	}
}

func (s *streamChecker) check(b []byte) error {
	for i, c := range b {
		if want := streamByte(s.next + i); c != want {
			return fmt.Errorf("stream byte %d: got %#x, want %#x", s.next+i, c, want)
		}
	}
	s.next += len(b)
	return nil
}

// cancelRace runs iterations of a blocking Recv whose context ends at a
// random moment while the peer sometimes sends. mkctx returns the
// iteration's context, a function that ends it early (nil: it ends on its
// own) and the error a cancelled Recv must return.
func cancelRace(t *testing.T, iterations int, mkctx func(rng *rand.Rand) (context.Context, context.CancelFunc, error)) {
	checkFds(t)
	l := newLoop(t, Config{})
	fd, peer := rawPair(t, "tcp4")
	defer unix.Close(fd)

	rng := rand.New(rand.NewPCG(7, uint64(iterations)))
	var rx streamChecker
	sent := 0
	buf := make([]byte, 4096)
	var got, cancelled int
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	for it := range iterations {
		ctx, cancel, wantErr := mkctx(rng)
		var wg sync.WaitGroup
		if rng.IntN(2) == 0 {
			// The peer sends 1..64 bytes, after a random short while.
			msg := make([]byte, 1+rng.IntN(64))
			fillStream(msg, sent)
			sent += len(msg)
			spin := rng.IntN(8)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range spin {
					runtime.Gosched()
				}
				_ = peer.SetWriteDeadline(time.Now().Add(testTimeout))
				if _, err := peer.Write(msg); err != nil {
					t.Errorf("peer write: %v", err)
				}
			}()
		}
		if cancel != nil {
			spin := rng.IntN(8)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range spin {
					runtime.Gosched()
				}
				cancel()
			}()
		}
		go func() {
			n, err := l.Recv(ctx, fd, buf, 0)
			res <- result{n, err}
		}()
		r := waitChan(t, res, fmt.Sprintf("Recv of iteration %d", it))
		wg.Wait()
		if cancel != nil {
			cancel()
		}
		switch {
		case r.err == nil && r.n > 0:
			got++
			if err := rx.check(buf[:r.n]); err != nil {
				t.Fatalf("iteration %d: %v", it, err)
			}
		case r.n == 0 && errors.Is(r.err, wantErr):
			cancelled++
		default:
			t.Fatalf("iteration %d: Recv = (%d, %v), want (n>0, nil) or (0, %v)", it, r.n, r.err, wantErr)
		}
	}
	// Nothing was lost: every byte the cancelled receives did not take is
	// still there for the next one.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for rx.next < sent {
		n, err := l.Recv(ctx, fd, buf, 0)
		if err != nil || n == 0 {
			t.Fatalf("draining: Recv = (%d, %v) with %d of %d bytes received", n, err, rx.next, sent)
		}
		if err := rx.check(buf[:n]); err != nil {
			t.Fatalf("draining: %v", err)
		}
	}
	// And nothing more than was sent.
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if n, err := l.Recv(short, fd, buf, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the stream: Recv = (%d, %v), want DeadlineExceeded", n, err)
	}
	t.Logf("%d iterations: %d receives got data, %d were cancelled; %d bytes", iterations, got, cancelled, sent)
	if got == 0 || cancelled == 0 {
		t.Errorf("the race was not exercised both ways: %d with data, %d cancelled", got, cancelled)
	}
}

func TestCancelRecvRace(t *testing.T) {
	cancelRace(t, 5000, func(*rand.Rand) (context.Context, context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		return ctx, cancel, context.Canceled
	})
}

func TestDeadlineRecvRace(t *testing.T) {
	cancelRace(t, 3000, func(rng *rand.Rand) (context.Context, context.CancelFunc, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(100))*time.Microsecond)
		// The deadline ends it; cancel only releases the timer afterwards.
		go func() { <-ctx.Done(); cancel() }()
		return ctx, nil, context.DeadlineExceeded
	})
}

// TestCancelOtherOps cancels ops of other kinds at random moments: Sleep
// (a timeout), Accept and Nop; each returns its result or ctx's error.
func TestCancelOtherOps(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		ctx, cancel := context.WithCancel(context.Background())
		spin := rng.IntN(16)
		go func() {
			for range spin {
				runtime.Gosched()
			}
			cancel()
		}()
		errc := make(chan error, 3)
		go func() { errc <- l.Sleep(ctx, time.Hour) }()
		go func() {
			fd, _, err := l.Accept(ctx, lfd)
			if err == nil {
				unix.Close(fd)
				err = errors.New("accepted a connection nobody made")
			}
			errc <- err
		}()
		go func() { errc <- l.Nop(ctx) }()
		for range 3 {
			err := waitChan(t, errc, fmt.Sprintf("cancelled op of iteration %d", i))
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("iteration %d: %v, want nil or context.Canceled", i, err)
			}
		}
		cancel()
	}
}

// TestCancelWhileSQFull reproduces a lost cancellation. With an SQ of 4
// entries, one loop iteration takes from its inbox four new receives
// (filling the SQ) and then the cancel request for an earlier receive. The
// ASYNC_CANCEL stays in Loop.cancels because fillSQ finds no free SQE, and
// enter then sleeps (SubmitAndWait(1)) because its wait condition only
// looks at waitSQ and done, not at cancels. Nothing else completes, so the
// cancelled Recv never returns.
//
// Regression test for a fixed bug: sched/loop.go enter(): `wait := l.waitSQ.n == 0 && len(l.done) == 0`
// ignores pending l.cancels (and l.cancelAll); fillSQ() returns early with
// them unsubmitted when the SQ is full.
func TestCancelWhileSQFull(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{Entries: 4})
	ctx := timeoutCtx(t)

	fdA, peerA := rawPair(t, "tcp4")
	defer unix.Close(fdA)
	var fds [4]int
	var peers [4]net.Conn
	for i := range fds {
		fds[i], peers[i] = rawPair(t, "tcp4")
		defer unix.Close(fds[i])
	}

	// A: a blocking Recv in flight.
	ctxA, cancelA := context.WithCancel(ctx)
	defer cancelA()
	doneA := make(chan error, 1)
	go func() {
		_, err := l.Recv(ctxA, fdA, make([]byte, 16), 0)
		doneA <- err
	}()
	waitInFlight(t, l, 1)

	// Hold the loop in a callback while the inbox fills up.
	hold, release := make(chan struct{}), make(chan struct{})
	var holdOp Op
	holdOp.PrepNop(func(*Op, Result) {
		close(hold)
		<-release
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
	others := make(chan error, 4)
	for i := range fds {
		go func() {
			_, err := l.Recv(ctx, fds[i], make([]byte, 16), 0)
			others <- err
		}()
	}
	waitInbox(t, l, 4)
	cancelA()
	waitInbox(t, l, 5)
	close(release)
	released = true

	select {
	case err := <-doneA:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Recv: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("BUG: cancelled Recv did not return within 2s: its ASYNC_CANCEL is stuck in Loop.cancels while the loop sleeps")
		// Any completion wakes the loop, which then submits the cancel.
		if _, err := peers[0].Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		err := waitChan(t, doneA, "the cancelled Recv after another completion woke the loop")
		t.Logf("after waking the loop with unrelated data the cancelled Recv returned: %v", err)
	}
	_ = peerA
	for i := range peers {
		if _, err := peers[i].Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	for range fds {
		if err := waitChan(t, others, "the other receives"); err != nil {
			t.Errorf("other Recv: %v", err)
		}
	}
}

// waitInbox waits until at least n ops sit in l's inbox. Only valid while
// the loop is held in a callback (nothing takes the inbox meanwhile).
func waitInbox(t *testing.T, l *Loop, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		c := 0
		for op := l.inbox.head.Load(); op != nil; op = op.next {
			c++
		}
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox holds %d ops, want %d", c, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitInFlight waits until l's table holds at least n ops besides its
// eventfd read, checking on the loop.
func waitInFlight(t *testing.T, l *Loop, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var live int
		onLoop(t, l, func() { live = l.table.live })
		// The eventfd read and the onLoop Nop's own slot are not counted
		// once the Nop completed; the eventfd read is.
		if live-1 >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ops in flight, want %d", live-1, n)
		}
		time.Sleep(time.Millisecond)
	}
}
