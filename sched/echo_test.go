package sched

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The example "native" protocol: an echo server that lives entirely on one
// loop, written against the callback API the way httpd uses it.
//
//   - one multishot accept on the listening socket;
//   - per connection, one multishot recv drawing from the loop's provided
//     buffer ring, so an idle connection holds no read buffer; Result.Buf
//     is only valid during the callback, so its bytes are copied out;
//   - one send at a time per connection; a short send resubmits the rest,
//     and bytes received meanwhile queue behind it;
//   - the connection closes once the peer has closed and all its bytes went
//     back.
//
// Everything here runs on the loop goroutine: no locks.
type echoServer struct {
	l      *Loop
	lfd    int
	accept Op
	// accepting is false once the multishot accept's final completion ran.
	accepting bool
	conns     map[*echoConn]struct{}

	// Counters read by the test after the loop is quiescent (through
	// onLoop, so without races).
	accepted, closed, finalAccepts int
	acceptErrs                     []error
	connErrs                       []error
	done                           chan struct{} // closed when the accept op ended
}

type echoConn struct {
	s        *echoServer
	fd       int
	recv     Op
	send     Op
	inflight []byte // handed to the kernel by send; untouched until it completes
	pending  []byte // received, waiting for the in-flight send
	sending  bool
	eof      bool
	closed   bool
}

func startEchoServer(t *testing.T, l *Loop, lfd int) *echoServer {
	s := &echoServer{l: l, lfd: lfd, conns: map[*echoConn]struct{}{}, done: make(chan struct{})}
	s.accept.PrepAcceptMultishot(lfd, s.onAccept)
	s.accepting = true
	if err := l.Post(&s.accept); err != nil {
		t.Fatalf("Post accept: %v", err)
	}
	return s
}

func (s *echoServer) onAccept(op *Op, r Result) {
	if r.Res >= 0 {
		s.accepted++
		c := &echoConn{s: s, fd: int(r.Res)}
		s.conns[c] = struct{}{}
		c.recv.PrepRecvMultishot(c.fd, c.onRecv)
		if err := s.l.Submit(&c.recv); err != nil {
			s.connErrs = append(s.connErrs, err)
			c.close()
		}
	} else if r.Res != -int32(unix.ECANCELED) {
		s.acceptErrs = append(s.acceptErrs, r.Err())
	}
	if !r.More() {
		s.finalAccepts++
		s.accepting = false
		close(s.done)
	}
}

func (c *echoConn) onRecv(op *Op, r Result) {
	if c.closed {
		c.s.connErrs = append(c.s.connErrs, errors.New("recv completion after close"))
		return
	}
	switch {
	case r.Res > 0:
		// Result.Buf returns to the kernel after this callback: copy.
		c.pending = append(c.pending, r.Buf...)
		c.flush()
	case r.Res == 0:
		c.eof = true
	default:
		if r.Res != -int32(unix.ECANCELED) && r.Res != -int32(unix.ECONNRESET) {
			c.s.connErrs = append(c.s.connErrs, fmt.Errorf("recv: %w", r.Err()))
		}
		c.eof = true
	}
	if !r.More() && !c.eof {
		c.s.connErrs = append(c.s.connErrs, fmt.Errorf("multishot recv ended without EOF or error: %+v", r))
		c.eof = true
	}
	c.maybeClose()
}

func (c *echoConn) flush() {
	if c.sending || len(c.pending) == 0 {
		return
	}
	c.inflight, c.pending = c.pending, nil
	c.sending = true
	c.send.PrepSend(c.fd, c.inflight, 0, c.onSend)
	if err := c.s.l.Submit(&c.send); err != nil {
		c.sending = false
		c.s.connErrs = append(c.s.connErrs, err)
	}
}

func (c *echoConn) onSend(op *Op, r Result) {
	c.sending = false
	if r.Res < 0 {
		if r.Res != -int32(unix.ECANCELED) {
			c.s.connErrs = append(c.s.connErrs, fmt.Errorf("send: %w", r.Err()))
		}
		c.pending = nil
		c.inflight = nil
		c.maybeClose()
		return
	}
	if n := int(r.Res); n < len(c.inflight) {
		// Short send: resubmit the rest, ahead of anything pending.
		c.inflight = c.inflight[n:]
		c.sending = true
		c.send.PrepSend(c.fd, c.inflight, 0, c.onSend)
		if err := c.s.l.Submit(&c.send); err != nil {
			c.sending = false
			c.s.connErrs = append(c.s.connErrs, err)
		}
		return
	}
	c.inflight = nil
	c.flush()
	c.maybeClose()
}

func (c *echoConn) maybeClose() {
	if c.eof && !c.sending && len(c.pending) == 0 && c.recv.state == opIdle {
		c.close()
	}
}

func (c *echoConn) close() {
	if c.closed {
		return
	}
	c.closed = true
	unix.Close(c.fd)
	delete(c.s.conns, c)
	c.s.closed++
}

// echoClient dials addr, sends msgs random-size messages (1 B – 64 KiB,
// log-uniform) and checks that exactly the same bytes come back.
func echoClient(ctx context.Context, rng *rand.Rand, conn net.Conn, msgs int) error {
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	for m := range msgs {
		n := 1 << rng.IntN(17) // 1 .. 64 KiB
		n = 1 + rng.IntN(n)
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		werr := make(chan error, 1)
		go func() {
			_, err := conn.Write(msg)
			werr <- err
		}()
		got := make([]byte, n)
		_, rerr := io.ReadFull(conn, got)
		if err := <-werr; err != nil {
			return fmt.Errorf("message %d: write %d bytes: %w", m, n, err)
		}
		if rerr != nil {
			return fmt.Errorf("message %d: read %d bytes: %w", m, n, rerr)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("message %d of %d bytes came back different", m, n)
		}
	}
	// After our close the server sees EOF; nothing more may come back.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		var b [1]byte
		if n, err := conn.Read(b[:]); n != 0 || err != io.EOF {
			return fmt.Errorf("after CloseWrite: read %d, %v; want 0, EOF", n, err)
		}
	}
	return nil
}

// runEchoClients runs conns clients against addr: all connections are
// dialled first (so that they are open at the same time), then all talk at
// once.
func runEchoClients(t *testing.T, network, addr string, conns, msgs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]net.Conn, conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	var d net.Dialer
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	var dialErr atomic.Pointer[error]
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				dialErr.CompareAndSwap(nil, &err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if p := dialErr.Load(); p != nil {
		t.Fatalf("dial: %v", *p)
	}
	errs := make(chan error, conns)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			if err := echoClient(ctx, rng, c, msgs); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d clients failed", n, conns)
	}
}

const (
	echoConns = 2000
	echoMsgs  = 2
)

// TestEchoNative: 2,000 concurrent connections to the callback-API echo
// server, random message sizes, verified byte for byte; then the accept is
// ended by closing the loop, every connection's fd was closed by the
// server, and no fd or goroutine leaks.
func TestEchoNative(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{Buffers: 64, BufferSize: 4096}) // small ring: ENOBUFS happens
	lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	s := startEchoServer(t, l, lfd)

	start := time.Now()
	runEchoClients(t, "tcp4", addr, echoConns, echoMsgs)
	elapsed := time.Since(start)

	// Every connection was accepted, and closes once its client has gone.
	deadline := time.Now().Add(testTimeout)
	for {
		var accepted, closed int
		onLoop(t, l, func() { accepted, closed = s.accepted, s.closed })
		if accepted == echoConns && closed == echoConns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server accepted %d and closed %d connections, want %d", accepted, closed, echoConns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := l.Metrics()
	closeLoop(t, l)
	waitChan(t, s.done, "the multishot accept's final completion")
	if s.finalAccepts != 1 {
		t.Errorf("multishot accept final completions: %d, want 1", s.finalAccepts)
	}
	if len(s.acceptErrs) > 0 || len(s.connErrs) > 0 {
		t.Errorf("accept errors %v; connection errors %v", s.acceptErrs, s.connErrs)
	}
	t.Logf("%d conns x %d msgs in %v; CQEs %d, enters %d, ENOBUFS re-arms %d, SQ-full waits %d, CQ overflows %d",
		echoConns, echoMsgs, elapsed, m.CQEs, m.Enters, m.ENOBUFSRearms, m.SQFullWaits, m.CQOverflows)
}

// TestEchoGroupListener: the same clients against a Group of 2 loops
// through the net.Listener/net.Conn adapters with a goroutine per
// connection doing io.Copy, on ::1 when available.
func TestEchoGroupListener(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	g := newGroup(t, 2, Config{})
	network, host := "tcp6", "[::1]:0"
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		network, host = "tcp4", "127.0.0.1:0"
	} else {
		ln.Close()
	}
	ln, err := g.Listen(network, host)
	if err != nil {
		t.Fatal(err)
	}
	var handlers sync.WaitGroup
	var perLoop [2]atomic.Int64
	var copyErrs atomic.Int64
	acceptDone := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptDone <- err
				return
			}
			sc := c.(*Conn)
			for i := range 2 {
				if sc.Loop() == g.Loop(i) {
					perLoop[i].Add(1)
				}
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer c.Close()
				if _, err := io.Copy(c, c); err != nil {
					copyErrs.Add(1)
				}
			}()
		}
	}()
	runEchoClients(t, network, ln.Addr().String(), echoConns, echoMsgs)
	if err := ln.Close(); err != nil {
		t.Errorf("Listener.Close: %v", err)
	}
	if err := waitChan(t, acceptDone, "Accept to return after Close"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	hd := make(chan struct{})
	go func() { handlers.Wait(); close(hd) }()
	waitChan(t, hd, "echo handlers to finish")
	if n := copyErrs.Load(); n > 0 {
		t.Errorf("%d io.Copy calls failed", n)
	}
	a, b := perLoop[0].Load(), perLoop[1].Load()
	if a+b != echoConns || a == 0 || b == 0 {
		t.Errorf("connections per loop: %d and %d, want %d spread over both", a, b, echoConns)
	}
}
