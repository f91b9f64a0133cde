package evnet

// Scaffolding for the adversarial tests: fd limit, fd and goroutine leak
// checks, a handler made of hooks, servers whose shutdown is bounded, and
// peers with deadlines. Tests in this package do not run in parallel, so
// process-wide fd counts are meaningful.

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/uringd/uringd/internal/leaktest"
	"golang.org/x/sys/unix"
)

func init() {
	// Some tests keep thousands of sockets open (both ends in this
	// process). TestMain lives in evnet_test.go, so this runs from init.
	leaktest.RaiseFdLimit()
}

// checkLeaks fails the test unless its goroutines are gone and the fd
// count is back to its value at the call within three seconds of the
// test's end. Call it first in a test.
func checkLeaks(t *testing.T) {
	t.Helper()
	leaktest.CheckGoroutines(t)
	leaktest.CheckFds(t, 3*time.Second)
}

// hooks is a Handler made of optional functions. The optional interfaces
// are added by the wrappers below, since their mere presence changes
// behaviour.
type hooks struct {
	open  func(c *Conn)
	data  func(c *Conn, b []byte)
	close func(c *Conn, err error)
}

func (h *hooks) OnOpen(c *Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *hooks) OnData(c *Conn, b []byte) {
	if h.data != nil {
		h.data(c, b)
	}
}

func (h *hooks) OnClose(c *Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

type withEOF struct {
	*hooks
	eof func(c *Conn)
}

func (h withEOF) OnEOF(c *Conn) { h.eof(c) }

type withWritable struct {
	*hooks
	writable func(c *Conn)
}

func (h withWritable) OnWritable(c *Conn) { h.writable(c) }

type withDrainer struct {
	*hooks
	drain func(c *Conn)
}

func (h withDrainer) OnDrain(c *Conn) { h.drain(c) }

type withTimeout struct {
	*hooks
	timeout func(c *Conn)
}

func (h withTimeout) OnTimeout(c *Conn) { h.timeout(c) }

// serve starts a server (two loops unless cfg says otherwise) and shuts it
// down at the end of the test, failing (not hanging) if that takes longer
// than testTimeout.
func serve(t *testing.T, h Handler, cfg Config, network, addr string) (*Server, net.Addr) {
	t.Helper()
	if cfg.Loops == 0 && cfg.Group == nil {
		cfg.Loops = 2
	}
	s, err := NewServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen(network, addr)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shutdown(t, s, testTimeout); err != nil && err != context.DeadlineExceeded {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, a
}

// shutdown runs s.Shutdown with a context that ends after d and returns
// its result; it fails the test if Shutdown has not returned testTimeout
// after the context ended (it then leaks the call).
func shutdown(t testing.TB, s *Server, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	timer := time.NewTimer(d + testTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Errorf("Shutdown did not return %v after its context ended (conns %d)", testTimeout, s.Conns())
		return nil
	}
}

// dial connects to addr with a testTimeout deadline; the conn is closed
// at the end of the test.
func dial(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), testTimeout)
	if err != nil {
		t.Fatalf("dial %v: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// wait waits for ch, failing the test after testTimeout.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		panic("unreachable")
	}
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// pattern is the deterministic byte stream the tests send: byte i of the
// stream is patternAt(i).
var patternBlock = func() []byte {
	b := make([]byte, 1<<20+251) // not a power of two: chunk borders move
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// patternChunk returns up to n bytes of the stream starting at off.
func patternChunk(off int64, n int) []byte {
	i := int(off % int64(len(patternBlock)))
	return patternBlock[i:min(i+n, len(patternBlock))]
}

// patternCheck verifies that b is the stream from off on; it returns the
// offset of the first wrong byte, or -1.
func patternCheck(off int64, b []byte) int64 {
	for len(b) > 0 {
		want := patternChunk(off, len(b))
		if !bytes.Equal(b[:len(want)], want) {
			for i := range want {
				if b[i] != want[i] {
					return off + int64(i)
				}
			}
		}
		off += int64(len(want))
		b = b[len(want):]
	}
	return -1
}

// patternBytes returns exactly n bytes of the stream from off (a copy).
func patternBytes(off int64, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		b = append(b, patternChunk(off+int64(len(b)), n-len(b))...)
	}
	return b
}

func closeFd(fd int) { unix.Close(fd) }
