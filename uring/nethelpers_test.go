package uring

// Helpers for the socket tests in net_test.go. Every name starts with "nt"
// so that they cannot collide with helpers in the package's other tests.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ntTimeout bounds every wait for a completion or a peer in these tests.
const ntTimeout = 5 * time.Second

var ntWarmOnce sync.Once

// ntWarmup makes the Go runtime open the descriptors it keeps for the life
// of the process (the network poller's epoll fd and its wakeup fd) before a
// test takes its fd baseline, so that they do not count as a leak.
func ntWarmup() {
	ntWarmOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			s, err := ln.Accept()
			if err == nil {
				s.Close()
			}
			c.Close()
		}
		ln.Close()
	})
}

// ntFds lists the process's open descriptors with what they point to. The
// directory fd os.ReadDir opens is listed too, on every call alike.
func ntFds(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		m[e.Name()] = target
	}
	return m
}

// ntFdCount returns the number of entries in /proc/self/fd.
func ntFdCount(t *testing.T) int {
	t.Helper()
	return len(ntFds(t))
}

// ntLeakCheck records the open fds and the goroutine count; the function it
// returns (defer it first, so it runs last) fails the test when either has
// grown and does not settle back within two seconds.
func ntLeakCheck(t *testing.T) {
	t.Helper()
	ntWarmup()
	startFds := ntFds(t)
	startG := runtime.NumGoroutine()
	// A cleanup registered first runs last: after the ring's own cleanup
	// (lockedRing) has closed it.
	t.Cleanup(func() {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			fds := ntFds(t)
			g := runtime.NumGoroutine()
			if len(fds) <= len(startFds) && g <= startG {
				return
			}
			if time.Now().After(deadline) {
				if len(fds) > len(startFds) {
					var extra []string
					for fd, target := range fds {
						if old, ok := startFds[fd]; target != "" && (!ok || old != target) {
							extra = append(extra, fd+" -> "+target)
						}
					}
					sort.Strings(extra)
					t.Errorf("fd leak: %d open fds at start, %d at end; new: %s",
						len(startFds), len(fds), strings.Join(extra, ", "))
				}
				if g > startG {
					buf := make([]byte, 1<<16)
					buf = buf[:runtime.Stack(buf, true)]
					t.Errorf("goroutine leak: %d goroutines at start, %d at end:\n%s", startG, g, buf)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// ntSQE returns a free SQE or fails the test.
func ntSQE(t *testing.T, r *Ring) *SQE {
	t.Helper()
	s := r.GetSQE()
	if s == nil {
		t.Fatal("submission queue full")
	}
	return s
}

// ntSubmit submits what is prepared without waiting and checks that the
// kernel took want entries.
func ntSubmit(t *testing.T, r *Ring, want int) {
	t.Helper()
	n, err := r.Submit()
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if n != want {
		t.Fatalf("Submit took %d SQEs, want %d", n, want)
	}
}

// ntReap copies up to max ready CQEs to out and consumes them.
func ntReap(r *Ring, out []CQE, max int) []CQE {
	a, b := r.Completions()
	taken := 0
	for _, part := range [][]CQE{a, b} {
		for _, c := range part {
			if taken == max {
				break
			}
			out = append(out, c)
			taken++
		}
	}
	r.CQAdvance(uint32(taken))
	return out
}

// ntWaitErr fails the test for any error from a timed wait other than the
// timeout itself.
func ntWaitErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, unix.ETIME) && !errors.Is(err, unix.EINTR) {
		t.Fatalf("SubmitAndWaitTimeout: %v", err)
	}
}

// ntWait submits what is prepared and returns copies of exactly n CQEs,
// failing the test if they do not all arrive within d. CQEs beyond n stay
// in the ring.
func ntWait(t *testing.T, r *Ring, n int, d time.Duration) []CQE {
	t.Helper()
	out := make([]CQE, 0, n)
	deadline := time.Now().Add(d)
	for {
		out = ntReap(r, out, n-len(out))
		if len(out) == n {
			return out
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %v: got %d of %d CQEs: %s", d, len(out), n, ntFmt(out))
		}
		_, err := r.SubmitAndWaitTimeout(uint32(n-len(out)), left)
		ntWaitErr(t, err)
	}
}

// ntWaitUntil submits what is prepared and collects CQEs until one
// satisfies stop (that one included), failing the test after d.
func ntWaitUntil(t *testing.T, r *Ring, d time.Duration, stop func(CQE) bool) []CQE {
	t.Helper()
	var out []CQE
	deadline := time.Now().Add(d)
	for {
		for {
			before := len(out)
			out = ntReap(r, out, 1)
			if len(out) == before {
				break
			}
			if stop(out[len(out)-1]) {
				return out
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %v waiting for a CQE; got %d others: %s", d, len(out), ntFmt(out))
		}
		_, err := r.SubmitAndWaitTimeout(1, left)
		ntWaitErr(t, err)
	}
}

// ntExpectQuiet submits what is prepared, waits d and fails the test if any
// CQE arrived: the requests in flight must still be pending.
func ntExpectQuiet(t *testing.T, r *Ring, d time.Duration) {
	t.Helper()
	_, err := r.SubmitAndWaitTimeout(1, d)
	ntWaitErr(t, err)
	if got := ntReap(r, nil, 1<<30); len(got) > 0 {
		t.Fatalf("expected no completion within %v, got %s", d, ntFmt(got))
	}
}

// ntByUD indexes CQEs by user data, failing on duplicates.
func ntByUD(t *testing.T, cqes []CQE) map[uint64]CQE {
	t.Helper()
	m := make(map[uint64]CQE, len(cqes))
	for _, c := range cqes {
		if _, dup := m[c.UserData]; dup {
			t.Fatalf("two CQEs with user data %#x: %s", c.UserData, ntFmt(cqes))
		}
		m[c.UserData] = c
	}
	return m
}

func ntFmt(cqes []CQE) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, c := range cqes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{ud=%#x res=%d", c.UserData, c.Res)
		if c.Res < 0 {
			fmt.Fprintf(&b, " (%v)", c.Err())
		}
		fmt.Fprintf(&b, " flags=%#x}", c.Flags)
	}
	b.WriteByte(']')
	return b.String()
}

// ntWantRes fails the test unless c.Res == want.
func ntWantRes(t *testing.T, what string, c CQE, want int32) {
	t.Helper()
	if c.Res != want {
		t.Fatalf("%s: res %d (err %v), want %d", what, c.Res, c.Err(), want)
	}
}

// ntWantErr fails the test unless c carries errno want.
func ntWantErr(t *testing.T, what string, c CQE, want unix.Errno) {
	t.Helper()
	if err := c.Err(); !errors.Is(err, want) {
		t.Fatalf("%s: res %d (err %v), want -%v", what, c.Res, err, want)
	}
}

// ntClose closes fd and reports a failure to do so.
func ntClose(t *testing.T, fd int) {
	t.Helper()
	if err := unix.Close(fd); err != nil {
		t.Errorf("close fd %d: %v", fd, err)
	}
}

// ntListen opens a TCP listener on 127.0.0.1 at an ephemeral port. Accept
// on it (plain accept(2)) gives up after five seconds.
func ntListen(t *testing.T) (fd, port int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	fail := func(what string, err error) {
		unix.Close(fd)
		t.Fatalf("%s: %v", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		fail("SO_REUSEADDR", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: int64(ntTimeout / time.Second)}); err != nil {
		fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fail("bind", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		fail("listen", err)
	}
	return fd, ntLocalPort(t, fd)
}

// ntLocalPort returns the local TCP port of socket fd.
func ntLocalPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname(%d): %v", fd, err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// ntPeerPort returns the remote TCP port of connected socket fd.
func ntPeerPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getpeername(fd)
	if err != nil {
		t.Fatalf("getpeername(%d): %v", fd, err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// ntDial connects a Go net.Conn to 127.0.0.1:port, with a deadline so that
// no read or write on it can hang the test.
func ntDial(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ntTimeout)
	if err != nil {
		t.Fatalf("dial 127.0.0.1:%d: %v", port, err)
	}
	c.SetDeadline(time.Now().Add(2 * ntTimeout))
	return c
}

// ntPair returns a connected TCP pair on loopback: fd is a raw socket for
// the ring (TCP_NODELAY set), peer a Go net.Conn with a deadline. The
// caller closes both.
func ntPair(t *testing.T) (fd int, peer net.Conn) {
	t.Helper()
	lfd, port := ntListen(t)
	defer ntClose(t, lfd)
	peer = ntDial(t, port)
	fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		peer.Close()
		t.Fatalf("accept: %v", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		peer.Close()
		unix.Close(fd)
		t.Fatalf("TCP_NODELAY: %v", err)
	}
	// The accepted socket inherited the listener's SO_RCVTIMEO: clear it.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{}); err != nil {
		peer.Close()
		unix.Close(fd)
		t.Fatalf("SO_RCVTIMEO: %v", err)
	}
	return fd, peer
}

// ntSockaddr returns a heap-allocated sockaddr for 127.0.0.1:port and its
// length, ready for PrepConnect.
func ntSockaddr(port int) (*unix.RawSockaddrAny, uint32) {
	sa := new(unix.RawSockaddrAny)
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	sa4.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa4.Addr = [4]byte{127, 0, 0, 1}
	return sa, unix.SizeofSockaddrInet4
}

// ntRawPort decodes the address and port of an AF_INET raw sockaddr.
func ntRawPort(sa *unix.RawSockaddrAny) (family uint16, addr [4]byte, port int) {
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
	return sa4.Family, sa4.Addr, int(p[0])<<8 | int(p[1])
}

// ntReadResult is what a peer goroutine read.
type ntReadResult struct {
	data []byte
	err  error
}

// ntReadAsync reads exactly n bytes from c on a new goroutine (or, with n
// < 0, everything until EOF). The conn's deadline bounds it.
func ntReadAsync(c net.Conn, n int) <-chan ntReadResult {
	ch := make(chan ntReadResult, 1)
	go func() {
		if n < 0 {
			b, err := io.ReadAll(c)
			ch <- ntReadResult{b, err}
			return
		}
		b := make([]byte, n)
		m, err := io.ReadFull(c, b)
		ch <- ntReadResult{b[:m], err}
	}()
	return ch
}

// ntGet waits for a peer result, failing the test after ntTimeout*2.
func ntGet[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * ntTimeout):
		t.Fatalf("%s: peer did not finish within %v", what, 2*ntTimeout)
		panic("unreachable")
	}
}

// ntRecvFull receives exactly n bytes from fd through the ring (user data
// ud), one recv at a time.
func ntRecvFull(t *testing.T, r *Ring, fd int, n int, ud uint64) []byte {
	t.Helper()
	buf := make([]byte, n)
	got := 0
	for got < n {
		s := ntSQE(t, r)
		s.PrepRecv(fd, buf[got:], 0)
		s.UserData = ud
		c := ntWait(t, r, 1, ntTimeout)[0]
		if c.UserData != ud {
			t.Fatalf("recv: unexpected CQE %s", ntFmt([]CQE{c}))
		}
		if c.Res <= 0 {
			t.Fatalf("recv on fd %d after %d of %d bytes: res %d (%v)", fd, got, n, c.Res, c.Err())
		}
		got += int(c.Res)
	}
	runtime.KeepAlive(buf)
	return buf
}

// ntSendFull sends all of b on fd through the ring (user data ud).
func ntSendFull(t *testing.T, r *Ring, fd int, b []byte, ud uint64) {
	t.Helper()
	sent := 0
	for sent < len(b) {
		s := ntSQE(t, r)
		s.PrepSend(fd, b[sent:], unix.MSG_NOSIGNAL)
		s.UserData = ud
		c := ntWait(t, r, 1, ntTimeout)[0]
		if c.UserData != ud {
			t.Fatalf("send: unexpected CQE %s", ntFmt([]CQE{c}))
		}
		if c.Res <= 0 {
			t.Fatalf("send on fd %d after %d of %d bytes: res %d (%v)", fd, sent, len(b), c.Res, c.Err())
		}
		sent += int(c.Res)
	}
	runtime.KeepAlive(b)
}

// ntNop does a NOP round trip: the ring still works.
func ntNop(t *testing.T, r *Ring, ud uint64) {
	t.Helper()
	s := ntSQE(t, r)
	s.PrepNop()
	s.UserData = ud
	c := ntWait(t, r, 1, ntTimeout)[0]
	if c.UserData != ud || c.Res != 0 {
		t.Fatalf("nop round trip: %s", ntFmt([]CQE{c}))
	}
}
