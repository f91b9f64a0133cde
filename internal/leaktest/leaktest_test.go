package leaktest

import (
	"testing"

	"golang.org/x/sys/unix"
)

// recorder is a testing.TB that keeps cleanups and failures for the
// test to look at.
type recorder struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (r *recorder) Helper()                   { r.TB.Helper() }
func (r *recorder) Cleanup(fn func())         { r.cleanups = append(r.cleanups, fn) }
func (r *recorder) Errorf(string, ...any)     { r.failed = true }
func (r *recorder) Fatalf(f string, a ...any) { r.TB.Fatalf(f, a...) }
func (r *recorder) end() bool {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.failed
}

// The checks fail on a descriptor opened and left open, and, for
// CheckFds, on one closed that the test did not open; they pass once the
// count is back.
func TestCheckFds(t *testing.T) {
	var p [2]int
	open := func() {
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
	}
	closeP := func() { unix.Close(p[0]); unix.Close(p[1]) }

	r := &recorder{TB: t}
	CheckFds(r, 0)
	open()
	if !r.end() {
		t.Error("CheckFds missed a leaked pipe")
	}
	closeP()

	open()
	r = &recorder{TB: t}
	CheckFds(r, 0)
	closeP()
	if !r.end() {
		t.Error("CheckFds missed descriptors closed below the baseline")
	}

	open()
	r = &recorder{TB: t}
	CheckFdsAtMost(r, 0)
	closeP()
	if r.end() {
		t.Error("CheckFdsAtMost failed with fewer descriptors than the baseline")
	}

	r = &recorder{TB: t}
	CheckFds(r, 0)
	open()
	closeP()
	if r.end() {
		t.Error("CheckFds failed with the count back at the baseline")
	}
}

// CheckGoroutines fails on a goroutine still running at the end.
func TestCheckGoroutines(t *testing.T) {
	r := &recorder{TB: t}
	CheckGoroutines(r)
	stop := make(chan struct{})
	go func() { <-stop }()
	if !r.end() {
		t.Error("CheckGoroutines missed a running goroutine")
	}
	close(stop)
}
