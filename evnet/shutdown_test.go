package evnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lazyDrainer answers "req" messages with "resp"; OnDrain marks the
// connection, which then closes after its next response (or at once if a
// response is not due). It counts what it saw.
type lazyDrainer struct {
	drains, opened, closed atomic.Int64
	closeErrs              chan error
}

type lazyState struct{ draining bool }

func (h *lazyDrainer) OnOpen(c *Conn) { h.opened.Add(1); c.Context = new(lazyState) }
func (h *lazyDrainer) OnData(c *Conn, b []byte) {
	st := c.Context.(*lazyState)
	c.Write([]byte("resp"))
	if st.draining {
		c.Close()
	}
}
func (h *lazyDrainer) OnClose(c *Conn, err error) {
	h.closed.Add(1)
	if h.closeErrs != nil {
		h.closeErrs <- err
	}
}
func (h *lazyDrainer) OnDrain(c *Conn) {
	h.drains.Add(1)
	c.Context.(*lazyState).draining = true
}

// TestShutdownLazyDrainer: Shutdown asks every connection once; each
// closes after its next response; Shutdown returns nil once all are gone;
// connections that arrive after Shutdown began are not served.
func TestShutdownLazyDrainer(t *testing.T) {
	checkLeaks(t)
	h := &lazyDrainer{closeErrs: make(chan error, 64)}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	const n = 20
	var cs []net.Conn
	for range n {
		c := dial(t, addr)
		c.Write([]byte("req"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	waitFor(t, "OnDrain for every connection", func() bool { return h.drains.Load() == n })
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with connections still open", err)
	default:
	}
	// New connections are refused now (the listener is closed or they are
	// closed unserved).
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.SetDeadline(time.Now().Add(testTimeout))
		c.Write([]byte("req"))
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("a connection made during Shutdown was served: %q", b)
		}
		c.Close()
	}
	for i, c := range cs {
		c.Write([]byte("req"))
		if got := readAllNoReset(t, c); string(got) != "resp" {
			t.Fatalf("conn %d read %q", i, got)
		}
		c.Close()
	}
	if err := wait(t, done, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if h.opened.Load() != n || h.closed.Load() != n || s.Conns() != 0 {
		t.Errorf("opened %d closed %d conns %d", h.opened.Load(), h.closed.Load(), s.Conns())
	}
	for range n {
		if err := <-h.closeErrs; err != nil {
			t.Errorf("OnClose(%v), want nil", err)
		}
	}
}

// TestShutdownContextExpires: a Drainer that never closes; Shutdown's
// context ends, the connections are aborted with ErrShutdown, Shutdown
// returns the context's error once they are gone; nothing leaks.
func TestShutdownContextExpires(t *testing.T) {
	checkLeaks(t)
	h := &lazyDrainer{closeErrs: make(chan error, 64)}
	s, addr := serve(t, withDrainer{hooks: &hooks{
		open:  h.OnOpen,
		data:  func(c *Conn, b []byte) { c.Write(b) },
		close: h.OnClose,
	}, drain: func(c *Conn) { h.drains.Add(1) }}, Config{}, "tcp", "127.0.0.1:0")
	const n = 10
	var cs []net.Conn
	for i := range n {
		c := dial(t, addr)
		echoOnce(t, c, fmt.Sprint(i))
		cs = append(cs, c)
	}
	// One of them with output the peer does not read: a send in flight.
	cs[0].Write([]byte("big"))
	err := shutdown(t, s, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if s.Conns() != 0 || h.closed.Load() != n {
		t.Errorf("after Shutdown: Conns %d, OnClose %d", s.Conns(), h.closed.Load())
	}
	for range n {
		if err := <-h.closeErrs; err != ErrShutdown {
			t.Errorf("OnClose(%v), want ErrShutdown", err)
		}
	}
	for _, c := range cs {
		io.Copy(io.Discard, c) // ends: EOF or reset
	}
	if h.drains.Load() != n {
		t.Errorf("OnDrain ran %d times, want %d", h.drains.Load(), n)
	}
	// A second Shutdown and Close are harmless.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	if _, err := s.Listen("tcp", "127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Shutdown: %v, want ErrClosed", err)
	}
}

// TestShutdownWaitsForOutput: without a Drainer, Shutdown closes each
// connection after its output is sent: a slow reader still gets all of it.
func TestShutdownWaitsForOutput(t *testing.T) {
	checkLeaks(t)
	conns := make(chan *Conn, 1)
	h := &hooks{open: func(c *Conn) { conns <- c }}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	c := wait(t, conns, "OnOpen")
	payload := patternBytes(0, 8<<20)
	c.Post(func(c *Conn) { c.Write(payload) })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	got := readAllNoReset(t, pc)
	if len(got) != len(payload) || patternCheck(0, got) >= 0 {
		t.Fatalf("read %d bytes, want %d intact", len(got), len(payload))
	}
	pc.Close()
	if err := wait(t, done, "Shutdown"); err != nil {
		t.Fatal(err)
	}
}

// shutdownRace dials continuously from many goroutines while Shutdown
// runs; once Shutdown has begun each client holds its connection until it
// reads EOF. Every connection that got in must be closed by the server, so
// Shutdown returns nil well before its context ends.
func shutdownRace(t *testing.T, network, address string, h Handler) {
	checkLeaks(t)
	s, addr := serve(t, h, Config{Loops: 2}, network, address)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	var shuttingDown atomic.Bool
	var held atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout(addr.Network(), addr.String(), testTimeout)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(2 * testTimeout))
				c.Write([]byte("ping"))
				if !shuttingDown.Load() {
					io.ReadFull(c, make([]byte, 4))
				}
				if shuttingDown.Load() {
					held.Add(1)
					io.Copy(io.Discard, c) // until the server closes
				}
				c.Close()
			}
		}()
	}
	waitFor(t, "some connections served", func() bool { return s.Stats().Accepted > 200 })
	shuttingDown.Store(true)
	err := shutdown(t, s, 5*time.Second)
	if err != nil {
		t.Fatalf("Shutdown = %v (Conns %d): a connection that arrived during Shutdown was never asked to close", err, s.Conns())
	}
	t.Logf("accepted %d, refused %d, held until EOF %d", s.Stats().Accepted, s.Stats().Refused, held.Load())
}

// echoHolder echoes and keeps the connection until the peer or Shutdown
// closes it.
func echoHolder() Handler { return &hooks{data: func(c *Conn, b []byte) { c.Write(b) }} }

func TestShutdownRacesNewConnsTCP(t *testing.T) {
	shutdownRace(t, "tcp", "127.0.0.1:0", echoHolder())
}

func TestShutdownRacesNewConnsUnix(t *testing.T) {
	shutdownRace(t, "unix", filepath.Join(t.TempDir(), "race.sock"), echoHolder())
}

// TestShutdownRacesClose: connections closing themselves (and aborting)
// while Shutdown drains them: OnClose once each, Shutdown returns nil.
func TestShutdownRacesClose(t *testing.T) {
	checkLeaks(t)
	var opened, closed atomic.Int64
	var twice atomic.Int64
	h := withDrainer{hooks: &hooks{
		open: func(c *Conn) { opened.Add(1); c.Context = new(bool) },
		data: func(c *Conn, b []byte) {
			c.Write(b)
			if len(b)%2 == 0 {
				c.Close()
			} else {
				c.Abort(nil)
			}
		},
		close: func(c *Conn, err error) {
			if *c.Context.(*bool) {
				twice.Add(1)
			}
			*c.Context.(*bool) = true
			closed.Add(1)
		},
	}, drain: func(c *Conn) {
		c.Close()
		c.Close()
	}}
	s, addr := serve(t, h, Config{Loops: 2}, "tcp", "127.0.0.1:0")
	var cs []net.Conn
	for range 200 {
		cs = append(cs, dial(t, addr))
	}
	waitFor(t, "all open", func() bool { return opened.Load() == 200 })
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write([]byte("xy")[:1+i%2])
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
	err := shutdown(t, s, testTimeout)
	wg.Wait()
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if closed.Load() != 200 || twice.Load() != 0 {
		t.Errorf("OnClose ran %d times for 200 conns (%d twice)", closed.Load(), twice.Load())
	}
}

// TestShutdownRacesListen: Listen called while Shutdown runs either fails
// with ErrClosed or its listener is closed by Shutdown; Shutdown must
// return either way.
func TestShutdownRacesListen(t *testing.T) {
	checkLeaks(t)
	for range 50 {
		s, err := NewServer(echoHolder(), Config{Loops: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := s.Listen("tcp", "127.0.0.1:0"); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("Listen: %v", err)
				}
			}()
		}
		close(start)
		err = shutdown(t, s, 2*time.Second)
		wg.Wait()
		if err != nil || t.Failed() {
			t.Fatalf("Shutdown racing Listen: %v (a listener added during Shutdown kept its accept)", err)
		}
	}
}

// TestShutdownUnixOpenAfterDrain: white-box replay of an interleaving of
// a Unix listener's round robin with Shutdown. The accepting loop checked
// that the server was running and posted the new connection's open to the
// other loop; Shutdown's drain for that loop was posted before it. The
// connection must then be refused (closed without OnOpen: the peer reads
// EOF), not opened on a drained loop where nothing would close it.
func TestShutdownUnixOpenAfterDrain(t *testing.T) {
	checkLeaks(t)
	opened := make(chan struct{}, 1)
	h := &hooks{open: func(c *Conn) { opened <- struct{}{} }, data: func(c *Conn, b []byte) { c.Write(b) }}
	s, _ := serve(t, h, Config{Loops: 2}, "unix", filepath.Join(t.TempDir(), "d.sock"))
	ln := s.listenersSnapshot()[0]
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(testTimeout))

	target := s.loops[1]
	release := make(chan struct{})
	target.post(func() { <-release }) // loop 1 is busy
	// listener.accepted on loop 0, up to its post: the server is running.
	s.conns.Add(1)
	s.accepted.Add(1)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	waitFor(t, "Shutdown to begin", func() bool { return s.state.Load() == srvDraining })
	time.Sleep(20 * time.Millisecond) // Shutdown posts the drains right after the state change
	target.post(func() { target.open(fds[0], ln) })
	close(release)
	if b, err := io.ReadAll(peer); err != nil || len(b) != 0 {
		t.Errorf("peer read %q, %v", b, err)
	}
	if err := wait(t, done, "Shutdown"); err != nil {
		t.Fatalf("Shutdown = %v: the connection opened after its loop drained was never closed", err)
	}
	select {
	case <-opened:
		t.Error("OnOpen ran for a connection handed to a drained loop")
	default:
	}
}
