// Package leaktest is the test scaffolding the engine's packages share:
// raising the fd limit, and checks that a test leaves no descriptor or
// goroutine behind. It is for tests only.
package leaktest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// RaiseFdLimit raises the soft RLIMIT_NOFILE to the hard limit, for tests
// that keep thousands of sockets open (often both ends in one process).
// A failure is reported on stderr: the tests that need more will say so.
func RaiseFdLimit() {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "raising RLIMIT_NOFILE:", err)
		}
	}
}

var warmOnce sync.Once

// WarmNetpoll makes the Go runtime open the descriptors it keeps for the
// life of the process (the network poller's epoll fd and wake-up fd, the
// timer machinery), so that they never show up as an fd leak of the first
// test that uses net.
func WarmNetpoll() {
	warmOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		if s, err := ln.Accept(); err == nil {
			s.Close()
		}
		_ = c.SetDeadline(time.Now().Add(time.Hour))
	})
}

// FdCount returns the number of entries in /proc/self/fd (the directory
// fd the listing itself uses is counted on every call alike).
func FdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents)
}

// FdList describes the open descriptors, for failure messages.
func FdList() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		b.WriteString(e.Name() + "->" + target + " ")
	}
	return b.String()
}

// CheckFds records the fd count and registers a cleanup (run after every
// cleanup registered later, such as closing servers and sockets) that
// fails the test unless the count comes back to exactly that baseline
// within the given time: fewer means a descriptor the test did not own
// was closed. Call it first in a test.
func CheckFds(t testing.TB, within time.Duration) {
	t.Helper()
	checkFds(t, within, func(n, base int) bool { return n == base })
}

// CheckFdsAtMost is CheckFds for tests that may see descriptors opened
// before them close meanwhile (an earlier test's idle client connection):
// the count must come back to at most the baseline.
func CheckFdsAtMost(t testing.TB, within time.Duration) {
	t.Helper()
	checkFds(t, within, func(n, base int) bool { return n <= base })
}

func checkFds(t testing.TB, within time.Duration, ok func(n, base int) bool) {
	WarmNetpoll()
	base := FdCount(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(within)
		for {
			n := FdCount(t)
			if ok(n, base) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("fd leak: %d open fds, baseline %d: %s", n, base, FdList())
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// CheckGoroutines fails the test if goroutines started during it are
// still running after its cleanups. Call it first in a test.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(opt); err != nil {
			t.Errorf("goroutine leak: %v", err)
		}
	})
}
