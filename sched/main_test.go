package sched

// Shared test scaffolding: TestMain (fd limit, goroutine leak check),
// the fd-count helper, loops that close themselves, and loopback socket
// helpers. Tests in this package never run in parallel with each other
// (no t.Parallel), so process-wide fd counts are meaningful.

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/uringd/uringd/internal/leaktest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// testTimeout bounds every single wait in these tests: a hang becomes a
// failure, never a stuck test binary.
const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	// The echo test keeps thousands of sockets open at once.
	leaktest.RaiseFdLimit()
	leaktest.WarmNetpoll()
	// Loops lock their OS thread and exit their goroutine on Close: any
	// goroutine left over at the end is a bug.
	goleak.VerifyTestMain(m)
}

var checkGoroutines = leaktest.CheckGoroutines

// checkFds fails the test unless the fd count is back to its value at
// the call within two seconds of the test's end. Call it first in a test.
func checkFds(t *testing.T) { leaktest.CheckFds(t, 2*time.Second) }

// newLoop starts a loop that is closed (within testTimeout) when the test
// ends; closing it twice is harmless.
func newLoop(t testing.TB, cfg Config) *Loop {
	t.Helper()
	l, err := NewLoop(cfg)
	if err != nil {
		t.Fatalf("NewLoop: %v", err)
	}
	t.Cleanup(func() { closeLoop(t, l) })
	return l
}

func closeLoop(t testing.TB, l *Loop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Errorf("Loop.Close: %v", err)
	}
}

func newGroup(t testing.TB, n int, cfg Config) *Group {
	t.Helper()
	g, err := NewGroup(n, cfg)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("Group.Close: %v", err)
		}
	})
	return g
}

// timeoutCtx is a context that ends after testTimeout, cancelled at the
// end of the test.
func timeoutCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// onLoop runs fn on l's goroutine (in the callback of a posted op) and
// waits for it to return.
func onLoop(t testing.TB, l *Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	op := new(Op)
	op.PrepNop(func(*Op, Result) {
		defer close(done)
		fn()
	})
	if err := l.Post(op); err != nil {
		t.Fatalf("Post: %v", err)
	}
	waitChan(t, done, "callback posted with onLoop")
}

// waitChan waits for ch to be closed or receive, failing the test (not
// hanging it) after testTimeout.
func waitChan[T any](t testing.TB, ch <-chan T, what string) T {
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

// rawPair returns a connected loopback TCP pair: fd, a raw blocking socket
// for the loop to work on, and peer, its Go-side counterpart (with the Go
// runtime's deadlines for the test's own reads and writes). network is
// "tcp4" (127.0.0.1) or "tcp6" (::1). The caller closes both; peer is also
// closed at the end of the test.
func rawPair(t testing.TB, network string) (fd int, peer *net.TCPConn) {
	t.Helper()
	host, family := "127.0.0.1", unix.AF_INET
	if network == "tcp6" {
		host, family = "::1", unix.AF_INET6
	}
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	} else {
		a := &unix.SockaddrInet6{Port: port}
		a.Addr[15] = 1
		sa = a
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		unix.Close(fd)
		t.Fatalf("accept: %v", err)
	}
	peer = c.(*net.TCPConn)
	t.Cleanup(func() { peer.Close() })
	return fd, peer
}

// fdCloser closes raw fds once, at the latest at the end of the test.
type fdCloser struct {
	mu  sync.Mutex
	fds map[int]bool
}

func newFdCloser(t testing.TB) *fdCloser {
	c := &fdCloser{fds: map[int]bool{}}
	t.Cleanup(c.closeAll)
	return c
}

func (c *fdCloser) add(fd int) int {
	c.mu.Lock()
	c.fds[fd] = true
	c.mu.Unlock()
	return fd
}

func (c *fdCloser) close(fd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fds[fd] {
		delete(c.fds, fd)
		unix.Close(fd)
	}
}

func (c *fdCloser) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for fd := range c.fds {
		unix.Close(fd)
	}
	clear(c.fds)
}

// yieldRandomly yields or sleeps a tiny random while (0 – 50 µs), so that
// loops fall asleep between operations.
func yieldRandomly(r uint32) {
	switch r % 4 {
	case 0:
	case 1:
		runtime.Gosched()
	case 2:
		time.Sleep(0)
	default:
		time.Sleep(time.Duration(r%50) * time.Microsecond)
	}
}

// gettid returns the calling goroutine's OS thread.
