package evnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/uringd/uringd/sched"
)

// syncLoop waits until everything posted to l before the call has run
// (a loop runs what goroutines post in order).
func syncLoop(t testing.TB, l *sched.Loop) {
	t.Helper()
	done := make(chan struct{})
	op := new(sched.Op)
	op.PrepCall(func(*sched.Op, sched.Result) { close(done) })
	if err := l.Post(op); err != nil {
		t.Fatalf("Post: %v", err)
	}
	wait(t, done, "a marker posted to the loop")
}

// readAllNoReset reads until EOF; a reset or any other error fails.
func readAllNoReset(t testing.TB, c net.Conn) []byte {
	t.Helper()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v (want EOF, no reset)", len(got), err)
	}
	return got
}

// TestCloseFromOnOpen: a greeting written and closed in OnOpen reaches
// the peer, followed by EOF; OnClose runs once with nil.
func TestCloseFromOnOpen(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 4)
	h := &hooks{
		open: func(c *Conn) {
			c.WriteString("hello\n")
			c.Close()
			c.Close()
			if n, err := c.WriteString("late"); n != 0 || !errors.Is(err, ErrClosed) {
				closes <- errors.New("WriteString after Close did not fail with ErrClosed")
			}
		},
		data:  func(c *Conn, b []byte) { closes <- errors.New("OnData after Close") },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	for range 20 {
		c := dial(t, addr)
		c.Write([]byte("ignored"))
		if got := readAllNoReset(t, c); string(got) != "hello\n" {
			t.Fatalf("read %q", got)
		}
		c.Close()
		if err := wait(t, closes, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v), want nil", err)
		}
	}
}

// TestCloseSemantics: Close twice, Write/WriteString after Close fail with
// ErrClosed, CloseWrite is a no-op, Detach reports ErrClosed, Closed is
// true; the output queued before Close is delivered, then EOF.
func TestCloseSemantics(t *testing.T) {
	checkLeaks(t)
	errs := make(chan error, 16)
	closes := make(chan error, 1)
	h := &hooks{
		data: func(c *Conn, b []byte) {
			if c.Closed() {
				errs <- errors.New("OnData on a closed conn")
				return
			}
			c.Write([]byte("reply"))
			c.Close()
			c.Close()
			if !c.Closed() {
				errs <- errors.New("Closed() false after Close")
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				errs <- errors.New("Write after Close: " + errString(err))
			}
			if _, err := c.WriteString("x"); !errors.Is(err, ErrClosed) {
				errs <- errors.New("WriteString after Close: " + errString(err))
			}
			c.CloseWrite()
			c.Detach(func(fd int, rest []byte, err error) {
				if fd != -1 || !errors.Is(err, ErrClosed) {
					errs <- errors.New("Detach after Close: " + errString(err))
				}
			})
		},
		close: func(c *Conn, err error) {
			if _, werr := c.Write([]byte("x")); !errors.Is(werr, ErrClosed) {
				errs <- errors.New("Write in OnClose: " + errString(werr))
			}
			if c.Fd() != -1 {
				errs <- errors.New("Fd() not -1 in OnClose")
			}
			closes <- err
		},
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write([]byte("go"))
	if got := readAllNoReset(t, c); string(got) != "reply" {
		t.Fatalf("read %q", got)
	}
	c.Close()
	if err := wait(t, closes, "OnClose"); err != nil {
		t.Errorf("OnClose(%v), want nil", err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestPostAfterClose: Post to a closed connection does not run fn, and
// Post to an open one does, from any goroutine.
func TestPostAfterClose(t *testing.T) {
	checkLeaks(t)
	conns := make(chan *Conn, 1)
	closed := make(chan struct{})
	h := &hooks{
		open:  func(c *Conn) { conns <- c },
		close: func(c *Conn, err error) { close(closed) },
	}
	s, addr := serve(t, h, Config{Loops: 1}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	c := wait(t, conns, "OnOpen")
	ran := make(chan string, 8)
	c.Post(func(c *Conn) { ran <- "open"; c.Write([]byte("posted")) })
	buf := make([]byte, 6)
	if _, err := io.ReadFull(pc, buf); err != nil || string(buf) != "posted" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Post(func(c *Conn) { c.Close() })
	if got := readAllNoReset(t, pc); len(got) != 0 {
		t.Fatalf("unexpected %q", got)
	}
	pc.Close()
	wait(t, closed, "OnClose")
	var calls atomic.Int64
	for range 100 {
		c.Post(func(c *Conn) { calls.Add(1); ran <- "closed" })
	}
	syncLoop(t, s.Group().Loop(0))
	if n := calls.Load(); n != 0 {
		t.Errorf("Post ran fn %d times on a closed connection", n)
	}
}

// TestAbortInFlightSend: Abort while a large send is stuck in the kernel
// (the peer does not read) drops the output, runs OnClose with the error
// at once, and releases the descriptor: the peer sees the connection end
// without the whole output.
func TestAbortInFlightSend(t *testing.T) {
	checkLeaks(t)
	errBye := errors.New("bye")
	conns := make(chan *Conn, 1)
	closes := make(chan error, 1)
	h := &hooks{
		open: func(c *Conn) {
			c.Write(make([]byte, 32<<20))
			conns <- c
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	s, addr := serve(t, h, Config{WriteHighWater: 64 << 20}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	c := wait(t, conns, "OnOpen")
	// Let the send fill the socket buffers: read a little so it is known
	// to be under way.
	if _, err := io.ReadFull(pc, make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	c.Post(func(c *Conn) {
		if c.flags&flagSendArmed == 0 {
			t.Error("no send in flight at Abort")
		}
		c.Abort(errBye)
		c.Abort(errors.New("second abort ignored"))
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Abort: %v", err)
		}
	})
	if err := wait(t, closes, "OnClose"); err != errBye {
		t.Fatalf("OnClose(%v), want %v", err, errBye)
	}
	n, err := io.Copy(io.Discard, pc)
	if err == nil && n+1<<10 >= 32<<20 {
		t.Errorf("the peer read all %d bytes after Abort", n)
	}
	if s.Conns() != 0 {
		t.Errorf("Conns() = %d after Abort", s.Conns())
	}
}

// lingerWhilePeerSends: the handler answers and closes while the peer
// keeps sending; the peer reads the whole answer and then EOF, never a
// reset, and closes; the server then closes with nil.
func lingerWhilePeerSends(t *testing.T, linger time.Duration) {
	checkLeaks(t)
	reply := patternBytes(0, 2<<20) // above high water: Close waits on a throttled send
	closes := make(chan error, 64)
	h := &hooks{
		data: func(c *Conn, b []byte) {
			c.Write(reply)
			c.Close()
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{Linger: linger}, "tcp", "127.0.0.1:0")
	for i := range 5 {
		c := dial(t, addr)
		stop := make(chan struct{})
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			junk := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}()
		got, err := io.ReadAll(c)
		close(stop)
		if err != nil {
			t.Fatalf("conn %d: %v after %d bytes (a reset destroyed the reply)", i, err, len(got))
		}
		if !bytes.Equal(got, reply) {
			t.Fatalf("conn %d: read %d bytes, want the %d-byte reply", i, len(got), len(reply))
		}
		c.Close()
		<-wdone
		if err := wait(t, closes, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v), want nil", err)
		}
	}
}

func TestLingerNoResetWhilePeerSends(t *testing.T) {
	lingerWhilePeerSends(t, 300*time.Millisecond)
}

// TestLingerSeesPeerClose: lingering reads until the peer closes, so with
// a linger far longer than the test the connection must still end as soon
// as the peer has read everything and closed.
func TestLingerSeesPeerClose(t *testing.T) {
	lingerWhilePeerSends(t, time.Hour)
}

// TestLingerEndsAfterLinger: a peer that neither closes nor sends after
// reading the reply: the server gives up lingering after Config.Linger and
// closes (OnClose nil); the peer reads the reply and EOF.
func TestLingerEndsAfterLinger(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		data:  func(c *Conn, b []byte) { c.Write([]byte("bye")); c.Close() },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{Linger: 50 * time.Millisecond}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write([]byte("x"))
	if got := readAllNoReset(t, c); string(got) != "bye" {
		t.Fatalf("read %q", got)
	}
	if err := wait(t, closes, "OnClose after the linger"); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
	// The server's descriptor is gone: writing soon fails.
	waitFor(t, "the peer's write to fail", func() bool {
		_, err := c.Write([]byte("x"))
		return err != nil
	})
}

// TestLingerNegativeClosesAtOnce: Linger < 0 closes once output is sent,
// without waiting for the peer.
func TestLingerNegativeClosesAtOnce(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		data:  func(c *Conn, b []byte) { c.Write([]byte("bye")); c.Close() },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{Linger: -1}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write([]byte("x"))
	if err := wait(t, closes, "OnClose"); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
	if got := readAllNoReset(t, c); string(got) != "bye" {
		t.Fatalf("read %q", got)
	}
}

// TestPeerHalfCloseNoEOFHandler: the peer shuts down its sending side;
// without OnEOF the connection sends the rest of its output (the echo of
// everything) and closes with io.EOF.
func TestPeerHalfCloseNoEOFHandler(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		data:  func(c *Conn, b []byte) { c.Write(b) },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	msg := patternBytes(0, 1<<20)
	go func() {
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
	}()
	if got := readAllNoReset(t, c); !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, want %d", len(got), len(msg))
	}
	if err := wait(t, closes, "OnClose"); err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF", err)
	}
}

// TestPeerHalfCloseWithEOFHandler: OnEOF runs once after all data; the
// handler can still write (a lot) and then Close: the peer gets it all.
func TestPeerHalfCloseWithEOFHandler(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	var eofs, afterEOF atomic.Int64
	var got int64 // loop-owned
	h := withEOF{hooks: &hooks{
		data: func(c *Conn, b []byte) {
			if eofs.Load() > 0 {
				afterEOF.Add(1)
			}
			got += int64(len(b))
		},
		close: func(c *Conn, err error) { closes <- err },
	}, eof: func(c *Conn) {
		eofs.Add(1)
		for off := int64(0); off < 4<<20; off += 64 << 10 {
			c.Write(patternBytes(off, 64<<10))
		}
		c.Close()
	}}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write(make([]byte, 100<<10))
	c.(*net.TCPConn).CloseWrite()
	out := readAllNoReset(t, c)
	if int64(len(out)) != 4<<20 || patternCheck(0, out) >= 0 {
		t.Fatalf("read %d bytes, want the 4 MiB stream intact", len(out))
	}
	if err := wait(t, closes, "OnClose"); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
	if eofs.Load() != 1 || afterEOF.Load() != 0 {
		t.Errorf("OnEOF ran %d times; %d OnData after it", eofs.Load(), afterEOF.Load())
	}
	if got != 100<<10 {
		t.Errorf("OnData got %d bytes, want %d", got, 100<<10)
	}
}

// TestHandlerCloseWrite: the handler's CloseWrite sends what is queued and
// then EOF, while reading goes on: the peer reads the reply and EOF, sends
// more, and the handler gets it; Write after CloseWrite fails; the peer's
// close ends the connection with io.EOF.
func TestHandlerCloseWrite(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	var after atomic.Int64
	var writeErr atomic.Value
	cw := false // loop-owned
	h := &hooks{
		data: func(c *Conn, b []byte) {
			if cw {
				after.Add(int64(len(b)))
				if _, err := c.Write(b); err != nil {
					writeErr.Store(err)
				}
				return
			}
			cw = true
			c.Write(patternBytes(0, 3<<20))
			c.CloseWrite()
			c.CloseWrite()
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write([]byte("x"))
	out := readAllNoReset(t, c)
	if len(out) != 3<<20 || patternCheck(0, out) >= 0 {
		t.Fatalf("read %d bytes, want 3 MiB intact then EOF", len(out))
	}
	more := make([]byte, 2<<20)
	if _, err := c.Write(more); err != nil {
		t.Fatalf("writing after the server's CloseWrite: %v", err)
	}
	waitFor(t, "the server to read what followed its CloseWrite", func() bool { return after.Load() == int64(len(more)) })
	if err, _ := writeErr.Load().(error); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after CloseWrite: %v, want ErrClosed", err)
	}
	c.Close()
	if err := wait(t, closes, "OnClose"); err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF", err)
	}
}

// TestCloseWriteThenPeerEOF: both directions half-closed in turn, with an
// EOFHandler that closes: OnClose(nil), nothing leaks.
func TestCloseWriteThenPeerEOF(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := withEOF{hooks: &hooks{
		open:  func(c *Conn) { c.WriteString("hi"); c.CloseWrite() },
		close: func(c *Conn, err error) { closes <- err },
	}, eof: func(c *Conn) { c.Close() }}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	if got := readAllNoReset(t, c); string(got) != "hi" {
		t.Fatalf("read %q", got)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := wait(t, closes, "OnClose"); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
}

// TestPeerResetIsReported: a peer that resets (close with unread data and
// SO_LINGER 0) ends the connection with an error, not a hang.
func TestPeerResetIsReported(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		open:  func(c *Conn) { c.Write(make([]byte, 8<<20)) },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	io.ReadFull(c, make([]byte, 1))
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	err := wait(t, closes, "OnClose")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("OnClose(%v), want ECONNRESET or EPIPE", err)
	}
}
